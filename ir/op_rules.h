// The one statement of what each primitive op accepts and produces. Builders
// call it before adding a node (so a bad call fails at the call site) and the
// verifier calls it on every node of a finished graph (e.g. one read from
// JSON): both see the same rules and the same messages.
#pragma once

#include <string>

#include "ir/graph.h"

namespace grokjit::ir {

struct NodeType {
  Shape shape;
  DType dtype;
};

// Checks `n` (op, input ids, attrs) against the nodes of `g` that it reads and
// returns the type the node must have. Where an op cannot infer its type
// (Input, Constant, Iota, RandomUniform, Cast's dtype, Broadcast, Reshape,
// Slice, Pad, ScatterAdd's shape), n.shape / n.dtype are taken as declared and
// checked for consistency. Throws GraphError: "<signature>: <problem>".
NodeType infer_node_type(const Graph& g, const Node& n);

// "add(%3: f32[2,3], %5: f64[2,3])", and " -> f32[4,2]" for ops whose output
// type is declared rather than inferred. Used in every graph error message.
std::string node_signature(const Graph& g, const Node& n);

// Elementwise dtype classes, shared by builders, rules and autodiff.
bool is_numeric(DType t);           // everything but Bool
bool unary_needs_float(Op op);      // exp, log, sin, ...
bool unary_is_numeric(Op op);       // neg, abs, sign, relu, square: i32 or float
bool binary_needs_float(Op op);     // div, pow

}  // namespace grokjit::ir
