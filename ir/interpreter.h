// The float64 reference interpreter: slow, simple, obviously right. Every
// backend is tested against it. All dtypes are held as doubles (i32 and bool
// values are exact). F32 nodes are computed in float64 and never rounded to
// float32 (not even by Cast): compare backends with a tolerance. I32
// arithmetic wraps modulo 2^32; Cast to i32 truncates toward zero (throws if
// out of range); Cast to bool is x != 0. Gather/ScatterAdd with an index out
// of range throw an Error naming the node and the index.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace grokjit::ir {

struct Tensor64 {
  Shape shape;
  std::vector<double> data;  // row-major
  Tensor64() = default;
  Tensor64(Shape s, std::vector<double> d) : shape(std::move(s)), data(std::move(d)) {}
  static Tensor64 zeros(Shape s) { auto n = num_elements(s); return Tensor64(std::move(s), std::vector<double>(static_cast<size_t>(n), 0.0)); }
  double& operator[](size_t i) { return data[i]; }
  double operator[](size_t i) const { return data[i]; }
};

using TensorMap = std::map<std::string, Tensor64>;

struct InterpretResult {
  TensorMap outputs;  // by Graph::outputs name
  TensorMap updated;  // by the name of each updated Input: its new value
};

// Evaluates every node reachable from outputs and updates. Throws GraphError
// if an input is missing or has the wrong shape, naming it.
InterpretResult interpret(const Graph& g, const TensorMap& inputs);

// Values of all nodes (index = NodeId); unreachable nodes are evaluated too.
std::vector<Tensor64> interpret_all(const Graph& g, const TensorMap& inputs);

}  // namespace grokjit::ir
