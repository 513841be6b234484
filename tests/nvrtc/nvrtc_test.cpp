// NVRTC without a GPU: the ptxas report parser, compiling hand-written CUDA
// to CUBIN, the compile-error message, the disk cache (hit, corrupt entry),
// and every kernel of every shipped spec compiling for sm_90 without spills.
// Skips (with the reason) when grokjit was built without NVRTC.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "codegen/cuda_emit.h"
#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/cuda_device.h"
#include "runtime/nvrtc_compiler.h"
#include "runtime/cuda_peak.h"
#include "runtime/spec.h"
#include "runtime/step_graph.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;

#define SKIP_WITHOUT_NVRTC() \
  if (!nvrtc_available()) GTEST_SKIP() << "grokjit was built without NVRTC (no CUDA toolkit at configure time)"

// A fresh directory, removed at the end.
struct TempDir {
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = fs::temp_directory_path() / ("grokjit_nvrtc_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

// ---------------------------------------------------------------- parsing

TEST(PtxasReport, ParsesTheCuda13Log) {
  // Captured from NVRTC 13.0, sm_90, --ptxas-options=-v.
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "ptxas         .     400 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads\n"
      "ptxas info    : Used 40 registers, used 1 barriers, 400 bytes cumulative stack size, 256 bytes smem\n"
      "ptxas info    : Compile time = 58.087 ms\n";
  PtxasReport r = parse_ptxas_report(log);
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.registers, 40);
  EXPECT_EQ(r.spill_store_bytes, 8u);
  EXPECT_EQ(r.spill_load_bytes, 12u);
  EXPECT_EQ(r.spill_bytes(), 20u);
  EXPECT_EQ(r.static_smem_bytes, 256u);
  EXPECT_EQ(r.stack_frame_bytes, 400u);
  EXPECT_EQ(r.text(), "40 regs, spills 8+12 B, smem 256 B, stack 400 B");
}

TEST(PtxasReport, ParsesTheOlderLogAndSumsSpillsOverFunctions) {
  const std::string log =
      "ptxas info    : Function properties for helper\n"
      "    16 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_80'\n"
      "ptxas info    : Function properties for k\n"
      "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 18 registers, 128 bytes smem, 368 bytes cmem[0]\n";
  PtxasReport r = parse_ptxas_report(log);
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.registers, 18);
  EXPECT_EQ(r.spill_bytes(), 8u);
  EXPECT_EQ(r.static_smem_bytes, 128u);
  EXPECT_EQ(r.stack_frame_bytes, 16u);
}

TEST(PtxasReport, NoReportIsNotParsed) {
  PtxasReport r = parse_ptxas_report("warning: something unrelated\n");
  EXPECT_FALSE(r.parsed);
  EXPECT_EQ(r.text(), "no ptxas report");
}

// ------------------------------------------------------------- compiling

const char* kSaxpy = R"(
extern "C" __global__ void saxpy(float* __restrict__ y, const float* __restrict__ x, int n) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ float tile[64];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  tile[threadIdx.x % 64] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) y[i] = 2.0f * tile[(threadIdx.x + 1) % 64] + y[i];
}
)";

TEST(Nvrtc, CompilesAHandWrittenKernelToCubin) {
  SKIP_WITHOUT_NVRTC();
  NvrtcCompiler c(NvrtcOptions{}, "");
  CompiledCuda out = c.compile({"saxpy", "saxpy", kSaxpy, ""});
  ASSERT_GT(out.cubin.size(), 4u);
  EXPECT_EQ(out.cubin.substr(0, 4), std::string("\x7f" "ELF"));  // a CUBIN is an ELF file
  EXPECT_NE(out.ptx.find(".entry saxpy"), std::string::npos);
  EXPECT_NE(out.ptx.find(".target sm_90"), std::string::npos);
  EXPECT_TRUE(out.report.parsed) << out.log;
  EXPECT_GT(out.report.registers, 0);
  EXPECT_EQ(out.report.spill_bytes(), 0u);
  EXPECT_EQ(out.report.static_smem_bytes, 64u * 4u);
  EXPECT_FALSE(out.cache_hit);
  EXPECT_GT(out.seconds, 0);
}

// 96 independent accumulators live across a loop, capped at 32 registers a
// thread by __launch_bounds__ (1024 threads, 2 blocks an SM): ptxas spills.
const char* kSpiller = R"(
extern "C" __global__ void __launch_bounds__(1024, 2) spiller(float* __restrict__ out, const float* __restrict__ in, int n) {
  float acc[96];
#pragma unroll
  for (int j = 0; j < 96; ++j) acc[j] = in[j];
  for (int i = 0; i < n; ++i) {
#pragma unroll
    for (int j = 0; j < 96; ++j) acc[j] = acc[j] * in[i] + acc[(j + 1) % 96];
  }
  float s = 0;
#pragma unroll
  for (int j = 0; j < 96; ++j) s += acc[j] * (float)(j + 1);
  out[threadIdx.x] = s;
}
)";

// The GPU peak's kernels (runtime/cuda_peak.h) compile without spills, and the
// FMA kernel's unrolled loop is fused multiply-adds (16 x 8 chains at least).
TEST(Nvrtc, PeakKernelsCompileWithoutSpills) {
  SKIP_WITHOUT_NVRTC();
  NvrtcCompiler c(NvrtcOptions{}, "");
  std::vector<CompiledCuda> compiled;
  for (const CudaPeakKernel& k : {cuda_fma_peak_kernel(), cuda_copy_peak_kernel()}) {
    SCOPED_TRACE(k.symbol);
    const CompiledCuda& out = compiled.emplace_back(c.compile({k.symbol, k.symbol, k.source, ""}));
    EXPECT_NE(out.ptx.find(std::string(".entry ") + k.symbol), std::string::npos);
    EXPECT_TRUE(out.report.parsed) << out.log;
    EXPECT_EQ(out.report.spill_bytes(), 0u) << out.log;
  }
  const CompiledCuda& fma = compiled.front();
  // 8 blocks of 256 threads per SM (full occupancy) need at most 32 registers a thread.
  EXPECT_LE(fma.report.registers, 32) << fma.log;
  const std::string& ptx = fma.ptx;
  size_t fmas = 0;
  for (size_t at = ptx.find("fma.rn.f32"); at != std::string::npos; at = ptx.find("fma.rn.f32", at + 1)) ++fmas;
  EXPECT_GE(fmas, 128u) << ptx;
}

// The host's expectation of the FMA kernel's output: no iterations give the
// start values' sum; many bring each chain to c / (1 - m) = 1.
TEST(CudaPeak, HostExpectationOfTheFmaKernel) {
  const float a0[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  float sum = a0[0];
  for (int k = 1; k < 8; ++k) sum += a0[k];
  EXPECT_EQ(cuda_fma_peak_expected(0, a0, 0.999f, 0.001f), sum);
  EXPECT_NEAR(cuda_fma_peak_expected(1 << 17, a0, 0.999f, 0.001f), 8.0f, 1e-3f);
  // One step by hand: 0.5 * 0.5 + 0.25 for every chain.
  const float halves[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  EXPECT_EQ(cuda_fma_peak_expected(1, halves, 0.5f, 0.25f), 4.0f);
}

TEST(Nvrtc, ReportsSpills) {
  SKIP_WITHOUT_NVRTC();
  NvrtcCompiler c(NvrtcOptions{}, "");
  CompiledCuda out = c.compile({"spiller", "spiller", kSpiller, ""});
  EXPECT_TRUE(out.report.parsed) << out.log;
  EXPECT_LE(out.report.registers, 32) << out.log;
  EXPECT_GT(out.report.spill_bytes(), 0u) << out.log;
}

TEST(Nvrtc, CompileErrorCarriesEverythingToReproduceIt) {
  SKIP_WITHOUT_NVRTC();
  TempDir dir("error");
  NvrtcOptions o;
  o.arch = "sm_90a";
  NvrtcCompiler c(o, dir.path.string());
  const std::string source = "extern \"C\" __global__ void broken(float* y) { y[0] = undeclared_name; }\n";
  try {
    c.compile({"E_broken_4", "broken_0123", source, "grokjit kernels SPEC --backend cuda --kernel E_broken_4"});
    FAIL() << "compiling an undeclared name succeeded";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.code(), ExitCode::Compile);
    EXPECT_NE(m.find("E_broken_4"), std::string::npos) << m;
    EXPECT_NE(m.find("arch: sm_90a"), std::string::npos) << m;
    EXPECT_NE(m.find("NVRTC: " + nvrtc_version()), std::string::npos) << m;
    EXPECT_NE(m.find("--gpu-architecture=sm_90a -std=c++17 --ptxas-options=-v"), std::string::npos) << m;
    EXPECT_NE(m.find("undeclared_name"), std::string::npos) << m;  // the log
    EXPECT_NE(m.find("error"), std::string::npos) << m;
    fs::path saved = dir.path / "failed" / "broken_0123.cu";
    EXPECT_NE(m.find("source saved to: " + saved.string()), std::string::npos) << m;
    std::ifstream in(saved);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, source);
    EXPECT_NE(m.find("reproduce: /usr/local/cuda/bin/nvcc -cubin -arch=sm_90a -std=c++17 -Xptxas -v"), std::string::npos) << m;
    EXPECT_NE(m.find(saved.string()), std::string::npos);
    EXPECT_NE(m.find("or: grokjit kernels SPEC --backend cuda --kernel E_broken_4"), std::string::npos) << m;
  }
}

TEST(Nvrtc, AVirtualArchGivesNoCubinAndSaysSo) {
  SKIP_WITHOUT_NVRTC();
  NvrtcOptions o;
  o.arch = "compute_90";
  NvrtcCompiler c(o, "");
  try {
    c.compile({"saxpy", "saxpy", kSaxpy, ""});
    FAIL() << "compute_90 gave a CUBIN";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Compile);
    EXPECT_NE(std::string(e.what()).find("no CUBIN"), std::string::npos) << e.what();
  }
}

TEST(Nvrtc, SecondCompileIsACacheHitAndACorruptEntryIsRecompiled) {
  SKIP_WITHOUT_NVRTC();
  TempDir dir("cache");
  CudaCompileRequest req{"saxpy", "saxpy", kSaxpy, ""};
  std::string cubin;
  {
    NvrtcCompiler c(NvrtcOptions{}, dir.path.string());
    CompiledCuda first = c.compile(req);
    EXPECT_FALSE(first.cache_hit);
    cubin = first.cubin;
  }
  NvrtcCompiler c(NvrtcOptions{}, dir.path.string());
  CompiledCuda hit = c.compile(req);
  EXPECT_TRUE(hit.cache_hit);
  EXPECT_EQ(hit.cubin, cubin);
  EXPECT_EQ(hit.report.registers, parse_ptxas_report(hit.log).registers);
  EXPECT_TRUE(hit.report.parsed);

  // Other options or another arch: another key.
  NvrtcOptions lines;
  lines.lineinfo = true;
  EXPECT_NE(NvrtcCompiler(lines, dir.path.string()).cache_key(req), c.cache_key(req));
  NvrtcOptions a;
  a.arch = "sm_90a";
  EXPECT_NE(NvrtcCompiler(a, dir.path.string()).cache_key(req), c.cache_key(req));

  // Flip one byte of the payload: detected, removed, recompiled.
  std::string path = c.cache().path_of(c.cache_key(req));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f) << path;
    f.seekp(100);
    f.put('\x5a');
  }
  testing::internal::CaptureStderr();
  CompiledCuda again = c.compile(req);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(again.cache_hit);
  EXPECT_EQ(again.cubin, cubin);
  EXPECT_EQ(c.cache().corrupt_entries(), 1u);
  EXPECT_NE(err.find("corrupt"), std::string::npos) << err;
  EXPECT_TRUE(c.compile(req).cache_hit);  // rewritten
}

TEST(Nvrtc, CompileAllDedupesBySymbolAndKeepsOrder) {
  SKIP_WITHOUT_NVRTC();
  NvrtcCompiler c(NvrtcOptions{}, "");
  std::vector<CudaCompileRequest> reqs{{"a", "saxpy", kSaxpy, ""}, {"b", "spiller", kSpiller, ""}, {"c", "saxpy", kSaxpy, ""}};
  std::vector<CompiledCuda> out = c.compile_all(reqs, 2);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "a");
  EXPECT_EQ(out[1].symbol, "spiller");
  EXPECT_EQ(out[2].name, "c");
  EXPECT_EQ(out[2].cubin, out[0].cubin);
}

// ------------------------------------------- every kernel of every spec

// The shipped specs (specs/*.json), their train-step and eval programs,
// fusion on and off: every distinct kernel compiles for sm_90 with zero
// spill bytes. Cold compile in an empty cache, in parallel on all cores.
TEST(Nvrtc, EveryKernelOfEveryShippedSpecCompilesWithoutSpills) {
  SKIP_WITHOUT_NVRTC();
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  std::vector<std::string> specs;
  for (const auto& e : fs::directory_iterator(fs::path(GROKJIT_SOURCE_DIR) / "specs"))
    if (e.path().extension() == ".json") specs.push_back(e.path().string());
  std::sort(specs.begin(), specs.end());
  ASSERT_FALSE(specs.empty());

  const codegen::CudaTarget target;  // sm_90
  std::vector<CudaCompileRequest> requests;
  std::map<std::string, std::string> where;  // symbol -> "spec/program/fusion"
  std::map<std::string, codegen::CudaLaunch> launches;
  size_t kernels = 0;
  std::string emit_failures;
  for (const std::string& path : specs) {
    RunConfig config = load_spec(path);
    tasks::Dataset data = tasks::make_dataset(config.task);
    StepGraphs graphs = build_step_graphs(config, data_shape(config, data, tasks::make_split(config.task)));
    for (bool fusion : {true, false})
      for (const auto& [program, graph] : {std::pair{"train", &graphs.train}, std::pair{"eval", &graphs.eval}}) {
        CompileOptions co;
        co.fusion = fusion;
        codegen::ProgramPlan plan = cuda_plan(*graph, co);
        for (const auto& pk : plan.kernels) {
          ++kernels;
          codegen::CudaKernelSource src;
          try {
            src = codegen::emit_cuda(pk.kernel, target);
          } catch (const std::exception& e) {
            emit_failures += "\n  " + pk.kernel.name + ": " + e.what();
            continue;
          }
          if (!where.emplace(src.symbol, fs::path(path).stem().string() + "/" + program + "/fusion " + (fusion ? "on" : "off")).second)
            continue;
          launches[src.symbol] = src.launch;
          requests.push_back({pk.kernel.name, src.symbol, src.source, ""});
        }
      }
  }
  double plan_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(emit_failures.empty()) << "the CUDA emitter (codegen/cuda_emit.cpp) failed on:" << emit_failures;
  TempDir dir("all");
  NvrtcCompiler compiler(NvrtcOptions{}, dir.path.string());
  auto t1 = Clock::now();
  std::vector<CompiledCuda> out = compiler.compile_all(requests, 0);
  double compile_s = std::chrono::duration<double>(Clock::now() - t1).count();

  double serial = 0;
  int max_regs = 0;
  std::string spilled;
  for (const CompiledCuda& c : out) {
    serial += c.seconds;
    max_regs = std::max(max_regs, c.report.registers);
    EXPECT_TRUE(c.report.parsed) << c.name << ": no ptxas report in\n" << c.log;
    EXPECT_GT(c.cubin.size(), 0u) << c.name;
    if (c.report.spill_bytes() > 0)
      spilled += "\n  " + c.name + " (" + where[c.symbol] + "): " + c.report.text() + ", " + launches[c.symbol].text();
  }
  EXPECT_TRUE(spilled.empty()) << "kernels that spill:" << spilled;
  std::printf("[ nvrtc    ] %zu specs, %zu kernels, %zu distinct: planned+emitted in %.1f s, compiled in %.1f s wall "
              "(%.1f s of NVRTC, %.0f ms a kernel), max %d registers\n",
              specs.size(), kernels, requests.size(), plan_s, compile_s, serial,
              requests.empty() ? 0.0 : 1e3 * serial / static_cast<double>(requests.size()), max_regs);
}

}  // namespace
}  // namespace grokjit::runtime
