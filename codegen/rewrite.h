// Graph rewrites the scheduler benefits from (run by plan_program after
// ir::simplify). Each returns a new graph computing the same values, with the
// same inputs (in order), outputs and updates.
#pragma once

#include "ir/graph.h"

namespace grokjit::codegen {

// permute(matmul(a, b)) that swaps the last two axes, where the matmul has no
// other reader, becomes matmul(permute(b), permute(a)): (A B)^T = B^T A^T.
// Autodiff of x W^T produces the weight gradient as a transposed product; after
// the rewrite it comes out in W's own layout, so the optimizer update reads it
// contiguously and can fuse into the matmul's epilogue.
ir::Graph transpose_matmul_results(const ir::Graph& g);

}  // namespace grokjit::codegen
