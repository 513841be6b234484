// The CUDA device on a real GPU: graphs against the float64 interpreter and
// the CPU device, and CUDA graph replay against plain launches. Every test
// skips with "no usable GPU: <reason>" where there is none (CI, laptops).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "../codegen/harness.h"
#include "../codegen/tiny_model.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "runtime/cuda_device.h"
#include "runtime/cuda_peak.h"
#include "runtime/host_buffer.h"

namespace grokjit {
namespace {

namespace fs = std::filesystem;

#define SKIP_WITHOUT_GPU()                                                          \
  if (std::string why = runtime::cuda_unusable_reason(); !why.empty()) GTEST_SKIP() \
      << "no usable GPU: " << why

std::string cache_dir() {
  static const std::string dir = [] {
    fs::path p = fs::temp_directory_path() / ("grokjit_test_gpu_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p.string();
  }();
  return dir;
}

runtime::Device& cuda_device(bool graphs = true) {
  static std::unique_ptr<runtime::Device> with, without;
  auto& d = graphs ? with : without;
  if (!d) {
    runtime::CudaDeviceOptions o;
    o.use_default_cache = false;
    o.cache_dir = cache_dir();
    o.graphs = graphs;
    d = runtime::make_cuda_device(o);
  }
  return *d;
}

void expect_matches(const ir::Graph& g, const ir::TensorMap& in, testing::Tolerance tol, bool fusion) {
  runtime::CompileOptions o;
  o.fusion = fusion;
  runtime::ProgramStats stats;
  testing::RunResult gpu = testing::run_on(cuda_device(), g, in, o, &stats);
  testing::RunResult cpu = testing::run_on(testing::cpu_device(), g, in, o);
  ir::InterpretResult want = ir::interpret(g, in);
  for (const auto& [name, t] : want.outputs) {
    testing::expect_close(gpu.outputs.at(name), t, "gpu output " + name, tol);
    testing::expect_close(gpu.outputs.at(name), cpu.outputs.at(name), "gpu vs cpu output " + name, tol);
  }
  for (const auto& [name, t] : want.updated) {
    testing::expect_close(gpu.updated.at(name), t, "gpu updated " + name, tol);
    testing::expect_close(gpu.updated.at(name), cpu.updated.at(name), "gpu vs cpu updated " + name, tol);
  }
  EXPECT_EQ(stats.kernel_info.size(), stats.kernels);
  for (const auto& k : stats.kernel_info) EXPECT_NE(k.launch.find("regs"), std::string::npos) << k.launch;
}

TEST(Gpu, DeviceNameAndBuffersRoundTrip) {
  SKIP_WITHOUT_GPU();
  runtime::Device& d = cuda_device();
  EXPECT_EQ(d.name().rfind("cuda (", 0), 0u) << d.name();
  auto b = d.alloc(1000);
  std::vector<uint8_t> zero(1000, 1), data(1000);
  b->read(zero.data(), 1000);
  for (uint8_t z : zero) ASSERT_EQ(z, 0);  // zero-filled
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  b->write(data.data(), 600, 0);
  b->write(data.data() + 600, 400, 600);
  std::vector<uint8_t> back(1000);
  b->read(back.data(), 1000);
  EXPECT_EQ(back, data);
  EXPECT_THROW(b->write(data.data(), 10, 995), Error);
}

// The GPU's peak (runtime/cuda_peak.h): measure_cuda_peak checks the FMA
// kernel's every thread against the host bit for bit and the copy's last
// bytes, and throws otherwise. Both figures are positive and finite.
TEST(Gpu, PeakIsMeasuredByKernelsThatComputedWhatTheHostDid) {
  SKIP_WITHOUT_GPU();
  const runtime::CudaPeak peak = runtime::measure_cuda_peak();
  EXPECT_GT(peak.fma_gflops, 0);
  EXPECT_GT(peak.memory_gbs, 0);
  EXPECT_TRUE(std::isfinite(peak.fma_gflops) && std::isfinite(peak.memory_gbs));
  std::printf("[ gpu      ] FMA peak %.0f GFLOP/s, memory %.0f GB/s\n", peak.fma_gflops, peak.memory_gbs);
}

TEST(Gpu, SmallGraphMatchesInterpreterAndCpu) {
  SKIP_WITHOUT_GPU();
  testing::TinyConfig cfg;
  cfg.update = false;  // loss and gradients
  cfg.dropout = false;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    expect_matches(m.graph, testing::tiny_inputs(m, cfg, 5), {3e-4, 3e-5}, fusion);
  }
}

TEST(Gpu, TinyTransformerTrainStepMatchesInterpreterAndCpu) {
  SKIP_WITHOUT_GPU();
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    expect_matches(m.graph, testing::tiny_inputs(m, cfg, 22), {3e-4, 3e-5}, fusion);
  }
}

// Five steps of the train step (params updated in place each step) with
// plain launches and with graph capture after the first step: the same bits.
TEST(Gpu, CudaGraphReplayEqualsPlainLaunches) {
  SKIP_WITHOUT_GPU();
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  ir::TensorMap in = testing::tiny_inputs(m, cfg, 9);
  struct Run {
    std::unique_ptr<runtime::Program> program;
    std::map<std::string, std::unique_ptr<runtime::Buffer>> buffers;
  };
  auto setup = [&](runtime::Device& d) {
    Run r;
    r.program = d.compile(m.graph, {});
    for (ir::NodeId id : m.graph.inputs()) {
      const ir::Node& n = m.graph.node(id);
      const ir::Tensor64& t = in.at(n.attrs.name);
      size_t bytes = t.data.size() * ir::dtype_size(n.dtype);
      std::vector<uint8_t> raw(bytes);
      runtime::f64_to_bytes(t.data, n.dtype, raw.data());
      auto b = d.alloc(bytes);
      b->write(raw.data(), bytes);
      r.program->bind(n.attrs.name, *b);
      r.buffers[n.attrs.name] = std::move(b);
    }
    for (const auto& o : m.graph.outputs()) {
      const ir::Node& n = m.graph.node(o.node);
      auto b = d.alloc(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
      r.program->bind(o.name, *b);
      r.buffers["out:" + o.name] = std::move(b);
    }
    return r;
  };
  Run plain = setup(cuda_device(false)), graph = setup(cuda_device(true));
  auto bytes_of = [](runtime::Buffer& b) {
    std::vector<uint8_t> v(b.bytes());
    b.read(v.data(), v.size());
    return v;
  };
  for (int step = 0; step < 5; ++step) {
    plain.program->run();
    graph.program->run();
    EXPECT_FALSE(runtime::cuda_graph_replaying(*plain.program));
    EXPECT_EQ(runtime::cuda_graph_replaying(*graph.program), step >= 1) << "step " << step;
    EXPECT_TRUE(runtime::cuda_last_run_ms(*graph.program).has_value());
    for (auto& [name, b] : plain.buffers)
      EXPECT_EQ(bytes_of(*b), bytes_of(*graph.buffers.at(name))) << name << " after step " << step;
  }
  // Rebinding the same buffer keeps the graph; another buffer drops it (the
  // captured launches hold the old address) and the next run captures anew.
  const std::string name = graph.buffers.begin()->first;
  runtime::Buffer& old_buffer = *graph.buffers.begin()->second;
  graph.program->bind(name, old_buffer);
  EXPECT_TRUE(runtime::cuda_graph_replaying(*graph.program));
  auto moved = cuda_device(true).alloc(old_buffer.bytes());
  std::vector<uint8_t> copy = bytes_of(old_buffer);
  moved->write(copy.data(), copy.size());
  graph.program->bind(name, *moved);
  EXPECT_FALSE(runtime::cuda_graph_replaying(*graph.program));
  plain.program->run();
  graph.program->run();
  EXPECT_TRUE(runtime::cuda_graph_replaying(*graph.program));
  for (auto& [n, b] : plain.buffers)
    EXPECT_EQ(bytes_of(*b), bytes_of(n == name ? *moved : *graph.buffers.at(n))) << n << " after the rebind";
}

TEST(Gpu, BindingAHostBufferIsAClearError) {
  SKIP_WITHOUT_GPU();
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  auto program = cuda_device().compile(m.graph, {});
  const ir::Node& n = m.graph.node(m.graph.inputs().front());
  runtime::HostBuffer host(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
  try {
    program->bind(n.attrs.name, host);
    FAIL() << "a host buffer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not in GPU memory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(program->run(), Error);  // nothing bound
}

}  // namespace
}  // namespace grokjit
