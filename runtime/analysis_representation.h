// Representation metrics of a trained model on its validation set
// (shared/REFERENCE.md s.6), per layer of the Transformer (residual stream at
// the last position after each block, then after the final RMSNorm) or of the
// 2-layer network (sigma(X W^T)), plus the logits:
//   linear-probe accuracy: ridge regression of the one-hot label on the
//     standardized hidden state (+ bias), fit on the first half of the
//     validation rows, accuracy (argmax) on the second half;
//   effective rank, both definitions, float64 SVD of the (uncentred) states;
//   mean logit margin z_y - max_{j != y} z_j, raw and divided per row by ||z||_2;
//   validation accuracy with Gaussian noise added to the input embedding
//     (Transformer: "embedding"; 2-layer: W, whose columns embed the one-hot
//     tokens), N(0, (sigma * rms(E))^2), mean over 3 draws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "runtime/device.h"
#include "runtime/step_graph.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {

struct EffectiveRank {
  double energy = 0;   // exp(entropy of q_i = sigma_i^2 / sum sigma^2)
  double nuclear = 0;  // exp(entropy of q_i = sigma_i / sum sigma) (Roy & Vetterli)
};
// Of the rows of Z (n x d); 0 for an all-zero Z.
EffectiveRank effective_rank(const Eigen::MatrixXd& Z);

// Ridge probe: fit rows [0, n_fit), test rows [n_fit, n). lambda is relative:
// the penalty is lambda * trace(X^T X) / columns on the standardized features.
double ridge_probe_accuracy(const Eigen::MatrixXd& Z, const std::vector<int32_t>& labels, int64_t classes,
                            int64_t n_fit, double lambda = 1e-3);

// Noise levels (relative to the embedding's RMS) of the noise test.
inline const std::vector<double> kEmbeddingNoiseSigmas = {0.1, 0.3, 1.0};

// Compiles a forward graph over the whole validation set once; measure()
// runs it on the current parameters.
class RepresentationMetrics {
 public:
  RepresentationMetrics(const RunConfig& config, Device& device, const tasks::Dataset& data,
                        const tasks::Split& split, const DataShape& shape);
  ~RepresentationMetrics();
  // {"layers": [{"name","dim","probe_acc","erank_energy","erank_nuclear"}...],
  //  "val_acc", "margin_mean", "margin_normalized_mean",
  //  "noise": [{"sigma","val_acc"}...], "probe": "...", "margin_normalized_by": "..."}
  nlohmann::json measure(const ParamReader& read_param);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grokjit::runtime
