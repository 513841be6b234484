// Gradient filters applied between the gradient and the update rule
// (shared/REFERENCE.md s.4), in this order: global-norm clip, orthogonal
// gradient, Grokfast.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "optimizers/config.h"
#include "optimizers/rules.h"
#include "optimizers/state.h"

namespace grokjit::optimizers {

// PyTorch clip_grad_norm_: every g *= min(1, max_norm / (||all g||_2 + 1e-6)).
std::vector<ir::Value> clip_global_norm(const std::vector<ir::Value>& grads, double max_norm);

// Prieto et al. 2025, per tensor: g_perp = g - (w.g) / (w.w + 1e-30) w,
// rescaled to ||g||: g_perp * ||g|| / (||g_perp|| + 1e-30).
ir::Value orthogonal_gradient(ir::Value w, ir::Value g);

// Grokfast EMA: mu = alpha mu + (1 - alpha) g, with mu = g at step 1;
// returns g + lambda mu. State opt.<name>.grokfast_ema.
ir::Value grokfast_ema(StateStore& state, const std::string& name, ir::Value g, const GrokfastConfig& cfg,
                       const StepInputs& step);

// Grokfast MA: a ring buffer of the last w gradients, a State tensor
// [w, ...g.shape] opt.<name>.grokfast_ma; g is written at slot `slot`
// (i32 [], shared by all tensors, see grokfast_ma_slot). Once w gradients are
// stored (step >= w) returns g + lambda * mean(buffer), before that g.
ir::Value grokfast_ma(StateStore& state, const std::string& name, ir::Value g, ir::Value slot,
                      const GrokfastConfig& cfg, const StepInputs& step);

// The ring-buffer slot of this step: State "opt.grokfast_ma.slot" (i32 [],
// starts at 0), advanced to (slot + 1) mod w by the step.
ir::Value grokfast_ma_slot(StateStore& state, const GrokfastConfig& cfg);

}  // namespace grokjit::optimizers
