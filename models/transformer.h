// The Transformer of shared/REFERENCE.md s.2: learned token embedding,
// pre-RMSNorm blocks (x += Attn(norm(x)); x += FFN(norm(x))), final RMSNorm and
// a bias-free classifier on the last position (the EQ token).
//
// Parameters (names, [shapes], group), d = d_model, h = mlp_ratio * d:
//   embedding               [vocab, d]        embedding  N(0, 1)
//   layers.L.attn_norm      [d]               norm       ones
//   layers.L.attn.{wq,wk,wv,wo} [d, d]        hidden     U(+-1/sqrt(d))
//   layers.L.ffn_norm       [d]               norm       ones
//   layers.L.ffn.{w1,w3}    [h, d]            hidden     U(+-1/sqrt(d))
//   layers.L.ffn.w2         [d, h]            hidden     U(+-1/sqrt(h))
//   final_norm              [d]               norm       ones
//   head                    [classes_out, d]  head       U(+-1/sqrt(d))
// At the defaults (vocab = classes_out = 99) that is 550,272 parameters.
//
// The final RMSNorm is applied to the last position only: RMSNorm acts per
// position, so this equals normalizing all positions and taking the last.
// Dropout (train graphs only) sits on the FFN hidden with stream = layer index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "models/config.h"
#include "models/layers.h"
#include "models/params.h"

namespace grokjit::models {

std::vector<ParamSpec> transformer_param_specs(const TransformerConfig& cfg, int64_t vocab, int64_t classes_out);

// "layers.<layer>.<leaf>", e.g. layer_param_name(0, "attn.wq").
std::string layer_param_name(int64_t layer, const std::string& leaf);

// Logits [B, classes_out] for tokens i32 [B, T]. `dropout` null = eval mode.
// `hidden`, if given, receives the residual stream at the last position after
// each block ([B, d] each, depth of them) and the final-normed one (depth + 1
// in all; representation metrics).
ir::Value transformer_logits(const TransformerConfig& cfg, const ParamValues& params, ir::Value tokens,
                             const DropoutSource* dropout, std::vector<ir::Value>* hidden = nullptr);

}  // namespace grokjit::models
