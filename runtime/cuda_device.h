// The CUDA backend: graphs -> the same fused kernel IR as the CPU
// (codegen/plan.h) -> CUDA C (codegen/cuda_emit.h) -> NVRTC CUBIN (cached,
// runtime/nvrtc_compiler.h) -> the driver API loaded with dlopen
// (runtime/cuda_driver.h). docs/cuda.md describes it.
//
// Memory: one device allocation per program for every intermediate, at the
// offsets of the static memory plan; dense constants uploaded once; bound
// Buffers are device allocations (write/read copy to and from the host).
// run() launches every kernel in order on the device's stream; the second
// run captures the whole program as a CUDA graph and later runs replay it
// (rebinding a buffer drops the graph). run() returns when the device is
// done, and device events time each run (cuda_last_run_ms).
//
// Planning and NVRTC need no GPU: cuda_plan, cuda_kernel_artifacts work
// anywhere grokjit was built with NVRTC (`grokjit kernels --backend cuda`).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codegen/cuda_emit.h"
#include "codegen/plan.h"
#include "runtime/device.h"
#include "runtime/nvrtc_compiler.h"

namespace grokjit::runtime {

struct CudaDeviceOptions {
  bool use_default_cache = true;  // the knob-configured cache (kernel_cache.h)
  std::string cache_dir;          // used when !use_default_cache ("" = no disk cache)
  bool graphs = true;             // capture and replay CUDA graphs
  int compile_threads = 0;        // NVRTC threads (0 = all cores)
};

// "" when a CUDA device can be made here, else why not (no NVRTC in this
// build, no driver, cuInit failed, ...).
std::string cuda_unusable_reason();
// Throws Error (Usage) with cuda_unusable_reason() when there is none.
std::unique_ptr<Device> make_cuda_device(const CudaDeviceOptions& options = {});

// The kernel-IR target the CUDA backend plans with (the default TargetInfo:
// the emitter cuts the IR's matmul tiles into thread-block pieces itself).
codegen::TargetInfo cuda_target_info();
codegen::ProgramPlan cuda_plan(const ir::Graph& graph, const CompileOptions& options);

// Launch configuration + ptxas figures in one line for tables and stats:
// "grid 5 x block 256, smem 0 B; 32 regs, spills 0+0 B, static smem 0 B"
std::string cuda_launch_text(const codegen::CudaLaunch& launch, const PtxasReport& report);

// Every kernel of a plan emitted and compiled (no GPU needed).
struct CudaKernelArtifacts {
  KernelInfo info;         // launch = cuda_launch_text(...)
  std::string kernel_ir;   // codegen::to_text
  codegen::CudaKernelSource emitted;
  CompiledCuda compiled;   // PTX, CUBIN, ptxas log and report
};
// repro_prefix: a command the kernel name is appended to in compile errors
// ("grokjit kernels SPEC --backend cuda --kernel"), or "".
std::vector<CudaKernelArtifacts> cuda_kernel_artifacts(const codegen::ProgramPlan& plan, NvrtcCompiler& compiler,
                                                       const codegen::CudaTarget& target, int threads = 0,
                                                       const std::string& repro_prefix = "");

// The device time (ms, CUDA events) of the program's last run(); nullopt
// for a program that is not a CUDA one or has not run.
std::optional<double> cuda_last_run_ms(const Program& program);
// True once the program replays a captured CUDA graph.
bool cuda_graph_replaying(const Program& program);

}  // namespace grokjit::runtime
