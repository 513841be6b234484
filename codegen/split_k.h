// Split-K: a matmul with a long K and too small an output to keep the
// threads busy becomes two kernels, without any new kernel IR construct:
//
//   matmul(a [..., M, K], b [..., K, N])
//     -> partials = matmul(a' [S, ..., M, K/S], b' [S, ..., K/S, N])   ("BMM": S chunks of K)
//     -> reshape(reduce_sum(partials, {0}))                             ("R": fixed-order sum)
//
// where a' and b' are views (reshape + permute) of the operands. The sum
// over the S chunks is a column reduction, strictly in order, and the
// matmul's epilogue (e.g. an optimizer update) fuses into it as usual. S is
// a function of the shape and the target only (choose_k_split), never of the
// thread count, so results stay bitwise the same for any thread count.
#pragma once

#include "codegen/lower.h"
#include "ir/graph.h"

namespace grokjit::codegen {

// Rewrites every float matmul for which choose_k_split() > 1. Same inputs
// (in order), outputs and updates.
ir::Graph split_long_k_matmuls(const ir::Graph& g, const TargetInfo& target);

}  // namespace grokjit::codegen
