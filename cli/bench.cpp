// grokjit bench SPEC: the training step timed with fusion on and off, side
// by side, against this machine's measured FMA peak and memory bandwidth;
// and the step benchmark's building blocks (cli/bench.h).
#include "cli/bench.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/Host.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>

#include "cli/table.h"
#include "ir/error.h"
#include "models/params.h"
#include "runtime/cpu_device.h"
#include "runtime/cuda_device.h"
#include "runtime/cuda_driver.h"
#include "runtime/cuda_peak.h"
#include "runtime/files.h"
#include "runtime/knobs.h"
#include "runtime/machine_peak.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"

namespace grokjit::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSchema = "grokjit.bench/1";
constexpr int kPeakCacheFormat = 2;  // 2: the FMA loop's chains can no longer be merged (format 1 read 1.5x high)

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  if (runtime::thread_count_setting() > 0) return runtime::thread_count_setting();
  return runtime::hardware_threads();
}

// A fresh, empty directory for a cold kernel cache; removed with the object.
struct TempDir {
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("grokjit-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};


std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    std::string name = line.substr(colon + 1);
    size_t b = name.find_first_not_of(" \t"), e = name.find_last_not_of(" \t");
    return b == std::string::npos ? "" : name.substr(b, e - b + 1);
  }
  return "";
}

}  // namespace

// ------------------------------------------------------------ step timing

Percentiles percentiles(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto at = [&](double q) { return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5)]; };
  p.p20 = at(0.2);
  p.median = at(0.5);
  p.p80 = at(0.8);
  p.min = values.front();
  p.max = values.back();
  return p;
}

BoundTrainStep::BoundTrainStep(runtime::Device& device, runtime::Program& program, const runtime::StepGraphs& graphs,
                               const runtime::RunConfig& config, const tasks::Dataset& data, const tasks::Split& split)
    : program_(program) {
  const ir::Graph& g = graphs.train;
  // Rows per step: the batch dimension of the per-row inputs (every row real).
  int64_t batch = 1;
  if (ir::NodeId labels = g.find_input("labels"); labels >= 0 && !g.node(labels).shape.empty())
    batch = g.node(labels).shape[0];
  std::vector<std::vector<float>> init = models::init_params(graphs.params, config.train.seed);
  std::vector<int64_t> rows = split.train.empty() ? std::vector<int64_t>{0} : split.train;
  auto row = [&](int64_t i) { return rows[static_cast<size_t>(i) % rows.size()]; };
  for (ir::NodeId id : g.inputs()) {
    const ir::Node& n = g.node(id);
    const std::string& name = n.attrs.name;
    const int64_t elements = ir::num_elements(n.shape);
    const size_t bytes = static_cast<size_t>(elements) * ir::dtype_size(n.dtype);
    auto buf = device.alloc(bytes);  // zero-filled: optimizer state starts at 0
    auto write_ints = [&](auto&& value_of) {
      std::vector<int32_t> v(static_cast<size_t>(elements));
      for (int64_t i = 0; i < elements; ++i) v[static_cast<size_t>(i)] = value_of(i);
      buf->write(v.data(), bytes);
    };
    for (size_t i = 0; i < graphs.params.size(); ++i)
      if (graphs.params[i].name == name) buf->write(init[i].data(), bytes);
    if (name == "tokens") {
      const int64_t T = data.seq_len;
      write_ints([&](int64_t i) { return data.tokens[static_cast<size_t>(row(i / T) * T + i % T)]; });
    } else if (name == "labels") {
      write_ints([&](int64_t i) { return data.labels[static_cast<size_t>(row(i))]; });
    } else if (name == "a" && !data.a.empty()) {
      write_ints([&](int64_t i) { return data.a[static_cast<size_t>(row(i))]; });
    } else if (name == "b" && !data.b.empty()) {
      write_ints([&](int64_t i) { return data.b[static_cast<size_t>(row(i))]; });
    } else if (name == "row_mask") {
      std::vector<float> ones(static_cast<size_t>(elements), 1.0f);
      buf->write(ones.data(), bytes);
    } else if (name == "inv_rows" || name == "lr_scale") {
      float v = name == "inv_rows" ? 1.0f / static_cast<float>(batch) : 1.0f;
      buf->write(&v, sizeof v);
    } else if (name == "seed") {
      int32_t s = static_cast<int32_t>(config.train.seed & 0x7fffffff);
      buf->write(&s, sizeof s);
    } else if (name == "step") {
      step_ = buf.get();
    }
    program_.bind(name, *buf);
    buffers_.push_back(std::move(buf));
  }
  for (const ir::Output& o : g.outputs()) {
    const ir::Node& n = g.node(o.node);
    auto buf = device.alloc(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
    program_.bind(o.name, *buf);
    buffers_.push_back(std::move(buf));
  }
}

std::vector<double> BoundTrainStep::time_steps(int warmup, int steps) {
  if (!step_) throw Error("bench: the train-step graph has no 'step' input (runtime/step_graph.h)");
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(std::max(0, steps)));
  for (int i = 0; i < warmup + steps; ++i) {
    int32_t step = next_step_++;  // bias corrections need step >= 1
    step_->write(&step, sizeof step);
    auto t0 = Clock::now();
    program_.run();
    double host_ms = 1e3 * seconds_since(t0);
    if (i >= warmup) ms.push_back(runtime::cuda_last_run_ms(program_).value_or(host_ms));
  }
  return ms;
}

StepBenchResult bench_train_step(const runtime::RunConfig& config, const StepBenchOptions& options) {
  tasks::Dataset data = tasks::make_dataset(config.task);
  tasks::Split split = tasks::make_split(config.task);
  runtime::StepGraphs graphs = runtime::build_step_graphs(config, runtime::data_shape(config, data, split));

  StepBenchResult r;
  r.fusion = options.fusion;
  r.threads = resolve_threads(options.threads);
  runtime::CompileOptions co;
  co.fusion = options.fusion;
  co.threads = r.threads;
  co.program_name = "train";

  std::unique_ptr<TempDir> cache;
  runtime::CpuDeviceOptions dopt;
  dopt.threads = r.threads;
  runtime::CudaDeviceOptions copt;
  const bool cuda = options.backend == "cuda";
  auto make_device = [&] { return cuda ? runtime::make_cuda_device(copt) : runtime::make_cpu_device(dopt); };
  if (cuda) r.threads = 1;
  if (options.cold_and_warm) {
    cache = std::make_unique<TempDir>();
    dopt.use_default_cache = copt.use_default_cache = false;
    dopt.cache_dir = copt.cache_dir = cache->path.string();
    auto cold_device = make_device();
    auto t0 = Clock::now();
    auto cold = cold_device->compile(graphs.train, co);
    r.compile_cold_s = seconds_since(t0);
    r.cold_llvm_s = cold->stats().llvm_seconds;
    r.cold_cache_misses = cold->stats().cache_misses;
  }
  // Warm: a fresh device (nothing loaded in its JIT) over the populated cache.
  auto device = make_device();
  auto t0 = Clock::now();
  auto program = device->compile(graphs.train, co);
  r.compile_warm_s = seconds_since(t0);
  r.warm_cache_hits = program->stats().cache_hits;
  r.device = device->name();

  const runtime::ProgramStats& stats = program->stats();
  r.kernels = stats.kernels;
  r.arena_bytes = stats.peak_scratch_bytes;
  for (const runtime::KernelInfo& k : stats.kernel_info) {
    r.flops += k.flops;
    r.bytes_read += k.bytes_read;
    r.bytes_written += k.bytes_written;
  }
  BoundTrainStep bound(*device, *program, graphs, config, data, split);
  r.step_ms = bound.time_steps(options.warmup, options.steps);
  r.ms = percentiles(r.step_ms);
  r.kernel_info = stats.kernel_info;
  if (options.profile_kernels && !cuda)
    for (double s : runtime::profile_kernels(*program, 5)) r.kernel_ms.push_back(1e3 * s);
  return r;
}

// ------------------------------------------------------------ machine peak

std::string machine_peak_key(int threads) {
  std::string model = cpu_model_name();
  std::string llvm_cpu = llvm::sys::getHostCPUName().str();
  return (model.empty() ? llvm_cpu : model + " (" + llvm_cpu + ")") + ", " + std::to_string(threads) + " threads";
}

std::string machine_peak_cache_file() { return (fs::path(runtime::cache_dir()) / "machine_peak.json").string(); }

namespace {

struct PeakFigures {
  double fma_gflops = 0, memory_gbs = 0;
};

// The peak cache's contents: {"format", "machines": {key: entry}}, or a
// fresh one where the file is missing, unreadable or of an older format
// (said on stderr: it is measured again).
json read_peak_cache(const std::string& path) {
  const json fresh = {{"format", kPeakCacheFormat}, {"machines", json::object()}};
  std::ifstream in(path);
  if (!in) return fresh;
  const json file = json::parse(in, nullptr, false);
  const int format = file.is_object() && file.value("format", json()).is_number_integer() ? file["format"].get<int>() : 0;
  if (format >= 1 && format < kPeakCacheFormat) {
    std::fprintf(stderr, "grokjit: the peaks cached in %s came from an older, wrong measurement; measuring again\n",
                 path.c_str());
    return fresh;
  }
  if (format != kPeakCacheFormat || !file.contains("machines") || !file["machines"].is_object()) {
    std::fprintf(stderr, "grokjit: warning: ignoring the unreadable peak cache %s (%s); measuring again\n",
                 path.c_str(), file.is_discarded() ? "not JSON" : "unknown layout");
    return fresh;
  }
  return file;
}

// The figures of `key` in the cache, if its entry holds two plausible numbers;
// a bad entry is said on stderr, and only it is measured again.
std::optional<MachinePeak> cached_entry(const json& file, const MachinePeak& wanted) {
  const json& machines = file["machines"];
  if (!machines.contains(wanted.key)) return std::nullopt;
  const json& e = machines[wanted.key];
  // Plausible: from a laptop core's fraction of a GB/s to a whole GPU's (an edited 1e308 is not).
  auto plausible = [&](const char* field) {
    return e.is_object() && e.contains(field) && e[field].is_number() && e[field].get<double>() >= 1e-2 &&
           e[field].get<double>() <= 1e6;
  };
  if (!plausible("fma_gflops") || !plausible("memory_gbs")) {
    std::fprintf(stderr, "grokjit: warning: ignoring the bad entry \"%s\" of the peak cache %s; measuring it again\n",
                 wanted.key.c_str(), wanted.cache_file.c_str());
    return std::nullopt;
  }
  MachinePeak p = wanted;
  p.fma_gflops = e["fma_gflops"].get<double>();
  p.memory_gbs = e["memory_gbs"].get<double>();
  p.measured_at = e.contains("measured_at") && e["measured_at"].is_string() ? e["measured_at"].get<std::string>() : "";
  p.from_cache = true;
  return p;
}

// The entry `key` of the peak cache, else measure() (announced as `what`)
// and cache it beside the other machines' entries.
MachinePeak cached_peak(const std::string& key, int threads, bool remeasure, const std::string& what,
                        const std::function<PeakFigures()>& measure) {
  MachinePeak p;
  p.threads = threads;
  p.key = key;
  p.cache_file = machine_peak_cache_file();
  json file = read_peak_cache(p.cache_file);
  if (!remeasure)
    if (std::optional<MachinePeak> cached = cached_entry(file, p)) return *cached;
  std::fprintf(stderr, "grokjit: measuring %s (once; cached in %s)\n", what.c_str(), p.cache_file.c_str());
  const PeakFigures measured = measure();
  p.fma_gflops = measured.fma_gflops;
  p.memory_gbs = measured.memory_gbs;
  p.measured_at = runtime::iso_utc_now();
  file["machines"][p.key] = {{"threads", threads}, {"fma_gflops", p.fma_gflops}, {"memory_gbs", p.memory_gbs},
                             {"measured_at", p.measured_at}};
  try {
    std::error_code ec;
    fs::create_directories(fs::path(p.cache_file).parent_path(), ec);
    runtime::write_file_atomically(p.cache_file, file.dump(2) + "\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "grokjit: warning: %s; the peak will be measured again next time\n", e.what());
  }
  return p;
}

}  // namespace

MachinePeak machine_peak(int threads, bool remeasure) {
  return cached_peak(machine_peak_key(threads), threads, remeasure,
                     "this machine's FMA peak and memory bandwidth on " + std::to_string(threads) + " threads", [threads] {
                       return PeakFigures{runtime::measure_fma_peak_gflops(threads),
                                          runtime::measure_memory_bandwidth_gbs(threads)};
                     });
}

MachinePeak gpu_peak(bool remeasure) {
  return cached_peak("GPU " + runtime::cu::driver().reason, 1, remeasure, "the GPU's FMA peak and memory bandwidth", [] {
    const runtime::CudaPeak peak = runtime::measure_cuda_peak();
    return PeakFigures{peak.fma_gflops, peak.memory_gbs};
  });
}

// ------------------------------------------------------------ grokjit bench

void add_bench_options(CLI::App& cmd, BenchArgs& args) {
  add_spec_options(cmd, args.spec);
  add_backend_option(cmd, args.spec);
  cmd.add_option("--fusion", args.fusion, "on | off | both (default both: side by side)")
      ->check(CLI::IsMember({"on", "off", "both"}));
  cmd.add_option("--steps", args.steps, "timed steps per program (default 30)")->check(CLI::Range(1, 1000000));
  cmd.add_option("--warmup", args.warmup, "untimed steps first (default 5)")->check(CLI::Range(0, 1000000));
  cmd.add_option("--threads", args.threads, "CPU threads (default GROKJIT_THREADS, else all cores)")
      ->check(CLI::Range(0, 4096));
  cmd.add_flag("--json", args.json, "machine-readable output (schema grokjit.bench/1, docs/cli.md)");
  cmd.add_flag("--remeasure-peak", args.remeasure_peak, "measure the FMA peak and memory bandwidth again (else cached)");
  cmd.add_option("--profile", args.profile,
                 "CPU: also time every kernel alone and list the N slowest per program (--json: all of them)")
      ->check(CLI::Range(1, 100000));
}

BenchReport collect_bench(const BenchArgs& args) {
  std::string backend = effective_backend(args.spec);
  const std::string why_no_cuda = runtime::cuda_unusable_reason();
  if (backend == "cuda" && !why_no_cuda.empty())
    throw Error("--backend cuda: no usable GPU: " + why_no_cuda + ". Use --backend cpu (or auto).", ExitCode::Usage);
  if (backend == "auto") {
    backend = why_no_cuda.empty() ? "cuda" : "cpu";
    std::fprintf(stderr, "grokjit: backend auto -> %s%s\n", backend.c_str(),
                 why_no_cuda.empty() ? "" : (" (no usable GPU: " + why_no_cuda + ")").c_str());
  }
  if (backend == "reference")
    throw Error("--backend reference is the float64 interpreter, not something to benchmark; use --backend cpu",
                ExitCode::Usage);
  if (args.profile > 0 && backend != "cpu")
    throw Error("--profile: per-kernel times are measured on the CPU backend only (on a GPU use Nsight Systems)",
                ExitCode::Usage);
  if (args.steps < 1) throw Error("--steps must be at least 1", ExitCode::Usage);
  if (args.warmup < 0) throw Error("--warmup must be at least 0", ExitCode::Usage);
  runtime::RunConfig config = load_run_config(args.spec);

  BenchReport report;
  report.spec_name = config.name;
  report.spec_file = args.spec.spec;
  report.backend = backend;
  report.threads = backend == "cuda" ? 1 : resolve_threads(args.threads);
  report.warmup = args.warmup;
  report.steps = args.steps;
  report.profile_top = args.profile;
  report.peak = backend == "cuda" ? gpu_peak(args.remeasure_peak) : machine_peak(report.threads, args.remeasure_peak);
  std::vector<bool> modes;
  if (args.fusion != "off") modes.push_back(true);
  if (args.fusion != "on") modes.push_back(false);
  for (bool fusion : modes) {
    std::fprintf(stderr, "grokjit: bench '%s', fusion %s: compiling (cold, then warm), %d + %d steps\n",
                 config.name.c_str(), fusion ? "on" : "off", args.warmup, args.steps);
    StepBenchOptions o;
    o.backend = backend;
    o.fusion = fusion;
    o.threads = report.threads;
    o.warmup = args.warmup;
    o.steps = args.steps;
    o.profile_kernels = args.profile > 0;
    report.runs.push_back(bench_train_step(config, o));
  }
  return report;
}

namespace {

struct Derived {
  double gflops_per_s, fraction_fma, gb_per_s, fraction_memory, flop_floor_ms, times_floor;
};

Derived derive(const StepBenchResult& r, const MachinePeak& peak) {
  Derived d{};
  double s = r.ms.median / 1e3;
  d.gflops_per_s = s > 0 ? r.flops / 1e9 / s : 0;
  d.gb_per_s = s > 0 ? (r.bytes_read + r.bytes_written) / 1e9 / s : 0;
  d.fraction_fma = peak.fma_gflops > 0 ? d.gflops_per_s / peak.fma_gflops : 0;
  d.fraction_memory = peak.memory_gbs > 0 ? d.gb_per_s / peak.memory_gbs : 0;
  d.flop_floor_ms = peak.fma_gflops > 0 ? r.flops / 1e9 / peak.fma_gflops * 1e3 : 0;
  d.times_floor = d.flop_floor_ms > 0 ? r.ms.median / d.flop_floor_ms : 0;
  return d;
}

const StepBenchResult* find_run(const BenchReport& report, bool fusion) {
  for (const auto& r : report.runs)
    if (r.fusion == fusion) return &r;
  return nullptr;
}

// The `top` slowest kernels of a profiled run, with their share of the sum.
std::string kernel_profile_table(const StepBenchResult& r, int top) {
  std::vector<size_t> order(r.kernel_ms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.kernel_ms[a] > r.kernel_ms[b]; });
  double total = 0;
  for (double ms : r.kernel_ms) total += ms;
  std::ostringstream out;
  const size_t shown = std::min(order.size(), static_cast<size_t>(std::max(top, 0)));
  out << "kernels, fusion " << (r.fusion ? "on" : "off") << ": " << format("%.3f", total) << " ms in " << order.size()
      << " kernels timed alone (best of 5 each); the " << shown << " slowest:\n";
  TextTable t({"ms", "of sum", "GFLOP/s", "GB/s", "<kernel", "<launch"});
  for (size_t i = 0; i < shown; ++i) {
    const size_t k = order[i];
    const runtime::KernelInfo& info = r.kernel_info[k];
    const double s = r.kernel_ms[k] / 1e3;
    t.add({format("%.3f", r.kernel_ms[k]), format("%.1f%%", total > 0 ? 100 * r.kernel_ms[k] / total : 0),
           format("%.1f", s > 0 ? info.flops / s / 1e9 : 0), format("%.1f", s > 0 ? (info.bytes_read + info.bytes_written) / s / 1e9 : 0),
           info.name, info.launch});
  }
  out << t.str();
  return out.str();
}

}  // namespace

nlohmann::ordered_json bench_report_json(const BenchReport& report) {
  json runs = json::array();
  for (const StepBenchResult& r : report.runs) {
    Derived d = derive(r, report.peak);
    runs.push_back({
        {"fusion", r.fusion},
        {"device", r.device},
        {"kernels_per_step", r.kernels},
        {"step_ms", {{"p20", r.ms.p20}, {"median", r.ms.median}, {"p80", r.ms.p80}, {"min", r.ms.min}, {"max", r.ms.max}}},
        {"step_ms_samples", r.step_ms},
        {"flops_per_step", r.flops},
        {"bytes_read_per_step", r.bytes_read},
        {"bytes_written_per_step", r.bytes_written},
        {"bytes_per_step", r.bytes_read + r.bytes_written},
        {"arena_bytes", r.arena_bytes},
        {"gflops_per_s", d.gflops_per_s},
        {"fraction_of_fma_peak", d.fraction_fma},
        {"gb_per_s", d.gb_per_s},
        {"fraction_of_memory_bandwidth", d.fraction_memory},
        {"flop_floor_ms", d.flop_floor_ms},
        {"times_flop_floor", d.times_floor},
        {"compile",
         {{"cold_s", r.compile_cold_s},
          {"warm_s", r.compile_warm_s},
          {"cold_llvm_s", r.cold_llvm_s},
          {"cold_cache_misses", r.cold_cache_misses},
          {"warm_cache_hits", r.warm_cache_hits}}},
    });
    if (!r.kernel_ms.empty()) {
      json kernels = json::array();
      for (size_t i = 0; i < r.kernel_ms.size(); ++i) {
        const runtime::KernelInfo& k = r.kernel_info[i];
        kernels.push_back({{"name", k.name}, {"ms", r.kernel_ms[i]}, {"flops", k.flops},
                           {"bytes", k.bytes_read + k.bytes_written}, {"launch", k.launch}, {"ops", k.ops}});
      }
      runs.back()["kernel_profile"] = std::move(kernels);
    }
  }
  json j{
      {"schema", kSchema},
      {"spec", report.spec_name},
      {"spec_file", report.spec_file},
      {"backend", report.backend},
      {"threads", report.threads},
      {"warmup_steps", report.warmup},
      {"timed_steps", report.steps},
      {"peak",
       {{"key", report.peak.key},
        {"threads", report.peak.threads},
        {"fma_gflops", report.peak.fma_gflops},
        {"memory_gbs", report.peak.memory_gbs},
        {"source", report.peak.from_cache ? "cache" : "measured"},
        {"measured_at", report.peak.measured_at},
        {"cache_file", report.peak.cache_file}}},
      {"runs", std::move(runs)},
  };
  const StepBenchResult *on = find_run(report, true), *off = find_run(report, false);
  if (on && off && on->ms.median > 0 && on->kernels > 0)
    j["fusion_gain"] = {{"step_speedup", off->ms.median / on->ms.median},
                        {"kernel_ratio", static_cast<double>(off->kernels) / static_cast<double>(on->kernels)}};
  return j;
}

std::string bench_report_table(const BenchReport& report) {
  std::ostringstream out;
  const std::string device = report.runs.empty() ? "cpu" : report.runs.front().device;
  out << "bench '" << report.spec_name << "' on " << device << ": " << report.steps << " timed steps after "
      << report.warmup << " warm-up\n";
  if (report.backend == "cuda") out << "step times from CUDA events, CUDA graph replay after the first step\n";
  out << (report.backend == "cuda" ? "device peak (" + report.peak.key + ")"
                                   : "machine peak (" + std::to_string(report.peak.threads) + " threads)")
      << ": FMA " << format("%.1f", report.peak.fma_gflops) << " GFLOP/s, memory "
      << format("%.1f", report.peak.memory_gbs) << " GB/s ("
      << (report.peak.from_cache ? "cached " + (report.peak.measured_at.empty() ? "" : report.peak.measured_at + " ") +
                                       "in " + report.peak.cache_file +
                                       "; --remeasure-peak to measure again"
                                 : "measured now, cached in " + report.peak.cache_file)
      << ")\n\n";
  TextTable t({"<fusion", "kernels", "p20 ms", "median ms", "p80 ms", "FLOP/step", "bytes/step", "GFLOP/s",
               "of FMA peak", "GB/s", "of mem bw", "compile cold s", "warm s"});
  for (const StepBenchResult& r : report.runs) {
    Derived d = derive(r, report.peak);
    t.add({r.fusion ? "on" : "off", std::to_string(r.kernels), format("%.3f", r.ms.p20), format("%.3f", r.ms.median),
           format("%.3f", r.ms.p80), human(r.flops), human(r.bytes_read + r.bytes_written, "B"),
           format("%.2f", d.gflops_per_s), format("%.1f%%", 100 * d.fraction_fma), format("%.2f", d.gb_per_s),
           format("%.1f%%", 100 * d.fraction_memory),
           r.compile_cold_s >= 0 ? format("%.2f", r.compile_cold_s) : std::string("-"), format("%.3f", r.compile_warm_s)});
  }
  out << t.str() << "\n";
  const StepBenchResult *on = find_run(report, true), *off = find_run(report, false);
  if (on && off && on->ms.median > 0 && on->kernels > 0)
    out << "fusion on vs off: " << format("%.2f", off->ms.median / on->ms.median) << "x step speed-up (median), "
        << format("%.1f", static_cast<double>(off->kernels) / static_cast<double>(on->kernels)) << "x fewer kernels\n";
  if (on && report.peak.fma_gflops > 0) {
    Derived d = derive(*on, report.peak);
    out << "FLOP floor (FLOPs per step / FMA peak): " << format("%.3f", d.flop_floor_ms) << " ms; the fused step takes "
        << format("%.1f", d.times_floor) << "x the floor\n";
  }
  for (const StepBenchResult& r : report.runs)
    if (!r.kernel_ms.empty()) out << "\n" << kernel_profile_table(r, report.profile_top);
  return out.str();
}

int run_bench(const BenchArgs& args, std::ostream& out) {
  BenchReport report = collect_bench(args);
  if (args.json) out << bench_report_json(report).dump(2) << "\n";
  else out << bench_report_table(report);
  return 0;
}

}  // namespace grokjit::cli
