// Output functions, their losses and per-row metrics (shared/REFERENCE.md
// s.5, s.6). Every function takes logits [B, C] and, where needed, labels
// i32 [B] in [0, C), and returns one value per row ([B], the logits' dtype
// unless stated), so that callers can mask padded rows before summing.
#pragma once

#include "ir/graph.h"
#include "models/config.h"

namespace grokjit::models {

// -log softmax(z)_y, via log-softmax and a one-hot of the labels.
ir::Value softmax_cross_entropy_rows(ir::Value logits, ir::Value labels);

// -log(s(z_y) / sum_j s(z_j)), s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0);
// computed in float64 when `in_f64` (the result is cast back).
ir::Value stablemax_cross_entropy_rows(ir::Value logits, ir::Value labels, bool in_f64);

// Sparsemax without sorting: for each i, k_i = #{j : z_j >= z_i} and
// s_i = sum{z_j : z_j >= z_i}; i is in the support S iff 1 + k_i z_i > s_i;
// tau = (sum_S z - 1) / |S|; p = max(z - tau, 0). Uses [B, C, C] comparisons.
struct Sparsemax {
  ir::Value probs;    // [B, C]
  ir::Value tau;      // [B, 1]
  ir::Value support;  // [B, C], 1 in S, 0 outside (logits' dtype)
};
Sparsemax sparsemax(ir::Value logits);

// -z_y + 0.5 * sum_{j in S} (z_j^2 - tau^2) + 0.5; its gradient is p - e_y.
ir::Value sparsemax_loss_rows(ir::Value logits, ir::Value labels);

// The training loss of an output function (stablemax_f64: see ModelConfig).
ir::Value output_loss_rows(OutputFn fn, bool stablemax_f64, ir::Value logits, ir::Value labels);

// 1 where argmax(z) (first index among ties) == y, else 0.
ir::Value correct_rows(ir::Value logits, ir::Value labels);

// 1 where sum_j exp(z_j - max z) == 1 exactly in the logits' dtype: every
// other class underflowed and the softmax gradient vanished (softmax collapse).
ir::Value softmax_collapse_rows(ir::Value logits);

// 1 where the row loss is exactly 0.
ir::Value zero_loss_rows(ir::Value row_loss);

// z_y - max_{j != y} z_j.
ir::Value logit_margin_rows(ir::Value logits, ir::Value labels);

}  // namespace grokjit::models
