// The training loop. Everything a run does is a function of (config, epoch,
// step): the batch order of epoch e comes from (seed, e), dropout from
// (seed, step), so a resumed run replays exactly what an uninterrupted one
// would have done.
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

#include "ir/error.h"
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

// Buffers for one batch of data, shared by the train and eval programs.
struct BatchBuffers {
  std::unique_ptr<Buffer> tokens, a, b, labels, row_mask;
  std::vector<int32_t> tokens_host, a_host, b_host, labels_host;
  std::vector<float> mask_host;
};

struct ScalarBuffers {
  std::unique_ptr<Buffer> inv_rows, seed, step, lr_scale;
};

struct OutputBuffers {
  std::map<std::string, std::unique_ptr<Buffer>> by_name;
  float read(const std::string& name) const {
    float v = 0;
    by_name.at(name)->read(&v, sizeof v);
    return v;
  }
};

template <typename T>
void write_scalar(Buffer& b, T v) { b.write(&v, sizeof v); }

class Run {
 public:
  Run(const RunConfig& config, Device& device, const TrainOptions& options)
      : config_(config), device_(device), options_(options) {}

  TrainSummary execute();

 private:
  void prepare();
  void bind_all(Program& program, bool is_train);
  void fill_batch(const std::vector<int64_t>& rows, size_t begin, size_t count);
  void train_epoch(int64_t epoch);
  struct EvalTotals { double loss = 0, correct = 0, collapse = 0, zero_loss = 0, margin = 0; };
  EvalTotals evaluate(const std::vector<int64_t>& rows);
  EpochMetrics finish_epoch(int64_t epoch, double epoch_seconds);
  void update_summary(const EpochMetrics& m);
  void write_metrics_line(const EpochMetrics& m);
  void write_summary();
  void save_checkpoint();
  void load_checkpoint();
  void report_progress(const EpochMetrics& m);
  bool is_two_layer() const { return config_.model.kind == models::ModelKind::TwoLayer; }

  const RunConfig& config_;
  Device& device_;
  const TrainOptions& options_;

  tasks::Dataset data_;
  tasks::Split split_;
  int64_t batch_ = 0;
  StepGraphs graphs_;
  std::unique_ptr<Program> train_, eval_;
  std::map<std::string, std::unique_ptr<Buffer>> persistent_;  // params + optimizer state
  BatchBuffers batch_buffers_;
  ScalarBuffers scalars_;
  OutputBuffers train_out_, eval_out_;
  EpochMetricsHook config_metrics_;  // what train.metrics asks for; empty if nothing

  // Loop position (what a checkpoint records besides the tensors).
  int64_t epoch_ = 1;             // the epoch in progress, from 1
  int64_t next_batch_ = 0;        // first batch of epoch_ not yet run
  int64_t step_ = 0;              // optimizer steps done
  double running_loss_ = 0, running_correct_ = 0;  // sums over epoch_'s batches so far
  std::vector<double> step_ms_;   // this epoch's step times
  TrainSummary summary_;
  Clock::time_point start_;
  double elapsed_before_resume_ = 0;
};

void Run::prepare() {
  data_ = tasks::make_dataset(config_.task);
  split_ = tasks::make_split(config_.task);
  if (split_.train.empty() || split_.val.empty())
    throw Error("task '" + data_.description + "' with train_fraction " +
                    std::to_string(tasks::resolved_train_fraction(config_.task)) +
                    " leaves an empty training or validation set (at /task/train_fraction)", ExitCode::Usage);
  DataShape shape = data_shape(config_, data_, split_);
  batch_ = shape.batch;
  graphs_ = build_step_graphs(config_, shape);
  CompileOptions copts;
  copts.fusion = options_.fusion;
  copts.program_name = "train_step";
  train_ = device_.compile(graphs_.train, copts);
  copts.program_name = "eval";
  eval_ = device_.compile(graphs_.eval, copts);
  summary_.train_kernels = train_->stats().kernels;
  summary_.eval_kernels = eval_->stats().kernels;
  summary_.compile_seconds = train_->stats().compile_seconds + eval_->stats().compile_seconds;

  // Persistent tensors: initialized params, zeroed optimizer state.
  std::vector<std::vector<float>> init = models::init_params(graphs_.params, config_.train.seed);
  for (size_t i = 0; i < graphs_.params.size(); ++i) {
    auto buf = device_.alloc(init[i].size() * sizeof(float));
    buf->write(init[i].data(), init[i].size() * sizeof(float));
    persistent_[graphs_.params[i].name] = std::move(buf);
  }
  for (const StateSpec& s : graphs_.state)
    persistent_[s.name] = device_.alloc(static_cast<size_t>(ir::num_elements(s.shape)) * ir::dtype_size(s.dtype));

  auto& bb = batch_buffers_;
  if (is_two_layer()) {
    bb.a = device_.alloc(batch_ * sizeof(int32_t));
    bb.b = device_.alloc(batch_ * sizeof(int32_t));
    bb.a_host.resize(batch_);
    bb.b_host.resize(batch_);
  } else {
    bb.tokens = device_.alloc(batch_ * data_.seq_len * sizeof(int32_t));
    bb.tokens_host.resize(batch_ * data_.seq_len);
  }
  bb.labels = device_.alloc(batch_ * sizeof(int32_t));
  bb.row_mask = device_.alloc(batch_ * sizeof(float));
  bb.labels_host.resize(batch_);
  bb.mask_host.resize(batch_);
  scalars_.inv_rows = device_.alloc(sizeof(float));
  scalars_.seed = device_.alloc(sizeof(int32_t));
  scalars_.step = device_.alloc(sizeof(int32_t));
  scalars_.lr_scale = device_.alloc(sizeof(float));
  write_scalar(*scalars_.seed, static_cast<int32_t>(config_.train.seed & 0x7fffffff));
  write_scalar(*scalars_.lr_scale, 1.0f);

  for (const ir::Output& o : graphs_.train.outputs()) train_out_.by_name[o.name] = device_.alloc(sizeof(float));
  for (const ir::Output& o : graphs_.eval.outputs()) eval_out_.by_name[o.name] = device_.alloc(sizeof(float));
  bind_all(*train_, true);
  bind_all(*eval_, false);
  config_metrics_ = make_metrics_hook(config_, device_, data_, split_, shape);
}

void Run::bind_all(Program& program, bool is_train) {
  const ir::Graph& g = is_train ? graphs_.train : graphs_.eval;
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
  OutputBuffers& outs = is_train ? train_out_ : eval_out_;
  for (auto& [name, buf] : outs.by_name) program.bind(name, *buf);
}

// Copies rows[begin, begin+count) into the batch buffers; rows past count are
// padding with mask 0 (their inputs repeat row 0 so every index stays valid).
void Run::fill_batch(const std::vector<int64_t>& rows, size_t begin, size_t count) {
  auto& bb = batch_buffers_;
  const int64_t T = data_.seq_len;
  for (int64_t i = 0; i < batch_; ++i) {
    bool real = static_cast<size_t>(i) < count;
    int64_t r = rows[real ? begin + i : begin];
    if (is_two_layer()) {
      bb.a_host[i] = data_.a[r];
      bb.b_host[i] = data_.b[r];
    } else {
      std::copy_n(data_.tokens.begin() + r * T, T, bb.tokens_host.begin() + i * T);
    }
    bb.labels_host[i] = data_.labels[r];
    bb.mask_host[i] = real ? 1.0f : 0.0f;
  }
  if (is_two_layer()) {
    bb.a->write(bb.a_host.data(), batch_ * sizeof(int32_t));
    bb.b->write(bb.b_host.data(), batch_ * sizeof(int32_t));
  } else {
    bb.tokens->write(bb.tokens_host.data(), bb.tokens_host.size() * sizeof(int32_t));
  }
  bb.labels->write(bb.labels_host.data(), batch_ * sizeof(int32_t));
  bb.row_mask->write(bb.mask_host.data(), batch_ * sizeof(float));
  write_scalar(*scalars_.inv_rows, 1.0f / static_cast<float>(count));
}

void Run::train_epoch(int64_t epoch) {
  std::vector<int64_t> order = tasks::epoch_order(split_.train, config_.train.seed, epoch);
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t batches = (n + batch_ - 1) / batch_;
  for (; next_batch_ < batches; ++next_batch_) {
    if (g_stop_requested.load()) return;
    size_t begin = static_cast<size_t>(next_batch_ * batch_);
    size_t count = static_cast<size_t>(std::min<int64_t>(batch_, n - next_batch_ * batch_));
    fill_batch(order, begin, count);
    ++step_;
    write_scalar(*scalars_.step, static_cast<int32_t>(step_));
    auto t0 = Clock::now();
    train_->run();
    step_ms_.push_back(1e3 * seconds_since(t0));
    double loss = train_out_.read("loss_sum");
    if (!std::isfinite(loss)) {
      throw Error("loss became " + std::string(std::isnan(loss) ? "NaN" : "Inf") + " at epoch " +
                      std::to_string(epoch) + ", step " + std::to_string(step_) +
                      "; the run stopped. The last good checkpoint is " +
                      (fs::path(options_.out_dir) / "checkpoint.safetensors").string() +
                      " (if one was written). Try a smaller learning rate.",
                  ExitCode::Diverged);
    }
    running_loss_ += loss;
    running_correct_ += train_out_.read("correct");
  }
}

Run::EvalTotals Run::evaluate(const std::vector<int64_t>& rows) {
  EvalTotals t;
  const int64_t n = static_cast<int64_t>(rows.size());
  for (int64_t begin = 0; begin < n; begin += batch_) {
    size_t count = static_cast<size_t>(std::min<int64_t>(batch_, n - begin));
    fill_batch(rows, static_cast<size_t>(begin), count);
    eval_->run();
    t.loss += eval_out_.read("loss_sum");
    t.correct += eval_out_.read("correct");
    t.collapse += eval_out_.read("collapse");
    t.zero_loss += eval_out_.read("zero_loss");
    t.margin += eval_out_.read("margin_sum");
  }
  return t;
}

EpochMetrics Run::finish_epoch(int64_t epoch, double epoch_seconds) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = step_;
  const double n_train = static_cast<double>(split_.train.size());
  const double n_val = static_cast<double>(split_.val.size());
  m.train_loss_running = running_loss_ / n_train;
  m.train_acc_running = running_correct_ / n_train;
  EvalTotals tr = evaluate(split_.train);
  EvalTotals va = evaluate(split_.val);
  m.train_loss = tr.loss / n_train;
  m.train_acc = tr.correct / n_train;
  m.softmax_collapse = tr.collapse / n_train;
  m.zero_loss = tr.zero_loss / n_train;
  m.val_loss = va.loss / n_val;
  m.val_acc = va.correct / n_val;
  m.val_margin = va.margin / n_val;
  m.step_ms_median = median(step_ms_);
  m.epoch_seconds = epoch_seconds;
  return m;
}

void Run::update_summary(const EpochMetrics& m) {
  const auto& t = config_.train;
  double train_acc = t.train_acc_source == TrainAccSource::Eval ? m.train_acc : m.train_acc_running;
  if (!summary_.memorization_epoch && train_acc >= t.memorize_threshold) summary_.memorization_epoch = m.epoch;
  if (summary_.memorization_epoch && !summary_.grokking_epoch && m.val_acc >= t.grok_threshold) {
    summary_.grokking_epoch = m.epoch;
    summary_.censored = false;
  }
  summary_.epochs_run = m.epoch;
  summary_.steps = m.step;
  summary_.last = m;
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

void Run::write_metrics_line(const EpochMetrics& m) {
  json line = metrics_json(m);
  ParamReader read_param = [this](const std::string& name) {
    Buffer& buf = *persistent_.at(name);
    std::vector<float> w(buf.bytes() / sizeof(float));
    buf.read(w.data(), buf.bytes());
    return w;
  };
  json norms = json::object();
  for (const models::ParamSpec& p : graphs_.params) {
    double ss = 0;
    for (float x : read_param(p.name)) ss += static_cast<double>(x) * x;
    norms[p.name] = std::sqrt(ss);
  }
  line["weight_norms"] = norms;
  if (config_metrics_) config_metrics_(m.epoch, read_param, line);
  if (options_.epoch_metrics) options_.epoch_metrics(m.epoch, read_param, line);
  std::ofstream f(fs::path(options_.out_dir) / "metrics.jsonl", std::ios::app);
  f << line.dump() << "\n";
  if (!f) throw Error("cannot append to " + (fs::path(options_.out_dir) / "metrics.jsonl").string(), ExitCode::Io);
}

void Run::write_summary() {
  const auto& t = config_.train;
  auto opt = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  json s{{"name", config_.name},
         {"device", device_.name()},
         {"fusion", options_.fusion},
         {"memorization_epoch", opt(summary_.memorization_epoch)},
         {"grokking_epoch", opt(summary_.grokking_epoch)},
         {"censored", summary_.censored},
         {"interrupted", summary_.interrupted},
         {"epochs_run", summary_.epochs_run},
         {"steps", summary_.steps},
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
         {"train_rows", split_.train.size()},
         {"val_rows", split_.val.size()},
         {"final", metrics_json(summary_.last)},
         {"wall_seconds", summary_.wall_seconds},
         {"step_ms_median", summary_.step_ms_median},
         {"kernels_per_step", summary_.train_kernels},
         {"eval_kernels", summary_.eval_kernels},
         {"compile_seconds", summary_.compile_seconds},
         {"config", spec_to_json(config_)}};
  write_file_atomically((fs::path(options_.out_dir) / "summary.json").string(), s.dump(2) + "\n");
}

// ---- checkpoints: tensors + the loop position in the metadata.

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
  CheckpointState st;
  st.epoch = epoch_;
  st.next_batch = next_batch_;
  st.step = step_;
  st.running_loss = running_loss_;
  st.running_correct = running_correct_;
  st.memorization_epoch = summary_.memorization_epoch.value_or(-1);
  st.grokking_epoch = summary_.grokking_epoch.value_or(-1);
  st.elapsed_seconds = elapsed_before_resume_ + seconds_since(start_);
  st.config_json = spec_to_json(config_).dump();
  save_checkpoint_file((fs::path(options_.out_dir) / "checkpoint.safetensors").string(), st, graphs_, persistent_);
}

void Run::load_checkpoint() {
  std::string path = (fs::path(options_.out_dir) / "checkpoint.safetensors").string();
  CheckpointState st = load_checkpoint_file(path, graphs_, persistent_);
  if (resumable_config(json::parse(st.config_json, nullptr, false)) != resumable_config(spec_to_json(config_)))
    throw Error("cannot resume from " + path + ": it was written for a different config (compare its metadata "
                "'grokjit.config' with the spec; only name, train.max_epochs, train.stop_after_grok and "
                "train.checkpoint_every may change); start a fresh run in another --out directory", ExitCode::Usage);
  epoch_ = st.epoch;
  next_batch_ = st.next_batch;
  step_ = st.step;
  running_loss_ = st.running_loss;
  running_correct_ = st.running_correct;
  if (st.memorization_epoch >= 0) summary_.memorization_epoch = st.memorization_epoch;
  if (st.grokking_epoch >= 0) {
    summary_.grokking_epoch = st.grokking_epoch;
    summary_.censored = false;
  }
  elapsed_before_resume_ = st.elapsed_seconds;
  // Drop metric lines of epochs after the checkpoint, so they are not doubled.
  fs::path metrics = fs::path(options_.out_dir) / "metrics.jsonl";
  std::ifstream in(metrics);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("epoch")) break;  // a torn last line from a crash
    if (j["epoch"].get<int64_t>() >= epoch_) break;
    kept += line + "\n";
    summary_.epochs_run = j["epoch"].get<int64_t>();
  }
  in.close();
  write_file_atomically(metrics.string(), kept);
}

void Run::report_progress(const EpochMetrics& m) {
  if (options_.quiet) return;
  const int64_t cap = config_.train.max_epochs;
  double per_epoch = (elapsed_before_resume_ + seconds_since(start_)) / std::max<int64_t>(1, m.epoch);
  double eta = per_epoch * static_cast<double>(cap - m.epoch);
  char line[256];
  std::snprintf(line, sizeof line, "epoch %4lld/%lld  train %.3f  val %.3f  loss %.4f/%.4f  %.0f ms/step  ETA(cap) %.0fs",
                static_cast<long long>(m.epoch), static_cast<long long>(cap), m.train_acc, m.val_acc, m.train_loss,
                m.val_loss, m.step_ms_median, eta);
  if (options_.progress && isatty(fileno(stderr))) {
    std::fprintf(stderr, "\r%s\x1b[K", line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
}

TrainSummary Run::execute() {
  fs::create_directories(options_.out_dir);
  prepare();
  start_ = Clock::now();
  if (options_.resume) {
    load_checkpoint();
  } else {
    std::ofstream(fs::path(options_.out_dir) / "metrics.jsonl", std::ios::trunc);
  }
  StopSignalScope signals;
  const auto& t = config_.train;
  std::vector<double> all_step_ms;
  int64_t stop_epoch = t.max_epochs;
  if (summary_.grokking_epoch && t.stop_after_grok >= 0)
    stop_epoch = std::min(stop_epoch, *summary_.grokking_epoch + t.stop_after_grok);
  for (; epoch_ <= stop_epoch; ++epoch_) {
    auto t0 = Clock::now();
    train_epoch(epoch_);
    all_step_ms.insert(all_step_ms.end(), step_ms_.begin(), step_ms_.end());
    if (g_stop_requested.load()) {
      summary_.interrupted = true;
      break;
    }
    const bool evaluate_now = epoch_ % std::max<int64_t>(1, t.eval_every) == 0 || epoch_ == stop_epoch;
    if (evaluate_now) {
      EpochMetrics m = finish_epoch(epoch_, seconds_since(t0));
      update_summary(m);
      write_metrics_line(m);
      report_progress(m);
    }
    step_ms_.clear();
    next_batch_ = 0;
    running_loss_ = running_correct_ = 0;
    if (summary_.grokking_epoch && t.stop_after_grok >= 0)
      stop_epoch = std::min(stop_epoch, *summary_.grokking_epoch + t.stop_after_grok);
    bool keep_going = !options_.after_epoch || options_.after_epoch(epoch_);
    bool last = epoch_ == stop_epoch || !keep_going;
    if (last || (t.checkpoint_every > 0 && epoch_ % t.checkpoint_every == 0)) {
      ++epoch_;  // the checkpoint resumes at the next epoch
      save_checkpoint();
      --epoch_;
    }
    if (!keep_going) {
      summary_.interrupted = true;
      ++epoch_;
      break;
    }
  }
  if (summary_.interrupted && g_stop_requested.load()) save_checkpoint();
  if (!options_.quiet && options_.progress && isatty(fileno(stderr))) std::fputc('\n', stderr);
  summary_.wall_seconds = elapsed_before_resume_ + seconds_since(start_);
  summary_.step_ms_median = median(all_step_ms);
  write_summary();
  return summary_;
}

}  // namespace

DataShape data_shape(const RunConfig& config, const tasks::Dataset& data, const tasks::Split& split) {
  DataShape shape;
  shape.batch = config.train.batch_size > 0 ? config.train.batch_size : static_cast<int64_t>(split.train.size());
  shape.seq_len = data.seq_len;
  shape.vocab = data.vocab;
  shape.classes = data.classes;
  shape.operands = data.operands;
  return shape;
}

TrainSummary train(const RunConfig& config, Device& device, const TrainOptions& options) {
  Run run(config, device, options);
  return run.execute();
}

}  // namespace grokjit::runtime
