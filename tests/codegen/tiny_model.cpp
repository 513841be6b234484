#include "tests/codegen/tiny_model.h"

#include <cmath>

#include "ir/autodiff.h"
#include "ir/builder.h"
#include "tests/codegen/harness.h"

namespace grokjit::testing {

using namespace ir;

namespace {

Value rmsnorm(Value x, Value gain) { return x * rsqrt(mean(square(x), {-1}, true) + 1e-5) * gain; }

// x [rows, in] times weight [out, in]^T, like a PyTorch Linear without bias.
Value linear(Value x, Value w) { return matmul(x, transpose(w)); }

}  // namespace

TinyModel tiny_transformer(const TinyConfig& c) {
  TinyModel m;
  Graph& g = m.graph;
  auto param = [&](const std::string& name, Shape s) {
    m.params.push_back(name);
    return input(g, name, std::move(s), DType::F32, InputRole::Param);
  };
  const int64_t B = c.batch, T = c.seq, D = c.d, F = c.ffn, V = c.vocab;
  Value tokens = input(g, "tokens", {B, T}, DType::I32, InputRole::Data);
  Value labels = input(g, "labels", {B}, DType::I32, InputRole::Data);
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value lr = input(g, "lr", {}, DType::F32, InputRole::Scalar);

  Value emb = param("emb", {V, D});
  Value x = reshape(gather(emb, tokens), {B * T, D});
  // RoPE-like position tables: cos/sin of iota-derived angles.
  Value pos = iota(g, {T, D}, 0, DType::F32), dim = iota(g, {T, D}, 1, DType::F32);
  Value angle = pos * exp(dim * (-std::log(100.0) / static_cast<double>(D)));
  Value cos_t = cos(angle), sin_t = sin(angle);
  for (int64_t l = 0; l < c.layers; ++l) {
    std::string p = "l" + std::to_string(l) + ".";
    Value g1 = param(p + "g1", {D}), wq = param(p + "wq", {D, D}), wk = param(p + "wk", {D, D}), wv = param(p + "wv", {D, D}),
          wo = param(p + "wo", {D, D}), g2 = param(p + "g2", {D}), w1 = param(p + "w1", {F, D}), w3 = param(p + "w3", {F, D}),
          w2 = param(p + "w2", {D, F});
    Value h = rmsnorm(x, g1);
    auto heads = [&](Value t) { return reshape(t, {B, T, D}); };
    Value q = heads(linear(h, wq)), k = heads(linear(h, wk)), v = heads(linear(h, wv));
    q = q * cos_t + concat({slice(q, 2, D / 2, D) * -1.0, slice(q, 2, 0, D / 2)}, 2) * sin_t;
    k = k * cos_t + concat({slice(k, 2, D / 2, D) * -1.0, slice(k, 2, 0, D / 2)}, 2) * sin_t;
    Value scores = matmul(q, transpose(k)) * (1.0 / std::sqrt(static_cast<double>(D)));
    Value visible = broadcast_to(ge(iota(g, {T, T}, 0), iota(g, {T, T}, 1)), scores.shape());
    scores = where(visible, scores, constant(g, -1e30, scores.shape()));
    Value att = reshape(matmul(softmax(scores, -1), v), {B * T, D});
    x = x + linear(att, wo);
    Value h2 = rmsnorm(x, g2);
    Value hidden = silu(linear(h2, w1)) * linear(h2, w3);
    if (c.dropout) {
      Value u = random_uniform(seed, step, hidden.shape(), static_cast<uint32_t>(l), DType::F32);
      hidden = hidden * (cast(ge(u, scalar_like(u, 0.2)), DType::F32) * (1.0 / 0.8));
    }
    x = x + linear(hidden, w2);
  }
  Value last = reshape(slice(reshape(x, {B, T, D}), 1, T - 1, T), {B, D});
  Value logits = linear(rmsnorm(last, param("gf", {D})), param("head", {V, D}));
  Value loss = mean(-sum(one_hot(labels, V) * log_softmax(logits, -1), {-1}), {0});
  output(loss, "loss");
  std::vector<Value> ps;
  for (const auto& name : m.params) ps.push_back(g.input_value(name));
  std::vector<Value> grads = grad(loss, ps);
  for (size_t i = 0; i < ps.size(); ++i) {
    if (!c.update) {
      output(grads[i], "grad." + m.params[i]);
      continue;
    }
    Value mo = input(g, "m." + m.params[i], ps[i].shape(), DType::F32, InputRole::State);
    Value ve = input(g, "v." + m.params[i], ps[i].shape(), DType::F32, InputRole::State);
    Value m2 = mo * 0.9 + grads[i] * 0.1;
    Value v2 = ve * 0.999 + square(grads[i]) * 0.001;
    Value lr_b = broadcast_to(lr, ps[i].shape());
    Value w2 = ps[i] - lr_b * (m2 / (sqrt(v2) + 1e-8) + ps[i] * 0.01);
    update(mo, m2);
    update(ve, v2);
    update(ps[i], w2);
  }
  return m;
}

TensorMap tiny_inputs(const TinyModel& m, const TinyConfig& c, uint32_t seed) {
  std::map<std::string, InputRange> ranges{{"tokens", {0, static_cast<double>(c.vocab - 1)}},
                                           {"labels", {0, static_cast<double>(c.vocab - 1)}},
                                           {"seed", {0, 1000000}},
                                           {"step", {0, 1000}},
                                           {"lr", {0.01, 0.01}}};
  for (const auto& p : m.params) {
    ranges["m." + p] = {-0.1, 0.1};
    ranges["v." + p] = {0.1, 1.0};
    ranges[p] = p.find('g') == 0 || p.find(".g") != std::string::npos ? InputRange{0.5, 1.5} : InputRange{-0.5, 0.5};
  }
  return random_inputs(m.graph, seed, ranges);
}

}  // namespace grokjit::testing
