#include "optimizers/rules.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::optimizers {

using ir::Value;

namespace {

// configured lr * lr_scale, as a [] scalar in p's dtype.
Value learning_rate(double lr, const StepInputs& step, ir::DType dtype) {
  return ir::cast(step.lr_scale, dtype) * lr;
}

// 1 - beta^t in float64 (t = step), cast to `dtype`.
Value bias_correction(double beta, const StepInputs& step, ir::DType dtype) {
  ir::Graph& g = *step.step.graph();
  Value t = ir::cast(step.step, ir::DType::F64);
  Value power = ir::pow(ir::constant(g, beta, {}, ir::DType::F64), t);
  return ir::cast(1.0 - power, dtype);
}

// The exponential moving average a * prev + (1 - a) * x.
Value ema(Value prev, Value x, double a) { return a * prev + (1.0 - a) * x; }

}  // namespace

ir::Value adam_update(StateStore& state, const std::string& name, Value p, Value g, const AdamConfig& cfg,
                      bool decoupled, const StepInputs& step) {
  const ir::DType dt = p.dtype();
  Value lr = learning_rate(cfg.lr, step, dt);
  if (!decoupled && cfg.weight_decay != 0.0) g = g + cfg.weight_decay * p;
  Value m_prev = state.create(state_name(name, "m"), p.shape(), dt);
  Value v_prev = state.create(state_name(name, "v"), p.shape(), dt);
  Value m = ema(m_prev, g, cfg.beta1);
  Value v = ema(v_prev, ir::square(g), cfg.beta2);
  state.set(m_prev, m);
  state.set(v_prev, v);
  Value step_size = lr / bias_correction(cfg.beta1, step, dt);
  Value denom = ir::sqrt(v) / ir::sqrt(bias_correction(cfg.beta2, step, dt)) + cfg.eps;
  Value decayed = decoupled && cfg.weight_decay != 0.0 ? p * (1.0 - lr * cfg.weight_decay) : p;
  return decayed - step_size * (m / denom);
}

ir::Value sgd_update(StateStore& state, const std::string& name, Value p, Value g, const SgdConfig& cfg,
                     const StepInputs& step) {
  const ir::DType dt = p.dtype();
  Value lr = learning_rate(cfg.lr, step, dt);
  const bool decay = cfg.weight_decay != 0.0;
  if (decay && !cfg.decoupled_decay) g = g + cfg.weight_decay * p;
  Value direction = g;
  if (cfg.momentum != 0.0) {
    Value buf_prev = state.create(state_name(name, "momentum"), p.shape(), dt);
    Value buf = cfg.momentum * buf_prev + g;
    state.set(buf_prev, buf);
    direction = cfg.nesterov ? g + cfg.momentum * buf : buf;
  }
  Value decayed = decay && cfg.decoupled_decay ? p * (1.0 - lr * cfg.weight_decay) : p;
  return decayed - lr * direction;
}

std::vector<NsCoefficients> ns_schedule(const MuonConfig& cfg) {
  if (cfg.ns_steps <= 0)
    throw Error("muon: ns_steps must be positive, got " + std::to_string(cfg.ns_steps), ExitCode::Usage);
  static constexpr NsCoefficients kReference{3.4445, -4.7750, 2.0315};
  static constexpr NsCoefficients kLi2[] = {
      {4.01, -9.22, 5.80}, {3.49, -6.38, 3.23}, {3.34, -6.21, 3.20}, {3.64, -7.48, 4.43}, {3.46, -5.35, 2.85}};
  if (cfg.variant == MuonVariant::Li2) {
    if (cfg.ns_steps != 5)
      throw Error("muon: the li2 variant has one coefficient triple per iteration for exactly 5 Newton-Schulz steps, got " +
                      std::to_string(cfg.ns_steps),
                  ExitCode::Usage);
    return {std::begin(kLi2), std::end(kLi2)};
  }
  return std::vector<NsCoefficients>(static_cast<size_t>(cfg.ns_steps), kReference);
}

ir::Value newton_schulz(Value u, std::span<const NsCoefficients> schedule, double eps) {
  if (u.rank() < 2) throw Error("newton_schulz: needs matrices [..., rows, cols], got " + ir::shape_str(u.shape()));
  const int64_t r = u.rank();
  // A tall X (rows > cols) iterates as X^T would, without transposing X
  // itself: the Gram matrix is X^T X and (B X^T)^T = X B^T. Same products,
  // same order of the sums, and no strided copy of the large matrix.
  const bool tall = u.dim(r - 2) > u.dim(r - 1);
  Value X = u / (ir::sqrt(ir::sum(ir::square(u), {r - 2, r - 1}, /*keepdims=*/true)) + eps);
  for (const NsCoefficients& k : schedule) {
    Value A = tall ? ir::matmul(ir::transpose(X), X) : ir::matmul(X, ir::transpose(X));
    Value B = k.b * A + k.c * ir::matmul(A, A);
    X = k.a * X + (tall ? ir::matmul(X, ir::transpose(B)) : ir::matmul(B, X));
  }
  return X;
}

std::vector<ir::Value> newton_schulz_stacked(std::span<const Value> us, std::span<const NsCoefficients> schedule, double eps) {
  // Groups of the same shape and dtype, in first-appearance order.
  struct Group {
    ir::Shape shape;
    ir::DType dtype;
    std::vector<size_t> members;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < us.size(); ++i) {
    const Value& u = us[i];
    if (u.rank() != 2) throw Error("newton_schulz_stacked: needs 2-D matrices, got " + ir::shape_str(u.shape()));
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.shape == u.shape() && g.dtype == u.dtype(); });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{u.shape(), u.dtype(), {}});
    it->members.push_back(i);
  }
  std::vector<Value> out(us.size());
  for (const Group& g : groups) {
    if (g.members.size() == 1) {
      out[g.members[0]] = newton_schulz(us[g.members[0]], schedule, eps);
      continue;
    }
    std::vector<Value> stack;
    for (size_t i : g.members) stack.push_back(ir::reshape(us[i], {1, g.shape[0], g.shape[1]}));
    Value orthogonalized = newton_schulz(ir::concat(stack, 0), schedule, eps);
    for (size_t k = 0; k < g.members.size(); ++k)
      out[g.members[k]] = ir::reshape(ir::slice(orthogonalized, 0, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1), g.shape);
  }
  return out;
}

double muon_scale(MuonScale rule, int64_t rows, int64_t cols) {
  const double r = static_cast<double>(rows), c = static_cast<double>(cols);
  switch (rule) {
    case MuonScale::ShapeRatio: return std::sqrt(std::max(1.0, r / c));
    case MuonScale::MatchRmsAdamw: return 0.2 * std::sqrt(std::max(r, c));
    case MuonScale::None: return 1.0;
  }
  throw Error("unknown muon scale rule");
}

ir::Value muon_momentum(StateStore& state, const std::string& name, Value p, Value g, const MuonConfig& cfg) {
  if (p.rank() != 2)
    throw Error("muon: parameter '" + name + "' has shape " + ir::shape_str(p.shape()) +
                    "; Muon needs a 2-D weight (route its group to the auxiliary AdamW via muon_groups)",
                ExitCode::Usage);
  Value m_prev = state.create(state_name(name, "momentum"), p.shape(), p.dtype());
  Value m = ema(m_prev, g, cfg.momentum);
  state.set(m_prev, m);
  return cfg.nesterov ? ema(g, m, 1.0 - cfg.momentum) : m;  // (1 - beta) g + beta m
}

ir::Value muon_apply(Value p, Value orthogonalized, const MuonConfig& cfg, const StepInputs& step) {
  Value lr = learning_rate(cfg.lr, step, p.dtype());
  Value O = orthogonalized * muon_scale(cfg.scale, p.dim(0), p.dim(1));
  Value decayed = cfg.weight_decay != 0.0 ? p * (1.0 - lr * cfg.weight_decay) : p;
  return decayed - lr * O;
}

}  // namespace grokjit::optimizers
