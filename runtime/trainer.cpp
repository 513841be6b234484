// The training loop. Everything a run does is a function of (config, epoch,
// step): the batch order of epoch e comes from (seed, e), dropout from
// (seed, step), so a resumed run replays exactly what an uninterrupted one
// would have done. One loop serves a single run and a pack of runs that
// differ only in their seeds (ir/pack_runs.h).
#include "runtime/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "grokjit/source_commit.h"
#include "ir/error.h"
#include "ir/pack_runs.h"
#include "runtime/analysis_hooks.h"
#include "runtime/checkpoint.h"
#include "runtime/files.h"
#include "runtime/spec.h"
#include "runtime/step_graph.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// ---- SIGINT/SIGTERM: finish the current step, checkpoint, exit cleanly.
std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }

class StopSignalScope {
 public:
  StopSignalScope() {
    g_stop_requested.store(false);
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Buffers for one batch of data, shared by the train and eval programs. A
// pack of R runs holds R batches back to back (run s from row s * batch).
struct BatchBuffers {
  std::unique_ptr<Buffer> tokens, a, b, labels, row_mask;
  std::vector<int32_t> tokens_host, a_host, b_host, labels_host;
  std::vector<float> mask_host;
};

struct ScalarBuffers {
  std::unique_ptr<Buffer> inv_rows, seed, step, lr_scale;  // seed: one per run of a pack
};

// One float per run.
struct OutputBuffers {
  std::map<std::string, std::unique_ptr<Buffer>> by_name;
  std::vector<float> read(const std::string& name) const {
    const Buffer& b = *by_name.at(name);
    std::vector<float> v(b.bytes() / sizeof(float));
    b.read(v.data(), b.bytes());
    return v;
  }
};

template <typename T>
void write_scalar(Buffer& b, T v) { b.write(&v, sizeof v); }

// One run of a pack (the only one of an unpacked run): its config, output
// directory, data, running sums and summary.
struct Slot {
  const RunConfig* config = nullptr;
  const TrainOptions* options = nullptr;
  tasks::Split split;
  std::vector<int64_t> order;  // this epoch's training rows in batch order
  double running_loss = 0, running_correct = 0;  // sums over the epoch's batches so far
  TrainSummary summary;
  int64_t stop_epoch = 0;
  bool finished = false;  // ran its last epoch or diverged: its files are final
  EpochMetricsHook config_metrics;  // what train.metrics asks for; empty if nothing
  fs::path dir() const { return options->out_dir; }
};

// R runs of one shape replay one program (R = 1: the graphs as built; R > 1:
// packed, ir/pack_runs.h). The runs step in lockstep; a run that reaches its
// last epoch writes its files and is left out from then on, while the
// program goes on until every run is done.
class Run {
 public:
  Run(std::vector<Slot> slots, Device& device) : slots_(std::move(slots)), device_(device) {}

  std::vector<TrainSummary> execute();

 private:
  size_t runs() const { return slots_.size(); }
  bool packed() const { return runs() > 1; }
  const RunConfig& config() const { return *slots_[0].config; }  // all but the seeds is the same in a pack
  const TrainOptions& options() const { return *slots_[0].options; }
  bool active(const Slot& s) const { return !s.finished && epoch_ <= s.stop_epoch; }
  bool any_active() const;
  void prepare();
  void alloc_buffers(const DataShape& shape);
  void bind_all(Program& program, const ir::Graph& g, const OutputBuffers& outs);
  void fill_batch(const std::vector<const std::vector<int64_t>*>& rows, size_t begin, size_t count);
  void train_epoch(int64_t epoch);
  void diverged(Slot& s, float loss, int64_t epoch);
  struct EvalTotals { double loss = 0, correct = 0, collapse = 0, zero_loss = 0, margin = 0; };
  std::vector<EvalTotals> evaluate(bool training_rows);
  std::vector<EpochMetrics> finish_epoch(int64_t epoch, double epoch_seconds);
  void update_summary(Slot& s, const EpochMetrics& m);
  std::vector<float> read_param(size_t slot, const std::string& name) const;
  void write_metrics_line(size_t slot, const EpochMetrics& m);
  void write_summary(const Slot& s);
  void finalize(Slot& s);
  void save_checkpoint();
  void load_checkpoint();
  void refuse_to_rewrite_a_finished_run() const;
  void restore_metrics_history();
  void report_progress(const Slot& s, const EpochMetrics& m);
  bool is_two_layer() const { return config().model.kind == models::ModelKind::TwoLayer; }

  std::vector<Slot> slots_;
  Device& device_;
  std::vector<std::unique_ptr<DirectoryLock>> dir_locks_;  // one per slot's --out, held while training

  tasks::Dataset data_;
  int64_t batch_ = 0;
  StepGraphs graphs_;
  ir::Graph train_graph_, eval_graph_;  // graphs_.train and .eval, packed for R > 1
  std::unique_ptr<Program> train_, eval_;
  std::map<std::string, std::unique_ptr<Buffer>> persistent_;  // params + optimizer state
  BatchBuffers batch_buffers_;
  ScalarBuffers scalars_;
  OutputBuffers train_out_, eval_out_;

  // Loop position (what a checkpoint records besides the tensors and running sums).
  int64_t epoch_ = 1;             // the epoch in progress, from 1
  int64_t next_batch_ = 0;        // first batch of epoch_ not yet run
  int64_t step_ = 0;              // optimizer steps done
  std::vector<double> step_ms_;   // this epoch's step times
  std::vector<double> all_step_ms_;
  Clock::time_point start_;
  double elapsed_before_resume_ = 0;
};

bool Run::any_active() const {
  return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) { return active(s); });
}

void Run::prepare() {
  data_ = tasks::make_dataset(config().task);
  for (Slot& s : slots_) {
    s.split = tasks::make_split(s.config->task);
    if (s.split.train.empty() || s.split.val.empty())
      throw Error("task '" + data_.description + "' with train_fraction " +
                      std::to_string(tasks::resolved_train_fraction(s.config->task)) +
                      " leaves an empty training or validation set (at /task/train_fraction)", ExitCode::Usage);
    if (s.split.train.size() != slots_[0].split.train.size() || s.split.val.size() != slots_[0].split.val.size())
      throw Error("runs '" + config().name + "' and '" + s.config->name +
                      "' cannot be packed: their splits differ in size", ExitCode::Usage);
  }
  DataShape shape = data_shape(config(), data_, slots_[0].split);
  batch_ = shape.batch;
  graphs_ = build_step_graphs(config(), shape);
  const auto R = static_cast<int64_t>(runs());
  train_graph_ = packed() ? ir::pack_runs(graphs_.train, R, per_run_step_input) : graphs_.train;
  eval_graph_ = packed() ? ir::pack_runs(graphs_.eval, R, per_run_step_input) : graphs_.eval;
  CompileOptions copts;
  copts.fusion = options().fusion;
  copts.program_name = "train_step";
  train_ = device_.compile(train_graph_, copts);
  copts.program_name = "eval";
  eval_ = device_.compile(eval_graph_, copts);
  for (Slot& s : slots_) {
    s.summary.train_kernels = train_->stats().kernels;
    s.summary.eval_kernels = eval_->stats().kernels;
    s.summary.compile_seconds = train_->stats().compile_seconds + eval_->stats().compile_seconds;
    s.summary.pack_runs = R;
    s.summary.pack_slot = &s - slots_.data();
  }
  alloc_buffers(shape);
  bind_all(*train_, train_graph_, train_out_);
  bind_all(*eval_, eval_graph_, eval_out_);
  for (Slot& s : slots_) s.config_metrics = make_metrics_hook(*s.config, device_, data_, s.split, shape);
}

// Every buffer holds all runs back to back: run s's part starts at s * its size.
void Run::alloc_buffers(const DataShape& shape) {
  const size_t R = runs();
  std::vector<std::vector<std::vector<float>>> init;  // [run][param]: initialized params
  for (const Slot& s : slots_) init.push_back(models::init_params(graphs_.params, s.config->train.seed));
  for (size_t i = 0; i < graphs_.params.size(); ++i) {
    const size_t bytes = init[0][i].size() * sizeof(float);
    auto buf = device_.alloc(R * bytes);
    for (size_t s = 0; s < R; ++s) buf->write(init[s][i].data(), bytes, s * bytes);
    persistent_[graphs_.params[i].name] = std::move(buf);
  }
  for (const StateSpec& s : graphs_.state)  // zeroed optimizer state
    persistent_[s.name] = device_.alloc(R * static_cast<size_t>(ir::num_elements(s.shape)) * ir::dtype_size(s.dtype));

  auto& bb = batch_buffers_;
  const size_t rows = R * static_cast<size_t>(batch_);
  if (is_two_layer()) {
    bb.a = device_.alloc(rows * sizeof(int32_t));
    bb.b = device_.alloc(rows * sizeof(int32_t));
    bb.a_host.resize(rows);
    bb.b_host.resize(rows);
  } else {
    bb.tokens = device_.alloc(rows * static_cast<size_t>(shape.seq_len) * sizeof(int32_t));
    bb.tokens_host.resize(rows * static_cast<size_t>(shape.seq_len));
  }
  bb.labels = device_.alloc(rows * sizeof(int32_t));
  bb.row_mask = device_.alloc(rows * sizeof(float));
  bb.labels_host.resize(rows);
  bb.mask_host.resize(rows);
  scalars_.inv_rows = device_.alloc(sizeof(float));
  scalars_.seed = device_.alloc(R * sizeof(int32_t));
  scalars_.step = device_.alloc(sizeof(int32_t));
  scalars_.lr_scale = device_.alloc(sizeof(float));
  for (size_t s = 0; s < R; ++s) {
    const auto seed = static_cast<int32_t>(slots_[s].config->train.seed & 0x7fffffff);
    scalars_.seed->write(&seed, sizeof seed, s * sizeof seed);
  }
  write_scalar(*scalars_.lr_scale, 1.0f);
  for (const ir::Output& o : train_graph_.outputs()) train_out_.by_name[o.name] = device_.alloc(R * sizeof(float));
  for (const ir::Output& o : eval_graph_.outputs()) eval_out_.by_name[o.name] = device_.alloc(R * sizeof(float));
}

void Run::bind_all(Program& program, const ir::Graph& g, const OutputBuffers& outs) {
  auto bind_if_used = [&](const std::string& name, Buffer* buf) {
    if (buf != nullptr && g.find_input(name) >= 0) program.bind(name, *buf);
  };
  for (auto& [name, buf] : persistent_) bind_if_used(name, buf.get());
  auto& bb = batch_buffers_;
  bind_if_used("tokens", bb.tokens.get());
  bind_if_used("a", bb.a.get());
  bind_if_used("b", bb.b.get());
  bind_if_used("labels", bb.labels.get());
  bind_if_used("row_mask", bb.row_mask.get());
  bind_if_used("inv_rows", scalars_.inv_rows.get());
  bind_if_used("seed", scalars_.seed.get());
  bind_if_used("step", scalars_.step.get());
  bind_if_used("lr_scale", scalars_.lr_scale.get());
  for (auto& [name, buf] : outs.by_name) program.bind(name, *buf);
}

// Copies rows[begin, begin+count) of each run into its part of the batch
// buffers; rows past count are padding with mask 0 (their inputs repeat row 0
// so every index stays valid). Every run has as many rows.
void Run::fill_batch(const std::vector<const std::vector<int64_t>*>& rows_of_run, size_t begin, size_t count) {
  auto& bb = batch_buffers_;
  const int64_t T = data_.seq_len;
  for (size_t s = 0; s < runs(); ++s) {
    const std::vector<int64_t>& rows = *rows_of_run[s];
    for (int64_t i = 0; i < batch_; ++i) {
      const bool real = static_cast<size_t>(i) < count;
      const int64_t r = rows[real ? begin + i : begin];
      const int64_t k = static_cast<int64_t>(s) * batch_ + i;  // the row's place in the pack's batch
      if (is_two_layer()) {
        bb.a_host[k] = data_.a[r];
        bb.b_host[k] = data_.b[r];
      } else {
        std::copy_n(data_.tokens.begin() + r * T, T, bb.tokens_host.begin() + k * T);
      }
      bb.labels_host[k] = data_.labels[r];
      bb.mask_host[k] = real ? 1.0f : 0.0f;
    }
  }
  const size_t rows = bb.labels_host.size();
  if (is_two_layer()) {
    bb.a->write(bb.a_host.data(), rows * sizeof(int32_t));
    bb.b->write(bb.b_host.data(), rows * sizeof(int32_t));
  } else {
    bb.tokens->write(bb.tokens_host.data(), bb.tokens_host.size() * sizeof(int32_t));
  }
  bb.labels->write(bb.labels_host.data(), rows * sizeof(int32_t));
  bb.row_mask->write(bb.mask_host.data(), rows * sizeof(float));
  write_scalar(*scalars_.inv_rows, 1.0f / static_cast<float>(count));
}

void Run::train_epoch(int64_t epoch) {
  std::vector<const std::vector<int64_t>*> orders;
  for (Slot& s : slots_) {
    s.order = tasks::epoch_order(s.split.train, s.config->train.seed, epoch);
    orders.push_back(&s.order);
  }
  const int64_t n = static_cast<int64_t>(slots_[0].order.size());
  const int64_t batches = (n + batch_ - 1) / batch_;
  for (; next_batch_ < batches; ++next_batch_) {
    if (g_stop_requested.load() || !any_active()) return;
    size_t begin = static_cast<size_t>(next_batch_ * batch_);
    size_t count = static_cast<size_t>(std::min<int64_t>(batch_, n - next_batch_ * batch_));
    fill_batch(orders, begin, count);
    ++step_;
    write_scalar(*scalars_.step, static_cast<int32_t>(step_));
    auto t0 = Clock::now();
    train_->run();
    step_ms_.push_back(1e3 * seconds_since(t0));
    const std::vector<float> loss = train_out_.read("loss_sum"), correct = train_out_.read("correct");
    for (size_t s = 0; s < runs(); ++s) {
      Slot& slot = slots_[s];
      if (slot.finished) continue;
      if (!std::isfinite(loss[s])) {
        diverged(slot, loss[s], epoch);
        continue;
      }
      slot.running_loss += loss[s];
      slot.running_correct += correct[s];
    }
  }
}

// An unpacked run stops with Error(Diverged); a run of a pack is left out
// and the others go on.
void Run::diverged(Slot& s, float loss, int64_t epoch) {
  const std::string what = "loss became " + std::string(std::isnan(loss) ? "NaN" : "Inf") + " at epoch " +
                           std::to_string(epoch) + ", step " + std::to_string(step_) + "; the run stopped. ";
  if (!packed())
    throw Error(what + "The last good checkpoint is " + (s.dir() / "checkpoint.safetensors").string() +
                    " (if one was written). Try a smaller learning rate.",
                ExitCode::Diverged);
  s.summary.divergence = what + "It was trained in a pack, which writes no checkpoints. Try a smaller learning rate.";
  s.finished = true;
}

std::vector<Run::EvalTotals> Run::evaluate(bool training_rows) {
  std::vector<EvalTotals> totals(runs());
  std::vector<const std::vector<int64_t>*> rows;
  for (const Slot& s : slots_) rows.push_back(training_rows ? &s.split.train : &s.split.val);
  const int64_t n = static_cast<int64_t>(rows[0]->size());
  for (int64_t begin = 0; begin < n; begin += batch_) {
    size_t count = static_cast<size_t>(std::min<int64_t>(batch_, n - begin));
    fill_batch(rows, static_cast<size_t>(begin), count);
    eval_->run();
    const std::vector<float> loss = eval_out_.read("loss_sum"), correct = eval_out_.read("correct"),
                             collapse = eval_out_.read("collapse"), zero_loss = eval_out_.read("zero_loss"),
                             margin = eval_out_.read("margin_sum");
    for (size_t s = 0; s < runs(); ++s) {
      EvalTotals& t = totals[s];
      t.loss += loss[s];
      t.correct += correct[s];
      t.collapse += collapse[s];
      t.zero_loss += zero_loss[s];
      t.margin += margin[s];
    }
  }
  return totals;
}

std::vector<EpochMetrics> Run::finish_epoch(int64_t epoch, double epoch_seconds) {
  const std::vector<EvalTotals> train = evaluate(true), val = evaluate(false);
  std::vector<EpochMetrics> out;
  for (size_t s = 0; s < runs(); ++s) {
    const Slot& slot = slots_[s];
    const EvalTotals &tr = train[s], &va = val[s];
    EpochMetrics m;
    m.epoch = epoch;
    m.step = step_;
    const double n_train = static_cast<double>(slot.split.train.size());
    const double n_val = static_cast<double>(slot.split.val.size());
    m.train_loss_running = slot.running_loss / n_train;
    m.train_acc_running = slot.running_correct / n_train;
    m.train_loss = tr.loss / n_train;
    m.train_acc = tr.correct / n_train;
    m.softmax_collapse = tr.collapse / n_train;
    m.zero_loss = tr.zero_loss / n_train;
    m.val_loss = va.loss / n_val;
    m.val_acc = va.correct / n_val;
    m.val_margin = va.margin / n_val;
    m.step_ms_median = median(step_ms_);
    m.epoch_seconds = epoch_seconds;
    out.push_back(m);
  }
  return out;
}

void Run::update_summary(Slot& s, const EpochMetrics& m) {
  const auto& t = s.config->train;
  TrainSummary& summary = s.summary;
  double train_acc = t.train_acc_source == TrainAccSource::Eval ? m.train_acc : m.train_acc_running;
  if (!summary.memorization_epoch && train_acc >= t.memorize_threshold) summary.memorization_epoch = m.epoch;
  if (summary.memorization_epoch && !summary.grokking_epoch && m.val_acc >= t.grok_threshold) {
    summary.grokking_epoch = m.epoch;
    summary.censored = false;
  }
  summary.epochs_run = m.epoch;
  summary.steps = m.step;
  summary.last = m;
}

json metrics_json(const EpochMetrics& m) {
  return json{{"epoch", m.epoch},
              {"step", m.step},
              {"train_loss", m.train_loss},
              {"train_acc", m.train_acc},
              {"train_loss_running", m.train_loss_running},
              {"train_acc_running", m.train_acc_running},
              {"val_loss", m.val_loss},
              {"val_acc", m.val_acc},
              {"softmax_collapse", m.softmax_collapse},
              {"zero_loss", m.zero_loss},
              {"val_margin", m.val_margin},
              {"step_ms", m.step_ms_median},
              {"epoch_s", m.epoch_seconds}};
}

// The inverse of metrics_json (extra fields, e.g. train.metrics, are ignored).
EpochMetrics epoch_metrics_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.value("epoch", int64_t{0});
  m.step = j.value("step", int64_t{0});
  m.train_loss = j.value("train_loss", 0.0);
  m.train_acc = j.value("train_acc", 0.0);
  m.train_loss_running = j.value("train_loss_running", 0.0);
  m.train_acc_running = j.value("train_acc_running", 0.0);
  m.val_loss = j.value("val_loss", 0.0);
  m.val_acc = j.value("val_acc", 0.0);
  m.softmax_collapse = j.value("softmax_collapse", 0.0);
  m.zero_loss = j.value("zero_loss", 0.0);
  m.val_margin = j.value("val_margin", 0.0);
  m.step_ms_median = j.value("step_ms", 0.0);
  m.epoch_seconds = j.value("epoch_s", 0.0);
  return m;
}

std::vector<float> Run::read_param(size_t slot, const std::string& name) const {
  const Buffer& buf = *persistent_.at(name);
  const size_t bytes = buf.bytes() / runs();
  std::vector<float> w(bytes / sizeof(float));
  buf.read(w.data(), bytes, slot * bytes);
  return w;
}

void Run::write_metrics_line(size_t slot, const EpochMetrics& m) {
  const Slot& s = slots_[slot];
  json line = metrics_json(m);
  ParamReader read = [this, slot](const std::string& name) { return read_param(slot, name); };
  json norms = json::object();
  for (const models::ParamSpec& p : graphs_.params) {
    double ss = 0;
    for (float x : read(p.name)) ss += static_cast<double>(x) * x;
    norms[p.name] = std::sqrt(ss);
  }
  line["weight_norms"] = norms;
  if (s.config_metrics) s.config_metrics(m.epoch, read, line);
  if (s.options->epoch_metrics) s.options->epoch_metrics(m.epoch, read, line);
  std::ofstream f(s.dir() / "metrics.jsonl", std::ios::app);
  f << line.dump() << "\n";
  if (!f) throw Error("cannot append to " + (s.dir() / "metrics.jsonl").string(), ExitCode::Io);
}

void Run::write_summary(const Slot& slot) {
  const RunConfig& config = *slot.config;
  const TrainSummary& summary = slot.summary;
  const auto& t = config.train;
  auto opt = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  json s{{"name", config.name},
         {"device", device_.name()},
         {"grokjit_source", GROKJIT_SOURCE_COMMIT},
         {"fusion", slot.options->fusion},
         {"memorization_epoch", opt(summary.memorization_epoch)},
         {"grokking_epoch", opt(summary.grokking_epoch)},
         {"censored", summary.censored},
         {"interrupted", summary.interrupted},
         {"epochs_run", summary.epochs_run},
         {"steps", summary.steps},
         {"criterion",
          {{"memorize_threshold", t.memorize_threshold},
           {"grok_threshold", t.grok_threshold},
           {"train_acc_source", t.train_acc_source == TrainAccSource::Eval ? "eval" : "running"},
           {"epochs_count_from", 1},
           {"eval_every", t.eval_every},
           {"cap", t.max_epochs},
           {"definition", "grokking epoch = first epoch with val_acc >= grok_threshold, at or after the first "
                          "epoch with train accuracy >= memorize_threshold; censored at the cap otherwise"}}},
         {"baseline_constant_guess", data_.constant_baseline},
         {"train_rows", slot.split.train.size()},
         {"val_rows", slot.split.val.size()},
         {"final", metrics_json(summary.last)},
         {"wall_seconds", summary.wall_seconds},
         {"step_ms_median", summary.step_ms_median},
         {"kernels_per_step", summary.train_kernels},
         {"eval_kernels", summary.eval_kernels},
         {"compile_seconds", summary.compile_seconds},
         {"config", spec_to_json(config)}};
  if (packed())
    s["pack"] = {{"runs", summary.pack_runs},
                 {"slot", summary.pack_slot},
                 {"note", "trained with the other runs of its pack in one program; step_ms, wall_seconds and "
                          "compile_seconds are the pack's"}};
  write_file_atomically((slot.dir() / "summary.json").string(), s.dump(2) + "\n");
}

// The run's last epoch ran (or it was stopped): its summary is final.
void Run::finalize(Slot& s) {
  s.finished = true;
  s.summary.wall_seconds = elapsed_before_resume_ + seconds_since(start_);
  s.summary.step_ms_median = median(all_step_ms_);
  write_summary(s);
}

// ---- checkpoints (unpacked runs only): tensors + the loop position in the metadata.

// The part of a config a resumed run must share with the original: all but
// how long to run and how often to save.
json resumable_config(json config) {
  if (!config.is_object()) return config;
  config.erase("name");
  if (config.contains("train")) {
    for (const char* key : {"max_epochs", "stop_after_grok", "checkpoint_every"}) config["train"].erase(key);
  }
  return config;
}
void Run::save_checkpoint() {
  const Slot& s = slots_[0];
  CheckpointState st;
  st.epoch = epoch_;
  st.next_batch = next_batch_;
  st.step = step_;
  st.running_loss = s.running_loss;
  st.running_correct = s.running_correct;
  st.memorization_epoch = s.summary.memorization_epoch.value_or(-1);
  st.grokking_epoch = s.summary.grokking_epoch.value_or(-1);
  st.elapsed_seconds = elapsed_before_resume_ + seconds_since(start_);
  st.config_json = spec_to_json(config()).dump();
  save_checkpoint_file((s.dir() / "checkpoint.safetensors").string(), st, graphs_, persistent_);
}

void Run::load_checkpoint() {
  Slot& s = slots_[0];
  std::string path = (s.dir() / "checkpoint.safetensors").string();
  auto same_config = [&](const std::string& config_json) {
    const json written = resumable_config(json::parse(config_json, nullptr, false));
    if (const std::string why = first_difference(written, resumable_config(spec_to_json(config()))); !why.empty())
      throw Error("cannot resume from " + path + ": it was written for a different config (" + why +
                      ", checkpoint vs spec; only name, train.max_epochs, train.stop_after_grok and "
                      "train.checkpoint_every may change); start a fresh run in another --out directory",
                  ExitCode::Usage);
  };
  CheckpointState st = load_checkpoint_file(path, graphs_, persistent_, same_config);
  // Every position this run can reach: step = (epoch - 1) * batches + next batch.
  const int64_t rows = static_cast<int64_t>(s.split.train.size()), batches = (rows + batch_ - 1) / batch_;
  if (st.next_batch > batches || st.epoch > (int64_t{1} << 40) ||
      st.step != (st.epoch - 1) * batches + st.next_batch)
    throw Error("checkpoint " + path + ": its position (epoch " + std::to_string(st.epoch) + ", next batch " +
                    std::to_string(st.next_batch) + ", step " + std::to_string(st.step) + ") is not one this run reaches (" +
                    std::to_string(batches) + " batches per epoch): the file was edited or damaged",
                ExitCode::Io);
  epoch_ = st.epoch;
  next_batch_ = st.next_batch;
  step_ = st.step;
  s.running_loss = st.running_loss;
  s.running_correct = st.running_correct;
  if (st.memorization_epoch >= 0) s.summary.memorization_epoch = st.memorization_epoch;
  if (st.grokking_epoch >= 0) {
    s.summary.grokking_epoch = st.grokking_epoch;
    s.summary.censored = false;
  }
  elapsed_before_resume_ = st.elapsed_seconds;
}

// Keeps the metric lines of the epochs before the checkpoint (later ones
// would be doubled), says what is missing from them, and takes the
// summary's last figures from them.
void Run::restore_metrics_history() {
  Slot& s = slots_[0];
  fs::path metrics = s.dir() / "metrics.jsonl";
  std::ifstream in(metrics);
  std::string line, kept;
  size_t unreadable = 0;
  int64_t last_kept = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer()) {
      ++unreadable;  // a torn last line from a crash, or an edit
      continue;
    }
    const int64_t epoch = j["epoch"].get<int64_t>();
    if (epoch >= epoch_ || epoch <= last_kept) continue;
    kept += line + "\n";
    last_kept = epoch;
    // The summary's figures are the last evaluated epoch's, also when the
    // resumed run has no epoch left to run.
    s.summary.last = epoch_metrics_from_json(j);
    s.summary.epochs_run = s.summary.last.epoch;
    s.summary.steps = s.summary.last.step;
  }
  const bool present = in.is_open();
  in.close();
  const int64_t every = std::max<int64_t>(1, config().train.eval_every);
  const int64_t last_evaluated = (epoch_ - 1) / every * every;  // the last epoch before the checkpoint with a line
  if (!present && last_evaluated > 0)
    std::fprintf(stderr, "grokjit: warning: %s is missing: the resumed run's metrics start at epoch %lld\n",
                 metrics.c_str(), static_cast<long long>(epoch_));
  else if (last_kept < last_evaluated)  // (a torn line after the checkpoint's epoch, from a crash, is no loss)
    std::fprintf(stderr,
                 "grokjit: warning: %s ends at epoch %lld, not at the checkpoint's %lld (%zu unreadable line(s) "
                 "dropped): the resumed run's metrics history has a gap\n",
                 metrics.c_str(), static_cast<long long>(last_kept), static_cast<long long>(last_evaluated), unreadable);
  write_file_atomically(metrics.string(), kept);
}

// A resumed run with no epoch left whose summary.json says it finished: a
// rerun would replace that summary's timings with those of a run that did
// nothing, and its cap with the new one. (A run stopped right after its
// last epoch, or between its last checkpoint and its summary, is finished
// by the rerun: that writes its summary.)
void Run::refuse_to_rewrite_a_finished_run() const {
  const Slot& s = slots_[0];
  if (epoch_ <= s.stop_epoch) return;
  std::ifstream in(s.dir() / "summary.json");
  const json summary = json::parse(in, nullptr, false);
  if (!summary.is_object() || summary.value("interrupted", json(true)) != json(false)) return;
  const std::string why = s.summary.grokking_epoch && s.stop_epoch < s.config->train.max_epochs
                              ? "it grokked at epoch " + std::to_string(*s.summary.grokking_epoch) +
                                    " and train.stop_after_grok ends it at epoch " + std::to_string(s.stop_epoch)
                              : "train.max_epochs is " + std::to_string(s.config->train.max_epochs);
  throw Error("--resume: the run in " + s.dir().string() + " is finished: its checkpoint is after epoch " +
                  std::to_string(epoch_ - 1) + " and " + why +
                  "; nothing was changed. To train it further, raise train.max_epochs (or train.stop_after_grok) "
                  "with --set",
              ExitCode::Usage);
}

void Run::report_progress(const Slot& s, const EpochMetrics& m) {
  if (s.options->quiet) return;
  const int64_t cap = s.config->train.max_epochs;
  double per_epoch = (elapsed_before_resume_ + seconds_since(start_)) / std::max<int64_t>(1, m.epoch);
  double eta = per_epoch * static_cast<double>(cap - m.epoch);
  char line[256];
  std::snprintf(line, sizeof line, "epoch %4lld/%lld  train %.3f  val %.3f  loss %.4f/%.4f  %.0f ms/step  ETA(cap) %.0fs",
                static_cast<long long>(m.epoch), static_cast<long long>(cap), m.train_acc, m.val_acc, m.train_loss,
                m.val_loss, m.step_ms_median, eta);
  const std::string text = packed() ? s.config->name + ": " + line : std::string(line);
  if (s.options->progress && isatty(fileno(stderr)) && !packed()) {
    std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
}

std::vector<TrainSummary> Run::execute() {
  for (const Slot& s : slots_) {
    if (packed() && s.options->resume)
      throw Error("cannot resume " + s.dir().string() + " as part of a pack: packed runs write no checkpoints; "
                  "train it alone to resume it, or rerun it from the start", ExitCode::Usage);
    dir_locks_.push_back(std::make_unique<DirectoryLock>(s.dir().string()));
  }
  prepare();
  start_ = Clock::now();
  if (options().resume) {
    load_checkpoint();
  } else {
    for (const Slot& s : slots_) std::ofstream(s.dir() / "metrics.jsonl", std::ios::trunc);
  }
  StopSignalScope signals;
  auto shorten_after_grok = [](Slot& s) {
    const auto& t = s.config->train;
    if (s.summary.grokking_epoch && t.stop_after_grok >= 0)
      s.stop_epoch = std::min(s.stop_epoch, *s.summary.grokking_epoch + t.stop_after_grok);
  };
  for (Slot& s : slots_) {
    s.stop_epoch = s.config->train.max_epochs;
    shorten_after_grok(s);
  }
  if (options().resume) {
    refuse_to_rewrite_a_finished_run();  // before anything in the directory changes
    restore_metrics_history();
  }
  bool interrupted = false;
  for (; any_active(); ++epoch_) {
    auto t0 = Clock::now();
    train_epoch(epoch_);
    all_step_ms_.insert(all_step_ms_.end(), step_ms_.begin(), step_ms_.end());
    if (g_stop_requested.load()) {
      interrupted = true;
      break;
    }
    if (!any_active()) break;  // every run of the pack diverged
    std::vector<bool> evaluate_now(runs(), false);
    for (size_t s = 0; s < runs(); ++s) {
      const int64_t every = std::max<int64_t>(1, slots_[s].config->train.eval_every);
      evaluate_now[s] = active(slots_[s]) && (epoch_ % every == 0 || epoch_ == slots_[s].stop_epoch);
    }
    if (std::find(evaluate_now.begin(), evaluate_now.end(), true) != evaluate_now.end()) {
      std::vector<EpochMetrics> metrics = finish_epoch(epoch_, seconds_since(t0));
      for (size_t s = 0; s < runs(); ++s) {
        if (!evaluate_now[s]) continue;
        update_summary(slots_[s], metrics[s]);
        write_metrics_line(s, metrics[s]);
        report_progress(slots_[s], metrics[s]);
      }
    }
    step_ms_.clear();
    next_batch_ = 0;
    bool keep_going = true;
    for (Slot& s : slots_) {
      s.running_loss = s.running_correct = 0;
      if (!active(s)) continue;
      shorten_after_grok(s);
      if (s.options->after_epoch && !s.options->after_epoch(epoch_)) keep_going = false;
    }
    const auto& t = config().train;
    bool last = epoch_ == slots_[0].stop_epoch || !keep_going;
    if (!packed() && (last || (t.checkpoint_every > 0 && epoch_ % t.checkpoint_every == 0))) {
      ++epoch_;  // the checkpoint resumes at the next epoch
      save_checkpoint();
      --epoch_;
    }
    if (!keep_going) {
      interrupted = true;
      ++epoch_;
      break;
    }
    for (Slot& s : slots_)
      if (active(s) && epoch_ == s.stop_epoch) finalize(s);
  }
  if (interrupted && g_stop_requested.load() && !packed()) save_checkpoint();
  if (!options().quiet && options().progress && isatty(fileno(stderr)) && !packed()) std::fputc('\n', stderr);
  std::vector<TrainSummary> summaries;
  for (Slot& s : slots_) {
    if (!s.finished) {
      s.summary.interrupted = interrupted;
      finalize(s);
    }
    summaries.push_back(s.summary);
  }
  return summaries;
}

// Slots for configs[i] with options[i].
std::vector<Slot> make_slots(const std::vector<RunConfig>& configs, const std::vector<TrainOptions>& options) {
  if (configs.empty() || configs.size() != options.size())
    throw Error("train_pack: needs one TrainOptions per config and at least one run", ExitCode::Failure);
  std::vector<Slot> slots(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    if (std::string why = pack_mismatch(configs[0], configs[i]); !why.empty())
      throw Error("runs '" + configs[0].name + "' and '" + configs[i].name + "' cannot be packed: " + why,
                  ExitCode::Usage);
    slots[i].config = &configs[i];
    slots[i].options = &options[i];
  }
  return slots;
}

}  // namespace

bool per_run_step_input(const ir::Node& input) {
  return input.attrs.role != ir::InputRole::Scalar || input.attrs.name == "seed";
}

std::string pack_mismatch(const RunConfig& a, const RunConfig& b) {
  auto shape_of_run = [](const RunConfig& c) {
    json j = spec_to_json(c);
    j.erase("name");
    j["train"].erase("seed");
    j["task"].erase("split_seed");
    return j;
  };
  const json ja = shape_of_run(a), jb = shape_of_run(b);
  if (ja == jb) return "";
  for (const auto& patch : json::diff(ja, jb))
    return "their configs differ at " + patch.value("path", std::string("/")) +
           " (only name, train.seed and task.split_seed may differ)";
  return "their configs differ";
}

DataShape data_shape(const RunConfig& config, const tasks::Dataset& data, const tasks::Split& split) {
  DataShape shape;
  // A batch is at most the training set: a larger one would only add padded rows (all of them masked out).
  const int64_t rows = static_cast<int64_t>(split.train.size());
  shape.batch = config.train.batch_size > 0 ? std::min(config.train.batch_size, rows) : rows;
  shape.seq_len = data.seq_len;
  shape.vocab = data.vocab;
  shape.classes = data.classes;
  shape.operands = data.operands;
  return shape;
}

TrainSummary train(const RunConfig& config, Device& device, const TrainOptions& options) {
  std::vector<Slot> slots(1);
  slots[0].config = &config;
  slots[0].options = &options;
  return Run(std::move(slots), device).execute()[0];
}

std::vector<TrainSummary> train_pack(const std::vector<RunConfig>& configs, Device& device,
                                     const std::vector<TrainOptions>& options) {
  return Run(make_slots(configs, options), device).execute();
}

}  // namespace grokjit::runtime
