// Packs R independent runs of one graph into one graph with a leading run
// axis, so a backend replays one program for R runs of the same shape (the
// seeds of a sweep point: same shapes, other weights, data and dropout).
//
// pack_runs(g, R, per_run) returns a graph whose run r computes exactly what
// g computes on run r's inputs:
// - every Input for which per_run(input) is true gets shape [R] + shape (its
//   name, role and dtype unchanged); the others stay as they are and are
//   shared by all runs;
// - a node that reads a per-run value (transitively) gets the leading [R]
//   axis; a node that reads only shared inputs, constants and iotas stays
//   unbatched and is broadcast (once) where it meets a batched one;
// - every output keeps its name and gets the leading [R] axis (a shared
//   output is broadcast; a scalar output becomes [R]);
// - an update of a per-run input takes the batched value; an update of a
//   shared input must not depend on a per-run value (GraphError otherwise)
//   and stays as it is.
// Op by op: elementwise ops broadcast their shared operands; reductions,
// permutes, slices, pads and concats shift their axes by one; a shared
// rank-2 right-hand matmul operand multiplies the runs' rows in one
// [R*M, K] x [K, N] product, other shared operands are broadcast; Gather and
// ScatterAdd with a per-run table flatten it to [R*V, ...] and offset run r's
// indices by r*V (an index out of [0, V) is not caught as in g: it reads or
// writes another run's rows); RandomUniform takes the per-run seed or
// counter as i32[R] (ir/graph.h) and so draws run r's numbers bit for bit.
// A RandomUniform that is already per-run cannot be packed again (GraphError).
#pragma once

#include <cstdint>
#include <functional>

#include "ir/graph.h"

namespace grokjit::ir {

using PerRunInput = std::function<bool(const Node& input)>;

Graph pack_runs(const Graph& g, int64_t runs, const PerRunInput& per_run);

}  // namespace grokjit::ir
