// Li2-framework metrics of the 2-layer network (shared/REFERENCE.md s.7),
// computed on the host in float64 from the parameter values:
//   energy E(w_j) = 0.5 ||Y~^T sigma(X w_j)||^2 of each hidden node (w_j
//     normalized to ||w_j|| = 1, Y~ the one-hot labels centred over the
//     training rows), next to the mean energy of random unit vectors;
//   ||G_F|| per node: the norm over training rows of dL/dF[:, j], F = sigma(X W^T);
//   the Fourier read-out of each node's operand-a weights (Z_M tasks).
// Layout as in the model (models/two_layer.h): W [K, 2M] row j = node j,
// columns 0..M-1 read operand a, M..2M-1 operand b; V [classes, K].
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/config.h"
#include "runtime/train_config.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {

// The rows the metrics are taken over (the training set).
struct Li2Rows {
  int64_t operands = 0;  // M
  int64_t classes = 0;
  std::vector<int32_t> a, b, labels;
};
Li2Rows li2_rows(const tasks::Dataset& data, const std::vector<int64_t>& rows);

// E(w_j / ||w_j||) for each of the K rows of W [K, 2M] (a zero row has energy 0).
std::vector<double> li2_node_energies(const std::vector<float>& W, int64_t K, const Li2Rows& rows,
                                      models::Activation activation);

// Mean energy of `samples` random Gaussian unit vectors (fixed seed): the
// yardstick energies are compared to.
double li2_random_energy(const Li2Rows& rows, models::Activation activation, int samples, uint64_t seed);

// ||dL/dF[:, j]|| for each node, L the training loss the run minimizes
// (class-centred MSE, or softmax cross-entropy). Empty for other losses.
std::vector<double> li2_hidden_grad_norms(const std::vector<float>& W, const std::vector<float>& V, int64_t K,
                                          const Li2Rows& rows, const models::ModelConfig& model);

// Power spectrum of each node's operand-a weights w_a (a = 0..M-1):
// P_k = |sum_a w_a exp(-2 pi i k a / M)|^2 for k = 1 .. floor(M/2) (the DC
// term k = 0 is left out; k and M - k have equal power for real weights).
struct FourierReadout {
  std::vector<int64_t> dominant;  // per node: argmax_k P_k (0 if all P_k are 0)
  std::vector<double> purity;     // per node: P_dominant / sum_k P_k
  int64_t distinct = 0;           // distinct dominant frequencies (> 0)
  double coverage = 0;            // distinct / ((M - 1) / 2), integer division
};
FourierReadout fourier_readout(const std::vector<float>& W, int64_t K, int64_t M);

// True for the tasks whose group is Z_M with operands 0..M-1 (cyclic, add, sub).
bool has_cyclic_structure(const tasks::TaskConfig& task);

// The per-evaluation hook behind train.metrics "li2" / "li2_nodes": adds
// line["li2"] = {energy_{mean,median,min,max}, energy_random, grad_norm_{mean,max},
// dW, dV (Frobenius change since the previous evaluation; null at the first),
// fourier: {coverage, distinct, purity_mean} (Z_M tasks)} and, with nodes,
// the per-node vectors.
class Li2Metrics {
 public:
  Li2Metrics(const RunConfig& config, const tasks::Dataset& data, const tasks::Split& split, bool nodes);
  void operator()(int64_t epoch, const ParamReader& read_param, nlohmann::json& line);

 private:
  RunConfig config_;
  Li2Rows rows_;
  bool nodes_;
  bool fourier_;
  double random_energy_;
  std::vector<float> prev_W_, prev_V_;
};

}  // namespace grokjit::runtime
