// Small helpers shared by the ir tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/interpreter.h"

namespace grokjit::ir::testing {

inline std::vector<double> random_values(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

inline Tensor64 tensor(Shape shape, std::vector<double> data) { return Tensor64(std::move(shape), std::move(data)); }

// Evaluates `v` (a node of its graph) with the given inputs.
inline Tensor64 eval(Value v, const TensorMap& inputs = {}) {
  return interpret_all(*v.graph(), inputs).at(static_cast<size_t>(v.id()));
}

// Runs `body` expecting a GraphError / Error whose message contains every one
// of `needles`; returns the message.
template <typename E = GraphError>
std::string expect_error(const std::function<void()>& body, std::vector<std::string> needles) {
  try {
    body();
  } catch (const E& e) {
    std::string msg = e.what();
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' missing from: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected an exception mentioning " << (needles.empty() ? "" : needles[0]);
  return "";
}

}  // namespace grokjit::ir::testing
