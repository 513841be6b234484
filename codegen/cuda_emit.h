// Kernel IR -> CUDA C for sm_90 (printed text; compiled by NVRTC in runtime/).
//
// One kernel IR Kernel becomes one self-contained translation unit (no
// includes at all, so NVRTC needs no headers and the same text compiles on
// the host under the emulation header of tests/cuda/) with one entry point
//
//   extern "C" __global__ void <symbol>(T0* b0, T1* b1, ...)
//
// taking the kernel's buffers in order (const for buffers only read). All
// shared memory comes from one `extern __shared__` dynamic arena whose size
// is CudaKernelSource::launch.dynamic_smem_bytes. Semantics are those of the
// kernel IR (docs/kernel-ir.md), bit for bit where the IR promises it (the
// counter-based random, integer index math); float results agree with the
// float64 interpreter within float32 rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "codegen/kernel_ir.h"

namespace grokjit::codegen {

constexpr int kCudaEmitterVersion = 1;  // bump whenever emitted code changes (cache key)

struct CudaTarget {
  int sm = 90;                 // compute capability x10
  bool arch_specific = false;  // sm_90a (wgmma and friends allowed)
  int max_threads_per_block = 1024;
  size_t max_dynamic_smem_bytes = 227 * 1024;
  std::string arch() const;    // "sm_90" / "sm_90a"
  std::string key() const;     // part of the cache key
};

struct CudaLaunch {
  int64_t grid_x = 1, grid_y = 1, grid_z = 1;
  int block_x = 1, block_y = 1, block_z = 1;
  size_t dynamic_smem_bytes = 0;
  std::string text() const;    // "grid 512 x block 128, smem 4096 B"
};

struct CudaKernelSource {
  std::string symbol;   // the entry point: kernel_symbol(k) (name + full content hash)
  std::string source;   // the whole translation unit
  CudaLaunch launch;
};

CudaKernelSource emit_cuda(const Kernel& k, const CudaTarget& target = {});

}  // namespace grokjit::codegen
