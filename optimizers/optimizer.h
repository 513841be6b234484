// The whole optimizer step as IR: given every parameter with its gradient,
// adds the filters, the update rules and their state to the graph and
// registers a Graph update for every parameter and state tensor.
//
// Order per step: clip (global L2 norm, if grad_clip > 0) -> orthogonal
// gradient (per tensor, if on) -> Grokfast (EMA or MA) -> update rule.
// Routing: AdamW / Adam / SGD apply to every parameter; Muon applies to the
// parameters whose group is in muon.muon_groups (they must be 2-D) and the
// auxiliary AdamW (muon.aux_adam; coupled L2 Adam if
// muon.aux_decoupled_decay is false) to the rest.
//
// State names: opt.<param>.m, opt.<param>.v (Adam/AdamW),
// opt.<param>.momentum (SGD with momentum, Muon), opt.<param>.grokfast_ema,
// opt.<param>.grokfast_ma ([window, ...]), opt.grokfast_ma.slot (i32 []).
// All start at 0.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "optimizers/config.h"
#include "optimizers/rules.h"
#include "optimizers/state.h"

namespace grokjit::optimizers {

struct ParamGrad {
  std::string name;   // the parameter's Input name
  std::string group;  // "hidden" | "embedding" | "head" | "norm"
  ir::Value param;    // an Input of role Param
  ir::Value grad;     // same shape and dtype
};

// Returns the state tensors it created, in creation order.
std::vector<StateSpec> build_optimizer_update(ir::Graph& g, const OptimizerConfig& cfg,
                                              std::span<const ParamGrad> params, const StepInputs& step);

// Whether `group` is routed to Muon under `cfg` (false unless kind == Muon).
bool uses_muon(const OptimizerConfig& cfg, const std::string& group);

}  // namespace grokjit::optimizers
