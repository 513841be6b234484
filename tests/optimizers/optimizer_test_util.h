// Runs an optimizer graph through the float64 interpreter step after step,
// feeding its updated parameters and state back, as the runtime does.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/interpreter.h"
#include "optimizers/optimizer.h"

namespace grokjit::optimizers::testing {

using Vec = std::vector<double>;

inline Vec random_values(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Vec v(static_cast<size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

struct ParamDef {
  std::string name, group;
  ir::Shape shape;
  Vec init;
};

class OptimizerRun {
 public:
  OptimizerRun(const OptimizerConfig& cfg, std::vector<ParamDef> defs) : defs_(std::move(defs)) {
    std::vector<ParamGrad> params;
    for (const ParamDef& d : defs_) {
      ir::Value p = ir::input(g_, d.name, d.shape, ir::DType::F32, ir::InputRole::Param);
      ir::Value gr = ir::input(g_, "grad." + d.name, d.shape, ir::DType::F32, ir::InputRole::Data);
      params.push_back({d.name, d.group, p, gr});
      values_[d.name] = d.init;
    }
    ir::Value step = ir::input(g_, "step", {}, ir::DType::I32, ir::InputRole::Scalar);
    ir::Value lr_scale = ir::input(g_, "lr_scale", {}, ir::DType::F32, ir::InputRole::Scalar);
    specs_ = build_optimizer_update(g_, cfg, params, {step, lr_scale});
    for (const StateSpec& s : specs_) values_[s.name] = Vec(static_cast<size_t>(ir::num_elements(s.shape)), s.initial);
  }

  // One step with these gradients (by parameter name).
  void step(const std::map<std::string, Vec>& grads, double lr_scale = 1.0) {
    ++step_;
    ir::TensorMap in;
    for (const ParamDef& d : defs_) {
      in[d.name] = ir::Tensor64(d.shape, values_.at(d.name));
      in["grad." + d.name] = ir::Tensor64(d.shape, grads.at(d.name));
    }
    for (const StateSpec& s : specs_) in[s.name] = ir::Tensor64(s.shape, values_.at(s.name));
    in["step"] = ir::Tensor64({}, {static_cast<double>(step_)});
    in["lr_scale"] = ir::Tensor64({}, {lr_scale});
    ir::InterpretResult r = ir::interpret(g_, in);
    EXPECT_EQ(r.updated.size(), defs_.size() + specs_.size()) << "every param and state tensor is updated";
    for (auto& [name, t] : r.updated) values_[name] = t.data;
  }

  const Vec& value(const std::string& name) const { return values_.at(name); }
  const std::vector<StateSpec>& state() const { return specs_; }
  const ir::Graph& graph() const { return g_; }

 private:
  ir::Graph g_;
  std::vector<ParamDef> defs_;
  std::vector<StateSpec> specs_;
  std::map<std::string, Vec> values_;
  int step_ = 0;
};

inline void expect_near(const Vec& got, const Vec& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << what << "[" << i << "]";
}

}  // namespace grokjit::optimizers::testing
