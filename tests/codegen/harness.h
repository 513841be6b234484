// Shared helpers for the codegen tests: random inputs, running a graph on a
// Device, and comparing against the float64 interpreter (the oracle).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "ir/graph.h"
#include "ir/interpreter.h"
#include "runtime/device.h"

namespace grokjit::testing {

// One CPU device per thread count, shared by every test of the process, with
// a kernel cache in a temporary directory of this process (so tests never
// read a stale entry and identical kernels compile once).
runtime::Device& cpu_device(int threads = 2);
const std::string& test_cache_dir();

// An environment variable (a GROKJIT_ knob) set for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) before_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (before_) setenv(name_.c_str(), before_->c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> before_;
};

struct InputRange {
  double lo = -2.0, hi = 2.0;  // floats: uniform in [lo, hi]; i32: integers in [lo, hi]
};

// Random values for every input of g (per input name, a range may be given).
ir::TensorMap random_inputs(const ir::Graph& g, uint32_t seed, const std::map<std::string, InputRange>& ranges = {},
                            InputRange fallback = {});

struct RunResult {
  ir::TensorMap outputs;  // by output name
  ir::TensorMap updated;  // by input name: the value after run()
};

// Compiles and runs g once on the device; values converted to float64.
RunResult run_on(runtime::Device& device, const ir::Graph& g, const ir::TensorMap& inputs,
                 const runtime::CompileOptions& options = {}, runtime::ProgramStats* stats = nullptr);

struct Tolerance {
  double rtol = 2e-5;
  double atol = 1e-6;
};

// Every element: |got - want| <= atol + rtol * |want| (NaN must match NaN,
// infinities must match exactly). Failure messages name the tensor and index.
void expect_close(const ir::Tensor64& got, const ir::Tensor64& want, const std::string& what, Tolerance tol);
void expect_bitwise(const ir::Tensor64& got, const ir::Tensor64& want, const std::string& what);

// Runs g on the CPU (fusion as given) and on the interpreter, compares all
// outputs and updated inputs.
void check_against_interpreter(const ir::Graph& g, const ir::TensorMap& inputs, Tolerance tol, bool fusion = true,
                               runtime::ProgramStats* stats = nullptr);
// The same on a given device.
void check_against_interpreter_on(runtime::Device& device, const ir::Graph& g, const ir::TensorMap& inputs, Tolerance tol,
                                  bool fusion = true, runtime::ProgramStats* stats = nullptr);

// Matmuls with operands stored transposed, as outputs of g, at the edges of
// the CPU packing: a partial panel (N not a multiple of it), rows left after
// the last whole block of lanes (K, and a blocked K's last chunk: K = 603 >
// 512), A^T B, A^T B^T, a batch, and X X^T reading one buffer twice (Muon).
void add_transposed_matmuls(ir::Graph& g, ir::DType t);

}  // namespace grokjit::testing
