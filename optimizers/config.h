// Optimizer configuration (shared/REFERENCE.md s.4). Every optimizer is built
// as IR so the update runs fused on the device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grokjit::optimizers {

enum class OptimizerKind { AdamW, Adam, Sgd, Muon };
enum class MuonVariant { Reference, Li2 };
enum class MuonScale { ShapeRatio, MatchRmsAdamw, None };  // sqrt(max(1,r/c)) | 0.2*sqrt(max(r,c)) | 1
enum class GradFilter { None, GrokfastEma, GrokfastMa };

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.98;
  double eps = 1e-8;
  double weight_decay = 1.0;  // AdamW: decoupled; Adam: coupled L2 (added to the gradient)
};

struct SgdConfig {
  double lr = 1e-2;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  bool decoupled_decay = true;  // false: L2 added to the gradient
};

struct MuonConfig {
  MuonVariant variant = MuonVariant::Reference;
  double lr = 0.02;
  double momentum = 0.95;       // Li2: 0.99
  bool nesterov = true;         // Li2: false
  double weight_decay = 1.0;    // W *= 1 - lr * wd
  MuonScale scale = MuonScale::ShapeRatio;  // Li2: None
  int ns_steps = 5;
  double ns_eps = 1e-7;
  // Muon for these parameter groups; the rest go to the auxiliary AdamW.
  // Groups: "hidden" (q,k,v,o,w1,w2,w3 / the 2-layer W), "embedding", "head"
  // (classifier / the 2-layer V), "norm".
  std::vector<std::string> muon_groups = {"hidden"};
  AdamConfig aux_adam = {3e-4, 0.9, 0.95, 1e-10, 1.0};
  bool aux_decoupled_decay = true;  // false: the auxiliary optimizer is Adam with coupled L2
};

// The Li2 variant's settings (REFERENCE.md s.4): momentum 0.99 without
// Nesterov, no shape scale, its own Newton-Schulz coefficient schedule.
// The variant field alone only selects the schedule; spec parsing applies
// this preset so that "variant": "li2" means all of it.
inline MuonConfig muon_li2_preset(MuonConfig base = {}) {
  base.variant = MuonVariant::Li2;
  base.momentum = 0.99;
  base.nesterov = false;
  base.scale = MuonScale::None;
  return base;
}

struct GrokfastConfig {
  GradFilter kind = GradFilter::None;
  double alpha = 0.98;    // EMA
  double lambda = 2.0;    // EMA: 2.0; MA: 5.0
  int64_t window = 100;   // MA
};

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::AdamW;
  AdamConfig adam;        // AdamW and Adam
  SgdConfig sgd;
  MuonConfig muon;
  GrokfastConfig grokfast;
  bool orthogonal_grad = false;  // Prieto et al. 2025, per tensor, before the filter
  double grad_clip = 0.0;        // 0 = off; global L2 norm clip
};

}  // namespace grokjit::optimizers
