// The backend interface the training loop talks to. A Device allocates
// buffers and compiles graphs into Programs; a Program runs a whole graph
// (all its kernels) on buffers bound by input/output name.
//
// Persistent tensors (inputs of role Param and State) live in Buffers owned
// by the caller and bound into every Program that uses them (the train-step
// program and the eval program share the parameter buffers). Graph::updates
// are applied in place: after run(), a bound Param/State buffer holds the new
// value. Data and Scalar inputs are also bound buffers, written by the caller
// before run(). Outputs are bound buffers too, read after run().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace grokjit::runtime {

class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t bytes() const = 0;
  virtual void write(const void* src, size_t bytes, size_t offset = 0) = 0;
  virtual void read(void* dst, size_t bytes, size_t offset = 0) const = 0;
};

struct CompileOptions {
  bool fusion = true;  // false: one kernel per IR op
  int threads = 0;     // CPU: 0 = all cores
  std::string program_name = "program";  // for kernel names, logs, dumps
};

struct KernelInfo {
  std::string name;             // e.g. "r_softmax_512x99_3fa2c1"
  std::vector<std::string> ops; // IR ops fused into it, e.g. "%12 exp"
  double flops = 0;
  double bytes_read = 0;
  double bytes_written = 0;
  std::string launch;           // loop nest: "parallel 2048 x (reduce 99, loop 99)" (CPU)
};

struct ProgramStats {
  size_t kernels = 0;           // kernel launches per run
  size_t peak_scratch_bytes = 0;  // memory plan's peak for intermediates
  double compile_seconds = 0;
  size_t cache_hits = 0, cache_misses = 0;
  std::vector<KernelInfo> kernel_info;
  double plan_seconds = 0;      // scheduling, lowering, memory plan (part of compile_seconds)
  double llvm_seconds = 0;      // LLVM O3 + codegen of the kernels not found in a cache
  size_t threads = 1;           // threads the program runs on
};

class Program {
 public:
  virtual ~Program() = default;
  // Bind a buffer to an Input (by its name) or an Output (by output name).
  // Throws Error naming the tensor if the name is unknown or the size wrong.
  virtual void bind(const std::string& name, Buffer& buffer) = 0;
  // Runs every kernel. Throws Error naming any unbound input/output.
  virtual void run() = 0;
  virtual const ProgramStats& stats() const = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;  // "cpu (llvm, 2 threads, avx512)", "reference (f64)"
  virtual std::unique_ptr<Buffer> alloc(size_t bytes) = 0;  // zero-filled
  virtual std::unique_ptr<Program> compile(const ir::Graph& graph, const CompileOptions& options) = 0;
};

// The float64 interpreter behind the Device interface: the oracle for the
// training loop (buffers hold each tensor's dtype in its natural width).
std::unique_ptr<Device> make_reference_device();

}  // namespace grokjit::runtime
