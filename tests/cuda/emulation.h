// Running emitted CUDA C on the host (tests/cuda/cuda_emulation.h): compile a
// set of kernels into one shared object with the host C++ compiler, load it,
// and run a whole ProgramPlan kernel by kernel on host buffers laid out like
// the plan (arena offsets, inputs, outputs, constants).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda_emit.h"
#include "codegen/plan.h"
#include "ir/graph.h"
#include "ir/interpreter.h"

namespace grokjit::testing {

// One shared object holding many kernels (and raw sources, by name).
class EmulatedKernels {
 public:
  struct Raw {  // a hand-written kernel: source text and a launcher body
    std::string name;     // launcher name: gj_launch_<name>
    std::string source;   // CUDA C
    std::string launch;   // C++ statements run per block with `void** a` (the buffers) in scope
  };
  // `parts` shared objects, compiled in parallel (the kernels dealt round robin).
  EmulatedKernels(const std::vector<const codegen::Kernel*>& kernels, const std::vector<Raw>& raw = {}, int parts = 1);
  ~EmulatedKernels();
  EmulatedKernels(const EmulatedKernels&) = delete;
  EmulatedKernels& operator=(const EmulatedKernels&) = delete;

  // Runs a kernel with its emitted launch configuration; `seed` picks the
  // thread orders. Throws Error with the emulator's message on a failure.
  void run(const codegen::Kernel& k, void** buffers, unsigned seed) const;
  void run_raw(const std::string& name, const codegen::CudaLaunch& launch, void** buffers, unsigned seed) const;
  const codegen::CudaKernelSource& source(const codegen::Kernel& k) const;
  double compile_seconds() const { return compile_seconds_; }

 private:
  using LaunchFn = const char* (*)(void**, const long long*, unsigned);
  LaunchFn find(const std::string& launcher) const;
  std::map<std::string, codegen::CudaKernelSource> sources_;  // by symbol
  std::map<std::string, std::pair<int, std::string>> launcher_;  // symbol or "raw:" name -> (part, launcher symbol)
  std::vector<void*> handles_;
  std::string dir_;
  double compile_seconds_ = 0;
};

struct EmulatedRun {
  ir::TensorMap outputs;  // by output name
  ir::TensorMap updated;  // by input name
};

// Runs every kernel of `plan` in order under the emulation. `g` is the graph
// the plan was made from (for names and shapes).
EmulatedRun run_plan_emulated(const codegen::ProgramPlan& plan, const ir::Graph& g, const ir::TensorMap& inputs,
                              const EmulatedKernels& kernels, unsigned seed = 1);

}  // namespace grokjit::testing
