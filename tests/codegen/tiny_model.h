// A small Transformer-like training step built directly with ir/builder.h
// and ir/autodiff.h: embedding gather, RMSNorm, causal single-head attention
// with RoPE-like cos/sin tables, a gated-SiLU MLP with dropout, a final
// RMSNorm, the classifier on the last position, one-hot cross-entropy, the
// gradient, and an AdamW-like update of every parameter (Graph::updates).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/interpreter.h"

namespace grokjit::testing {

struct TinyConfig {
  int64_t batch = 8, seq = 4, d = 16, ffn = 32, vocab = 11, layers = 1;
  bool update = true;   // add the optimizer step (else outputs: loss and the gradients)
  bool dropout = true;
};

struct TinyModel {
  ir::Graph graph;
  std::vector<std::string> params;  // names of the Param inputs
};

TinyModel tiny_transformer(const TinyConfig& cfg);

// Inputs in ranges that keep the step well conditioned (tokens in range,
// second moments away from zero).
ir::TensorMap tiny_inputs(const TinyModel& m, const TinyConfig& cfg, uint32_t seed);

}  // namespace grokjit::testing
