// Runs CUDA C (as grokjit's CUDA emitter prints it) on the host, so that the
// emitted text can be checked without a GPU.
//
// Include this header, then the .cu text, and compile as C++. A launch runs
// every block of the grid, one block at a time. The threads of a block are
// cooperative fibers (ucontext): a thread runs until it reaches a barrier
// (__syncthreads, a warp shuffle) or ends, then another runs. Between
// barriers the order of the threads is a seeded shuffle, and the shared
// memory arena starts filled with 0xff bytes (NaN as floats), so a missing
// barrier shows up as a wrong result rather than by luck.
//
//   __syncthreads(): every thread of the block must arrive before any goes
//     on; threads that already returned while others wait is reported as an
//     error (the emitted code never does that).
//   __shfl_xor_sync(mask, v, lane_mask): all 32 lanes of the warp arrive,
//     deposit v, and each takes its partner's value. Only the full mask is
//     supported (what the emitter uses).
//   extern __shared__ unsigned char smem[]: one arena (C linkage, below) of
//     the launch's dynamic size, refilled for every block.
//
// Errors (deadlock, divergence at a barrier) throw gj_emu::Error.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct uint3 {
  unsigned int x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
};

namespace gj_emu {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr size_t kMaxSmem = 232448;  // 227 KiB, the sm_90 limit per block
constexpr size_t kStackBytes = 128 * 1024;

enum class Wait { None, Block, Warp, Done };

struct Thread {
  uint3 idx;
  int linear = 0;
  Wait wait = Wait::None;
  ucontext_t ctx;
  std::vector<unsigned char> stack;
};

struct State {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
  std::vector<Thread> threads;
  Thread* current = nullptr;
  ucontext_t scheduler;
  const std::function<void()>* body = nullptr;
  // Warp shuffle exchange: two generations, 32 lanes, 8 bytes each, per warp.
  std::vector<unsigned char> shuffle_slots;
  std::vector<int> shuffle_gen;  // per thread: shuffles done
  std::mt19937 rng{12345};
};

inline State& state() {
  static State s;
  return s;
}

inline Thread* current() { return state().current; }

}  // namespace gj_emu

// One translation unit per shared object includes this header (it defines
// the arena and the launch state).
extern "C" {
alignas(16) unsigned char smem[gj_emu::kMaxSmem];
}

inline uint3 blockIdx;
inline dim3 blockDim, gridDim;
#define threadIdx (::gj_emu::current()->idx)

namespace gj_emu {

inline void yield(Wait w) {
  State& s = state();
  Thread* t = s.current;
  t->wait = w;
  swapcontext(&t->ctx, &s.scheduler);
}

inline void trampoline() {
  State& s = state();
  (*s.body)();
  s.current->wait = Wait::Done;
  swapcontext(&s.current->ctx, &s.scheduler);
}

// Runs one block: threads in a shuffled order between barriers.
inline void run_block(const std::function<void()>& body) {
  State& s = state();
  s.body = &body;
  const int n = static_cast<int>(s.threads.size());
  for (int i = 0; i < n; ++i) {
    Thread& t = s.threads[static_cast<size_t>(i)];
    t.wait = Wait::None;
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = t.stack.data();
    t.ctx.uc_stack.ss_size = t.stack.size();
    t.ctx.uc_link = nullptr;
    makecontext(&t.ctx, trampoline, 0);
    s.shuffle_gen[static_cast<size_t>(i)] = 0;
  }
  std::vector<int> order(static_cast<size_t>(n));
  for (;;) {
    order.clear();
    for (int i = 0; i < n; ++i)
      if (s.threads[static_cast<size_t>(i)].wait == Wait::None) order.push_back(i);
    if (order.empty()) {
      int done = 0, at_block = 0;
      for (const Thread& t : s.threads) {
        done += t.wait == Wait::Done;
        at_block += t.wait == Wait::Block;
      }
      if (done == n) break;
      // Warps whose lanes have all reached a shuffle go on first; the block
      // barrier opens only when every thread waits at it.
      bool released = false;
      for (int w = 0; w < (n + 31) / 32; ++w) {
        int lo = w * 32, hi = std::min(n, lo + 32), waiting = 0, ended = 0;
        for (int i = lo; i < hi; ++i) {
          waiting += s.threads[static_cast<size_t>(i)].wait == Wait::Warp;
          ended += s.threads[static_cast<size_t>(i)].wait == Wait::Done;
        }
        if (waiting == 0) continue;
        if (ended > 0)
          throw Error("__shfl_xor_sync: " + std::to_string(waiting) + " of " + std::to_string(hi - lo) + " lanes of warp " +
                      std::to_string(w) + " wait at a shuffle, " + std::to_string(ended) + " have returned");
        if (waiting != hi - lo) continue;  // the others are at the block barrier: a deadlock unless some warp moves
        for (int i = lo; i < hi; ++i) s.threads[static_cast<size_t>(i)].wait = Wait::None;
        released = true;
      }
      if (!released && at_block > 0) {
        if (at_block != n)
          throw Error("__syncthreads: " + std::to_string(at_block) + " of " + std::to_string(n) +
                      " threads wait at the barrier, the others have returned or wait at a warp shuffle");
        for (Thread& t : s.threads) t.wait = Wait::None;
        released = true;
      }
      if (!released) throw Error("deadlock in the block");
      continue;
    }
    std::shuffle(order.begin(), order.end(), s.rng);
    for (int i : order) {
      Thread& t = s.threads[static_cast<size_t>(i)];
      s.current = &t;
      swapcontext(&s.scheduler, &t.ctx);
    }
    s.current = nullptr;
  }
}

// Runs a whole grid; `seed` picks the thread orders.
inline void launch(dim3 grid, dim3 block, size_t dynamic_smem, uint32_t seed, const std::function<void()>& body) {
  if (dynamic_smem > kMaxSmem) throw Error("dynamic shared memory " + std::to_string(dynamic_smem) + " B exceeds the arena");
  State& s = state();
  s.rng.seed(seed);
  s.block_dim = block;
  s.grid_dim = grid;
  blockDim = block;
  gridDim = grid;
  const int n = static_cast<int>(block.x * block.y * block.z);
  if (n <= 0 || n > 1024) throw Error("block of " + std::to_string(n) + " threads");
  s.threads.resize(static_cast<size_t>(n));
  s.shuffle_gen.assign(static_cast<size_t>(n), 0);
  s.shuffle_slots.assign(static_cast<size_t>((n + 31) / 32) * 2 * 32 * 8, 0);
  for (int i = 0; i < n; ++i) {
    Thread& t = s.threads[static_cast<size_t>(i)];
    t.linear = i;
    t.idx.x = static_cast<unsigned>(i) % block.x;
    t.idx.y = (static_cast<unsigned>(i) / block.x) % block.y;
    t.idx.z = static_cast<unsigned>(i) / (block.x * block.y);
    if (t.stack.size() != kStackBytes) t.stack.assign(kStackBytes, 0);
  }
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx.x = x;
        blockIdx.y = y;
        blockIdx.z = z;
        std::memset(smem, 0xff, dynamic_smem);
        run_block(body);
      }
}

template <class T>
T shuffle_xor(T v, int lane_mask) {
  static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
  State& s = state();
  Thread* t = s.current;
  const int warp = t->linear / 32, lane = t->linear % 32;
  const int n = static_cast<int>(s.threads.size());
  const int width = std::min(32, n - warp * 32);
  int& gen = s.shuffle_gen[static_cast<size_t>(t->linear)];
  unsigned char* slots = s.shuffle_slots.data() + (static_cast<size_t>(warp) * 2 + static_cast<size_t>(gen % 2)) * 32 * 8;
  ++gen;
  std::memcpy(slots + lane * 8, &v, sizeof(T));
  yield(Wait::Warp);  // every lane of the warp deposits before any reads
  const int partner = lane ^ lane_mask;
  if (partner >= width) return v;
  T r;
  std::memcpy(&r, slots + partner * 8, sizeof(T));
  return r;
}

}  // namespace gj_emu

inline void __syncthreads() { gj_emu::yield(gj_emu::Wait::Block); }

template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  // Runs on a fiber's stack: report and stop rather than unwind through it.
  if (mask != 0xffffffffu || width != 32) {
    std::fprintf(stderr, "cuda_emulation: __shfl_xor_sync supports only the full mask and width 32\n");
    std::abort();
  }
  return gj_emu::shuffle_xor(v, lane_mask);
}

inline float __int_as_float(int x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
inline double __longlong_as_double(long long x) {
  double d;
  std::memcpy(&d, &x, 8);
  return d;
}
