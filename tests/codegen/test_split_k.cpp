// How a matmul is cut up. Split-K (codegen/split_k.h): matmuls with a long K
// and a small output are computed as a K-chunked batched matmul plus a
// fixed-order sum of the partials that carries the epilogue. They must match
// the interpreter and be bitwise the same for any thread count. Output tiles
// (choose_gemm_tiles): as many as the threads want.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "codegen/lower.h"
#include "codegen/plan.h"
#include "ir/builder.h"
#include "runtime/cpu_device.h"
#include "runtime/thread_pool.h"
#include "tests/codegen/harness.h"

namespace grokjit {
namespace {

using namespace ir;

TEST(SplitK, ChoiceDependsOnTheShapeOnly) {
  codegen::TargetInfo t;
  EXPECT_EQ(codegen::choose_k_split(t, 1, 128, 128, 2048), 2);  // the Wq weight gradient: 2 chunks of 1024
  EXPECT_EQ(codegen::choose_k_split(t, 1, 128, 512, 2048), 2);
  EXPECT_EQ(codegen::choose_k_split(t, 1, 64, 64, 4096), 4);
  EXPECT_EQ(codegen::choose_k_split(t, 1, 128, 128, 512), 1);    // short K: not split
  EXPECT_EQ(codegen::choose_k_split(t, 1, 2048, 512, 1024), 1);  // a large output has tiles enough
  EXPECT_EQ(codegen::choose_k_split(t, 1, 7, 9, 600), 1);        // too small to be worth a second kernel
  EXPECT_EQ(codegen::choose_k_split(t, 1, 64, 64, 2049), 1);     // no even split of K
}

TEST(GemmTiles, AsManyAsTheThreadsWantAndNoSmaller) {
  codegen::TargetInfo t;  // 6 x 16 register tiles
  auto tiles = [&](int want, int64_t batch, int64_t M, int64_t N, int64_t K) {
    t.gemm_parallel_tiles = want;
    int64_t tm = 0, tn = 0;
    codegen::choose_gemm_tiles(t, batch, M, N, K, &tm, &tn);
    return std::make_pair(tm, tn);
  };
  // One thread: one tile holds the whole 128 x 128 output (the B block,
  // 512 x 128, is within the L2 budget).
  EXPECT_EQ(tiles(1, 1, 128, 128, 512), (std::pair<int64_t, int64_t>{132, 128}));
  // Eight wanted: eight tiles, as square as the register tile allows.
  auto [tm, tn] = tiles(8, 1, 128, 128, 512);
  EXPECT_EQ(((128 + tm - 1) / tm) * ((128 + tn - 1) / tn), 8);
  // A batch counts: two matrices of four tiles each.
  auto [bm, bn] = tiles(8, 2, 128, 128, 512);
  EXPECT_EQ(2 * ((128 + bm - 1) / bm) * ((128 + bn - 1) / bn), 8);
  // Never more than the shape allows: a 6 x 16 output is one register tile.
  EXPECT_EQ(tiles(8, 1, 6, 16, 64), (std::pair<int64_t, int64_t>{6, 16}));
}

// Output elements the busiest thread computes when the CPU device runs
// `tiles` matmul tiles (row tiles fastest, the last one in each dimension
// cut short) on `threads` threads: the range is cut into chunks as the
// device cuts it, and each chunk goes to the thread that is free first.
double busiest_thread_elements(int threads, int64_t batch, int64_t M, int64_t N, int64_t tm, int64_t tn) {
  const int64_t TM = (M + tm - 1) / tm, TN = (N + tn - 1) / tn, tiles = batch * TM * TN;
  auto tile_elements = [&](int64_t i) {
    const int64_t r = i % TM, c = (i / TM) % TN;
    return static_cast<double>(std::min(tm, M - r * tm) * std::min(tn, N - c * tn));
  };
  const int64_t chunks = std::min<int64_t>(tiles, runtime::kChunksPerThread * threads);
  std::vector<double> load(static_cast<size_t>(threads), 0.0);
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = 0, end = 0;
    runtime::ThreadPool::chunk_range(tiles, chunks, c, &begin, &end);
    double work = 0;
    for (int64_t i = begin; i < end; ++i) work += tile_elements(i);
    *std::min_element(load.begin(), load.end()) += work;
  }
  return *std::max_element(load.begin(), load.end());
}

TEST(GemmTiles, SeveralThreadsGetEvenShares) {
  // A kernel lasts as long as its busiest thread. On the default model's
  // shapes that is within 4% of an even split of the output; 11 tiles of
  // 192 rows on 2 threads were 6% over (in 6 chunks of 1 and 2 tiles, one
  // thread gets 1088 of the 2048 rows).
  struct Shape {
    int64_t batch, M, N, K;
  };
  EXPECT_EQ(busiest_thread_elements(2, 1, 2048, 512, 192, 512), 1088.0 * 512);  // the old tiling
  for (int threads : {2, 4})
    for (Shape s : {Shape{1, 2048, 512, 128}, Shape{1, 2048, 128, 512}, Shape{1, 2048, 128, 128}, Shape{1, 512, 512, 128},
                    Shape{2, 128, 512, 1024}, Shape{1, 512, 128, 512}}) {
      codegen::TargetInfo t;
      t.threads = threads;
      t.gemm_parallel_tiles = 2 * threads;
      int64_t tm = 0, tn = 0;
      codegen::choose_gemm_tiles(t, s.batch, s.M, s.N, s.K, &tm, &tn);
      const double even = static_cast<double>(s.batch * s.M * s.N) / threads;
      EXPECT_LE(busiest_thread_elements(threads, s.batch, s.M, s.N, tm, tn), 1.04 * even)
          << threads << " threads, " << s.batch << " x " << s.M << " x " << s.N << " x " << s.K << ": tiles of " << tm << " x " << tn;
    }
  // One thread keeps the largest tiles (the fewest operand re-reads).
  codegen::TargetInfo one;
  one.gemm_parallel_tiles = 1;
  int64_t tm = 0, tn = 0;
  codegen::choose_gemm_tiles(one, 1, 2048, 512, 128, &tm, &tn);
  EXPECT_EQ(tm, 32 * one.gemm_mr);
}

// A weight-gradient-like product x^T dy (K = 2048 rows) whose result feeds
// an SGD-with-momentum update (the epilogue) and is also an output.
Graph weight_gradient_step(int64_t K, int64_t M, int64_t N) {
  Graph g;
  Value x = input(g, "x", {K, M}, DType::F32, InputRole::Data);
  Value dy = input(g, "dy", {K, N}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {M, N}, DType::F32, InputRole::Param);
  Value m = input(g, "m", {M, N}, DType::F32, InputRole::State);
  Value grad = matmul(transpose(x), dy * 0.5);  // a prologue on B (inlined into the chunked matmul)
  Value m2 = m * 0.9 + grad;
  update(m, m2);
  update(w, w - m2 * 0.01);
  output(grad, "grad");
  return g;
}

TEST(SplitK, PlanIsAChunkedMatmulAndAnOrderedSum) {
  Graph g = weight_gradient_step(2048, 64, 80);
  ASSERT_EQ(codegen::choose_k_split(runtime::cpu_target_info(), 1, 64, 80, 2048), 2);
  auto plan = runtime::cpu_plan(g, {});
  std::string names;
  for (const auto& k : plan.kernels) names += k.kernel.name + " ";
  ASSERT_EQ(plan.kernels.size(), 2u) << names;
  EXPECT_EQ(plan.kernels[0].kernel.kind, "BMM") << names;
  EXPECT_EQ(plan.kernels[0].kernel.shape_tag, "2x64x80x1024");
  EXPECT_EQ(plan.kernels[1].kernel.kind, "R") << names;  // the sum of the partials, with the update fused
  for (const auto& u : plan.in_place) EXPECT_NE(u.find("in place"), std::string::npos) << u;
}

TEST(SplitK, MatchesInterpreterAndIsBitwiseSameForAnyThreadCount) {
  struct Case {
    int64_t K, M, N;
  };
  for (Case c : {Case{2048, 64, 80}, Case{1536, 91, 70}, Case{4096, 20, 100}}) {
    SCOPED_TRACE(std::to_string(c.M) + "x" + std::to_string(c.N) + "x" + std::to_string(c.K));
    Graph g = weight_gradient_step(c.K, c.M, c.N);
    ASSERT_GT(codegen::choose_k_split(runtime::cpu_target_info(), 1, c.M, c.N, c.K), 1);
    TensorMap in = testing::random_inputs(g, 31);
    // K terms of size ~1: absolute error grows like sqrt(K) ulp.
    testing::check_against_interpreter(g, in, {2e-5, 2e-4});
    auto one = testing::run_on(testing::cpu_device(1), g, in);
    for (int threads : {2, 3}) {
      auto other = testing::run_on(testing::cpu_device(threads), g, in);
      std::string with = " with " + std::to_string(threads) + " threads";
      for (const auto& [name, t] : one.outputs) testing::expect_bitwise(other.outputs.at(name), t, name + with);
      for (const auto& [name, t] : one.updated) testing::expect_bitwise(other.updated.at(name), t, name + with);
    }
  }
}

TEST(SplitK, BatchedMatmul) {
  Graph g;
  Value a = input(g, "a", {3, 40, 1024}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {3, 1024, 72}, DType::F32, InputRole::Data);
  output(matmul(a, b) + 1.0, "y");
  ASSERT_EQ(codegen::choose_k_split(runtime::cpu_target_info(), 3, 40, 72, 1024), 2);
  testing::check_against_interpreter(g, testing::random_inputs(g, 32), {2e-5, 2e-4});
  testing::check_against_interpreter(g, testing::random_inputs(g, 32), {2e-5, 2e-4}, false);
}

}  // namespace
}  // namespace grokjit
