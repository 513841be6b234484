// Graph-to-graph simplification passes. Each returns a new Graph and the map
// from old node ids to new ones, so callers can find their values again.
// All passes keep every Input (in order), every output and every update, and
// preserve what interpret() computes.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace grokjit::ir {

struct PassResult {
  Graph graph;
  std::vector<NodeId> remap;  // remap[old id] = new id, or -1 if the node was removed
};

// Drops nodes that no output or update reads (Inputs always stay).
PassResult eliminate_dead_code(const Graph& g);

// Merges nodes with the same op, dtype, shape, inputs and attrs (Inputs are
// never merged). Every op is pure, RandomUniform included (it is a function
// of seed, counter, stream and element index).
PassResult eliminate_common_subexpressions(const Graph& g);

// x*1, 1*x, x/1, x+0, 0+x, x-0 -> x; reshape/broadcast/permute/slice/pad/cast
// that change nothing -> their input; movement of a fill constant -> a fill
// constant of the new shape (so a broadcast scalar 1 or 0 is recognised).
PassResult fold_trivial(const Graph& g);

// fold_trivial, then CSE, then DCE; the remap is the composition.
PassResult simplify(const Graph& g);

}  // namespace grokjit::ir
