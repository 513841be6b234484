// Analysis metrics (runtime/analysis_*): each checked against a figure
// computed independently here, by hand or by plain loops from its definition.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <unistd.h>

#include "cli/app.h"
#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/analysis_experiments.h"
#include "runtime/analysis_stability.h"
#include "runtime/analysis_li2.h"
#include "runtime/analysis_representation.h"
#include "runtime/spec.h"
#include "runtime/trainer.h"
#include "tasks/rng.h"

namespace grokjit::runtime {
namespace {

using nlohmann::json;
constexpr double kPi = std::numbers::pi;

// Node j's operand-a weights are cos(2 pi k a / M + phase) (+ extra), operand b noise.
std::vector<float> fourier_nodes(int64_t M, const std::vector<std::vector<std::pair<int, double>>>& nodes) {
  const int64_t K = static_cast<int64_t>(nodes.size());
  std::vector<float> W(K * 2 * M);
  tasks::SplitMix64 rng(7);
  for (int64_t j = 0; j < K; ++j) {
    for (int64_t a = 0; a < M; ++a) {
      double w = 0.3;  // a DC offset, which the read-out ignores
      for (auto [k, amp] : nodes[j]) w += amp * std::cos(2 * kPi * k * a / M + 0.4 * (j + 1));
      W[j * 2 * M + a] = static_cast<float>(w);
      W[j * 2 * M + M + a] = static_cast<float>(rng.normal());
    }
  }
  return W;
}

TEST(FourierReadout, PureFrequenciesGiveThemWithPurityOne) {
  const int64_t M = 11;
  std::vector<float> W = fourier_nodes(M, {{{1, 1.0}}, {{3, 0.5}}, {{3, 2.0}}, {{5, 1.0}}});
  FourierReadout f = fourier_readout(W, 4, M);
  EXPECT_EQ(f.dominant, (std::vector<int64_t>{1, 3, 3, 5}));
  for (double p : f.purity) EXPECT_NEAR(p, 1.0, 1e-6);
  EXPECT_EQ(f.distinct, 3);                  // {1, 3, 5}
  EXPECT_DOUBLE_EQ(f.coverage, 3.0 / 5.0);   // (M - 1) / 2 = 5 frequencies
}

TEST(FourierReadout, MixedNodePurityIsThePowerShare) {
  // Amplitudes 1 and 0.5: powers in ratio 1 : 0.25, so purity 1 / 1.25.
  const int64_t M = 13;
  FourierReadout f = fourier_readout(fourier_nodes(M, {{{2, 1.0}, {4, 0.5}}}), 1, M);
  EXPECT_EQ(f.dominant[0], 2);
  EXPECT_NEAR(f.purity[0], 0.8, 1e-6);
  EXPECT_DOUBLE_EQ(f.coverage, 1.0 / 6.0);
}

TEST(FourierReadout, RejectsWrongSizes) {
  EXPECT_THROW(fourier_readout(std::vector<float>(10), 2, 11), Error);
}

// A tiny Z_3 training set: rows (a, b, label = a + b mod 3).
Li2Rows tiny_rows() {
  Li2Rows r;
  r.operands = 3;
  r.classes = 3;
  for (auto [a, b] : std::vector<std::pair<int, int>>{{0, 1}, {1, 1}, {2, 0}, {2, 2}, {1, 0}}) {
    r.a.push_back(a);
    r.b.push_back(b);
    r.labels.push_back((a + b) % 3);
  }
  return r;
}

// E(w) = 0.5 || Y~^T sigma(X w / ||w||) ||^2 with plain loops.
double energy_by_definition(const std::vector<double>& w_raw, const Li2Rows& r, bool square) {
  double norm = 0;
  for (double x : w_raw) norm += x * x;
  norm = std::sqrt(norm);
  const size_t n = r.a.size();
  std::vector<double> col_mean(r.classes, 0.0);
  for (size_t i = 0; i < n; ++i) col_mean[r.labels[i]] += 1.0 / static_cast<double>(n);
  double e = 0;
  for (int64_t c = 0; c < r.classes; ++c) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) {
      double pre = (w_raw[r.a[i]] + w_raw[r.operands + r.b[i]]) / norm;
      double h = square ? pre * pre : std::max(pre, 0.0);
      s += ((r.labels[i] == c ? 1.0 : 0.0) - col_mean[c]) * h;
    }
    e += s * s;
  }
  return 0.5 * e;
}

TEST(Li2Energy, MatchesTheDefinition) {
  Li2Rows r = tiny_rows();
  std::vector<std::vector<double>> nodes = {{0.5, -1.0, 2.0, 0.1, 0.3, -0.7}, {1, 0, 0, 0, 1, 0}, {-2, 1, 1, 3, -1, 0.5}};
  std::vector<float> W;
  for (const auto& w : nodes) W.insert(W.end(), w.begin(), w.end());
  for (bool square : {true, false}) {
    std::vector<double> e =
        li2_node_energies(W, 3, r, square ? models::Activation::Square : models::Activation::Relu);
    ASSERT_EQ(e.size(), 3u);
    for (size_t j = 0; j < 3; ++j) EXPECT_NEAR(e[j], energy_by_definition(nodes[j], r, square), 1e-6) << j;
  }
}

// Class-centred MSE as a function of the hidden activations F [n, K].
double mse_of_hidden(const std::vector<double>& F, const std::vector<double>& V, int64_t K, const Li2Rows& r) {
  const int64_t n = static_cast<int64_t>(r.a.size()), C = r.classes;
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> o(C, 0.0);
    double mean = 0;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t j = 0; j < K; ++j) o[c] += F[i * K + j] * V[c * K + j];
      mean += o[c] / C;
    }
    for (int64_t c = 0; c < C; ++c) {
      double d = o[c] - mean - ((r.labels[i] == c ? 1.0 : 0.0) - 1.0 / C);
      loss += d * d;
    }
  }
  return loss / static_cast<double>(n);
}

TEST(Li2GradNorm, MatchesFiniteDifferencesOfTheLossInF) {
  Li2Rows r = tiny_rows();
  const int64_t K = 2, n = 5, M = 3;
  std::vector<float> W = {0.5f, -1.0f, 2.0f, 0.1f, 0.3f, -0.7f, -0.4f, 0.9f, 0.2f, 1.1f, -0.6f, 0.8f};
  std::vector<float> Vf = {0.3f, -0.2f, 0.7f, 0.5f, -0.9f, 0.1f};
  std::vector<double> V(Vf.begin(), Vf.end());
  std::vector<double> F(n * K);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < K; ++j) {
      double pre = static_cast<double>(W[j * 2 * M + r.a[i]]) + W[j * 2 * M + M + r.b[i]];
      F[i * K + j] = pre * pre;
    }
  models::ModelConfig model;
  model.kind = models::ModelKind::TwoLayer;
  std::vector<double> norms = li2_hidden_grad_norms(W, Vf, K, r, model);
  ASSERT_EQ(norms.size(), 2u);
  const double h = 1e-6;
  for (int64_t j = 0; j < K; ++j) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> up = F, down = F;
      up[i * K + j] += h;
      down[i * K + j] -= h;
      double g = (mse_of_hidden(up, V, K, r) - mse_of_hidden(down, V, K, r)) / (2 * h);
      ss += g * g;
    }
    EXPECT_NEAR(norms[j], std::sqrt(ss), 1e-6) << j;
  }
}

TEST(EffectiveRank, RankOneIsOne) {
  Eigen::VectorXd u = Eigen::VectorXd::LinSpaced(20, 1, 3), v = Eigen::VectorXd::LinSpaced(6, -1, 2);
  EffectiveRank r = effective_rank(u * v.transpose());
  EXPECT_NEAR(r.energy, 1.0, 1e-9);
  EXPECT_NEAR(r.nuclear, 1.0, 1e-6);
}

TEST(EffectiveRank, OrthonormalColumnsGiveTheDimension) {
  Eigen::MatrixXd A = Eigen::MatrixXd::Random(30, 7);
  Eigen::MatrixXd Q = Eigen::HouseholderQR<Eigen::MatrixXd>(A).householderQ() * Eigen::MatrixXd::Identity(30, 7);
  EffectiveRank r = effective_rank(Q);
  EXPECT_NEAR(r.energy, 7.0, 1e-9);
  EXPECT_NEAR(r.nuclear, 7.0, 1e-9);
}

TEST(EffectiveRank, TwoSingularValuesByHand) {
  Eigen::MatrixXd Z = Eigen::MatrixXd::Zero(4, 2);
  Z(0, 0) = 3;
  Z(1, 1) = 4;  // singular values 4 and 3
  auto rank_of = [](double p) { return std::exp(-(p * std::log(p) + (1 - p) * std::log(1 - p))); };
  EffectiveRank r = effective_rank(Z);
  EXPECT_NEAR(r.energy, rank_of(9.0 / 25.0), 1e-12);
  EXPECT_NEAR(r.nuclear, rank_of(3.0 / 7.0), 1e-12);
  EXPECT_EQ(effective_rank(Eigen::MatrixXd::Zero(3, 2)).energy, 0.0);
}

TEST(LinearProbe, SeparableDataIsClassifiedAndNoiseIsNot) {
  const int64_t n = 300, d = 5, classes = 3;
  tasks::SplitMix64 rng(11);
  Eigen::MatrixXd Z(n, d), noise(n, d);
  std::vector<int32_t> labels(n), shuffled(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<int32_t>(i % classes);
    for (int64_t c = 0; c < d; ++c) {
      Z(i, c) = (c == labels[i] ? 5.0 : 0.0) + 0.3 * rng.normal();
      noise(i, c) = rng.normal();
    }
  }
  EXPECT_GE(ridge_probe_accuracy(Z, labels, classes, n / 2), 0.99);
  // Labels unrelated to the features: near chance (1/3), far from 1.
  EXPECT_LT(ridge_probe_accuracy(noise, labels, classes, n / 2), 0.6);
  EXPECT_THROW(ridge_probe_accuracy(Z, labels, classes, n), Error);
}

// ---- the trainer hook on a tiny 2-layer run (reference device: float64).

RunConfig tiny_two_layer(json metrics) {
  json spec = {{"name", "tiny2"},
               {"task", {{"kind", "cyclic"}, {"p", 11}, {"train_fraction", 0.6}}},
               {"model", {{"kind", "two_layer"}, {"two_layer", {{"hidden", 6}}}}},
               {"optimizer", {{"kind", "adam"}, {"adam", {{"lr", 0.01}, {"weight_decay", 1e-4}}}}},
               {"train", {{"batch_size", 0}, {"max_epochs", 4}, {"eval_every", 2}, {"checkpoint_every", 0},
                          {"metrics", metrics}}}};
  return parse_spec(spec, "tiny2");
}

TEST(MetricsHook, WritesLi2AndRepresentationFields) {
  RunConfig config = tiny_two_layer({"li2_nodes", "representation"});
  auto device = make_reference_device();
  TrainOptions o;
  o.out_dir = (std::filesystem::temp_directory_path() / ("grokjit_analysis_" + std::to_string(::getpid()))).string();
  o.quiet = true;
  std::vector<float> last_W;
  int calls = 0;
  o.epoch_metrics = [&](int64_t, const ParamReader& read, json& line) {
    ++calls;
    last_W = read("W");
    line["custom"] = calls;
  };
  train(config, *device, o);
  std::ifstream in(std::filesystem::path(o.out_dir) / "metrics.jsonl");
  std::vector<json> lines;
  for (std::string s; std::getline(in, s);) lines.push_back(json::parse(s));
  ASSERT_EQ(lines.size(), 2u);  // epochs 2 and 4
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(lines[1]["custom"], 2);
  EXPECT_TRUE(lines[0]["li2"]["dW"].is_null());
  EXPECT_GT(lines[1]["li2"]["dW"].get<double>(), 0.0);
  // The hook's energies are those of the final weights.
  tasks::Dataset data = tasks::make_dataset(config.task);
  Li2Rows rows = li2_rows(data, tasks::make_split(config.task).train);
  std::vector<double> e = li2_node_energies(last_W, 6, rows, models::Activation::Square);
  ASSERT_EQ(lines[1]["li2"]["energy_nodes"].size(), 6u);
  for (size_t j = 0; j < 6; ++j) EXPECT_DOUBLE_EQ(lines[1]["li2"]["energy_nodes"][j].get<double>(), e[j]);
  EXPECT_EQ(lines[1]["li2"]["fourier"]["dominant"].size(), 6u);
  const json& rep = lines[1]["representation"];
  ASSERT_EQ(rep["layers"].size(), 2u);  // hidden, logits
  EXPECT_EQ(rep["layers"][0]["name"], "hidden");
  EXPECT_EQ(rep["layers"][0]["dim"], 6);
  // The representation pass's accuracy is the eval pass's (same weights, same rows).
  EXPECT_NEAR(rep["val_acc"].get<double>(), lines[1]["val_acc"].get<double>(), 1e-12);
  // f32 output buffers: the two sums round differently.
  EXPECT_NEAR(rep["margin_mean"].get<double>(), lines[1]["val_margin"].get<double>(),
              1e-5 * (1 + std::abs(lines[1]["val_margin"].get<double>())));
  EXPECT_EQ(rep["noise"].size(), kEmbeddingNoiseSigmas.size());
  std::filesystem::remove_all(o.out_dir);
}

TEST(MetricsSpec, Li2MetricsNeedTheTwoLayerNetAndKnownNames) {
  json spec = {{"model", {{"kind", "transformer"}}}, {"train", {{"metrics", {"representation", "li2"}}}}};
  try {
    parse_spec(spec, "s");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/train/metrics/1"), std::string::npos) << e.what();
  }
  json bad = {{"train", {{"metrics", {"energy"}}}}};
  EXPECT_THROW(parse_spec(bad, "s"), Error);
}

// The representation report over the shipped sweep's 9 points (3 optimizers x
// 3 seeds), from hand-made results: means ± sd per optimizer and Welch's
// t-test per pair. Expected t and p from SciPy 1.17.1 (ttest_ind with
// equal_var=False; the run is in the comments), not from grokjit.
TEST(ExperimentReport, RepresentationAveragesSeedsAndTestsOptimizerPairs) {
  Sweep sweep = load_sweep("specs/sweeps/representation.json");
  ASSERT_EQ(sweep.points.size(), 9u);
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("grokjit_representation_report_" + std::to_string(::getpid()));
  std::filesystem::remove_all(out);
  const std::map<std::string, std::vector<double>> margin = {{"adamw", {1.0, 1.5, 2.0}}, {"muon", {3.0, 3.5, 4.5}}, {"sgd", {1, 1, 1}}};
  const std::map<std::string, std::vector<double>> erank = {{"adamw", {10, 12, 13}}, {"muon", {15, 15.5, 19}}, {"sgd", {5, 5, 6}}};
  for (const SweepPoint& p : sweep.points) {
    const std::string opt = p.point["opt"].get<std::string>();
    const size_t seed = p.point["train.seed"].get<size_t>();
    const std::filesystem::path dir = out / p.id;
    std::filesystem::create_directories(dir);
    json layer_block = {{"name", "block.0"}, {"dim", 64}, {"probe_acc", 0.5}, {"erank_energy", 3.0}, {"erank_nuclear", 9.0}};
    json layer_logits = {{"name", "logits"}, {"dim", 49}, {"probe_acc", 0.9}, {"erank_energy", erank.at(opt)[seed]}, {"erank_nuclear", 30.0}};
    json rep = {{"val_acc", 0.75},
                {"margin_mean", margin.at(opt)[seed]},
                {"margin_normalized_mean", 0.25},
                {"layers", {layer_block, layer_logits}},
                {"noise", {{{"sigma", 0.1}, {"val_acc", 0.5}}, {{"sigma", 1.0}, {"val_acc", 0.125}}}}};
    std::ofstream(dir / "metrics.jsonl") << json{{"epoch", 150}, {"representation", rep}}.dump() << "\n";
    json summary = {{"steps", 600}, {"grokking_epoch", opt == "sgd" ? json(nullptr) : json(50)}, {"config", p.config_json}};
    append_result_line((out / "results.jsonl").string(), {{"id", p.id}, {"out_dir", dir.string()}, {"summary", summary}});
  }
  const std::string path = write_experiment_report(find_experiment("representation"), sweep, out.string());
  std::ifstream in(path);
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // optimizer, runs, grokked, val acc, margin (mean ± sd), margin / |z|, erank of the last layer, its probe, noise.
  EXPECT_NE(md.find("| adamw | 3 | 3 | 0.750 ± 0.000 | 1.5 ± 0.5 | 0.25 ± 0 | 11.67 ± 1.53 | 0.900 ± 0.000 | 0.500 ± 0.000 | 0.125 ± 0.000 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| sgd | 3 | 0 |"), std::string::npos) << md;
  // ttest_ind([1.0, 1.5, 2.0], [3.0, 3.5, 4.5], equal_var=False): t = -4.110960958218893, p = 0.01985511752363487
  EXPECT_NE(md.find("| margin | adamw vs muon | 1.5 vs 3.667 | -4.11 | 0.0199 |"), std::string::npos) << md;
  // ttest_ind([10, 12, 13], [15, 15.5, 19], equal_var=False): t = -3.145491638370515, p = 0.040342371317677324
  EXPECT_NE(md.find("| erank logits (energy) | adamw vs muon | 11.67 vs 16.5 | -3.15 | 0.0403 |"), std::string::npos) << md;
  // Constant margins (sgd) leave the test undefined; the row says why instead of printing a number.
  EXPECT_NE(md.find("| margin / ‖z‖ | adamw vs muon | 0.25 vs 0.25 | – |"), std::string::npos) << md;
  for (const char* stem : {"representation-probe", "representation-erank", "representation-noise"})
    EXPECT_TRUE(std::filesystem::exists(out / "plots" / (std::string(stem) + ".dat"))) << stem;
  std::filesystem::remove_all(out);
}

// ---- grokjit experiment: plan errors, refusals and hints

int run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "grokjit");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli::run_main(static_cast<int>(argv.size()), argv.data());
}

// A fresh directory under the temp folder, removed at the end of the test.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("grokjit_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_directory()) {
      files[e.path().string() + "/"] = "";
      continue;
    }
    std::ifstream in(e.path());
    files[e.path().string()] = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return files;
}

// The message of the Error `fn` throws, checked to have `code`; "" when none.
template <class Fn>
std::string error_of(Fn fn, ExitCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  return "";
}

TEST(StabilityPlan, ErrorsNameTheFilePathAndValue) {
  TempDir dir("stable_plan");
  std::ifstream base_file("specs/twolayer-z97.json");
  const json base = json::parse(base_file);
  const json good = {{"base", base},
                     {"optimizers", {{{"label", "sgd"}, {"set", {{"optimizer.kind", "sgd"}}}},
                                     {{"label", "muon"}, {"set", {{"optimizer.kind", "muon"}}}}}},
                     {"lrs", {0.1, 0.01}},
                     {"shared_lrs", {0.01}}};
  const std::string file = (dir.path / "plan.json").string();
  auto load_error = [&](const json& plan) {
    std::ofstream(file) << plan.dump();
    return error_of([&] { load_stability_plan(file); }, ExitCode::Usage);
  };
  EXPECT_EQ(load_error(good), "");
  auto with = [&](const std::string& key, const json& value) {
    json p = good;
    p[key] = value;
    return load_error(p);
  };
  EXPECT_EQ(with("steps", 0), file + ": /steps: expected a whole number >= 1, got 0");
  EXPECT_EQ(with("accuracy_steps", 2.5), file + ": /accuracy_steps: expected a whole number >= 1, got 2.5");
  EXPECT_EQ(with("blowup", 1), file + ": /blowup: expected a number > 1.0, got 1");
  EXPECT_EQ(with("fd_eps", "x"), file + ": /fd_eps: expected a number > 0.0, got \"x\"");
  EXPECT_EQ(with("out", 3), file + ": /out: expected a non-empty string, got 3");
  // Repeats would run twice and print duplicate report rows.
  EXPECT_EQ(with("lrs", {0.01, 0.1, 0.01}), file + ": /lrs/2: 0.01 is already /lrs/0; give each rate once");
  EXPECT_EQ(with("shared_lrs", {0.2, 0.2}), file + ": /shared_lrs/1: 0.2 is already /shared_lrs/0; give each rate once");
  EXPECT_EQ(with("lrs", {0.01, -1}), file + ": /lrs/1: expected a positive number, got -1");
  json twice = good;
  twice["optimizers"][1]["label"] = "sgd";
  EXPECT_EQ(load_error(twice), file + ": /optimizers/1/label: 'sgd' is already the label of /optimizers/0; give each "
                                      "optimizer its own");
  json slash = good;
  slash["optimizers"][0]["label"] = "a/b";
  EXPECT_NE(load_error(slash).find("/optimizers/0/label: 'a/b': use letters, digits"), std::string::npos);
}

// A second stable-lr run into the same --out would replace the first one's
// runs.jsonl and report.md: refused (exit 2, nothing changed) unless --overwrite.
TEST(StabilityRun, RefusesToReplaceEarlierResultsWithoutOverwrite) {
  TempDir dir("stable_out");
  std::ofstream(dir.path / "runs.jsonl") << "{\"kind\": \"search\"}\n";
  std::ofstream(dir.path / "report.md") << "# stable-lr\n";
  std::filesystem::create_directories(dir.path / "plots");
  std::ofstream(dir.path / "plots" / "stable-lr-loss-sgd.dat") << "1 2\n";
  const auto before = snapshot(dir.path);
  EXPECT_EQ(run_cli({"experiment", "stable-lr", "--out", dir.path.string(), "--backend", "cpu"}), 2);
  EXPECT_EQ(snapshot(dir.path), before);
  EXPECT_EQ(error_of([&] { prepare_stability_out(dir.path.string(), false); }, ExitCode::Usage),
            dir.path.string() + " already holds a stable-lr run (runs.jsonl, report.md): --overwrite replaces it, or "
                                "give another --out");
  EXPECT_EQ(snapshot(dir.path), before);
  prepare_stability_out(dir.path.string(), true);
  EXPECT_FALSE(std::filesystem::exists(dir.path / "runs.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir.path / "report.md"));
  prepare_stability_out(dir.path.string(), false);  // nothing left to replace
  // --overwrite means nothing to a sweep experiment, which resumes.
  EXPECT_EQ(run_cli({"experiment", "li2-wd", "--report-only", "--overwrite", "--out", dir.path.string()}), 2);
}

// Restores the working directory when the test ends.
struct InDirectory {
  explicit InDirectory(const std::filesystem::path& dir) : previous(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InDirectory() { std::filesystem::current_path(previous); }
  std::filesystem::path previous;
};

// The default sweeps are relative to the repository root: from elsewhere the
// error says so; a report of a sweep without a single result is an error
// (as `grokjit report` without rows), not an empty report.
TEST(ExperimentCommand, MissingDefaultSweepHintsAndEmptyResultsAreErrors) {
  TempDir dir("experiment_cmd");
  cli::ExperimentArgs args;
  args.name = "li2-wd";
  args.report_only = true;
  args.sweep.out = (dir.path / "out").string();
  {
    InDirectory elsewhere(dir.path);
    const std::string e = error_of([&] { cli::run_experiment(args); }, ExitCode::Io);
    EXPECT_NE(e.find("cannot read sweep 'specs/sweeps/li2-wd.json' (the experiment's default, relative to the current "
                     "directory "),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("): run from the repository root, or give --sweep PATH"), std::string::npos) << e;
    args.name = "stable-lr";
    args.report_only = false;
    EXPECT_NE(error_of([&] { cli::run_experiment(args); }, ExitCode::Io)
                  .find("cannot read stable-lr plan 'specs/experiments/stable-lr.json' (the experiment's default"),
              std::string::npos);
  }
  args.name = "li2-wd";
  args.report_only = true;
  const std::string e = error_of([&] { cli::run_experiment(args); }, ExitCode::Usage);
  EXPECT_NE(e.find("no results rows for the 6 points of sweep 'specs/sweeps/li2-wd.json' in " + args.sweep.out),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("run `grokjit experiment li2-wd` without --report-only first"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "out" / "report.md"));
  EXPECT_EQ(run_cli({"experiment", "li2-wd", "--report-only", "--out", args.sweep.out}), 2);
  // Only rows that are not rows: the error says why they were skipped (they looked "missing").
  std::filesystem::create_directories(args.sweep.out);
  std::ofstream(dir.path / "out" / "results.jsonl") << R"({"id": "x", "summary": {"grokking_epoch": 3}})" << "\n";
  const std::string skipped = error_of([&] { cli::run_experiment(args); }, ExitCode::Usage);
  EXPECT_NE(skipped.find("1 line(s) were skipped, the first: " + args.sweep.out + "/results.jsonl:1: ignoring a line "
                         "that is not a complete results row (no \"summary.config\""),
            std::string::npos)
      << skipped;
}

}  // namespace
}  // namespace grokjit::runtime
