// The CPU runtime: determinism across thread counts, the kernel cache (hit,
// miss, corrupt entries), the memory plan, in-place updates, bind errors and
// a run() that allocates nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <unistd.h>
#include <random>
#include <regex>
#include <xmmintrin.h>

#include "codegen/memory_plan.h"
#include "codegen/plan.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "tests/codegen/harness.h"
#include "tests/codegen/tiny_model.h"

// Counts heap allocations while `g_count_allocations` is set.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (g_count_allocations.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC sees free() of what it takes for a new-expression's memory; here the
// replaced operator new above got it from malloc().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace grokjit {
namespace {

using namespace ir;

testing::TinyConfig medium_config() {
  testing::TinyConfig c;
  c.batch = 48;
  c.seq = 4;
  c.d = 64;
  c.ffn = 128;
  c.vocab = 23;
  c.layers = 2;
  return c;
}

TEST(Runtime, BitwiseSameForAnyThreadCount) {
  testing::TinyConfig cfg = medium_config();
  testing::TinyModel m = testing::tiny_transformer(cfg);
  TensorMap in = testing::tiny_inputs(m, cfg, 21);
  // Each thread count plans its own matmul tiles (TargetInfo::gemm_parallel_tiles): so this also checks that the
  // tiling never changes a result.
  auto tiles = [&](int threads) {
    runtime::CompileOptions o;
    o.threads = threads;
    std::string launches;
    for (const auto& pk : runtime::cpu_plan(m.graph, o).kernels)
      if (pk.kernel.kind == "MM" || pk.kernel.kind == "BMM") launches += codegen::launch_shape(pk.kernel) + "; ";
    return launches;
  };
  ASSERT_NE(tiles(1), tiles(3));
  auto one = testing::run_on(testing::cpu_device(1), m.graph, in);
  for (int threads : {2, 3}) {
    auto other = testing::run_on(testing::cpu_device(threads), m.graph, in);
    for (const auto& [name, t] : one.outputs) testing::expect_bitwise(other.outputs.at(name), t, name + " with " + std::to_string(threads) + " threads");
    for (const auto& [name, t] : one.updated) testing::expect_bitwise(other.updated.at(name), t, name + " with " + std::to_string(threads) + " threads");
  }
}

TEST(Runtime, MediumModelMatchesInterpreter) {
  testing::TinyConfig cfg = medium_config();
  cfg.layers = 1;
  cfg.batch = 16;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  testing::check_against_interpreter(m.graph, testing::tiny_inputs(m, cfg, 22), {3e-4, 3e-5});
}

// The AVX-512 code paths (16-lane vectors, 6 x 32 matmul register tiles,
// 16 x 16 register transposes in the pack of a transposed B) run on any x86
// host: a device emitting 512-bit vectors on an AVX2 host gets each vector
// operation split in two by LLVM. They must match the interpreter as the
// native width does: a training step, and matmuls with transposed operands
// at panel and block edges, in f32 and f64.
TEST(Runtime, WiderVectorsThanTheHostMatchTheInterpreter) {
  runtime::CpuDeviceOptions o;
  o.threads = 2;
  o.use_default_cache = false;
  o.cache_dir = testing::test_cache_dir();
  o.vector_bytes = 64;
  auto device = runtime::make_cpu_device(o);
  EXPECT_NE(device->name().find("512-bit vectors"), std::string::npos) << device->name();
  EXPECT_EQ(runtime::cpu_target_info(2, 64).gemm_nr, 32);
  testing::TinyConfig cfg = medium_config();
  cfg.layers = 1;
  cfg.batch = 16;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    testing::check_against_interpreter_on(*device, m.graph, testing::tiny_inputs(m, cfg, 22), {3e-4, 3e-5}, fusion);
  }
  for (DType t : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(t));
    Graph g;
    testing::add_transposed_matmuls(g, t);
    testing::check_against_interpreter_on(*device, g, testing::random_inputs(g, 5),
                                          t == DType::F32 ? testing::Tolerance{1e-5, 2e-4} : testing::Tolerance{1e-12, 1e-12});
  }
}

Graph small_graph(double scale) {
  Graph g;
  Value x = input(g, "x", {16, 24}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {24, 8}, DType::F32, InputRole::Param);
  output(softmax(matmul(x, w) * scale, -1), "y");
  output(sum(exp(x), {1}), "s");
  return g;
}

// A matmul's fused activation runs at the full vector width of the host (on
// AVX-512 LLVM's cost model alone picks 256 bits): the sigmoid's division,
// which only the epilogue has, is one full-width vector operation.
TEST(Runtime, GemmEpilogueRunsAtFullVectorWidth) {
  Graph g;
  Value x = input(g, "x", {64, 32}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {32, 128}, DType::F32, InputRole::Param);
  output(sigmoid(matmul(x, w)), "y");
  std::vector<runtime::KernelArtifacts> kernels = runtime::cpu_kernel_artifacts(g, runtime::CompileOptions{});
  ASSERT_EQ(kernels.size(), 1u) << "the sigmoid should be fused into the matmul";
  const std::string full = "fdiv( [a-z]+)* <" + std::to_string(runtime::cpu_target_info().vector_bytes / 4) + " x float>";
  EXPECT_TRUE(std::regex_search(kernels[0].llvm_ir, std::regex(full))) << "no '" << full << "' in " << kernels[0].info.name;
}

// The instruction count of fused epilogues (exp, sigmoid, the dropout hash): a * b + c contracts to an FMA, constants
// load RIP-relative (no movabs per constant, as the JIT's default large code model emits), and the random
// element index is hashed as i32 lanes (no i64 vector to narrow).
TEST(Runtime, EpilogueMathIsCompact) {
  Graph g;
  Value x = input(g, "x", {2048, 128}, DType::F32, InputRole::Data);  // the FFN's first matmul
  Value w = input(g, "w", {128, 512}, DType::F32, InputRole::Param);
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Data);
  Value step = input(g, "step", {}, DType::I32, InputRole::Data);
  Value h = matmul(x, w);
  output(sigmoid(h) * random_uniform(seed, step, {2048, 512}, 0), "y");
  std::vector<runtime::KernelArtifacts> kernels = runtime::cpu_kernel_artifacts(g, runtime::CompileOptions{});
  ASSERT_EQ(kernels.size(), 1u) << "the sigmoid and the random draw should be fused into the matmul";
  const runtime::KernelArtifacts& k = kernels[0];
  EXPECT_FALSE(std::regex_search(k.assembly, std::regex("movabsq\\s+\\$\\.L"))) << k.assembly;  // a constant's address
  EXPECT_FALSE(std::regex_search(k.llvm_ir, std::regex("trunc <[0-9]+ x i64>"))) << k.llvm_ir;
  EXPECT_TRUE(std::regex_search(k.llvm_ir, std::regex("fmul contract <"))) << k.llvm_ir;  // the backend may fuse it
}

// No kernel makes a subnormal float (x86 arithmetic on them is some 30x
// slower; weight decay drives weights there); a subnormal input is still read
// as it is. The calling thread's floating-point mode is restored afterwards.
TEST(Runtime, KernelsFlushSubnormalResultsToZero) {
  Graph g;
  Value x = input(g, "x", {64}, DType::F32, InputRole::Data);
  Value y = input(g, "y", {64}, DType::F32, InputRole::Data);
  output(log(x), "read");      // x = 1e-40, subnormal: log is -92.1
  output(y * 1e-30, "made");   // y = 1e-10: the product 1e-40 is flushed
  TensorMap in{{"x", Tensor64({64}, std::vector<double>(64, 1e-40))}, {"y", Tensor64({64}, std::vector<double>(64, 1e-10))}};
  in["x"][1] = 1.0;
  const unsigned kFlags = 0x3f;  // the sticky exception flags, which the conversions set; not the mode
  const unsigned mode_before = _mm_getcsr() & ~kFlags;
  testing::RunResult r = testing::run_on(testing::cpu_device(2), g, in);
  EXPECT_EQ(_mm_getcsr() & ~kFlags, mode_before);
  for (size_t i = 0; i < 64; ++i) {
    EXPECT_NEAR(r.outputs.at("read")[i], i == 1 ? 0.0 : std::log(static_cast<double>(1e-40f)), 1e-4) << i;
    EXPECT_EQ(r.outputs.at("made")[i], 0.0) << i;
  }
}

TEST(Runtime, KernelCacheHitMissAndCorruptEntries) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("grokjit-cache-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  runtime::CpuDeviceOptions o;
  o.use_default_cache = false;
  o.cache_dir = dir.string();
  o.threads = 1;
  Graph g = small_graph(0.37);
  TensorMap in = testing::random_inputs(g, 5);
  auto want = interpret(g, in);
  runtime::ProgramStats cold, warm, repaired;
  {
    auto dev = runtime::make_cpu_device(o);
    testing::run_on(*dev, g, in, {}, &cold);
  }
  EXPECT_GT(cold.cache_misses, 0u);
  EXPECT_EQ(cold.cache_hits, 0u);
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e.path());
  ASSERT_EQ(entries.size(), cold.cache_misses);
  {
    auto dev = runtime::make_cpu_device(o);
    auto got = testing::run_on(*dev, g, in, {}, &warm);
    testing::expect_close(got.outputs.at("y"), want.outputs.at("y"), "y (warm)", {1e-5, 1e-6});
  }
  EXPECT_EQ(warm.cache_misses, 0u);
  EXPECT_EQ(warm.cache_hits, cold.cache_misses);
  std::cout << "compile: cold " << cold.compile_seconds << " s, warm " << warm.compile_seconds << " s\n";
  // Corrupt every entry: one truncated, the others with a flipped payload byte.
  std::sort(entries.begin(), entries.end());
  fs::resize_file(entries[0], fs::file_size(entries[0]) / 2);
  for (size_t i = 1; i < entries.size(); ++i) {
    std::fstream f(entries[i], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c;
    f.get(c);
    f.seekp(100);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  ::testing::internal::CaptureStderr();
  {
    auto dev = runtime::make_cpu_device(o);
    auto got = testing::run_on(*dev, g, in, {}, &repaired);
    testing::expect_close(got.outputs.at("y"), want.outputs.at("y"), "y (recompiled)", {1e-5, 1e-6});
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(repaired.cache_misses, entries.size());
  EXPECT_NE(err.find(entries[0].string()), std::string::npos) << err;
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
  // Recompiled entries were written back and are valid again.
  runtime::ProgramStats again;
  {
    auto dev = runtime::make_cpu_device(o);
    testing::run_on(*dev, g, in, {}, &again);
  }
  EXPECT_EQ(again.cache_misses, 0u);
  // Entries whose checksum holds but whose object is another kernel's (two
  // entries swapped), or a directory in an entry's place: recompiled, named.
  ASSERT_GE(entries.size(), 3u);
  fs::copy_file(entries[1], entries[0], fs::copy_options::overwrite_existing);
  fs::remove(entries[2]);
  fs::create_directory(entries[2]);
  runtime::ProgramStats swapped;
  ::testing::internal::CaptureStderr();
  {
    auto dev = runtime::make_cpu_device(o);
    auto got = testing::run_on(*dev, g, in, {}, &swapped);
    testing::expect_close(got.outputs.at("y"), want.outputs.at("y"), "y (swapped entries)", {1e-5, 1e-6});
  }
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(swapped.cache_misses, 2u);
  EXPECT_NE(err.find(entries[0].string() + " is corrupt (an object file that does not define "), std::string::npos)
      << err;
  EXPECT_NE(err.find(entries[2].string() + " is corrupt (a directory, not an entry: left in place)"), std::string::npos)
      << err;
  fs::remove_all(dir);
}

TEST(Runtime, MemoryPlanNeverOverlapsLiveBuffers) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<codegen::BufferLifetime> bufs;
    int n = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int i = 0; i < n; ++i) {
      int a = std::uniform_int_distribution<int>(0, 30)(rng), b = std::uniform_int_distribution<int>(0, 30)(rng);
      bufs.push_back({static_cast<size_t>(std::uniform_int_distribution<int>(1, 5000)(rng)), std::min(a, b), std::max(a, b)});
    }
    codegen::MemoryPlan plan = codegen::plan_memory(bufs);
    EXPECT_NO_THROW(codegen::check_memory_plan(bufs, plan));
    EXPECT_GE(plan.arena_bytes, plan.peak_live_bytes);
    EXPECT_LE(plan.arena_bytes, plan.unshared_bytes);
  }
  // The checker itself catches an overlap.
  std::vector<codegen::BufferLifetime> bufs{{100, 0, 3}, {100, 2, 5}};
  codegen::MemoryPlan bad;
  bad.offsets = {0, 64};
  bad.arena_bytes = 256;
  EXPECT_THROW(codegen::check_memory_plan(bufs, bad), Error);
  // And the plan of a whole training step is valid and reuses memory.
  testing::TinyConfig cfg = medium_config();
  testing::TinyModel m = testing::tiny_transformer(cfg);
  codegen::ProgramPlan p = runtime::cpu_plan(m.graph, {});
  std::vector<codegen::BufferLifetime> arena;
  codegen::MemoryPlan mp;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (p.buffers[i].kind == codegen::BufferKind::Arena) {
      arena.push_back(p.lifetimes[i]);
      mp.offsets.push_back(p.buffers[i].offset);
    }
  mp.arena_bytes = p.memory.arena_bytes;
  EXPECT_NO_THROW(codegen::check_memory_plan(arena, mp));
  EXPECT_LT(p.memory.arena_bytes, p.memory.unshared_bytes);
}

TEST(Runtime, InPlaceUpdatesReadOldValues) {
  Graph g;
  Value a = input(g, "a", {8, 5}, DType::F32, InputRole::Param);
  Value b = input(g, "b", {8, 5}, DType::F32, InputRole::Param);
  Value c = input(g, "c", {8, 5}, DType::F32, InputRole::State);
  Value d = input(g, "d", {5, 8}, DType::F32, InputRole::State);
  update(a, b);                    // swap a and b: both must read the old values
  update(b, a);
  Value c2 = c * 2.0 + 1.0;        // elementwise: in place
  update(c, c2);
  output(c2, "c_new");
  output(c, "c_old");              // the old value, returned as is
  output(sum(c, {0, 1}), "c_sum");
  update(d, transpose(c2) + d);    // reads c2 transposed and d in place
  Value e = input(g, "e", {8, 5}, DType::F32, InputRole::State);
  update(e, e + transpose(transpose(e) * 3.0));
  output(transpose(e), "e_old_t");
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    testing::check_against_interpreter(g, testing::random_inputs(g, 9), {1e-6, 1e-7}, fusion);
  }
}

TEST(Runtime, RunAllocatesNothingAndBindErrorsNameTheTensor) {
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  runtime::Device& dev = testing::cpu_device(2);
  auto prog = dev.compile(m.graph, {});
  TensorMap in = testing::tiny_inputs(m, cfg, 3);
  std::vector<std::unique_ptr<runtime::Buffer>> bufs;
  EXPECT_THROW(prog->run(), Error);  // nothing bound yet
  for (NodeId id : m.graph.inputs()) {
    const Node& n = m.graph.node(id);
    bufs.push_back(dev.alloc(static_cast<size_t>(num_elements(n.shape)) * dtype_size(n.dtype)));
    prog->bind(n.attrs.name, *bufs.back());
  }
  try {
    prog->run();
    FAIL() << "an unbound output must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'loss'"), std::string::npos) << e.what();
  }
  auto loss = dev.alloc(4);
  prog->bind("loss", *loss);
  auto wrong = dev.alloc(12);
  try {
    prog->bind("emb", *wrong);
    FAIL() << "a wrong size must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'emb'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(prog->bind("no_such_tensor", *loss), Error);
  prog->run();
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 5; ++i) prog->run();
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0u);
}

}  // namespace
}  // namespace grokjit
