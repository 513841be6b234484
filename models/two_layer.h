// The 2-layer network of the Li2 framework (shared/REFERENCE.md s.7):
// Y = sigma(X W) V on frozen one-hot inputs X = one-hot(a) ++ one-hot(b).
// X W is computed as a gather of W's columns (two per example), not a
// matmul: the one-hot product's value without its zero terms (bitwise, where
// the product's gradient matmul would not be split over K; two_layer.cpp).
//
// Parameters, stored in the PyTorch [out, in] layout like every linear here
// (so W is the paper's W transposed), init U(+-1/sqrt(fan_in)) * init_scale:
//   W  [K, 2M]        hidden
//   V  [classes, K]   head
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "models/config.h"
#include "models/params.h"

namespace grokjit::models {

// M = `operands` (values a and b take), `classes` outputs.
std::vector<ParamSpec> two_layer_param_specs(const TwoLayerConfig& cfg, int64_t operands, int64_t classes);

// Outputs [B, classes] for operands a, b i32 [B] in [0, operands).
// `hidden`, if given, receives sigma(X W^T) [B, K] (representation metrics).
ir::Value two_layer_outputs(const TwoLayerConfig& cfg, const ParamValues& params, ir::Value a, ir::Value b,
                            int64_t operands, ir::Value* hidden = nullptr);

// Class-centred MSE per row: || (o - mean_c o) - (e_y - 1/C) ||^2.
ir::Value centered_mse_rows(ir::Value outputs, ir::Value labels);

}  // namespace grokjit::models
