// The CPU backend: graphs -> fused kernels (codegen/plan.h) -> LLVM ORC JIT,
// run multi-threaded on a persistent pool.
//
// Determinism: every kernel's parallel loop is cut into a fixed number of
// contiguous chunks (a function of its extent and the thread count) that the
// pool's threads claim as they come (thread_pool.h); iterations are
// independent, a reduction never spans iterations and a thread's scratch
// holds nothing that outlives a chunk's iterations, so the results are
// bitwise the same for any thread count and any scheduling.
//
// Program::run() does no heap allocation: the arena (every intermediate, at
// the offsets of the static memory plan, plus per-thread matmul scratch) is
// allocated and first-touched once, when the program is compiled.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/llvm_emit.h"
#include "codegen/lower.h"
#include "codegen/plan.h"
#include "runtime/device.h"

namespace grokjit::runtime {

// A kernel's parallel range is cut into this many contiguous chunks per
// thread (ThreadPool::chunk_range), claimed by the threads as they finish
// the previous ones: a few, so that a descheduled thread's share is taken
// over by the others, but few enough that each chunk is a long contiguous
// range (a matmul reuses its packed B tile within a chunk).
inline constexpr int64_t kChunksPerThread = 3;

struct CpuDeviceOptions {
  int threads = 0;                 // 0 = GROKJIT_THREADS, and if that is 0 all cores
  bool use_default_cache = true;   // the knob-configured cache (kernel_cache.h)
  std::string cache_dir;           // used when !use_default_cache ("" = no disk cache)
  // Vector width the kernels are emitted for, in bytes; 0 = the host's. A
  // wider one than the host has (64 on an AVX2 host) still runs: LLVM splits
  // each vector operation in two. For tests of the AVX-512 code paths on
  // machines without AVX-512.
  int vector_bytes = 0;
};

std::unique_ptr<Device> make_cpu_device(int threads = 0);
std::unique_ptr<Device> make_cpu_device(const CpuDeviceOptions& options);

// Per-kernel seconds of a CPU program (index = kernel, as in
// stats().kernel_info): the best of `runs` runs, all inputs bound.
std::vector<double> profile_kernels(Program& program, int runs);

// The threads a CPU program runs on when `requested` of them are asked for:
// 0 = GROKJIT_THREADS, and if that is 0 all cores.
int resolve_threads(int requested);

// How the CPU backend emits kernels: vectors of `vector_bytes` (0 = the
// host's native width; see CpuDeviceOptions) and its matmul register tile.
codegen::CpuEmitOptions cpu_emit_options(int vector_bytes = 0);

// The codegen target of this machine (vector width, matmul register tile)
// for programs that run on `threads` threads (0 as in resolve_threads), with
// vectors of `vector_bytes` (0 = the host's; see CpuDeviceOptions).
codegen::TargetInfo cpu_target_info(int threads = 0, int vector_bytes = 0);

// The plan the CPU backend would run for a graph (kernels, buffers, memory).
codegen::ProgramPlan cpu_plan(const ir::Graph& graph, const CompileOptions& options, int vector_bytes = 0);

// Everything a user may want to read about each kernel (`grokjit kernels --dump`).
struct KernelArtifacts {
  KernelInfo info;
  std::string kernel_ir;  // codegen::to_text
  std::string llvm_ir;    // after O3
  std::string assembly;
};
std::vector<KernelArtifacts> cpu_kernel_artifacts(const ir::Graph& graph, const CompileOptions& options);

}  // namespace grokjit::runtime
