#include "runtime/analysis_li2.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "ir/error.h"
#include "tasks/rng.h"

namespace grokjit::runtime {
namespace {

using Eigen::MatrixXd;
using nlohmann::json;

double activate(double x, models::Activation act) { return act == models::Activation::Square ? x * x : std::max(x, 0.0); }

// F = sigma(X W^T) [n, K]: X is one-hot(a) ++ one-hot(b), so row i of X W^T
// is W[:, a_i] + W[:, M + b_i].
MatrixXd hidden_activations(const std::vector<float>& W, int64_t K, const Li2Rows& r, models::Activation act) {
  const int64_t n = static_cast<int64_t>(r.a.size()), M = r.operands;
  MatrixXd F(n, K);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < K; ++j)
      F(i, j) = activate(static_cast<double>(W[j * 2 * M + r.a[i]]) + W[j * 2 * M + M + r.b[i]], act);
  return F;
}

// Y~ = one-hot(labels) with each column's mean over the rows subtracted.
MatrixXd centred_labels(const Li2Rows& r) {
  const int64_t n = static_cast<int64_t>(r.labels.size());
  MatrixXd Y = MatrixXd::Zero(n, r.classes);
  for (int64_t i = 0; i < n; ++i) Y(i, r.labels[i]) = 1.0;
  return Y.rowwise() - Y.colwise().mean();
}

void check_sizes(const std::vector<float>& W, int64_t K, const Li2Rows& r) {
  if (static_cast<int64_t>(W.size()) != K * 2 * r.operands)
    throw Error("li2 metrics: W has " + std::to_string(W.size()) + " values, expected K * 2M = " +
                std::to_string(K * 2 * r.operands));
}

struct Summary {
  double mean = 0, median = 0, min = 0, max = 0;
};
Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

double frobenius_change(const std::vector<float>& now, const std::vector<float>& before) {
  double ss = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    const double d = static_cast<double>(now[i]) - before[i];
    ss += d * d;
  }
  return std::sqrt(ss);
}

}  // namespace

Li2Rows li2_rows(const tasks::Dataset& data, const std::vector<int64_t>& rows) {
  Li2Rows r;
  r.operands = data.operands;
  r.classes = data.classes;
  for (int64_t i : rows) {
    r.a.push_back(data.a[i]);
    r.b.push_back(data.b[i]);
    r.labels.push_back(data.labels[i]);
  }
  return r;
}

std::vector<double> li2_node_energies(const std::vector<float>& W, int64_t K, const Li2Rows& rows,
                                      models::Activation activation) {
  check_sizes(W, K, rows);
  // Normalize each node first: sigma is not homogeneous of degree 1 (x^2 is of degree 2).
  std::vector<float> unit(W.size());
  const int64_t D = 2 * rows.operands;
  for (int64_t j = 0; j < K; ++j) {
    double ss = 0;
    for (int64_t c = 0; c < D; ++c) ss += static_cast<double>(W[j * D + c]) * W[j * D + c];
    const double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (int64_t c = 0; c < D; ++c) unit[j * D + c] = static_cast<float>(W[j * D + c] * inv);
  }
  MatrixXd S = centred_labels(rows).transpose() * hidden_activations(unit, K, rows, activation);  // [C, K]
  std::vector<double> e(K);
  for (int64_t j = 0; j < K; ++j) e[j] = 0.5 * S.col(j).squaredNorm();
  return e;
}

double li2_random_energy(const Li2Rows& rows, models::Activation activation, int samples, uint64_t seed) {
  tasks::SplitMix64 rng(tasks::derive_seed(seed, tasks::RngStream::User, 0x1e2));
  std::vector<float> W(static_cast<size_t>(samples) * 2 * rows.operands);
  for (float& w : W) w = static_cast<float>(rng.normal());
  std::vector<double> e = li2_node_energies(W, samples, rows, activation);
  return summarize(e).mean;
}

std::vector<double> li2_hidden_grad_norms(const std::vector<float>& W, const std::vector<float>& V, int64_t K,
                                          const Li2Rows& rows, const models::ModelConfig& model) {
  check_sizes(W, K, rows);
  const bool mse = model.two_layer.loss == models::TwoLayerLoss::CenteredMse;
  if (!mse && model.output != models::OutputFn::Softmax) return {};
  const int64_t n = static_cast<int64_t>(rows.labels.size()), C = rows.classes;
  MatrixXd F = hidden_activations(W, K, rows, model.two_layer.activation);
  MatrixXd Vm(C, K);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < K; ++j) Vm(c, j) = V[c * K + j];
  MatrixXd O = F * Vm.transpose();  // [n, C]
  MatrixXd dO(n, C);                // dL/dO, L the mean over rows
  if (mse) {
    // L_i = ||P o_i - t_i||^2 with P the centring projection and t_i = e_y - 1/C
    // already centred: dL_i/do_i = 2 (P o_i - t_i).
    MatrixXd centred = O.colwise() - O.rowwise().mean();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < C; ++c)
        dO(i, c) = 2.0 * (centred(i, c) - ((c == rows.labels[i] ? 1.0 : 0.0) - 1.0 / static_cast<double>(C)));
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const double mx = O.row(i).maxCoeff();
      Eigen::RowVectorXd p = (O.row(i).array() - mx).exp();
      p /= p.sum();
      p(rows.labels[i]) -= 1.0;
      dO.row(i) = p;
    }
  }
  dO /= static_cast<double>(n);
  MatrixXd G = dO * Vm;  // dL/dF [n, K]
  std::vector<double> norms(K);
  for (int64_t j = 0; j < K; ++j) norms[j] = G.col(j).norm();
  return norms;
}

FourierReadout fourier_readout(const std::vector<float>& W, int64_t K, int64_t M) {
  if (M < 3 || static_cast<int64_t>(W.size()) != K * 2 * M)
    throw Error("fourier read-out: need M >= 3 and W of K * 2M = " + std::to_string(K * 2 * M) + " values, got M " +
                std::to_string(M) + " and " + std::to_string(W.size()));
  FourierReadout out;
  const int64_t kmax = M / 2;
  std::set<int64_t> seen;
  for (int64_t j = 0; j < K; ++j) {
    double total = 0, best = 0;
    int64_t best_k = 0;
    for (int64_t k = 1; k <= kmax; ++k) {
      double re = 0, im = 0;
      for (int64_t a = 0; a < M; ++a) {
        const double angle = 2.0 * std::numbers::pi * static_cast<double>((k * a) % M) / static_cast<double>(M);
        re += W[j * 2 * M + a] * std::cos(angle);
        im -= W[j * 2 * M + a] * std::sin(angle);
      }
      const double power = re * re + im * im;
      total += power;
      if (power > best) {
        best = power;
        best_k = k;
      }
    }
    out.dominant.push_back(best_k);
    out.purity.push_back(total > 0 ? best / total : 0.0);
    if (best_k > 0) seen.insert(best_k);
  }
  out.distinct = static_cast<int64_t>(seen.size());
  out.coverage = static_cast<double>(out.distinct) / static_cast<double>((M - 1) / 2);
  return out;
}

bool has_cyclic_structure(const tasks::TaskConfig& task) {
  return task.kind == tasks::TaskKind::GroupCyclic || task.kind == tasks::TaskKind::Add ||
         task.kind == tasks::TaskKind::Sub;
}

Li2Metrics::Li2Metrics(const RunConfig& config, const tasks::Dataset& data, const tasks::Split& split, bool nodes)
    : config_(config), rows_(li2_rows(data, split.train)), nodes_(nodes),
      fourier_(has_cyclic_structure(config.task) && data.operands >= 3) {
  random_energy_ = li2_random_energy(rows_, config.model.two_layer.activation, 256, config.train.seed);
}

void Li2Metrics::operator()(int64_t /*epoch*/, const ParamReader& read_param, json& line) {
  const int64_t K = config_.model.two_layer.hidden;
  std::vector<float> W = read_param("W"), V = read_param("V");
  json li2;
  std::vector<double> energy = li2_node_energies(W, K, rows_, config_.model.two_layer.activation);
  Summary es = summarize(energy);
  li2["energy_mean"] = es.mean;
  li2["energy_median"] = es.median;
  li2["energy_min"] = es.min;
  li2["energy_max"] = es.max;
  li2["energy_random"] = random_energy_;
  std::vector<double> grads = li2_hidden_grad_norms(W, V, K, rows_, config_.model);
  if (!grads.empty()) {
    Summary gs = summarize(grads);
    li2["grad_norm_mean"] = gs.mean;
    li2["grad_norm_max"] = gs.max;
  }
  li2["dW"] = prev_W_.empty() ? json(nullptr) : json(frobenius_change(W, prev_W_));
  li2["dV"] = prev_V_.empty() ? json(nullptr) : json(frobenius_change(V, prev_V_));
  if (fourier_) {
    FourierReadout f = fourier_readout(W, K, rows_.operands);
    li2["fourier"] = {{"coverage", f.coverage}, {"distinct", f.distinct}, {"purity_mean", summarize(f.purity).mean}};
    if (nodes_) {
      li2["fourier"]["dominant"] = f.dominant;
      li2["fourier"]["purity"] = f.purity;
    }
  }
  if (nodes_) {
    li2["energy_nodes"] = energy;
    if (!grads.empty()) li2["grad_norm_nodes"] = grads;
  }
  line["li2"] = std::move(li2);
  prev_W_ = std::move(W);
  prev_V_ = std::move(V);
}

}  // namespace grokjit::runtime
