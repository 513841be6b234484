// CUDA C -> PTX and CUBIN with NVRTC, cached on disk; no GPU needed.
//
// Each kernel is one NVRTC program compiled for a real arch (sm_90 or
// sm_90a: a virtual compute_90 gives no CUBIN) with --ptxas-options=-v, so
// the program log carries ptxas's report (registers, spills, static shared
// memory, stack frame), parsed into a PtxasReport.
//
// Cache: the KernelCache (kernel_cache.h) holds one entry per kernel: CUBIN,
// PTX and log together; the key hashes the source, the symbol, the arch, the
// options, the NVRTC version and the CUDA emitter's version. A corrupt entry
// is reported, removed and recompiled (KernelCache).
//
// A failed compile throws Error(ExitCode::Compile) with the kernel's name,
// the arch, the NVRTC version, the options, the log, the path of the saved
// .cu and a command line that reproduces it.
//
// Built without NVRTC (GROKJIT_HAVE_NVRTC 0), nvrtc_available() is false and
// compile() throws Error saying so.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "runtime/kernel_cache.h"

namespace grokjit::runtime {

// What ptxas said about one kernel (sums over every function in the log,
// so a spill in a non-inlined device function counts too).
struct PtxasReport {
  bool parsed = false;  // a "Used N registers" line was found
  int registers = 0;    // of the entry function (the largest seen)
  size_t spill_store_bytes = 0, spill_load_bytes = 0;
  size_t static_smem_bytes = 0;   // __shared__ declared in the source (not the dynamic arena)
  size_t stack_frame_bytes = 0;
  size_t spill_bytes() const { return spill_store_bytes + spill_load_bytes; }
  std::string text() const;  // "40 regs, spills 0+0 B, smem 256 B, stack 400 B"
};
PtxasReport parse_ptxas_report(const std::string& log);

bool nvrtc_available();      // built with NVRTC
std::string nvrtc_version();  // "13.0"; "not built" without NVRTC

struct NvrtcOptions {
  std::string arch = "sm_90";  // or "sm_90a"
  bool lineinfo = false;
  // Every option passed to NVRTC, in order.
  std::vector<std::string> list() const;
  // The same compile as an nvcc command line (for repro messages).
  std::string nvcc_command(const std::string& cu_path) const;
};

struct CudaCompileRequest {
  std::string name;    // for people: the kernel's name
  std::string symbol;  // the extern "C" entry point
  std::string source;  // the whole translation unit
  std::string repro;   // optional: a grokjit command that reproduces it, added to errors
};

struct CompiledCuda {
  std::string name, symbol;
  std::string ptx, cubin, log;
  PtxasReport report;
  bool cache_hit = false;
  double seconds = 0;  // NVRTC time (0 on a cache hit)
};

class NvrtcCompiler {
 public:
  // cache_dir "" = no disk cache.
  NvrtcCompiler(NvrtcOptions options, std::string cache_dir);

  const NvrtcOptions& options() const { return options_; }
  KernelCache& cache() { return cache_; }
  std::string cache_key(const CudaCompileRequest& request) const;

  CompiledCuda compile(const CudaCompileRequest& request);
  // Compiles on up to `threads` threads (0 = all cores); requests with the
  // same symbol are compiled once. Results in request order. The first
  // error is rethrown once all are done.
  std::vector<CompiledCuda> compile_all(const std::vector<CudaCompileRequest>& requests, int threads = 0);

 private:
  CompiledCuda compile_uncached(const CudaCompileRequest& request) const;

  NvrtcOptions options_;
  KernelCache cache_;
};

}  // namespace grokjit::runtime
