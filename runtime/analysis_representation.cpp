#include "runtime/analysis_representation.h"

#include <cmath>
#include <map>

#include "ir/builder.h"
#include "ir/error.h"
#include "models/losses.h"
#include "models/transformer.h"
#include "models/two_layer.h"
#include "tasks/rng.h"

namespace grokjit::runtime {

using Eigen::MatrixXd;
using nlohmann::json;

EffectiveRank effective_rank(const MatrixXd& Z) {
  EffectiveRank r;
  if (Z.size() == 0) return r;
  Eigen::VectorXd s = Eigen::BDCSVD<MatrixXd>(Z).singularValues();
  auto entropy_rank = [](const Eigen::VectorXd& w) {
    const double total = w.sum();
    if (total <= 0) return 0.0;
    double h = 0;
    for (double x : w) {
      const double q = x / total;
      if (q > 0) h -= q * std::log(q);
    }
    return std::exp(h);
  };
  r.energy = entropy_rank(s.array().square().matrix());
  r.nuclear = entropy_rank(s);
  return r;
}

double ridge_probe_accuracy(const MatrixXd& Z, const std::vector<int32_t>& labels, int64_t classes, int64_t n_fit,
                            double lambda) {
  const int64_t n = Z.rows(), d = Z.cols();
  if (n_fit <= 0 || n_fit >= n || static_cast<int64_t>(labels.size()) != n)
    throw Error("linear probe: need 0 < n_fit < rows and one label per row (rows " + std::to_string(n) + ", n_fit " +
                std::to_string(n_fit) + ", labels " + std::to_string(labels.size()) + ")");
  // Standardize with the fit rows' statistics; constant features stay 0.
  Eigen::RowVectorXd mean = Z.topRows(n_fit).colwise().mean();
  MatrixXd centred = Z.rowwise() - mean;
  Eigen::RowVectorXd sd = (centred.topRows(n_fit).array().square().colwise().sum() / static_cast<double>(n_fit)).sqrt();
  for (int64_t c = 0; c < d; ++c) sd(c) = sd(c) > 0 ? 1.0 / sd(c) : 0.0;
  MatrixXd X(n, d + 1);
  X.leftCols(d) = centred.array().rowwise() * sd.array();
  X.col(d).setOnes();
  MatrixXd Y = MatrixXd::Zero(n_fit, classes);
  for (int64_t i = 0; i < n_fit; ++i) Y(i, labels[i]) = 1.0;
  MatrixXd A = X.topRows(n_fit).transpose() * X.topRows(n_fit);
  const double penalty = lambda * A.trace() / static_cast<double>(d + 1);
  A.diagonal().array() += penalty;
  MatrixXd B = A.ldlt().solve(X.topRows(n_fit).transpose() * Y);
  MatrixXd pred = X.bottomRows(n - n_fit) * B;
  int64_t correct = 0;
  for (int64_t i = 0; i < n - n_fit; ++i) {
    Eigen::Index best;
    pred.row(i).maxCoeff(&best);
    correct += best == labels[n_fit + i];
  }
  return static_cast<double>(correct) / static_cast<double>(n - n_fit);
}

struct RepresentationMetrics::Impl {
  std::vector<models::ParamSpec> specs;
  std::string embedding;  // the parameter the noise test perturbs
  std::vector<std::string> layer_names;
  std::unique_ptr<Program> program;
  std::map<std::string, std::unique_ptr<Buffer>> buffers;  // params, data, outputs by name
  std::map<std::string, int64_t> output_cols;
  int64_t rows = 0, classes = 0;
  std::vector<int32_t> labels;
  uint64_t seed = 0;

  std::vector<float> read_output(const std::string& name) const {
    const Buffer& b = *buffers.at(name);
    std::vector<float> v(b.bytes() / sizeof(float));
    b.read(v.data(), b.bytes());
    return v;
  }
  MatrixXd read_matrix(const std::string& name) const {
    std::vector<float> v = read_output(name);
    const int64_t cols = output_cols.at(name);
    MatrixXd m(rows, cols);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) m(i, j) = v[i * cols + j];
    return m;
  }
  double accuracy() const {
    double s = 0;
    for (float c : read_output("correct")) s += c;
    return s / static_cast<double>(rows);
  }
};

RepresentationMetrics::RepresentationMetrics(const RunConfig& config, Device& device, const tasks::Dataset& data,
                                             const tasks::Split& split, const DataShape& shape)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.rows = static_cast<int64_t>(split.val.size());
  m.classes = shape.classes;
  m.seed = config.train.seed;
  if (m.rows < 4) throw Error("representation metrics need at least 4 validation rows, the split has " +
                              std::to_string(m.rows) + " (at /task/train_fraction)", ExitCode::Usage);
  m.specs = model_param_specs(config.model, shape);
  const bool two_layer = config.model.kind == models::ModelKind::TwoLayer;
  m.embedding = two_layer ? "W" : "embedding";

  ir::Graph g;
  models::ParamValues params = models::add_param_inputs(g, m.specs);
  std::map<std::string, std::vector<int32_t>> data_in;  // data input name -> values
  ir::Value logits;
  std::vector<ir::Value> hidden;
  const auto role = ir::InputRole::Data;
  if (two_layer) {
    ir::Value a = ir::input(g, "a", {m.rows}, ir::DType::I32, role);
    ir::Value b = ir::input(g, "b", {m.rows}, ir::DType::I32, role);
    ir::Value h;
    logits = models::two_layer_outputs(config.model.two_layer, params, a, b,
                                       shape.operands > 0 ? shape.operands : shape.classes, &h);
    hidden.push_back(h);
    m.layer_names = {"hidden"};
    for (int64_t r : split.val) {
      data_in["a"].push_back(data.a[r]);
      data_in["b"].push_back(data.b[r]);
    }
  } else {
    ir::Value tokens = ir::input(g, "tokens", {m.rows, data.seq_len}, ir::DType::I32, role);
    logits = models::transformer_logits(config.model.transformer, params, tokens, nullptr, &hidden);
    for (int64_t l = 0; l < config.model.transformer.depth; ++l) m.layer_names.push_back("block." + std::to_string(l));
    m.layer_names.push_back("final_norm");
    for (int64_t r : split.val)
      data_in["tokens"].insert(data_in["tokens"].end(), data.tokens.begin() + r * data.seq_len,
                               data.tokens.begin() + (r + 1) * data.seq_len);
  }
  m.layer_names.push_back("logits");
  hidden.push_back(logits);
  ir::Value labels = ir::input(g, "labels", {m.rows}, ir::DType::I32, role);
  for (int64_t r : split.val) m.labels.push_back(data.labels[r]);
  data_in["labels"] = m.labels;
  for (size_t i = 0; i < hidden.size(); ++i) {
    // "state." keeps the output names apart from the parameters' ("final_norm").
    ir::output(hidden[i], "state." + m.layer_names[i]);
    m.output_cols["state." + m.layer_names[i]] = hidden[i].dim(1);
  }
  ir::output(models::logit_margin_rows(logits, labels), "margin");
  ir::output(models::correct_rows(logits, labels), "correct");
  m.output_cols["margin"] = m.output_cols["correct"] = 1;

  CompileOptions opts;
  opts.program_name = "representation";
  m.program = device.compile(g, opts);
  for (const models::ParamSpec& p : m.specs) {
    m.buffers[p.name] = device.alloc(static_cast<size_t>(ir::num_elements(p.shape)) * sizeof(float));
    m.program->bind(p.name, *m.buffers[p.name]);
  }
  for (auto& [name, values] : data_in) {
    m.buffers[name] = device.alloc(values.size() * sizeof(int32_t));
    m.buffers[name]->write(values.data(), values.size() * sizeof(int32_t));
    m.program->bind(name, *m.buffers[name]);
  }
  for (const auto& [name, cols] : m.output_cols) {
    m.buffers[name] = device.alloc(static_cast<size_t>(m.rows * cols) * sizeof(float));
    m.program->bind(name, *m.buffers[name]);
  }
}

RepresentationMetrics::~RepresentationMetrics() = default;

json RepresentationMetrics::measure(const ParamReader& read_param) {
  Impl& m = *impl_;
  std::vector<float> embedding;
  for (const models::ParamSpec& p : m.specs) {
    std::vector<float> v = read_param(p.name);
    m.buffers.at(p.name)->write(v.data(), v.size() * sizeof(float));
    if (p.name == m.embedding) embedding = std::move(v);
  }
  m.program->run();

  json out;
  out["probe"] = "ridge (lambda 1e-3 relative) on standardized states, fit on the first half of the validation rows, "
                 "accuracy on the second half";
  out["margin_normalized_by"] = "the row's logit vector L2 norm";
  out["effective_rank_of"] = "uncentred validation-set states, float64 SVD";
  json layers = json::array();
  MatrixXd logits;
  for (const std::string& name : m.layer_names) {
    MatrixXd Z = m.read_matrix("state." + name);
    EffectiveRank er = effective_rank(Z);
    layers.push_back({{"name", name},
                      {"dim", Z.cols()},
                      {"probe_acc", ridge_probe_accuracy(Z, m.labels, m.classes, m.rows / 2)},
                      {"erank_energy", er.energy},
                      {"erank_nuclear", er.nuclear}});
    if (name == "logits") logits = std::move(Z);
  }
  out["layers"] = layers;
  out["val_acc"] = m.accuracy();
  std::vector<float> margin = m.read_output("margin");
  double raw = 0, normalized = 0;
  for (int64_t i = 0; i < m.rows; ++i) {
    raw += margin[i];
    const double norm = logits.row(i).norm();
    normalized += norm > 0 ? margin[i] / norm : 0.0;
  }
  out["margin_mean"] = raw / static_cast<double>(m.rows);
  out["margin_normalized_mean"] = normalized / static_cast<double>(m.rows);

  double ss = 0;
  for (float x : embedding) ss += static_cast<double>(x) * x;
  const double rms = std::sqrt(ss / static_cast<double>(std::max<size_t>(1, embedding.size())));
  json noise = json::array();
  Buffer& emb_buf = *m.buffers.at(m.embedding);
  for (size_t s = 0; s < kEmbeddingNoiseSigmas.size(); ++s) {
    const int draws = 3;
    double acc = 0;
    for (int draw = 0; draw < draws; ++draw) {
      tasks::SplitMix64 rng(tasks::derive_seed(m.seed, tasks::RngStream::User, 1000 + 10 * s + draw));
      std::vector<float> noisy = embedding;
      for (float& x : noisy) x += static_cast<float>(kEmbeddingNoiseSigmas[s] * rms * rng.normal());
      emb_buf.write(noisy.data(), noisy.size() * sizeof(float));
      m.program->run();
      acc += m.accuracy();
    }
    noise.push_back({{"sigma", kEmbeddingNoiseSigmas[s]}, {"val_acc", acc / draws}});
  }
  emb_buf.write(embedding.data(), embedding.size() * sizeof(float));
  out["noise"] = noise;
  out["noise_on"] = m.embedding + " + N(0, (sigma * rms)^2), mean of 3 draws";
  return out;
}

}  // namespace grokjit::runtime
