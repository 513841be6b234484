// Helpers for the model tests: random inputs, evaluation through the float64
// interpreter, and a finite-difference gradient check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/autodiff.h"
#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/interpreter.h"
#include "tests/ir/test_util.h"

namespace grokjit::models::testing {

using ir::testing::random_values;

struct TestInput {
  std::string name;
  ir::Shape shape;
  std::vector<double> values;
  ir::DType dtype = ir::DType::F64;
};

using Inputs = std::map<std::string, ir::Value>;
using LossBuilder = std::function<ir::Value(ir::Graph&, const Inputs&)>;

inline Inputs add_inputs(ir::Graph& g, const std::vector<TestInput>& inputs) {
  Inputs out;
  for (const TestInput& t : inputs) out[t.name] = ir::input(g, t.name, t.shape, t.dtype, ir::InputRole::Data);
  return out;
}

inline ir::TensorMap tensors(const std::vector<TestInput>& inputs) {
  ir::TensorMap m;
  for (const TestInput& t : inputs) m[t.name] = ir::Tensor64(t.shape, t.values);
  return m;
}

// Builds `build` on fresh inputs and returns the value it returns.
inline ir::Tensor64 evaluate(const LossBuilder& build, const std::vector<TestInput>& inputs) {
  ir::Graph g;
  ir::output(build(g, add_inputs(g, inputs)), "out");
  return ir::interpret(g, tensors(inputs)).outputs.at("out");
}

// Compares ir::grad of the scalar built by `build` with central differences
// (step h) for every element of every float input:
// |fd - grad| <= tol * max(1, |grad|).
inline void expect_gradient_matches_fd(const LossBuilder& build, const std::vector<TestInput>& inputs,
                                       double tol = 1e-6, double h = 1e-6) {
  ir::Graph g;
  Inputs values = add_inputs(g, inputs);
  ir::Value loss = build(g, values);
  ASSERT_EQ(loss.shape(), ir::Shape{}) << "the gradient check needs a scalar loss";
  std::vector<ir::Value> wrt;
  std::vector<const TestInput*> wrt_inputs;
  for (const TestInput& t : inputs)
    if (ir::is_float(t.dtype)) {
      wrt.push_back(values.at(t.name));
      wrt_inputs.push_back(&t);
    }
  std::vector<ir::Value> grads = ir::grad(loss, wrt);
  for (size_t i = 0; i < grads.size(); ++i) ir::output(grads[i], "grad." + wrt_inputs[i]->name);
  ir::output(loss, "loss");
  ir::InterpretResult base = ir::interpret(g, tensors(inputs));
  ASSERT_TRUE(std::isfinite(base.outputs.at("loss")[0]));

  // The loss alone, for the perturbed evaluations.
  ir::Graph lg;
  ir::output(build(lg, add_inputs(lg, inputs)), "loss");
  for (const TestInput* t : wrt_inputs) {
    const ir::Tensor64& analytic = base.outputs.at("grad." + t->name);
    for (size_t j = 0; j < t->values.size(); ++j) {
      ir::TensorMap m = tensors(inputs);
      m[t->name][j] = t->values[j] + h;
      double up = ir::interpret(lg, m).outputs.at("loss")[0];
      m[t->name][j] = t->values[j] - h;
      double down = ir::interpret(lg, m).outputs.at("loss")[0];
      double fd = (up - down) / (2 * h);
      EXPECT_LE(std::abs(fd - analytic[j]), tol * std::max(1.0, std::abs(analytic[j])))
          << "d loss / d " << t->name << "[" << j << "]: finite difference " << fd << ", autodiff " << analytic[j];
    }
  }
}

}  // namespace grokjit::models::testing
