#include "optimizers/filters.h"

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::optimizers {

using ir::Value;

namespace {

Value l2_norm(Value x) { return ir::sqrt(ir::sum_all(ir::square(x))); }

// A [] Bool broadcast to `shape`.
Value broadcast_flag(Value flag, const ir::Shape& shape) { return ir::broadcast_to(flag, shape); }

}  // namespace

std::vector<Value> clip_global_norm(const std::vector<Value>& grads, double max_norm) {
  if (!(max_norm > 0.0)) throw Error("grad_clip must be positive, got " + std::to_string(max_norm), ExitCode::Usage);
  if (grads.empty()) return grads;
  Value total_sq = ir::sum_all(ir::square(grads[0]));
  for (size_t i = 1; i < grads.size(); ++i) total_sq = total_sq + ir::sum_all(ir::square(grads[i]));
  Value coef = ir::minimum(max_norm / (ir::sqrt(total_sq) + 1e-6), ir::scalar_like(total_sq, 1.0));
  std::vector<Value> out;
  for (Value g : grads) out.push_back(g * coef);
  return out;
}

ir::Value orthogonal_gradient(Value w, Value g) {
  Value proj = ir::sum_all(w * g) / (ir::sum_all(ir::square(w)) + 1e-30);
  Value perp = g - proj * w;
  return perp * (l2_norm(g) / (l2_norm(perp) + 1e-30));
}

ir::Value grokfast_ema(StateStore& state, const std::string& name, Value g, const GrokfastConfig& cfg,
                       const StepInputs& step) {
  Value mu_prev = state.create(state_name(name, "grokfast_ema"), g.shape(), g.dtype());
  Value first = broadcast_flag(ir::eq(step.step, ir::scalar_like(step.step, 1)), g.shape());
  Value mu = ir::where(first, g, cfg.alpha * mu_prev + (1.0 - cfg.alpha) * g);
  state.set(mu_prev, mu);
  return g + cfg.lambda * mu;
}

ir::Value grokfast_ma_slot(StateStore& state, const GrokfastConfig& cfg) {
  if (cfg.window <= 0)
    throw Error("grokfast window must be positive, got " + std::to_string(cfg.window), ExitCode::Usage);
  Value slot = state.create("opt.grokfast_ma.slot", {}, ir::DType::I32);
  Value next = slot + 1;
  Value wrapped = ir::where(ir::eq(next, ir::scalar_like(next, static_cast<double>(cfg.window))),
                            ir::scalar_like(next, 0), next);
  state.set(slot, wrapped);
  return slot;
}

ir::Value grokfast_ma(StateStore& state, const std::string& name, Value g, Value slot, const GrokfastConfig& cfg,
                      const StepInputs& step) {
  const int64_t w = cfg.window;
  ir::Shape buffer_shape = g.shape();
  buffer_shape.insert(buffer_shape.begin(), w);
  ir::Shape slot_shape(buffer_shape.size(), 1);
  slot_shape[0] = w;

  Value buf_prev = state.create(state_name(name, "grokfast_ma"), buffer_shape, g.dtype());
  Value is_slot = ir::reshape(ir::eq(ir::iota(state.graph(), {w}, 0), ir::broadcast_to(slot, {w})), slot_shape);
  Value buf = ir::where(ir::broadcast_to(is_slot, buffer_shape), ir::broadcast_to(g, buffer_shape), buf_prev);
  state.set(buf_prev, buf);

  Value mean = ir::sum(buf, {0}) * (1.0 / static_cast<double>(w));
  Value full = broadcast_flag(ir::ge(step.step, ir::scalar_like(step.step, static_cast<double>(w))), g.shape());
  return ir::where(full, g + cfg.lambda * mean, g);
}

}  // namespace grokjit::optimizers
