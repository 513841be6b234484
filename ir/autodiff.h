// Reverse-mode autodiff: appends the backward pass to the same graph.
#pragma once

#include <span>
#include <vector>

#include "ir/graph.h"

namespace grokjit::ir {

// d(loss)/d(wrt[i]) for a scalar float `loss` (shape []), as new nodes in
// loss's graph. A wrt that loss does not depend on gets zeros. Non-float
// paths (compare, iota, gather indices) carry no gradient.
std::vector<Value> grad(Value loss, std::span<const Value> wrt);

// The vector-Jacobian product for a non-scalar `out`: d<out, seed>/d(wrt).
std::vector<Value> vjp(Value out, Value seed, std::span<const Value> wrt);

}  // namespace grokjit::ir
