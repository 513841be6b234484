// The training-step benchmark behind `grokjit bench` (cli/bench.cpp): bind a
// train-step program to fresh buffers and time its steps, compile cold and
// warm, and this machine's measured peaks, cached on disk.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "runtime/device.h"
#include "runtime/step_graph.h"
#include "runtime/train_config.h"
#include "tasks/dataset.h"

namespace grokjit::cli {

struct Percentiles {
  double p20 = 0, median = 0, p80 = 0, min = 0, max = 0;
};
// Nearest-rank percentiles of `values` (all zero for an empty vector).
Percentiles percentiles(std::vector<double> values);

// A train-step program's inputs and outputs bound to fresh device buffers:
// parameters initialized from train.seed, optimizer state zero, the first
// `batch` training rows of the split as data (all rows real; the training
// rows repeat if there are fewer), inv_rows = 1/batch, lr_scale = 1,
// seed = train.seed. The step counter is written before every run.
class BoundTrainStep {
 public:
  BoundTrainStep(runtime::Device& device, runtime::Program& program, const runtime::StepGraphs& graphs,
                 const runtime::RunConfig& config, const tasks::Dataset& data, const tasks::Split& split);
  // Runs `warmup` untimed steps then `steps` timed ones (step counter 1, 2,
  // ... continuing across calls); the ms of each timed step: the device's
  // own time on CUDA (events around the step), else a steady clock.
  std::vector<double> time_steps(int warmup, int steps);

 private:
  runtime::Program& program_;
  std::vector<std::unique_ptr<runtime::Buffer>> buffers_;
  runtime::Buffer* step_ = nullptr;
  int32_t next_step_ = 1;
};

struct StepBenchOptions {
  std::string backend = "cpu";  // cpu | cuda (device events, CUDA graph replay)
  bool fusion = true;
  int threads = 0;  // 0 = GROKJIT_THREADS, and if that is 0 all cores
  int warmup = 5;
  int steps = 30;
  // true: compile into an empty temporary kernel cache (cold: every kernel
  // goes through LLVM), then again on a fresh device from that cache (warm:
  // every kernel is a disk hit); the warm program is the one timed.
  // false: one compile with the user's cache (compile_cold_s stays -1).
  bool cold_and_warm = true;
  // CPU only (collect_bench rejects it for CUDA): after the timed steps, time
  // every kernel alone (the best of 5 runs in program order;
  // runtime::profile_kernels) into kernel_ms.
  bool profile_kernels = false;
};

struct StepBenchResult {
  bool fusion = true;
  int threads = 1;
  std::string device;
  size_t kernels = 0;  // launches per step
  double flops = 0, bytes_read = 0, bytes_written = 0;  // per step, from the kernel IR
  size_t arena_bytes = 0;
  double compile_cold_s = -1, compile_warm_s = -1;  // wall time of Device::compile
  double cold_llvm_s = 0;  // of the cold compile: LLVM O3 + codegen
  size_t cold_cache_misses = 0, warm_cache_hits = 0;
  std::vector<double> step_ms;  // each timed step
  Percentiles ms;
  std::vector<runtime::KernelInfo> kernel_info;  // in program order
  std::vector<double> kernel_ms;  // with profile_kernels: per kernel of kernel_info, else empty
};

// Builds the spec's step graphs and benchmarks the train step on the CPU or CUDA device.
StepBenchResult bench_train_step(const runtime::RunConfig& config, const StepBenchOptions& options);

// This machine's fp32 FMA peak and memory bandwidth for `threads` threads
// (runtime/machine_peak.h), measured once and cached in
// <GROKJIT_CACHE_DIR>/machine_peak.json under machine_peak_key(threads).
struct MachinePeak {
  std::string key;
  int threads = 1;
  double fma_gflops = 0;
  double memory_gbs = 0;
  bool from_cache = false;
  std::string measured_at;  // UTC, ISO 8601
  std::string cache_file;
};
std::string machine_peak_key(int threads);  // "<cpu model> (<llvm cpu>), <threads> threads"
std::string machine_peak_cache_file();
// remeasure: ignore the cached entry, measure and overwrite it. A corrupt
// cache file is reported on stderr and replaced; a cache that cannot be
// written only costs a warning.
MachinePeak machine_peak(int threads, bool remeasure);
// The same for the GPU (runtime/cuda_peak.h), keyed by the device, its
// compute capability and driver: "GPU NVIDIA H100 ... (sm_90, driver 13.0, 1 device)".
MachinePeak gpu_peak(bool remeasure);

// `grokjit bench`: everything measured, then formatted (tests check both forms).
struct BenchReport {
  std::string backend = "cpu";  // cpu | cuda (no CPU peak: its fields stay 0)
  std::string spec_name, spec_file;
  int threads = 1, warmup = 0, steps = 0;
  MachinePeak peak;
  std::vector<StepBenchResult> runs;  // fusion on first, then off
  int profile_top = 0;                // kernels the table lists per profiled run
};
BenchReport collect_bench(const BenchArgs& args);
nlohmann::ordered_json bench_report_json(const BenchReport& report);  // schema in docs/cli.md
std::string bench_report_table(const BenchReport& report);

}  // namespace grokjit::cli
