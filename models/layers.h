// Building blocks shared by the models: pure graph builders that follow the
// dtype of their input (f32 in training; f64 in gradient checks).
#pragma once

#include <cstdint>

#include "ir/graph.h"
#include "models/config.h"

namespace grokjit::models {

// x [..., in] @ W^T with W [out, in] (PyTorch layout), no bias -> [..., out].
ir::Value linear(ir::Value x, ir::Value weight);

// x * rsqrt(mean(x^2 over the last axis) + eps) * gain, gain [d].
ir::Value rmsnorm(ir::Value x, ir::Value gain, double eps);

// Rotary position embedding on x [..., T, hd] (hd even), positions
// first_position .. first_position + T - 1 along axis -2, frequencies
// base^(-2i/hd), pairing per `style` (models/config.h).
// out = x * cos + rotate(x) * sin with host-computed [T, hd] tables.
ir::Value rope(ir::Value x, double base, RopeStyle style, int64_t first_position = 0);

// Where a training graph draws dropout masks: counter-based uniforms from
// (seed, counter = step, stream, element), so every backend draws the same.
struct DropoutSource {
  ir::Value seed;     // i32 []
  ir::Value counter;  // i32 []
};

// Inverted dropout: x * [u >= p] / (1 - p). Identity when `source` is null
// (evaluation) or p == 0. Throws grokjit::Error unless 0 <= p < 1.
ir::Value dropout(ir::Value x, double p, const DropoutSource* source, uint32_t stream);

struct AttentionWeights {
  ir::Value wq, wk, wv, wo;  // [d, d] each, [out, in]
};

// Multi-head self-attention on x [B, T, d]: heads = cfg.heads, head dim
// d / heads, RoPE on q and k when cfg.rope, causal mask when cfg.causal
// (masked scores set to -1e30 before the softmax), scale 1/sqrt(head dim).
// Queries come from the last `queries` positions only (-1 = all T), keys and
// values from all: the output is [B, queries, d], equal to those rows of the
// full output.
ir::Value self_attention(ir::Value x, const AttentionWeights& w, const TransformerConfig& cfg, int64_t queries = -1);

struct FfnWeights {
  ir::Value w1, w2, w3;  // w1, w3 [hidden, d]; w2 [d, hidden]
};

// w2(dropout(silu(w1 x) * (w3 x))).
ir::Value swiglu_ffn(ir::Value x, const FfnWeights& w, double dropout_p, const DropoutSource* source, uint32_t stream);

}  // namespace grokjit::models
