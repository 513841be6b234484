// Per-tensor update rules: each takes a parameter, its (filtered) gradient and
// the step inputs, creates its state in a StateStore and returns the new
// parameter value. Formulas follow PyTorch's implementations (Adam, AdamW,
// SGD) and Keller Jordan's Muon (shared/REFERENCE.md s.4).
//
// Step-dependent values (bias corrections) are computed in-graph from the
// i32 "step" input (1-based) in float64, then cast to the parameter's dtype;
// lr = configured lr * "lr_scale" (f32 []), so schedules never recompile.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "optimizers/config.h"
#include "optimizers/state.h"

namespace grokjit::optimizers {

struct StepInputs {
  ir::Value step;      // i32 [], 1-based global step
  ir::Value lr_scale;  // f32 [], multiplies every configured lr
};

// Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// decoupled (AdamW): first p *= 1 - lr * wd. Coupled (Adam): g += wd * p.
// State: opt.<name>.m, opt.<name>.v.
ir::Value adam_update(StateStore& state, const std::string& name, ir::Value p, ir::Value g, const AdamConfig& cfg,
                      bool decoupled, const StepInputs& step);

// SGD with momentum (PyTorch, dampening 0): b = mu b + g; d = nesterov ?
// g + mu b : b; p -= lr d. Decay coupled (g += wd p) or decoupled
// (p *= 1 - lr wd). State opt.<name>.momentum when momentum != 0.
ir::Value sgd_update(StateStore& state, const std::string& name, ir::Value p, ir::Value g, const SgdConfig& cfg,
                     const StepInputs& step);

struct NsCoefficients {
  double a, b, c;
};

// The per-iteration Newton-Schulz coefficients of a Muon config: Reference:
// ns_steps x (3.4445, -4.7750, 2.0315); Li2: its five triples in order
// (ns_steps must be 5; anything else throws grokjit::Error).
std::vector<NsCoefficients> ns_schedule(const MuonConfig& cfg);

// Orthogonalizes u [..., rows, cols], each matrix of the batch on its own:
// X = u / (||u||_F + eps) (per matrix); per iteration, for a wide X (rows <=
// cols) A = X X^T, X = a X + (b A + c A A) X; for a tall X the same
// iteration on X^T, written without transposing X (A = X^T X, X = a X +
// X (b A + c A A)^T). Computed in u's dtype.
ir::Value newton_schulz(ir::Value u, std::span<const NsCoefficients> schedule, double eps);

// Newton-Schulz of several 2-D matrices with as few kernels as possible: the
// matrices of the same shape are stacked into one batch and orthogonalized by
// one batched newton_schulz. Result i belongs to us[i]; each is what
// newton_schulz(us[i]) computes (the same arithmetic per matrix).
std::vector<ir::Value> newton_schulz_stacked(std::span<const ir::Value> us, std::span<const NsCoefficients> schedule,
                                             double eps);

// Output scale of a [rows, cols] update: ShapeRatio sqrt(max(1, rows/cols)),
// MatchRmsAdamw 0.2 sqrt(max(rows, cols)), None 1.
double muon_scale(MuonScale rule, int64_t rows, int64_t cols);

// Muon on a 2-D weight (rows = output features), in two halves so that the
// optimizer can orthogonalize all the weights' u together
// (newton_schulz_stacked):
// muon_momentum: m = beta m + (1-beta) g; returns u = nesterov ?
//   (1-beta) g + beta m : m. State opt.<name>.momentum. Throws grokjit::Error
//   naming the parameter unless p is 2-D.
// muon_apply: with O = NS(u), p * (1 - lr wd) - lr * scale * O.
ir::Value muon_momentum(StateStore& state, const std::string& name, ir::Value p, ir::Value g, const MuonConfig& cfg);
ir::Value muon_apply(ir::Value p, ir::Value orthogonalized, const MuonConfig& cfg, const StepInputs& step);

}  // namespace grokjit::optimizers
