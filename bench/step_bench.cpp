// The training step of a spec (default: specs/add-adamw.json) on the CPU
// device, fusion on and off: kernels per step, median / p20 / p80 step time
// after warm-up, FLOPs per step (from the kernel IR), achieved GFLOP/s and the
// fraction of this machine's measured FMA peak, and compile time.
//
//   build/release/bench/step_bench [SPEC] [--steps N] [--warmup N] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "models/params.h"
#include "runtime/cpu_device.h"
#include "runtime/machine_peak.h"
#include "runtime/spec.h"
#include "runtime/trainer.h"

using namespace grokjit;
using Clock = std::chrono::steady_clock;

namespace {

struct StepTimes {
  double p20, median, p80;
};

StepTimes percentiles(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<size_t>(q * static_cast<double>(ms.size() - 1))]; };
  return {at(0.2), at(0.5), at(0.8)};
}

struct Result {
  size_t kernels;
  double flops, bytes;
  double compile_s;
  StepTimes t;
};

Result bench(const runtime::RunConfig& config, bool fusion, int threads, int warmup, int steps) {
  tasks::Dataset data = tasks::make_dataset(config.task);
  tasks::Split split = tasks::make_split(config.task);
  runtime::StepGraphs graphs = runtime::build_step_graphs(config, runtime::data_shape(config, data, split));
  auto device = runtime::make_cpu_device(threads);
  runtime::CompileOptions options;
  options.fusion = fusion;
  auto t0 = Clock::now();
  auto program = device->compile(graphs.train, options);
  double compile_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // Bind every input (params initialized, data from the first rows) and output.
  std::vector<std::unique_ptr<runtime::Buffer>> buffers;
  runtime::Buffer* step_buf = nullptr;
  std::vector<std::vector<float>> init = models::init_params(graphs.params, config.train.seed);
  const int64_t B = config.train.batch_size, T = data.seq_len;
  for (ir::NodeId id : graphs.train.inputs()) {
    const ir::Node& n = graphs.train.node(id);
    size_t bytes = static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype);
    auto buf = device->alloc(bytes);
    const std::string& name = n.attrs.name;
    for (size_t i = 0; i < graphs.params.size(); ++i)
      if (graphs.params[i].name == name) buf->write(init[i].data(), bytes);
    if (name == "tokens") buf->write(data.tokens.data(), static_cast<size_t>(B * T) * sizeof(int32_t));
    if (name == "labels") buf->write(data.labels.data(), static_cast<size_t>(B) * sizeof(int32_t));
    if (name == "row_mask") {
      std::vector<float> ones(static_cast<size_t>(B), 1.0f);
      buf->write(ones.data(), bytes);
    }
    if (name == "inv_rows" || name == "lr_scale") {
      float v = name == "inv_rows" ? 1.0f / static_cast<float>(B) : 1.0f;
      buf->write(&v, sizeof v);
    }
    program->bind(name, *buf);
    if (name == "step") step_buf = buf.get();
    buffers.push_back(std::move(buf));
  }
  for (const ir::Output& o : graphs.train.outputs()) {
    auto buf = device->alloc(sizeof(float));
    program->bind(o.name, *buf);
    buffers.push_back(std::move(buf));
  }

  std::vector<double> ms;
  for (int i = 0; i < warmup + steps; ++i) {
    int32_t step = i + 1;  // bias corrections need step >= 1
    step_buf->write(&step, sizeof step);
    auto s0 = Clock::now();
    program->run();
    if (i >= warmup) ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - s0).count());
  }
  Result r{program->stats().kernels, 0, 0, compile_s, percentiles(ms)};
  for (const auto& k : program->stats().kernel_info) {
    r.flops += k.flops;
    r.bytes += k.bytes_read + k.bytes_written;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec = "specs/add-adamw.json";
  int steps = 30, warmup = 5, threads = 0;
  for (int i = 1; i < argc; ++i) {
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (!std::strcmp(argv[i], "--steps")) steps = next();
    else if (!std::strcmp(argv[i], "--warmup")) warmup = next();
    else if (!std::strcmp(argv[i], "--threads")) threads = next();
    else spec = argv[i];
  }
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  try {
    runtime::RunConfig config = runtime::load_spec(spec);
    double peak = runtime::measure_fma_peak_gflops(threads);
    std::printf("spec %s, %d thread(s), measured FMA peak %.1f GFLOP/s\n", spec.c_str(), threads, peak);
    std::printf("%-8s %8s %10s %10s %10s %10s %9s %9s %9s\n", "fusion", "kernels", "p20 ms", "median ms", "p80 ms",
                "GFLOP/step", "GFLOP/s", "of peak", "compile s");
    for (bool fusion : {true, false}) {
      Result r = bench(config, fusion, threads, warmup, steps);
      double gflops = r.flops / 1e9;
      double achieved = gflops / (r.t.median / 1e3);
      std::printf("%-8s %8zu %10.2f %10.2f %10.2f %10.3f %9.1f %8.1f%% %9.2f\n", fusion ? "on" : "off", r.kernels,
                  r.t.p20, r.t.median, r.t.p80, gflops, achieved, 100.0 * achieved / peak, r.compile_s);
      if (fusion)
        std::printf("         FLOP floor (FLOPs / peak): %.2f ms; fused step is %.2fx the floor\n", gflops / peak * 1e3,
                    r.t.median / (gflops / peak * 1e3));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "step_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
