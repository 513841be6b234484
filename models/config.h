// Model and output-function configuration. Defaults are shared/REFERENCE.md
// s.2 (Transformer) and s.7 (2-layer network); every OPEN choice is a field.
#pragma once

#include <cstdint>
#include <string>

namespace grokjit::models {

enum class ModelKind { Transformer, TwoLayer };
enum class OutputFn { Softmax, Stablemax, Sparsemax };  // + their losses (REFERENCE.md s.5)
enum class Activation { Square, Relu };                 // 2-layer network
enum class TwoLayerLoss { CenteredMse, CrossEntropy };
// How RoPE pairs the head dimensions: RotateHalf pairs i with i + hd/2
// (GPT-NeoX, Llama-HF, MLX traditional=false); Interleaved pairs 2i with
// 2i + 1 (RoFormer, MLX traditional=true). Frequencies base^(-2i/hd) either way.
enum class RopeStyle { RotateHalf, Interleaved };

struct TransformerConfig {
  int64_t depth = 2;
  int64_t d_model = 128;
  int64_t heads = 1;             // OPEN: 1 or 4
  int64_t mlp_ratio = 4;         // hidden = mlp_ratio * d_model
  double dropout = 0.2;          // train only, on the FFN hidden (REFERENCE.md s.2)
  bool rope = true;              // OPEN: default on
  double rope_base = 1e6;
  RopeStyle rope_style = RopeStyle::RotateHalf;
  double norm_eps = 1e-5;
  bool causal = true;
};

struct TwoLayerConfig {
  int64_t hidden = 512;          // K
  Activation activation = Activation::Square;
  TwoLayerLoss loss = TwoLayerLoss::CenteredMse;
  double init_scale = 1.0;       // multiplies the PyTorch-default uniform init
};

struct ModelConfig {
  ModelKind kind = ModelKind::Transformer;
  TransformerConfig transformer;
  TwoLayerConfig two_layer;
  OutputFn output = OutputFn::Softmax;
  bool stablemax_f64 = true;     // stablemax loss computed in float64
};

}  // namespace grokjit::models
