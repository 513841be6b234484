#include "models/layers.h"

#include <cmath>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::models {

using ir::Value;

ir::Value linear(Value x, Value weight) {
  const int64_t in = x.dim(-1);
  if (weight.rank() != 2 || weight.dim(1) != in)
    throw Error("linear: weight " + ir::shape_str(weight.shape()) + " does not map the input's last dim " +
                std::to_string(in) + " (expected [out, " + std::to_string(in) + "])");
  if (x.rank() == 2) return ir::matmul(x, ir::transpose(weight));
  // Flatten the leading dims so the contraction is one plain 2-D matmul.
  ir::Shape out_shape = x.shape();
  out_shape.back() = weight.dim(0);
  Value rows = ir::reshape(x, {-1, in});
  return ir::reshape(ir::matmul(rows, ir::transpose(weight)), out_shape);
}

ir::Value rmsnorm(Value x, Value gain, double eps) {
  Value mean_square = ir::mean(ir::square(x), {-1}, /*keepdims=*/true);
  return x * ir::rsqrt(mean_square + eps) * gain;
}

namespace {

// rotate(x) for the two pairings: out = x * cos + rotate(x) * sin.
//   RotateHalf:  [x1, x2] -> [-x2, x1] with x1, x2 the two halves.
//   Interleaved: (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...).
Value rotate_pairs(Value x, RopeStyle style) {
  const int64_t hd = x.dim(-1), half = hd / 2;
  if (style == RopeStyle::RotateHalf) {
    Value x1 = ir::slice(x, -1, 0, half);
    Value x2 = ir::slice(x, -1, half, hd);
    return ir::concat({-x2, x1}, -1);
  }
  ir::Shape pairs = x.shape();
  pairs.back() = half;
  pairs.push_back(2);
  Value p = ir::reshape(x, pairs);
  Value even = ir::slice(p, -1, 0, 1), odd = ir::slice(p, -1, 1, 2);
  return ir::reshape(ir::concat({-odd, even}, -1), x.shape());
}

// cos/sin tables [T, hd]: entry (t, j) uses the frequency of j's pair.
std::pair<Value, Value> rope_tables(ir::Graph& g, int64_t first, int64_t T, int64_t hd, double base, RopeStyle style,
                                    ir::DType dtype) {
  std::vector<double> cos_t(static_cast<size_t>(T * hd)), sin_t(cos_t.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < hd; ++j) {
      int64_t pair = style == RopeStyle::RotateHalf ? j % (hd / 2) : j / 2;
      double freq = std::pow(base, -2.0 * static_cast<double>(pair) / static_cast<double>(hd));
      double angle = static_cast<double>(first + t) * freq;
      cos_t[static_cast<size_t>(t * hd + j)] = std::cos(angle);
      sin_t[static_cast<size_t>(t * hd + j)] = std::sin(angle);
    }
  return {ir::constant_data(g, std::move(cos_t), {T, hd}, dtype), ir::constant_data(g, std::move(sin_t), {T, hd}, dtype)};
}

}  // namespace

ir::Value rope(Value x, double base, RopeStyle style, int64_t first_position) {
  const int64_t T = x.dim(-2), hd = x.dim(-1);
  if (hd % 2 != 0) throw Error("rope: head dim " + std::to_string(hd) + " must be even", ExitCode::Usage);
  auto [cos_t, sin_t] = rope_tables(*x.graph(), first_position, T, hd, base, style, x.dtype());
  return x * cos_t + rotate_pairs(x, style) * sin_t;
}

ir::Value dropout(Value x, double p, const DropoutSource* source, uint32_t stream) {
  if (!(p >= 0.0 && p < 1.0))
    throw Error("dropout probability " + std::to_string(p) + " must be in [0, 1)", ExitCode::Usage);
  if (source == nullptr || p == 0.0) return x;
  Value u = ir::random_uniform(source->seed, source->counter, x.shape(), stream, x.dtype());
  Value keep = ir::cast(ir::ge(u, ir::scalar_like(u, p)), x.dtype());
  return x * (keep * (1.0 / (1.0 - p)));
}

namespace {

// [B, T, d] -> [B, H, T, d / H]
Value split_heads(Value x, int64_t heads) {
  const int64_t B = x.dim(0), T = x.dim(1), d = x.dim(2);
  return ir::permute(ir::reshape(x, {B, T, heads, d / heads}), {0, 2, 1, 3});
}

// [B, H, T, hd] -> [B, T, H * hd]
Value merge_heads(Value x) {
  const int64_t B = x.dim(0), H = x.dim(1), T = x.dim(2), hd = x.dim(3);
  return ir::reshape(ir::permute(x, {0, 2, 1, 3}), {B, T, H * hd});
}

// Scores [..., Tq, Tk] of the last Tq positions against all Tk, with key
// positions after the query's replaced by -1e30 (a finite value, so no inf
// reaches the softmax or its gradient).
Value mask_future(Value scores) {
  ir::Graph& g = *scores.graph();
  const int64_t Tq = scores.dim(-2), Tk = scores.dim(-1);
  Value query = ir::iota(g, {Tq, Tk}, 0) + static_cast<double>(Tk - Tq), key = ir::iota(g, {Tq, Tk}, 1);
  Value visible = ir::broadcast_to(ir::ge(query, key), scores.shape());
  return ir::where(visible, scores, ir::constant(g, -1e30, scores.shape(), scores.dtype()));
}

}  // namespace

ir::Value self_attention(Value x, const AttentionWeights& w, const TransformerConfig& cfg, int64_t queries) {
  const int64_t T = x.dim(1), d = x.dim(-1);
  if (cfg.heads <= 0 || d % cfg.heads != 0)
    throw Error("attention: d_model " + std::to_string(d) + " is not divisible by heads " + std::to_string(cfg.heads),
                ExitCode::Usage);
  if (queries < 0) queries = T;
  if (queries == 0 || queries > T)
    throw Error("attention: " + std::to_string(queries) + " query positions out of " + std::to_string(T));
  const int64_t hd = d / cfg.heads, first_query = T - queries;
  Value x_query = queries == T ? x : ir::slice(x, 1, first_query, T);
  Value q = split_heads(linear(x_query, w.wq), cfg.heads);
  Value k = split_heads(linear(x, w.wk), cfg.heads);
  Value v = split_heads(linear(x, w.wv), cfg.heads);
  if (cfg.rope) {
    q = rope(q, cfg.rope_base, cfg.rope_style, first_query);
    k = rope(k, cfg.rope_base, cfg.rope_style);
  }
  Value scores = ir::matmul(q, ir::transpose(k)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  if (cfg.causal) scores = mask_future(scores);
  Value heads_out = ir::matmul(ir::softmax(scores, -1), v);
  return linear(merge_heads(heads_out), w.wo);
}

ir::Value swiglu_ffn(Value x, const FfnWeights& w, double dropout_p, const DropoutSource* source, uint32_t stream) {
  Value hidden = ir::silu(linear(x, w.w1)) * linear(x, w.w3);
  return linear(dropout(hidden, dropout_p, source, stream), w.w2);
}

}  // namespace grokjit::models
