// Re-checks a whole graph: arity, topological order, shapes, dtypes, attrs,
// unique input names, outputs and updates. Throws GraphError naming the node
// (id, op, input shapes and dtypes) at the first problem.
#pragma once

#include "ir/graph.h"

namespace grokjit::ir {

void verify(const Graph& g);

}  // namespace grokjit::ir
