#!/usr/bin/python3
"""Independent PyTorch reference for grokjit's first training steps.

Reads the export files written by test_crosscheck (GROKJIT_CROSSCHECK_EXPORT,
see docs/crosscheck.md): grokjit's initial weights, the batches of the first
steps exactly as grokjit's training loop draws them, and the resolved config.
Builds the same Transformer and optimizer here, written as a PyTorch user
would (nn.Module, torch ops, torch.optim.AdamW; Muon from the text of
shared/REFERENCE.md s.4), trains for the exported steps and writes
tests/data/crosscheck_<case>.json with the per-step losses (mean loss over the
batch's real rows, train mode, weights before the update).

Nothing of grokjit's IR is used. The only things taken from grokjit are the
interfaces a reimplementation must agree on to be comparable at all:
  * the dropout random numbers: ir/random.h's counter-based hash, ported to
    numpy uint32 arithmetic below, with grokjit's documented indexing
    (runtime/step_graph.h): stream = block index, counter = the 1-based step,
    element = row-major index into the FFN hidden [rows, T, hidden], except
    the last block, whose hidden is [rows, 1, hidden] (only the last position
    reaches the classifier);
  * the data: initial weights and batches come from the export file.

Runs with Debian's python3-torch (/usr/bin/python3). No safetensors package:
the format is read by hand.

    /usr/bin/python3 tests/crosscheck/torch_reference.py --export-dir DIR [--out-dir tests/data]
        [--cases small_adamw,small_muon] [--perturb NAME]

--perturb deliberately breaks one detail (for checking that the C++ test
catches it; never for the committed files): see PERTURBATIONS.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1

PERTURBATIONS = {
    "adam_beta2": "AdamW (and Muon's auxiliary AdamW) beta2 raised: 0.98 -> 0.99, 0.95 -> 0.98",
    "adam_no_bias_correction": "Adam without bias corrections (own Adam loop)",
    "adam_coupled_decay": "L2 weight decay added to the gradient (torch.optim.Adam) instead of decoupled",
    "muon_no_nesterov": "Muon with plain momentum (no Nesterov term)",
    "muon_momentum_sum": "Muon momentum m = beta m + g (no (1 - beta) damping)",
    "muon_no_scale": "Muon without the sqrt(max(1, rows/cols)) scale",
    "muon_decay_after": "Muon weight decay applied after the update (W -= lr O; W *= 1 - lr wd)",
    "rope_interleaved": "RoPE pairing 2i with 2i+1 instead of rotate-half",
    "rope_off": "no RoPE",
    "dropout_stream": "dropout stream ids shifted by one",
    "dropout_full_last_block": "last block's dropout indexed as [rows, T, hidden]",
    "norm_eps": "RMSNorm eps 1e-5 -> 1e-6",
}


# ---------------------------------------------------------------- safetensors

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}


def read_safetensors(path):
    """Returns ({name: np.ndarray}, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, entry in header.items():
        dtype = _DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"])
        tensors[name] = array.copy()
    return tensors, metadata


# ------------------------------------------------------- dropout random bits

_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)


def _mix32(h):
    """lowbias32 on a uint32 array (wrapping multiply)."""
    h = h ^ (h >> np.uint32(16))
    h = h * _M1
    h = h ^ (h >> np.uint32(15))
    h = h * _M2
    h = h ^ (h >> np.uint32(16))
    return h


def random_uniform(seed, counter, stream, count):
    """Uniforms in [0, 1) for elements 0..count-1 of one (seed, counter, stream),
    bit for bit as grokjit's ir/random.h: 24 random bits / 2^24."""
    with np.errstate(over="ignore"):
        h = _mix32(np.array([(seed & 0xFFFFFFFF) ^ 0x9E3779B9], dtype=np.uint32))
        h = _mix32(h ^ np.uint32(counter & 0xFFFFFFFF))
        h = _mix32(h ^ (np.uint32(stream) * np.uint32(0x85EBCA6B)))
        index = np.arange(count, dtype=np.uint32)
        bits = _mix32(h ^ index)
    return (bits >> np.uint32(8)).astype(np.float64) * (1.0 / 16777216.0)


def dropout_keep_mask(seed, step, stream, shape, p):
    """Boolean keep mask [shape] (row-major element indices), keep = u >= p."""
    u = random_uniform(seed, step, stream, int(np.prod(shape)))
    return torch.from_numpy((u >= p).reshape(shape))


# --------------------------------------------------------------- the model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Rotary(nn.Module):
    """RoPE with frequencies base^(-2i/hd). rotate_half pairs i with i + hd/2
    (GPT-NeoX / Llama-HF); interleaved pairs 2i with 2i + 1 (RoFormer)."""

    def __init__(self, head_dim, base, style):
        super().__init__()
        self.head_dim, self.base, self.style = head_dim, base, style

    def forward(self, x):  # x [B, H, T, hd]
        T, hd = x.shape[-2], x.shape[-1]
        inv_freq = self.base ** (-torch.arange(0, hd, 2, dtype=torch.float64, device=x.device) / hd)
        angles = torch.arange(T, dtype=torch.float64, device=x.device)[:, None] * inv_freq[None, :]  # [T, hd/2]
        if self.style == "rotate_half":
            angles = torch.cat([angles, angles], dim=-1)
            x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
            rotated = torch.cat([-x2, x1], dim=-1)
        else:
            angles = angles.repeat_interleave(2, dim=-1)
            x_even, x_odd = x[..., 0::2], x[..., 1::2]
            rotated = torch.stack([-x_odd, x_even], dim=-1).flatten(-2)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, d_model, heads, rope, rope_base, rope_style, causal):
        super().__init__()
        self.heads, self.head_dim, self.causal = heads, d_model // heads, causal
        self.wq = nn.Linear(d_model, d_model, bias=False)
        self.wk = nn.Linear(d_model, d_model, bias=False)
        self.wv = nn.Linear(d_model, d_model, bias=False)
        self.wo = nn.Linear(d_model, d_model, bias=False)
        self.rope = Rotary(self.head_dim, rope_base, rope_style) if rope else None

    def forward(self, x, last_query_only=False):
        """last_query_only: the output for the last position only ([B, 1, D]);
        keys and values still cover every position."""
        B, T, D = x.shape
        q, k, v = (w(x).view(B, T, self.heads, self.head_dim).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        if last_query_only:
            q = q[:, :, -1:, :]  # the last position sees every key: no causal mask
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if self.causal and not last_query_only:
            future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=1)
            scores = scores.masked_fill(future, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return self.wo(out.transpose(1, 2).reshape(B, q.shape[2], D))


class CounterDropout(nn.Module):
    """Inverted dropout whose mask comes from grokjit's counter-based hash, so
    that both frameworks drop the same units. `last_position_only`: the mask
    is drawn for [rows, 1, hidden] and applied to every position (only the
    last position of the last block reaches the classifier)."""

    def __init__(self, p, stream, last_position_only):
        super().__init__()
        self.p, self.stream, self.last_position_only = p, stream, last_position_only
        self.seed = None
        self.step = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        rows, T, hidden = x.shape
        shape = (rows, 1, hidden) if self.last_position_only else (rows, T, hidden)
        keep = dropout_keep_mask(self.seed, self.step, self.stream, shape, self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


class FeedForward(nn.Module):
    def __init__(self, d_model, hidden, dropout):
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d_model, bias=False)
        self.w3 = nn.Linear(d_model, hidden, bias=False)
        self.dropout = dropout

    def forward(self, x):
        return self.w2(self.dropout(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    def __init__(self, cfg, index, last, perturb, dropout_rng="counter"):
        super().__init__()
        d = cfg["d_model"]
        eps = 1e-6 if perturb == "norm_eps" else cfg["norm_eps"]
        rope = cfg["rope"] and perturb != "rope_off"
        style = "interleaved" if perturb == "rope_interleaved" else cfg.get("rope_style", "rotate_half")
        stream = index + 1 if perturb == "dropout_stream" else index
        last_only = last and perturb != "dropout_full_last_block"
        self.attn_norm = RMSNorm(d, eps)
        self.attn = Attention(d, cfg["heads"], rope, cfg["rope_base"], style, cfg["causal"])
        self.ffn_norm = RMSNorm(d, eps)
        dropout = (CounterDropout(cfg["dropout"], stream, last_only) if dropout_rng == "counter"
                   else nn.Dropout(cfg["dropout"]))
        self.ffn = FeedForward(d, cfg["mlp_ratio"] * d, dropout)

    def forward(self, x, last_position_only=False):
        """last_position_only: compute the block's output for the last position
        only ([B, 1, D]), all the classifier reads from the last block."""
        h = self.attn(self.attn_norm(x), last_query_only=last_position_only)
        x = (x[:, -1:, :] if last_position_only else x) + h
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    """REFERENCE.md s.2: embedding, pre-RMSNorm blocks, final RMSNorm, bias-free
    classifier on the last position over all vocab tokens.

    For bench/peer_bench.py only (the cross-check uses the defaults):
    dropout_rng="torch" draws dropout masks with torch's RNG (nn.Dropout)
    instead of grokjit's hash; prune_last_block=True computes the last block
    for the last position only (the same function, fewer FLOPs)."""

    def __init__(self, cfg, vocab, perturb=None, dropout_rng="counter", prune_last_block=False):
        super().__init__()
        d = cfg["d_model"]
        eps = 1e-6 if perturb == "norm_eps" else cfg["norm_eps"]
        self.prune_last_block = prune_last_block
        self.embedding = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(
            [Block(cfg, i, i + 1 == cfg["depth"], perturb, dropout_rng) for i in range(cfg["depth"])])
        self.final_norm = RMSNorm(d, eps)
        self.head = nn.Linear(d, vocab, bias=False)

    def set_dropout_counter(self, seed, step):
        for m in self.modules():
            if isinstance(m, CounterDropout):
                m.seed, m.step = seed, step

    def forward(self, tokens):
        x = self.embedding(tokens)
        for i, block in enumerate(self.layers):
            x = block(x, last_position_only=self.prune_last_block and i + 1 == len(self.layers))
        return self.head(self.final_norm(x[:, -1, :]))

    def param_groups(self):
        """name -> routing group, from the module structure (REFERENCE.md s.4):
        hidden = attention and FFN matrices; embedding; head; norm = gains."""
        groups = {}
        for name, module in self.named_modules():
            for pname, _ in module.named_parameters(recurse=False):
                full = f"{name}.{pname}" if name else pname
                if isinstance(module, nn.Embedding):
                    groups[full] = "embedding"
                elif isinstance(module, RMSNorm):
                    groups[full] = "norm"
                elif module is self.head:
                    groups[full] = "head"
                else:
                    groups[full] = "hidden"
        return groups


# ---------------------------------------------------------------- optimizers


class Muon(torch.optim.Optimizer):
    """Muon, REFERENCE.md s.4 (Keller Jordan's reference), per 2-D weight W
    [rows = out features, cols]:
      m = beta m + (1 - beta) g;  u = (1 - beta) g + beta m  (Nesterov) | m
      X = u (transposed if rows > cols); X /= ||X||_F + eps;
      5 x: A = X X^T; X = a X + (b A + c A A) X;  transpose back
      O = X * sqrt(max(1, rows / cols))
      W *= 1 - lr wd;  W -= lr O."""

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, ns_steps=5, ns_eps=1e-7,
                 scale="shape_ratio", perturb=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      ns_steps=ns_steps, ns_eps=ns_eps, scale=scale))
        self.perturb = perturb

    @staticmethod
    def newton_schulz(u, steps, eps):
        a, b, c = 3.4445, -4.7750, 2.0315
        tall = u.shape[0] > u.shape[1]
        X = u.T if tall else u
        X = X / (X.norm() + eps)
        for _ in range(steps):
            A = X @ X.T
            X = a * X + (b * A + c * A @ A) @ X
        return X.T if tall else X

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, beta, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                m = state["momentum"]
                if self.perturb == "muon_momentum_sum":
                    m.mul_(beta).add_(g)
                else:
                    m.mul_(beta).add_(g, alpha=1 - beta)
                nesterov = group["nesterov"] and self.perturb != "muon_no_nesterov"
                u = (1 - beta) * g + beta * m if nesterov else m
                O = self.newton_schulz(u, group["ns_steps"], group["ns_eps"])
                rows, cols = p.shape
                if group["scale"] == "shape_ratio" and self.perturb != "muon_no_scale":
                    O = O * math.sqrt(max(1.0, rows / cols))
                elif group["scale"] == "match_rms_adamw":
                    O = O * 0.2 * math.sqrt(max(rows, cols))
                if self.perturb == "muon_decay_after":
                    p.add_(O, alpha=-lr)
                    p.mul_(1 - lr * wd)
                else:
                    p.mul_(1 - lr * wd)
                    p.add_(O, alpha=-lr)


class AdamNoBiasCorrection(torch.optim.Optimizer):
    """Perturbation only: AdamW without the bias corrections."""

    def __init__(self, params, lr, betas, eps, weight_decay):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
                st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.addcdiv_(st["m"], st["v"].sqrt().add_(group["eps"]), value=-group["lr"])


def make_adamw(params, adam_cfg, perturb, foreach=None):
    lr, b1, b2, eps, wd = (adam_cfg[k] for k in ("lr", "beta1", "beta2", "eps", "weight_decay"))
    if perturb == "adam_beta2":
        b2 = {0.98: 0.99, 0.95: 0.98}.get(b2, min(0.999, b2 + 0.01))
    if perturb == "adam_no_bias_correction":
        return AdamNoBiasCorrection(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    if perturb == "adam_coupled_decay":
        return torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=foreach)


def make_optimizers(model, opt_cfg, perturb, foreach=None):
    """foreach: torch.optim.AdamW's multi-tensor path (None: torch's default)."""
    kind = opt_cfg["kind"]
    if kind == "adamw":
        return [make_adamw(list(model.parameters()), opt_cfg["adam"], perturb, foreach)]
    if kind != "muon":
        raise SystemExit(f"torch_reference: optimizer kind '{kind}' is not covered by the cross-check")
    mc = opt_cfg["muon"]
    if mc["variant"] != "reference":
        raise SystemExit("torch_reference: only the reference Muon variant is covered")
    if not mc.get("aux_decoupled_decay", True):
        raise SystemExit("torch_reference: aux_decoupled_decay=false is not covered")
    groups = model.param_groups()
    params = dict(model.named_parameters())
    muon_params = [params[n] for n in params if groups[n] in mc["muon_groups"]]
    adam_params = [params[n] for n in params if groups[n] not in mc["muon_groups"]]
    opts = [Muon(muon_params, lr=mc["lr"], momentum=mc["momentum"], nesterov=mc["nesterov"],
                 weight_decay=mc["weight_decay"], ns_steps=mc["ns_steps"], ns_eps=mc["ns_eps"], scale=mc["scale"],
                 perturb=perturb)]
    if adam_params:
        opts.append(make_adamw(adam_params, mc["aux_adam"], perturb, foreach))
    return opts


# ---------------------------------------------------------------- one case


def check_covered(cfg):
    """Refuse configs this reference does not implement, rather than ignore them."""
    problems = []
    if cfg["model"]["kind"] != "transformer":
        problems.append("model.kind")
    if cfg["model"]["output"] != "softmax":
        problems.append("model.output")
    o = cfg["optimizer"]
    if o["grokfast"]["kind"] != "none":
        problems.append("optimizer.grokfast")
    if o["orthogonal_grad"]:
        problems.append("optimizer.orthogonal_grad")
    if o["grad_clip"] != 0:
        problems.append("optimizer.grad_clip")
    if problems:
        raise SystemExit("torch_reference: not covered by the cross-check: " + ", ".join(problems))


def fingerprints(tensors, param_order):
    init = hashlib.sha256()
    for name in param_order:
        init.update(name.encode("utf-8") + b"\0")
        init.update(tensors[name].astype("<f4").tobytes())
    data = hashlib.sha256()
    for name, dtype in (("batch.tokens", "<i4"), ("batch.labels", "<i4"), ("batch.row_mask", "<f4"),
                        ("batch.inv_rows", "<f4")):
        data.update(tensors[name].astype(dtype).tobytes())
    return init.hexdigest(), data.hexdigest()


def load_weights(model, tensors, param_order, dtype):
    """Copies grokjit's parameters (name -> [out, in] array, without the
    '.weight' suffix) into `model`; refuses differing names or shapes."""
    own = dict(model.named_parameters())
    if sorted(own) != sorted(n + ".weight" for n in param_order):
        raise SystemExit(f"torch_reference: parameter names differ: torch {sorted(own)} vs grokjit {param_order}")
    with torch.no_grad():
        for name in param_order:
            target = own[name + ".weight"]
            source = torch.from_numpy(tensors[name].astype(np.float32))
            if tuple(target.shape) != tuple(source.shape):
                raise SystemExit(f"torch_reference: {name}: shape {tuple(source.shape)} vs torch {tuple(target.shape)}")
            target.copy_(source.to(dtype))


def train_step(model, optimizers, tokens, labels):
    """One training step on a batch of real rows: forward (train mode),
    mean cross-entropy, backward, every optimizer's update. Returns the loss
    and the logits (weights before the update)."""
    logits = model(tokens)
    loss = F.cross_entropy(logits, labels)
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()
    return loss, logits.detach()


def run_case(tensors, meta, dtype, perturb):
    cfg = json.loads(meta["grokjit.config"])
    check_covered(cfg)
    tcfg = cfg["model"]["transformer"]
    vocab = int(meta["grokjit.vocab"])
    seed = int(meta["grokjit.dropout_seed"])
    steps = int(meta["grokjit.steps"])
    param_order = json.loads(meta["grokjit.param_order"])

    model = Transformer(tcfg, vocab, perturb).to(dtype)
    load_weights(model, tensors, param_order, dtype)
    optimizers = make_optimizers(model, cfg["optimizer"], perturb)
    model.train()

    tokens = torch.from_numpy(tensors["batch.tokens"].astype(np.int64))
    labels = torch.from_numpy(tensors["batch.labels"].astype(np.int64))
    row_mask = tensors["batch.row_mask"]
    losses = []
    for s in range(steps):
        rows = int(row_mask[s].sum())  # real rows come first, padding after
        model.set_dropout_counter(seed, s + 1)  # grokjit's step counter is 1-based
        loss, _ = train_step(model, optimizers, tokens[s, :rows], labels[s, :rows])
        if not math.isfinite(loss.item()):
            raise SystemExit(f"torch_reference: loss not finite at step {s + 1}")
        losses.append(float(loss.item()))
    return losses, cfg


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", required=True, help="folder with crosscheck_<case>_export.safetensors")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    parser.add_argument("--cases", default="", help="comma-separated; default: every export in --export-dir")
    parser.add_argument("--perturb", default="", choices=[""] + sorted(PERTURBATIONS),
                        help="break one detail on purpose (to see the C++ test fail)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: more threads spin and slow down badly on a busy machine)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    suffix = "_export.safetensors"
    available = sorted(f[len("crosscheck_"):-len(suffix)] for f in os.listdir(args.export_dir)
                       if f.startswith("crosscheck_") and f.endswith(suffix))
    cases = [c for c in args.cases.split(",") if c] or available
    if not cases:
        raise SystemExit(f"torch_reference: no crosscheck_*{suffix} in {args.export_dir}")
    committed = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
    if args.perturb and os.path.realpath(args.out_dir) == committed:
        raise SystemExit("torch_reference: --perturb writes a deliberately wrong reference; "
                         "give an --out-dir outside tests/data")
    os.makedirs(args.out_dir, exist_ok=True)
    for case in cases:
        path = os.path.join(args.export_dir, f"crosscheck_{case}{suffix}")
        tensors, meta = read_safetensors(path)
        if int(meta.get("grokjit.crosscheck_format", -1)) != FORMAT_VERSION:
            raise SystemExit(f"torch_reference: {path}: export format {meta.get('grokjit.crosscheck_format')}, "
                             f"this script reads {FORMAT_VERSION}")
        param_order = json.loads(meta["grokjit.param_order"])
        init_fp, data_fp = fingerprints(tensors, param_order)
        if init_fp != meta["grokjit.init_sha256"] or data_fp != meta["grokjit.data_sha256"]:
            raise SystemExit(f"torch_reference: {path}: fingerprints do not match the export's metadata "
                             f"(init {init_fp} vs {meta['grokjit.init_sha256']}, "
                             f"data {data_fp} vs {meta['grokjit.data_sha256']})")
        t0 = time.time()
        losses32, cfg = run_case(tensors, meta, torch.float32, args.perturb or None)
        t1 = time.time()
        losses64, _ = run_case(tensors, meta, torch.float64, args.perturb or None)
        t2 = time.time()
        result = {
            "format": FORMAT_VERSION,
            "case": case,
            "generator": "tests/crosscheck/torch_reference.py (regenerate: scripts/regen-crosscheck.sh)",
            "torch_version": torch.__version__,
            "perturbation": args.perturb or None,
            "case_spec": json.loads(meta["grokjit.case_spec"]),
            "config": cfg,
            "steps": len(losses32),
            "dropout_seed": int(meta["grokjit.dropout_seed"]),
            "init_sha256": init_fp,
            "data_sha256": data_fp,
            "loss": losses32,
            "loss_f64": losses64,
        }
        out = os.path.join(args.out_dir, f"crosscheck_{case}.json")
        with open(out + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(out + ".tmp", out)
        dev = max(abs(a - b) / abs(b) for a, b in zip(losses32, losses64))
        print(f"{case}: {len(losses32)} steps, loss {losses32[0]:.6f} -> {losses32[-1]:.6f}; "
              f"fp32 vs fp64 max rel {dev:.2e}; {t1 - t0:.1f}s + {t2 - t1:.1f}s (f64) -> {out}"
              + (f"  [PERTURBED: {args.perturb}]" if args.perturb else ""))


if __name__ == "__main__":
    sys.exit(main())
