// Packed training (runtime/trainer.h, train_pack): runs that differ only in
// their seeds, trained as one program, write what each run writes alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "runtime/spec.h"
#include "runtime/trainer.h"
#include "trainer_test_util.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using trainer_testing::metric_lines;
using trainer_testing::quiet_options;

fs::path fresh_dir(const std::string& name) { return trainer_testing::fresh_dir("pack_test", name); }

// add mod 7 (49 rows, 34 train): 3 batches of 16 per epoch, the last padded; dropout on.
RunConfig tiny_config(uint64_t seed, uint64_t split_seed = 0) {
  json spec = {
      {"name", "tiny" + std::to_string(seed)},
      {"task", {{"kind", "add"}, {"p", 7}, {"train_fraction", 0.7}, {"split_seed", split_seed}}},
      {"model", {{"transformer", {{"depth", 1}, {"d_model", 8}, {"heads", 2}, {"dropout", 0.1}}}}},
      {"optimizer", {{"kind", "adamw"}, {"adam", {{"lr", 1e-2}}}}},
      {"train", {{"batch_size", 16}, {"max_epochs", 4}, {"seed", seed}, {"checkpoint_every", 0}}}};
  return parse_spec(spec, "tiny");
}

// summary.json without wall-clock fields and the pack's own field.
json summary_of(const fs::path& dir) {
  json s = json::parse(std::ifstream(dir / "summary.json"));
  for (const char* key : {"wall_seconds", "step_ms_median", "compile_seconds", "kernels_per_step", "eval_kernels", "pack"})
    s.erase(key);
  s["final"].erase("step_ms");
  s["final"].erase("epoch_s");
  return s;
}

struct Trained {
  std::vector<fs::path> alone, packed;
};

// Each config alone, then all of them as one pack.
Trained train_both_ways(const std::vector<RunConfig>& configs, Device& device, const std::string& name) {
  Trained t;
  std::vector<TrainOptions> options;
  for (size_t i = 0; i < configs.size(); ++i) {
    t.alone.push_back(fresh_dir(name + "_alone" + std::to_string(i)));
    train(configs[i], device, quiet_options(t.alone.back()));
    t.packed.push_back(fresh_dir(name + "_packed" + std::to_string(i)));
    options.push_back(quiet_options(t.packed.back()));
  }
  std::vector<TrainSummary> summaries = train_pack(configs, device, options);
  EXPECT_EQ(summaries.size(), configs.size());
  for (size_t i = 0; i < summaries.size(); ++i) {
    EXPECT_EQ(summaries[i].pack_runs, static_cast<int64_t>(configs.size()));
    EXPECT_EQ(summaries[i].pack_slot, static_cast<int64_t>(i));
    json pack = json::parse(std::ifstream(t.packed[i] / "summary.json"))["pack"];
    EXPECT_EQ(pack["runs"], configs.size());
    EXPECT_EQ(pack["slot"], i);
  }
  return t;
}

void remove_all(const Trained& t) {
  for (const auto* dirs : {&t.alone, &t.packed})
    for (const fs::path& d : *dirs) fs::remove_all(d);
}

// On the float64 reference device a pack computes exactly what each run
// computes alone (ir::pack_runs keeps every summation order), so the files
// agree bit for bit: init, split, batch order and dropout are each run's own.
TEST(PackedTraining, ReferenceDeviceWritesBitwiseTheFilesOfEachRunAlone) {
  auto device = make_reference_device();
  std::vector<RunConfig> configs{tiny_config(3), tiny_config(5), tiny_config(11, 4)};
  Trained t = train_both_ways(configs, *device, "ref");
  for (size_t i = 0; i < configs.size(); ++i) {
    std::vector<json> alone = metric_lines(t.alone[i]), packed = metric_lines(t.packed[i]);
    ASSERT_EQ(alone.size(), 4u);
    ASSERT_EQ(packed.size(), alone.size());
    for (size_t e = 0; e < alone.size(); ++e) EXPECT_EQ(packed[e].dump(), alone[e].dump()) << "run " << i << " epoch " << e + 1;
    EXPECT_EQ(summary_of(t.packed[i]).dump(), summary_of(t.alone[i]).dump()) << "run " << i;
    EXPECT_FALSE(fs::exists(t.packed[i] / "checkpoint.safetensors"));
  }
  // The runs really differ from each other.
  EXPECT_NE(metric_lines(t.alone[0])[0]["train_loss"], metric_lines(t.alone[1])[0]["train_loss"]);
  remove_all(t);
}

// A validation accuracy the tiny runs below reach at different epochs (or never).
constexpr double kEarlyStopValAcc = 0.1;

// Runs stop at different epochs (grok threshold reached earlier by some, then
// stop_after_grok = 0): each keeps exactly the lines and summary of its run alone.
TEST(PackedTraining, RunsThatStopEarlyFreezeTheirFiles) {
  auto device = make_reference_device();
  std::vector<RunConfig> configs;
  for (uint64_t seed : {1, 3, 4}) {  // val_acc >= 0.1 first at epochs 1, never (8: the cap), 3
    RunConfig c = tiny_config(seed);
    c.train.max_epochs = 8;
    c.train.memorize_threshold = 0.0;
    c.train.grok_threshold = kEarlyStopValAcc;
    c.train.stop_after_grok = 0;
    configs.push_back(c);
  }
  Trained t = train_both_ways(configs, *device, "early");
  std::set<size_t> lengths;
  for (size_t i = 0; i < configs.size(); ++i) {
    std::vector<json> alone = metric_lines(t.alone[i]), packed = metric_lines(t.packed[i]);
    lengths.insert(alone.size());
    ASSERT_EQ(packed.size(), alone.size()) << "run " << i;
    for (size_t e = 0; e < alone.size(); ++e) EXPECT_EQ(packed[e].dump(), alone[e].dump()) << "run " << i << " epoch " << e + 1;
    EXPECT_EQ(summary_of(t.packed[i]).dump(), summary_of(t.alone[i]).dump()) << "run " << i;
  }
  EXPECT_EQ(lengths, (std::set<size_t>{1, 3, 8})) << "the runs should stop at different epochs for this test to mean something";
  remove_all(t);
}

// On the CPU the packed kernels have other shapes (a leading run axis), which
// may change how a sum is split into vector lanes and chunks; a few epochs
// agree to float32 rounding (loss and accuracy figures to 1e-4).
TEST(PackedTraining, CpuPackMatchesRunsAlone) {
  auto device = make_cpu_device(2);
  std::vector<RunConfig> configs{tiny_config(3), tiny_config(7)};
  Trained t = train_both_ways(configs, *device, "cpu");
  for (size_t i = 0; i < configs.size(); ++i) {
    std::vector<json> alone = metric_lines(t.alone[i]), packed = metric_lines(t.packed[i]);
    ASSERT_EQ(packed.size(), alone.size());
    for (size_t e = 0; e < alone.size(); ++e)
      for (const char* key : {"train_loss", "train_acc", "val_loss", "val_acc", "train_loss_running", "val_margin"})
        EXPECT_NEAR(packed[e][key].get<double>(), alone[e][key].get<double>(), 1e-4)
            << key << " of run " << i << ", epoch " << e + 1;
  }
  remove_all(t);
}

// "at epoch E, step S" of a divergence message.
std::string where_it_diverged(const std::string& message) {
  const size_t at = message.find(" at epoch ");
  return at == std::string::npos ? message : message.substr(at, message.find(';', at) - at);
}

// Each run of a pack diverges where it diverges alone, and writes no summary.
TEST(PackedTraining, ARunThatDivergesIsLeftOutAtItsOwnStep) {
  auto device = make_reference_device();
  std::vector<RunConfig> configs;
  std::vector<TrainOptions> options;
  std::vector<std::string> alone;
  for (uint64_t seed : {3, 8}) {
    RunConfig c = tiny_config(seed);
    c.optimizer.adam.lr = 1e30;  // overflows to Inf/NaN within a few steps
    c.optimizer.adam.eps = 0;
    c.optimizer.adam.weight_decay = 0;
    configs.push_back(c);
    fs::path dir = fresh_dir("diverge_alone" + std::to_string(seed));
    try {
      train(c, *device, quiet_options(dir));
      ADD_FAILURE() << "expected seed " << seed << " to diverge";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Diverged);
      alone.push_back(e.what());
    }
    fs::remove_all(dir);
    options.push_back(quiet_options(fresh_dir("diverge_packed" + std::to_string(seed))));
  }
  std::vector<TrainSummary> packed = train_pack(configs, *device, options);
  ASSERT_EQ(alone.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NE(packed[i].divergence.find("loss became"), std::string::npos) << packed[i].divergence;
    EXPECT_EQ(where_it_diverged(packed[i].divergence), where_it_diverged(alone[i]));
    EXPECT_FALSE(fs::exists(fs::path(options[i].out_dir) / "summary.json"));
    fs::remove_all(options[i].out_dir);
  }
}

TEST(PackedTraining, ConfigsThatDifferBeyondTheSeedAreRefused) {
  RunConfig a = tiny_config(1), b = tiny_config(2);
  EXPECT_EQ(pack_mismatch(a, b), "");
  b.optimizer.adam.lr = 3e-3;
  EXPECT_NE(pack_mismatch(a, b).find("/optimizer/adam/lr"), std::string::npos) << pack_mismatch(a, b);
  auto device = make_reference_device();
  fs::path d0 = fresh_dir("refused0"), d1 = fresh_dir("refused1");
  try {
    train_pack({a, b}, *device, {quiet_options(d0), quiet_options(d1)});
    ADD_FAILURE() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("cannot be packed"), std::string::npos) << e.what();
  }
  TrainOptions resume = quiet_options(d1);
  resume.resume = true;
  try {
    train_pack({a, tiny_config(2)}, *device, {quiet_options(d0), resume});
    ADD_FAILURE() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("no checkpoints"), std::string::npos) << e.what();
  }
  fs::remove_all(d0);
  fs::remove_all(d1);
}

}  // namespace
}  // namespace grokjit::runtime
