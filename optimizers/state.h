// Optimizer state as graph inputs: every moment, momentum or filter buffer is
// an Input of role State (zero-initialized, persistent, updated in place).
// Names are deterministic: "opt.<param>.<slot>", e.g. "opt.head.m".
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace grokjit::optimizers {

struct StateSpec {
  std::string name;
  ir::Shape shape;
  ir::DType dtype = ir::DType::F32;
  double initial = 0.0;  // always 0: the runtime zero-fills state buffers
};

// "opt.<param>.<slot>"
std::string state_name(const std::string& param, const std::string& slot);

// Creates State inputs and records their specs; set() registers the value a
// state holds after the step (a Graph update).
class StateStore {
 public:
  explicit StateStore(ir::Graph& g) : g_(&g) {}
  // Throws grokjit::Error if `name` is already taken in the graph.
  ir::Value create(const std::string& name, const ir::Shape& shape, ir::DType dtype = ir::DType::F32);
  void set(ir::Value state, ir::Value next);
  ir::Graph& graph() const { return *g_; }
  const std::vector<StateSpec>& specs() const { return specs_; }

 private:
  ir::Graph* g_;
  std::vector<StateSpec> specs_;
};

}  // namespace grokjit::optimizers
