// LLVM 19 ORC plumbing for the CPU backend: the host target, the O3
// pipeline (LLJIT optimizes nothing by default, so we run the new pass
// manager's O3 ourselves, with the host TargetMachine so the vectorizer knows
// the real vector width), object code generation, and loading objects into
// one LLJIT per device.
//
// Compilation is split from linking so that object files can be cached on
// disk (kernel_cache.h) and produced in parallel (one LLVMContext and one
// TargetMachine per compiling thread).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "codegen/kernel_ir.h"
#include "codegen/llvm_emit.h"

namespace llvm::orc {
class LLJIT;
}

namespace grokjit::runtime {

// The machine we compile for (always the host).
struct HostTarget {
  std::string triple;
  std::string cpu;       // e.g. "znver5"
  std::string features;  // "+avx2,+fma,..."
  int vector_bytes = 16; // widest SIMD the emitter uses: 64 AVX-512, 32 AVX2
  std::string llvm_version;
  std::string describe() const;  // "znver5, avx512"
};
const HostTarget& host_target();

using KernelFn = void (*)(void** buffers, int64_t begin, int64_t end, void* scratch);

struct CompiledObject {
  std::string object;   // ELF relocatable
  std::string ir;       // optimized LLVM IR (only when asked)
  std::string assembly; // (only when asked)
};

// Emits, optimizes (O3) and compiles one kernel. Thread-safe: each call
// builds its own context and target machine.
CompiledObject compile_kernel(const codegen::Kernel& kernel, const codegen::CpuEmitOptions& options, bool want_text = false);

// Why `object` cannot be what defines kernel `symbol` ("" when it can): not
// an object file, or one that does not define that symbol (a cache entry
// whose checksum holds but whose content was swapped or rewritten).
std::string object_defect(const std::string& object, const std::string& symbol);

// One LLJIT (per device). Objects are added once per symbol.
class JitLinker {
 public:
  JitLinker();
  ~JitLinker();
  bool has(const std::string& symbol) const;
  KernelFn lookup(const std::string& symbol) const;  // nullptr if absent
  // Adds objects (symbol -> object code) and resolves their symbols.
  void add(const std::vector<std::pair<std::string, std::string>>& objects);

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, KernelFn> loaded_;
  mutable std::mutex mu_;
};

}  // namespace grokjit::runtime
