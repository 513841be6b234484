// The grokking training loop: one compiled train-step program and one eval
// program, replayed epoch after epoch, with metrics, checkpoints and resume.
//
// Output directory layout (all written atomically or appended line by line):
//   metrics.jsonl     one JSON object per evaluated epoch
//   summary.json      memorization and grokking epochs, the resolved config
//   checkpoint.safetensors  params + optimizer state + loop position
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/step_graph.h"
#include "runtime/train_config.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {

// Extra metrics per evaluated epoch: adds fields to that epoch's
// metrics.jsonl line; read_param(name) returns a parameter's current values.
using ParamReader = std::function<std::vector<float>(const std::string& name)>;
using EpochMetricsHook = std::function<void(int64_t epoch, const ParamReader& read_param, nlohmann::json& line)>;

struct TrainOptions {
  std::string out_dir = "runs/run";
  bool fusion = true;
  bool resume = false;       // continue from out_dir/checkpoint.safetensors
  bool progress = true;      // progress bar on a terminal, plain lines otherwise
  bool quiet = false;        // no per-epoch output at all
  // Called after each epoch's metrics line is written (tests stop runs early
  // through it to exercise resume). Return false to stop like SIGINT does.
  std::function<bool(int64_t epoch)> after_epoch;
  // Called after the metrics that train.metrics asks for (runtime/analysis_hooks.h).
  EpochMetricsHook epoch_metrics;
};

struct EpochMetrics {
  int64_t epoch = 0;          // counts from 1
  int64_t step = 0;           // optimizer steps so far
  double train_loss = 0, train_acc = 0;                  // eval mode over the training set
  double train_loss_running = 0, train_acc_running = 0;  // train mode, averaged over the epoch's batches
  double val_loss = 0, val_acc = 0;
  double softmax_collapse = 0;  // share of training rows whose softmax collapsed (REFERENCE.md s.6)
  double zero_loss = 0;         // share of training rows with loss exactly 0
  double val_margin = 0;        // mean logit margin on the validation set
  double step_ms_median = 0;
  double epoch_seconds = 0;
};

struct TrainSummary {
  std::optional<int64_t> memorization_epoch;  // first epoch with train acc >= memorize threshold
  std::optional<int64_t> grokking_epoch;      // first epoch >= memorization with val acc >= grok threshold
  bool censored = true;                       // never grokked within max_epochs
  bool interrupted = false;
  int64_t epochs_run = 0;
  int64_t steps = 0;
  EpochMetrics last;
  double wall_seconds = 0;
  double step_ms_median = 0;
  size_t train_kernels = 0, eval_kernels = 0;
  double compile_seconds = 0;
  int64_t pack_runs = 1, pack_slot = 0;  // trained in a pack of pack_runs runs, as run pack_slot
  std::string divergence;  // a run of a pack whose loss diverged: the message (no summary.json is written)
};

// The shapes the step graphs are built for: batch_size rows per step (0 =
// the whole training set, full batch), the dataset's token and label ranges.
DataShape data_shape(const RunConfig& config, const tasks::Dataset& data, const tasks::Split& split);

// Runs (or resumes) a training run. Throws grokjit::Error: ExitCode::Diverged
// on NaN/Inf loss (the last good checkpoint is kept), Io on a bad checkpoint.
TrainSummary train(const RunConfig& config, Device& device, const TrainOptions& options);

// Trains configs.size() runs that differ only in their seeds as one pack: one
// train-step and one eval program with a leading run axis (ir/pack_runs.h),
// stepping all runs in lockstep. Each run keeps its own init, split, batch
// order and dropout, and writes its own metrics.jsonl and summary.json into
// options[i].out_dir as train() would, plus a "pack" field {runs, slot} in
// the summary. A run that reaches its last epoch (max_epochs, or
// stop_after_grok) writes its summary then; the program goes on until every
// run is done. A run whose loss diverges is left out (its summary's
// `divergence` says why; it writes no summary.json). Packs write no
// checkpoints and cannot resume: an interrupted pack's unfinished runs get
// summaries with interrupted = true and are rerun from the start. Throws
// Error (Usage) if the configs cannot share a pack (pack_mismatch) or an
// option asks to resume.
std::vector<TrainSummary> train_pack(const std::vector<RunConfig>& configs, Device& device,
                                     const std::vector<TrainOptions>& options);

// Why run b cannot share a pack with run a ("" if it can): their configs must
// be equal but for name, train.seed and task.split_seed.
std::string pack_mismatch(const RunConfig& a, const RunConfig& b);

// The inputs of the step graphs (step_graph.h) that differ between the runs
// of a pack: every Param, State and Data input and the dropout "seed". The
// others ("step", "lr_scale", "inv_rows") are shared: the runs step in
// lockstep over splits of equal size.
bool per_run_step_input(const ir::Node& input);

}  // namespace grokjit::runtime
