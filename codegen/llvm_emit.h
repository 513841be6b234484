// Kernel IR -> LLVM IR for the CPU.
//
// Each kernel becomes one module with one external function
//   void <symbol>(void** buffers, int64_t begin, int64_t end, void* scratch)
// that runs the parallel iterations [begin, end). The runtime splits the
// parallel range statically across threads; `scratch` is the calling
// thread's scratch area (matmul packing buffers), cpu_scratch_bytes() long.
//
// - Loops are plain counted loops that LLVM's O3 vectorizes (the inner loops
//   are contiguous in the common case thanks to index simplification).
// - exp, log, sin, cos, tanh, pow are our own polynomial approximations
//   emitted as IR (no libm calls), so they vectorize and give the same bits
//   on every machine with the same vector width. f32 exp/log/tanh are
//   within a few ulp; sin, cos and pow of f32 are computed in f64.
// - Float sum reductions carry the `reassoc` flag so they vectorize: LLVM
//   then keeps several partial sums, a fixed order for a given binary (same
//   on every thread count, since a reduction never spans threads).
// - Gemm statements become a register-tiled microkernel (MR rows x 2 vectors
//   of columns, accumulators in registers, FMA, K innermost and in order),
//   reading operands in place when they are strided loads and packing them
//   (evaluating the fused prologue once per element) otherwise.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "codegen/kernel_ir.h"

namespace llvm {
class LLVMContext;
class Module;
}  // namespace llvm

namespace grokjit::codegen {

constexpr int kLlvmEmitterVersion = 4;  // bump whenever emitted code changes (cache key)

struct CpuEmitOptions {
  int vector_bytes = 32;  // 32: AVX2, 64: AVX-512
  int gemm_mr = 6;        // microkernel rows
  std::string key() const;  // part of the cache key
};

// The JIT symbol of a kernel: its name plus the full content hash.
std::string kernel_symbol(const Kernel& k);

// Per-thread scratch the kernel needs.
size_t cpu_scratch_bytes(const Kernel& k, const CpuEmitOptions& options);

std::unique_ptr<llvm::Module> emit_llvm(const Kernel& k, llvm::LLVMContext& ctx, const CpuEmitOptions& options);

}  // namespace grokjit::codegen
