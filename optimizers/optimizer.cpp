#include "optimizers/optimizer.h"

#include <algorithm>

#include "ir/builder.h"
#include "ir/error.h"
#include "optimizers/filters.h"

namespace grokjit::optimizers {

using ir::Value;

bool uses_muon(const OptimizerConfig& cfg, const std::string& group) {
  const auto& groups = cfg.muon.muon_groups;
  return cfg.kind == OptimizerKind::Muon && std::find(groups.begin(), groups.end(), group) != groups.end();
}

namespace {

void check_params(std::span<const ParamGrad> params) {
  for (const ParamGrad& p : params)
    if (p.param.shape() != p.grad.shape() || p.param.dtype() != p.grad.dtype())
      throw Error("optimizer: gradient of '" + p.name + "' is " + ir::type_str(p.grad.dtype(), p.grad.shape()) +
                  ", the parameter is " + ir::type_str(p.param.dtype(), p.param.shape()));
}

std::vector<Value> filtered_gradients(StateStore& state, const OptimizerConfig& cfg, std::span<const ParamGrad> params,
                                      const StepInputs& step) {
  std::vector<Value> grads;
  for (const ParamGrad& p : params) grads.push_back(p.grad);
  if (cfg.grad_clip > 0.0) grads = clip_global_norm(grads, cfg.grad_clip);
  if (cfg.orthogonal_grad)
    for (size_t i = 0; i < params.size(); ++i) grads[i] = orthogonal_gradient(params[i].param, grads[i]);
  switch (cfg.grokfast.kind) {
    case GradFilter::None: break;
    case GradFilter::GrokfastEma:
      for (size_t i = 0; i < params.size(); ++i)
        grads[i] = grokfast_ema(state, params[i].name, grads[i], cfg.grokfast, step);
      break;
    case GradFilter::GrokfastMa: {
      Value slot = grokfast_ma_slot(state, cfg.grokfast);
      for (size_t i = 0; i < params.size(); ++i)
        grads[i] = grokfast_ma(state, params[i].name, grads[i], slot, cfg.grokfast, step);
      break;
    }
  }
  return grads;
}

Value updated_param(StateStore& state, const OptimizerConfig& cfg, const ParamGrad& p, Value g, const StepInputs& step) {
  switch (cfg.kind) {
    case OptimizerKind::AdamW: return adam_update(state, p.name, p.param, g, cfg.adam, /*decoupled=*/true, step);
    case OptimizerKind::Adam: return adam_update(state, p.name, p.param, g, cfg.adam, /*decoupled=*/false, step);
    case OptimizerKind::Sgd: return sgd_update(state, p.name, p.param, g, cfg.sgd, step);
    case OptimizerKind::Muon:  // weights of the Muon groups are updated by build_optimizer_update
      return adam_update(state, p.name, p.param, g, cfg.muon.aux_adam, cfg.muon.aux_decoupled_decay, step);
  }
  throw Error("unknown optimizer kind");
}

}  // namespace

std::vector<StateSpec> build_optimizer_update(ir::Graph& g, const OptimizerConfig& cfg,
                                              std::span<const ParamGrad> params, const StepInputs& step) {
  check_params(params);
  StateStore state(g);
  std::vector<Value> grads = filtered_gradients(state, cfg, params, step);
  std::vector<Value> updated(params.size());
  // Muon's weights: momentum per weight (state in parameter order, as for
  // every rule), then one stacked Newton-Schulz for all of them.
  std::vector<size_t> muon_params;
  std::vector<Value> muon_inputs;
  for (size_t i = 0; i < params.size(); ++i) {
    if (uses_muon(cfg, params[i].group)) {
      muon_params.push_back(i);
      muon_inputs.push_back(muon_momentum(state, params[i].name, params[i].param, grads[i], cfg.muon));
    } else {
      updated[i] = updated_param(state, cfg, params[i], grads[i], step);
    }
  }
  if (!muon_params.empty()) {
    std::vector<Value> orthogonalized = newton_schulz_stacked(muon_inputs, ns_schedule(cfg.muon), cfg.muon.ns_eps);
    for (size_t k = 0; k < muon_params.size(); ++k)
      updated[muon_params[k]] = muon_apply(params[muon_params[k]].param, orthogonalized[k], cfg.muon, step);
  }
  for (size_t i = 0; i < params.size(); ++i) ir::update(params[i].param, updated[i]);
  return state.specs();
}

}  // namespace grokjit::optimizers
