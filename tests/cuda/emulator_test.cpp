// The emulation header itself: barriers, warp shuffles and the shared arena
// behave like the GPU's, and a kernel with a missing barrier gives a wrong
// result under it (so a passing emitted kernel is evidence, not luck).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/cuda/emulation.h"

namespace grokjit {
namespace {

// A block sum through shared memory: every thread stores its value, thread 0
// adds them up. `barrier` is __syncthreads() or nothing.
std::string block_sum(const std::string& name, const std::string& barrier) {
  return "extern \"C\" __global__ void " + name + "(const float* __restrict__ x, float* __restrict__ y) {\n"
         "  extern __shared__ __align__(16) unsigned char smem[];\n"
         "  float* s = (float*)smem;\n"
         "  s[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];\n"
         "  " + barrier + "\n"
         "  if (threadIdx.x == 0) {\n"
         "    float acc = 0.0f;\n"
         "    for (unsigned i = 0; i < blockDim.x; ++i) acc += s[i];\n"
         "    y[blockIdx.x] = acc;\n"
         "  }\n"
         "}\n";
}

// Warp sums by butterfly shuffles, then the warps' partials through shared memory.
const char* kShuffleSum =
    "extern \"C\" __global__ void shuffle_sum(const float* __restrict__ x, float* __restrict__ y) {\n"
    "  extern __shared__ __align__(16) unsigned char smem[];\n"
    "  float v = x[blockIdx.x * blockDim.x + threadIdx.x];\n"
    "  for (int o = 16; o >= 1; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);\n"
    "  if ((threadIdx.x & 31) == 0) ((float*)smem)[threadIdx.x / 32] = v;\n"
    "  __syncthreads();\n"
    "  if (threadIdx.x == 0) {\n"
    "    float acc = 0.0f;\n"
    "    for (unsigned w = 0; w < blockDim.x / 32; ++w) acc += ((float*)smem)[w];\n"
    "    y[blockIdx.x] = acc;\n"
    "  }\n"
    "}\n";

// Some threads return before a barrier the others wait at.
const char* kDivergent =
    "extern \"C\" __global__ void divergent(float* __restrict__ y) {\n"
    "  if (threadIdx.x < 5) return;\n"
    "  __syncthreads();\n"
    "  y[threadIdx.x] = 1.0f;\n"
    "}\n";

struct Fixture {
  testing::EmulatedKernels kernels{{},
                                   {{"with_barrier", block_sum("sum_with_barrier", "__syncthreads();"),
                                     "sum_with_barrier((const float*)a[0], (float*)a[1]);"},
                                    {"without_barrier", block_sum("sum_without_barrier", ""),
                                     "sum_without_barrier((const float*)a[0], (float*)a[1]);"},
                                    {"shuffle", kShuffleSum, "shuffle_sum((const float*)a[0], (float*)a[1]);"},
                                    {"divergent", kDivergent, "divergent((float*)a[0]);"}}};
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

constexpr int kBlocks = 4, kThreads = 128;

codegen::CudaLaunch launch_of(int blocks, int threads, size_t smem) {
  codegen::CudaLaunch l;
  l.grid_x = blocks;
  l.block_x = threads;
  l.dynamic_smem_bytes = smem;
  return l;
}

std::vector<float> run_sum(const std::string& name, unsigned seed, std::vector<float>* want) {
  std::vector<float> x(kBlocks * kThreads), y(kBlocks, -1.0f);
  want->assign(kBlocks, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(static_cast<int>(i % 13) - 6);  // small integers: every order sums exactly
    (*want)[i / kThreads] += x[i];
  }
  void* args[] = {x.data(), y.data()};
  fixture().kernels.run_raw(name, launch_of(kBlocks, kThreads, kThreads * sizeof(float)), args, seed);
  return y;
}

TEST(CudaEmulator, BarrierMakesBlockSumRight) {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<float> want;
    EXPECT_EQ(run_sum("with_barrier", seed, &want), want) << "seed " << seed;
  }
}

TEST(CudaEmulator, MissingBarrierGivesWrongResult) {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<float> want;
    std::vector<float> got = run_sum("without_barrier", seed, &want);
    int wrong = 0;
    for (int b = 0; b < kBlocks; ++b) wrong += !(got[static_cast<size_t>(b)] == want[static_cast<size_t>(b)]);
    EXPECT_GT(wrong, 0) << "seed " << seed << ": a block sum without its barrier came out right in every block";
  }
}

TEST(CudaEmulator, WarpShufflesExchangeAcrossLanes) {
  std::vector<float> want;
  std::vector<float> x(kBlocks * kThreads), y(kBlocks, -1.0f);
  want.assign(kBlocks, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(i % 7);
    want[i / kThreads] += x[i];
  }
  void* args[] = {x.data(), y.data()};
  fixture().kernels.run_raw("shuffle", launch_of(kBlocks, kThreads, 16), args, 5);
  EXPECT_EQ(y, want);
}

TEST(CudaEmulator, ThreadsReturningBeforeABarrierAreReported) {
  std::vector<float> y(kThreads, 0.0f);
  void* args[] = {y.data()};
  try {
    fixture().kernels.run_raw("divergent", launch_of(1, kThreads, 0), args, 1);
    FAIL() << "no error for a barrier that some threads never reach";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("__syncthreads"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace grokjit
