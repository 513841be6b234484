// The training loop on the float64 reference device with a tiny model:
// resume equals uninterrupted, NaN stops the run and keeps the checkpoint,
// bad checkpoints are rejected by name, padded batches are weighted right.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ir/error.h"
#include "runtime/files.h"
#include "runtime/safetensors.h"
#include "runtime/spec.h"
#include "runtime/trainer.h"
#include "trainer_test_util.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using trainer_testing::metric_lines;
using trainer_testing::quiet_options;

fs::path fresh_dir(const std::string& name) { return trainer_testing::fresh_dir("trainer_test", name); }

// add mod 7 (49 rows, 34 train): 3 batches of 16 per epoch, the last padded.
RunConfig tiny_config(const std::string& optimizer = "adamw", double lr = 1e-2) {
  json spec = {
      {"name", "tiny"},
      {"task", {{"kind", "add"}, {"p", 7}, {"train_fraction", 0.7}}},
      {"model", {{"transformer", {{"depth", 1}, {"d_model", 8}, {"heads", 2}, {"dropout", 0.1}}}}},
      {"optimizer", {{"kind", optimizer}}},
      {"train", {{"batch_size", 16}, {"max_epochs", 4}, {"seed", 3}, {"checkpoint_every", 0}}}};
  if (optimizer == "adamw") spec["optimizer"]["adam"] = {{"lr", lr}};
  if (optimizer == "muon") spec["optimizer"]["muon"] = {{"lr", lr}};
  return parse_spec(spec, "tiny");
}

// The same epochs with bitwise the same figures (wall-clock fields aside).
void expect_same_metrics(const fs::path& expected_dir, const fs::path& actual_dir, size_t epochs) {
  std::vector<json> a = metric_lines(expected_dir), b = metric_lines(actual_dir);
  ASSERT_EQ(a.size(), epochs);
  ASSERT_EQ(b.size(), epochs);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].dump(), b[i].dump()) << "epoch " << i + 1;
}

// Runs `run`, expecting a grokjit::Error with `code` whose message contains `needle`.
template <typename F>
void expect_error(F&& run, ExitCode code, const std::string& needle) {
  try {
    run();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

class TrainerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainerTest, ResumedRunEqualsUninterruptedRun) {
  RunConfig config = tiny_config(GetParam(), GetParam() == "muon" ? 0.02 : 1e-2);
  auto device = make_reference_device();

  fs::path full = fresh_dir("full_" + GetParam());
  train(config, *device, quiet_options(full));

  fs::path split = fresh_dir("split_" + GetParam());
  TrainOptions first = quiet_options(split);
  first.after_epoch = [](int64_t epoch) { return epoch < 2; };
  TrainSummary s1 = train(config, *device, first);
  EXPECT_TRUE(s1.interrupted);
  EXPECT_EQ(s1.epochs_run, 2);
  TrainOptions second = quiet_options(split);
  second.resume = true;
  TrainSummary s2 = train(config, *device, second);
  EXPECT_FALSE(s2.interrupted);

  expect_same_metrics(full, split, 4);
  fs::remove_all(full);
  fs::remove_all(split);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainerTest, ::testing::Values("adamw", "muon"));

// A run stopped right after its last epoch has nothing left to run when
// resumed; its summary must still report that last epoch, not zeros.
TEST(Trainer, ResumingAFinishedRunKeepsItsFinalMetrics) {
  RunConfig config = tiny_config();
  auto device = make_reference_device();
  fs::path dir = fresh_dir("resume_finished");
  TrainOptions first = quiet_options(dir);
  first.after_epoch = [](int64_t epoch) { return epoch < 4; };  // stop after the last epoch (4)
  TrainSummary s1 = train(config, *device, first);
  ASSERT_EQ(s1.epochs_run, 4);
  const json before = json::parse(std::ifstream(dir / "summary.json"));
  TrainOptions second = quiet_options(dir);
  second.resume = true;
  TrainSummary s2 = train(config, *device, second);
  EXPECT_EQ(s2.epochs_run, 4);
  EXPECT_EQ(s2.steps, s1.steps);
  const json after = json::parse(std::ifstream(dir / "summary.json"));
  EXPECT_EQ(after["final"]["epoch"], 4);
  EXPECT_EQ(after["final"]["val_acc"], before["final"]["val_acc"]);
  EXPECT_EQ(after["final"]["train_loss"], before["final"]["train_loss"]);
  EXPECT_GT(after["final"]["train_loss"].get<double>(), 0.0);
  fs::remove_all(dir);
}

TEST(Trainer, WritesSummaryWithCriterionAndConfig) {
  fs::path dir = fresh_dir("summary");
  auto device = make_reference_device();
  TrainSummary s = train(tiny_config(), *device, quiet_options(dir));
  EXPECT_EQ(s.epochs_run, 4);
  EXPECT_EQ(s.steps, 4 * 3);  // ceil(34 / 16) = 3 steps per epoch
  json summary = json::parse(std::ifstream(dir / "summary.json"));
  EXPECT_EQ(summary["criterion"]["train_acc_source"], "eval");
  EXPECT_EQ(summary["train_rows"], 34);
  EXPECT_EQ(summary["val_rows"], 15);
  EXPECT_EQ(summary["config"]["task"]["p"], 7);
  EXPECT_TRUE(fs::exists(dir / "checkpoint.safetensors"));
  fs::remove_all(dir);
}

TEST(Trainer, SigintSavesACheckpointAndResumeContinuesExactly) {
  RunConfig config = tiny_config();
  auto device = make_reference_device();
  fs::path full = fresh_dir("sigint_full");
  train(config, *device, quiet_options(full));

  fs::path dir = fresh_dir("sigint");
  TrainOptions first = quiet_options(dir);
  first.after_epoch = [](int64_t epoch) {
    if (epoch == 1) std::raise(SIGINT);  // handled by the trainer: finish, save, return
    return true;
  };
  TrainSummary s1 = train(config, *device, first);
  EXPECT_TRUE(s1.interrupted);
  EXPECT_EQ(s1.epochs_run, 1);
  TrainOptions second = quiet_options(dir);
  second.resume = true;
  train(config, *device, second);
  expect_same_metrics(full, dir, 4);
  fs::remove_all(full);
  fs::remove_all(dir);
}

TEST(Trainer, EvalEveryEvaluatesOnlyThoseEpochsAndTheLast) {
  fs::path dir = fresh_dir("evalevery");
  auto device = make_reference_device();
  RunConfig config = tiny_config();
  config.train.max_epochs = 5;
  config.train.eval_every = 2;
  TrainSummary s = train(config, *device, quiet_options(dir));
  std::vector<int64_t> epochs;
  for (const json& line : metric_lines(dir)) epochs.push_back(line["epoch"].get<int64_t>());
  EXPECT_EQ(epochs, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_EQ(s.epochs_run, 5);
  EXPECT_EQ(s.steps, 5 * 3);
  fs::remove_all(dir);
}

// A finished one-epoch run of tiny_config() in a fresh directory, on the
// reference device.
struct OneEpochRun {
  fs::path dir;
  std::unique_ptr<Device> device = make_reference_device();
  RunConfig config = tiny_config();
  explicit OneEpochRun(const std::string& name) : dir(fresh_dir(name)) {
    config.train.max_epochs = 1;
    train(config, *device, quiet_options(dir));
  }
};

TEST(Trainer, NanLossStopsWithDivergedAndKeepsLastCheckpoint) {
  OneEpochRun run("nan");
  const fs::path& dir = run.dir;
  auto& device = run.device;
  std::ifstream before_in(dir / "checkpoint.safetensors", std::ios::binary);
  std::string before((std::istreambuf_iterator<char>(before_in)), {});

  RunConfig bad = tiny_config("adamw", 1e30);  // overflows to Inf/NaN within a few steps
  bad.optimizer.adam.eps = 0;
  bad.optimizer.adam.weight_decay = 0;
  try {
    train(bad, *device, quiet_options(dir));
    FAIL() << "expected a Diverged error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Diverged);
    const std::string what = e.what();
    EXPECT_TRUE(what.find("loss became NaN") != std::string::npos || what.find("loss became Inf") != std::string::npos)
        << what;
  }
  std::ifstream after_in(dir / "checkpoint.safetensors", std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(after_in)), {});
  EXPECT_EQ(before, after) << "the last good checkpoint must survive";
  fs::remove_all(dir);
}

TEST(Trainer, ResumeFromCorruptCheckpointNamesTheFile) {
  OneEpochRun run("corrupt");
  const fs::path& dir = run.dir;
  auto& device = run.device;
  const RunConfig& config = run.config;
  fs::resize_file(dir / "checkpoint.safetensors", fs::file_size(dir / "checkpoint.safetensors") / 2);
  TrainOptions o = quiet_options(dir);
  o.resume = true;
  expect_error([&] { train(config, *device, o); }, ExitCode::Io, "checkpoint.safetensors");
  fs::remove_all(dir);
}

// A checkpoint changed after it was written: a flipped tensor byte fails its
// checksum, an edited position is not one the run reaches; one written
// before checksums existed still resumes.
TEST(Trainer, ResumeChecksTheCheckpointsBytesAndPosition) {
  OneEpochRun run("tampered");
  const fs::path& dir = run.dir;
  auto& device = run.device;
  const RunConfig& config = run.config;
  const std::string file = (dir / "checkpoint.safetensors").string();
  const SafetensorsContents written = load_safetensors(file);
  ASSERT_TRUE(written.metadata.count("grokjit.checksum"));
  TrainOptions o = quiet_options(dir);
  o.resume = true;
  RunConfig more = config;
  more.train.max_epochs = 2;
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-50, std::ios::end);
    char byte = 0;
    f.read(&byte, 1);
    f.seekp(-50, std::ios::end);
    byte = static_cast<char>(byte ^ 0x40);
    f.write(&byte, 1);
  }
  expect_error([&] { train(more, *device, o); }, ExitCode::Io, "do not match the checksum written with them");
  auto rewrite = [&](const std::function<void(std::map<std::string, std::string>&)>& edit) {
    std::map<std::string, std::string> metadata = written.metadata;
    edit(metadata);
    save_safetensors(file, written.tensors, metadata);
  };
  rewrite([](auto& m) {
    json pos = json::parse(m["grokjit.position"]);
    pos["next_batch"] = 999;
    m["grokjit.position"] = pos.dump();
  });
  expect_error([&] { train(more, *device, o); }, ExitCode::Io, "next batch 999, step ");
  // The checksum covers the tensors, not the metadata: an edited config is a damaged file, not another config.
  for (const char* config : {"{not json", "{}"}) {
    rewrite([&](auto& m) { m["grokjit.config"] = config; });
    expect_error([&] { train(more, *device, o); }, ExitCode::Io, "metadata 'grokjit.config' is not a run config");
  }
  rewrite([](auto& m) { m.erase("grokjit.checksum"); });
  EXPECT_EQ(train(more, *device, o).epochs_run, 2);
  fs::remove_all(dir);
}

TEST(Trainer, ResumeWithADifferentConfigIsRefused) {
  OneEpochRun run("otherconfig");
  const fs::path& dir = run.dir;
  auto& device = run.device;
  const RunConfig& config = run.config;
  RunConfig other = config;
  other.optimizer.adam.lr = 0.5;
  TrainOptions o = quiet_options(dir);
  o.resume = true;
  expect_error([&] { train(other, *device, o); }, ExitCode::Usage, "different config (/optimizer/adam/lr: ");
  // Another model size: the config is named, not a tensor shape (exit 3 would call the file corrupt).
  other = config;
  other.model.transformer.d_model *= 2;
  expect_error([&] { train(other, *device, o); }, ExitCode::Usage, "different config (/model/transformer/d_model: ");
  fs::remove_all(dir);
}

// A run that finished (its summary says so) has nothing to resume: the
// resume is refused and its files stay as they were, until a higher cap
// gives it epochs to run.
TEST(Trainer, ResumingARunThatFinishedChangesNothingUntilItsCapIsRaised) {
  RunConfig config = tiny_config();
  auto device = make_reference_device();
  fs::path dir = fresh_dir("resume_done");
  train(config, *device, quiet_options(dir));
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "not a metrics line\n";  // the refusal must not tidy it
  auto bytes = [&](const char* file) {
    std::ifstream in(dir / file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  const std::string summary = bytes("summary.json"), metrics = bytes("metrics.jsonl");
  TrainOptions o = quiet_options(dir);
  o.resume = true;
  for (int64_t cap : {4, 2}) {
    RunConfig same = config;
    same.train.max_epochs = cap;
    expect_error([&] { train(same, *device, o); }, ExitCode::Usage,
                 "is finished: its checkpoint is after epoch 4 and train.max_epochs is " + std::to_string(cap));
  }
  EXPECT_EQ(bytes("summary.json"), summary);
  EXPECT_EQ(bytes("metrics.jsonl"), metrics);
  RunConfig more = config;
  more.train.max_epochs = 5;
  EXPECT_EQ(train(more, *device, o).epochs_run, 5);
  EXPECT_EQ(metric_lines(dir).size(), 5u);  // the unreadable line dropped once the run goes on
  fs::remove_all(dir);
}

// Metrics lost before a resume (a deleted or cut metrics.jsonl) are said
// on stderr; the run goes on and appends after what is left.
TEST(Trainer, ResumeSaysWhenTheMetricsHistoryHasAGap) {
  RunConfig config = tiny_config();
  config.train.max_epochs = 2;
  auto device = make_reference_device();
  fs::path dir = fresh_dir("resume_gap");
  train(config, *device, quiet_options(dir));
  std::vector<json> lines = metric_lines(dir);
  ASSERT_EQ(lines.size(), 2u);
  std::ofstream(dir / "metrics.jsonl", std::ios::trunc) << lines[0].dump() << "\n{\"epoch\": 2, \"tr";  // cut short
  TrainOptions o = quiet_options(dir);
  o.resume = true;
  RunConfig more = config;
  more.train.max_epochs = 3;
  testing::internal::CaptureStderr();
  train(more, *device, o);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("metrics.jsonl ends at epoch 1, not at the checkpoint's 2 (1 unreadable line(s) dropped)"),
            std::string::npos)
      << err;
  lines = metric_lines(dir);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["epoch"], 1);
  EXPECT_EQ(lines[1]["epoch"], 3);
  fs::remove(dir / "metrics.jsonl");
  more.train.max_epochs = 4;
  testing::internal::CaptureStderr();
  train(more, *device, o);
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("metrics.jsonl is missing: the resumed run's metrics start at epoch 4"), std::string::npos) << err;
  fs::remove_all(dir);
}

// Two processes training into one directory would interleave their files:
// the second is refused while the first holds the directory's lock.
TEST(Trainer, ARunDirectoryHeldByAnotherProcessIsRefused) {
  RunConfig config = tiny_config();
  auto device = make_reference_device();
  fs::path dir = fresh_dir("locked");
  fs::create_directories(dir);
  // Another process's lock, as flock sees it: a second open file description.
  const int fd = ::open((dir / ".grokjit.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::pwrite(fd, "4242\n", 5, 0), 5);
  expect_error([&] { train(config, *device, quiet_options(dir)); }, ExitCode::Usage,
               "is in use by another grokjit process (pid 4242)");
  EXPECT_FALSE(fs::exists(dir / "metrics.jsonl"));
  ::close(fd);
  {
    DirectoryLock outer(dir.string());  // re-entrant within a process: train takes it again
    EXPECT_EQ(train(config, *device, quiet_options(dir)).epochs_run, 4);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace grokjit::runtime
