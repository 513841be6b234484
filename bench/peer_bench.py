#!/usr/bin/python3
"""PyTorch eager peer for grokjit's training step (issue 6).

For each spec, times grokjit's fused training step (`grokjit bench SPEC --json
--fusion on --threads N`, a subprocess) and the same step in PyTorch eager on
the CPU with the same thread count, in one run, interleaved: `--rounds` times,
a block of grokjit steps and a block of torch steps, the order alternating
between rounds so that machine noise hits both sides. Prints median, p20 and
p80 per side over all timed steps and the ratio torch / grokjit (medians).

The PyTorch side is tests/crosscheck/torch_reference.py, the independent
implementation the 50-step loss cross-check holds to grokjit (docs/crosscheck.md):
nn.Module Transformer, F.cross_entropy, autograd, torch.optim.AdamW, Muon with
Newton-Schulz as torch matmuls. Same resolved config, vocab, batch size and
optimizer hyperparameters as grokjit; the weights are grokjit's (loaded by
name and shape, so the two models cannot differ in structure); the batch is
the first `batch_size` training rows, as `grokjit bench` uses. Dropout is on,
with torch's own RNG (nn.Dropout). Each step: forward, loss, backward, every
optimizer's update, and the batch's correct count under no_grad (grokjit's
step computes it too); timed with time.perf_counter around the step, with
loss.item() inside so that the work is finished (on a GPU too: .item() waits
for the device). `--device cuda` runs both sides on the GPU: grokjit with
`--backend cuda` (device events, CUDA graph), torch on cuda:0.

Two torch models (--torch-models):
  full           the model as a PyTorch user writes it: every block over
                 every position;
  last-position  the last block for the last position only (the classifier
                 reads nothing else), which grokjit's graph gets by dead-code
                 elimination. Checked before timing to give the same loss as
                 `full` (grokjit's dropout masks, same weights).

The resolved config (defaults filled in) and the weights come from grokjit
itself: a one-epoch `grokjit train` into a temporary folder, read back from
its checkpoint. The batch comes from `grokjit data`.

    bench/peer_bench.py [SPEC ...] [--threads N] [--grokjit PATH] [--set key=value ...]
                        [--rounds 3] [--steps 10] [--warmup 3] [--torch-models full,last-position] [--json]

Needs Debian's python3-torch for /usr/bin/python3 (scripts/setup.sh --bench).
Exit codes: 2 bad arguments, 3 a file that is missing, 4 torch not importable,
else grokjit's own exit code when one of its commands fails.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SPECS = [os.path.join("specs", "add-adamw.json"), os.path.join("specs", "add-muon.json")]
TORCH_MODELS = ("full", "last-position")
SCHEMA = "grokjit.peer_bench/1"


def fail(message, code):
    print(f"peer_bench: error: {message}", file=sys.stderr)
    sys.exit(code)


def percentiles(values):
    """p20, median, p80 as `grokjit bench` reports them (cli/bench.cpp:
    sorted, index round(q * (n - 1)))."""
    v = sorted(values)
    at = lambda q: v[int(q * (len(v) - 1) + 0.5)]
    return {"p20": at(0.2), "median": at(0.5), "p80": at(0.8), "min": v[0], "max": v[-1]}


# ------------------------------------------------------------------ grokjit


class Grokjit:
    def __init__(self, binary, threads, sets, backend):
        self.binary, self.threads, self.sets, self.backend = binary, threads, sets, backend

    def run(self, args, what):
        cmd = [self.binary, "--threads", str(self.threads)] + args
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(f"peer_bench: {what} failed (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(proc.returncode)
        return proc.stdout

    def set_args(self, extra=()):
        out = []
        for s in list(self.sets) + list(extra):
            out += ["--set", s]
        return out

    def version(self):
        return self.run(["--version"], "grokjit --version").strip().splitlines()[0]

    def resolved_run(self, spec, workdir):
        """(resolved config, {param name: array}, param names) from a
        one-epoch run's checkpoint."""
        from torch_reference import read_safetensors
        out = os.path.join(workdir, "run")
        self.run(["train", spec, "--backend", "cpu", "-q", "--out", out] +
                 self.set_args(["train.max_epochs=1", "train.stop_after_grok=0"]),
                 f"grokjit train (one epoch, for the resolved config of {spec})")
        tensors, meta = read_safetensors(os.path.join(out, "checkpoint.safetensors"))
        config = json.loads(meta["grokjit.config"])
        params = {k: v for k, v in tensors.items() if not k.startswith("opt.")}
        return config, params, sorted(params)

    def data(self, spec):
        return json.loads(self.run(["data", spec, "--format", "json"] + self.set_args(), f"grokjit data {spec}"))

    def bench(self, spec, warmup, steps):
        text = self.run(["bench", spec, "--json", "--fusion", "on", "--backend", self.backend,
                         "--threads", str(self.threads), "--warmup", str(warmup), "--steps", str(steps)]
                        + self.set_args(), f"grokjit bench {spec}")
        report = json.loads(text)
        (run,) = [r for r in report["runs"] if r["fusion"]]
        return run


def build_info(binary):
    info = {"binary": os.path.relpath(binary, ROOT) if binary.startswith(ROOT) else binary,
            "binary_mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(binary)))}
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True)
        if commit.returncode == 0:
            info["source_commit"] = commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return info


# ------------------------------------------------------------------ PyTorch


class TorchStep:
    """One spec's model, optimizers and batch in PyTorch eager."""

    def __init__(self, ref, torch, config, params, order, data, model_kind, foreach, device):
        self.torch = torch
        ref.check_covered(config)
        vocab = int(data["vocab"])
        self.model = ref.Transformer(config["model"]["transformer"], vocab, dropout_rng="torch",
                                     prune_last_block=model_kind == "last-position")
        ref.load_weights(self.model, params, order, torch.float32)
        self.model.to(device)  # before the optimizers, whose state follows the parameters
        self.optimizers = ref.make_optimizers(self.model, config["optimizer"], None, foreach=foreach)
        self.model.train()
        self.tokens, self.labels = (t.to(device) for t in batch_tensors(torch, config, data))
        self.train_step = ref.train_step

    def time_steps(self, warmup, steps):
        torch, ms = self.torch, []
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            loss, logits = self.train_step(self.model, self.optimizers, self.tokens, self.labels)
            with torch.no_grad():
                correct = (logits.argmax(-1) == self.labels).sum()
            loss.item(), correct.item()
            t1 = time.perf_counter()
            if i >= warmup:
                ms.append(1e3 * (t1 - t0))
        return ms


def batch_tensors(torch, config, data):
    """The first batch_size training rows, cycling when there are fewer, as
    `grokjit bench` binds them (cli/bench.cpp; batch_size 0 = full batch,
    runtime::data_shape)."""
    train = data["train"]
    batch = config["train"]["batch_size"] or len(train)
    rows = [train[i % len(train)] for i in range(batch)]
    tokens = torch.tensor([data["tokens"][r] for r in rows], dtype=torch.int64)
    labels = torch.tensor([data["labels"][r] for r in rows], dtype=torch.int64)
    return tokens, labels


def check_last_position_model(ref, torch, config, params, order, data):
    """The last-position model computes the same loss as the full one (same
    weights, grokjit's dropout masks): it is the same function."""
    vocab, cfg = int(data["vocab"]), config["model"]["transformer"]
    tokens, labels = batch_tensors(torch, config, data)
    losses = []
    for prune in (False, True):
        model = ref.Transformer(cfg, vocab, prune_last_block=prune)
        ref.load_weights(model, params, order, torch.float32)
        model.train()
        model.set_dropout_counter(config["train"]["seed"] & 0x7FFFFFFF, 1)
        with torch.no_grad():
            losses.append(torch.nn.functional.cross_entropy(model(tokens), labels).item())
    if abs(losses[0] - losses[1]) > 1e-5 * abs(losses[0]):
        fail(f"the last-position torch model's loss {losses[1]!r} differs from the full model's {losses[0]!r}", 1)
    return losses


# ------------------------------------------------------------------ output


def table(report):
    where = (f"CPU, {report['threads']} thread{'s' if report['threads'] != 1 else ''}" if report["device"] == "cpu"
             else f"CUDA ({report['cuda_device']})")
    lines = [f"peer bench: grokjit fused step vs PyTorch {report['torch_version']} eager, {where}; "
             f"{report['rounds']} interleaved rounds of "
             f"{report['warmup']} warm-up + {report['steps']} timed steps per side",
             f"grokjit: {report['grokjit']['version']}, {report['grokjit']['binary']} built "
             f"{report['grokjit']['binary_mtime_utc']}"
             + (f" (source {report['grokjit']['source_commit']})" if "source_commit" in report["grokjit"] else ""),
             ""]
    header = ["spec", "optimizer", "batch", "grokjit ms", "[p20, p80]", "torch model", "torch ms", "[p20, p80]",
              "torch/grokjit"]
    rows = []
    for r in report["results"]:
        g = r["grokjit"]["step_ms"]
        for t in r["torch"]:
            s = t["step_ms"]
            rows.append([r["spec"], r["optimizer"], str(r["batch_size"]), f"{g['median']:.2f}",
                         f"[{g['p20']:.2f}, {g['p80']:.2f}]", t["model"], f"{s['median']:.2f}",
                         f"[{s['p20']:.2f}, {s['p80']:.2f}]", f"{t['ratio_torch_over_grokjit']:.2f}"])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        lines.append("  ".join(x.ljust(w) if i in (0, 1, 5) else x.rjust(w) for i, (x, w) in
                               enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", help="model specs (default: specs/add-adamw.json specs/add-muon.json)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="CPU threads for both sides (default: all cores)")
    parser.add_argument("--grokjit", default=os.path.join(ROOT, "build", "release", "grokjit"),
                        help="the grokjit binary (default build/release/grokjit)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="spec override passed to grokjit (repeatable); torch reads the resolved config")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where both sides run: cpu (default) or cuda (grokjit --backend cuda, torch on cuda:0)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved blocks per side (default 3)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per block (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each block (default 3)")
    parser.add_argument("--torch-models", default=",".join(TORCH_MODELS),
                        help="comma-separated, of: full, last-position (default both)")
    parser.add_argument("--foreach", choices=("on", "off"), default="on",
                        help="torch.optim.AdamW's multi-tensor path (default on)")
    parser.add_argument("--json", action="store_true", help=f"machine-readable output (schema {SCHEMA})")
    args = parser.parse_args(argv)
    for name in ("threads", "rounds", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    args.torch_models = [m for m in args.torch_models.split(",") if m]
    unknown = [m for m in args.torch_models if m not in TORCH_MODELS]
    if unknown or not args.torch_models:
        parser.error(f"--torch-models: unknown model(s) {unknown or args.torch_models!r}; "
                     f"choose from {', '.join(TORCH_MODELS)}")
    args.specs = args.specs or [os.path.join(ROOT, s) for s in DEFAULT_SPECS]
    for spec in args.specs:
        if not os.path.isfile(spec):
            fail(f"spec file '{spec}' not found", 3)
    if not (os.path.isfile(args.grokjit) and os.access(args.grokjit, os.X_OK)):
        fail(f"--grokjit: '{args.grokjit}' is not an executable file (build it: scripts/build.sh, "
             f"or name the binary with --grokjit)", 3)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # OpenBLAS (torch's BLAS on Debian) keeps its own thread pool, which
    # torch.set_num_threads does not size: fix it before torch loads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, os.path.join(ROOT, "tests", "crosscheck"))
    try:
        import torch
        import torch_reference as ref
    except ImportError as e:
        fail(f"cannot import torch ({e}): install Debian's python3-torch (scripts/setup.sh --bench)", 4)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.device == "cuda" and not torch.cuda.is_available():
        fail(f"--device cuda: this torch ({torch.__version__}) sees no usable CUDA device", 2)

    grokjit = Grokjit(os.path.abspath(args.grokjit), args.threads, args.sets, args.device)
    report = {"schema": SCHEMA, "device": args.device, "threads": args.threads, "torch_version": torch.__version__,
              "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
              "foreach": args.foreach == "on", "rounds": args.rounds, "warmup": args.warmup, "steps": args.steps,
              "sets": args.sets, "grokjit": dict(version=grokjit.version(), **build_info(grokjit.binary)),
              "results": []}
    if args.device == "cuda":
        report["cuda_device"] = torch.cuda.get_device_name(0)

    cases = []
    with tempfile.TemporaryDirectory(prefix="grokjit-peer-bench-") as workdir:
        for i, spec in enumerate(args.specs):
            config, params, order = grokjit.resolved_run(spec, os.path.join(workdir, str(i)))
            data = grokjit.data(spec)
            check = (check_last_position_model(ref, torch, config, params, order, data)
                     if "last-position" in args.torch_models else None)
            steps = {m: TorchStep(ref, torch, config, params, order, data, m, args.foreach == "on", args.device)
                     for m in args.torch_models}
            cases.append(dict(spec=spec, config=config, steps=steps, check=check, grokjit_runs=[],
                              torch_ms={m: [] for m in args.torch_models}))

    for round_index in range(args.rounds):
        for case in cases:
            def run_grokjit():
                case["grokjit_runs"].append(grokjit.bench(case["spec"], args.warmup, args.steps))

            def run_torch():
                for m, step in case["steps"].items():
                    case["torch_ms"][m] += step.time_steps(args.warmup, args.steps)

            for side in ((run_grokjit, run_torch) if round_index % 2 == 0 else (run_torch, run_grokjit)):
                side()

    for case in cases:
        runs = case["grokjit_runs"]
        samples = [ms for r in runs for ms in r["step_ms_samples"]]
        g = percentiles(samples)
        config = case["config"]
        result = {"spec": config["name"], "spec_file": case["spec"], "optimizer": config["optimizer"]["kind"],
                  "batch_size": int(case["steps"][args.torch_models[0]].labels.shape[0]),
                  "grokjit": {"step_ms": g, "step_ms_samples": samples, "device": runs[0]["device"],
                              "kernels_per_step": runs[0]["kernels_per_step"],
                              "flops_per_step": runs[0]["flops_per_step"]},
                  "torch": []}
        if case["check"] is not None:
            result["last_position_check_losses"] = case["check"]
        for m, ms in case["torch_ms"].items():
            t = percentiles(ms)
            result["torch"].append({"model": m, "step_ms": t, "step_ms_samples": ms,
                                    "ratio_torch_over_grokjit": t["median"] / g["median"]})
        report["results"].append(result)

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
