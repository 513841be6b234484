// A whole program, backend-independent: the kernels of a graph in execution
// order, the buffers they read and write, and the memory plan. Each stage is
// a named step that can be dumped (GROKJIT_DEBUG, `grokjit kernels --dump`):
//
//   simplify (ir/passes.h) -> transpose_matmul_results (rewrite.h)
//   -> split_long_k_matmuls (split_k.h) -> simplify
//   -> schedule (schedule.h: fusion groups)
//   -> storage (which node lives in which buffer; updates in place)
//   -> order (topological, with write-after-read edges for in-place updates)
//   -> lower (lower.h: kernel IR per group)  ->  memory plan (memory_plan.h)
//
// Updates: the new value of a Param/State input is stored straight into the
// input's buffer when that is safe: the kernel that computes it reads the old
// value only at the element it writes, and every other kernel that reads the
// old value can run before it. Otherwise it goes to a temporary and a copy
// kernel at the end of the program writes it back.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "codegen/lower.h"
#include "codegen/memory_plan.h"
#include "ir/graph.h"

namespace grokjit::codegen {

enum class BufferKind : uint8_t { Input, Output, Constant, Arena };

struct PlanBuffer {
  BufferKind kind = BufferKind::Arena;
  std::string name;  // Input/Output: the bound name; otherwise a description
  ScalarType type = ScalarType::F32;
  int64_t elements = 0;
  size_t offset = 0;          // Arena: offset in the arena
  std::vector<double> data;   // Constant: values
  size_t bytes() const { return static_cast<size_t>(elements) * storage_bytes(type); }
};

struct PlannedKernel {
  Kernel kernel;
  std::vector<int> args;  // plan buffer of each kernel buffer
  KernelCost cost;
};

struct PlanOptions {
  bool fusion = true;
  TargetInfo target;
};

struct ProgramPlan {
  ir::Graph graph;                     // the simplified graph the plan computes
  std::vector<PlanBuffer> buffers;
  std::vector<PlannedKernel> kernels;  // execution order
  MemoryPlan memory;                   // offsets of the Arena buffers (by buffer index)
  std::vector<BufferLifetime> lifetimes;  // of every buffer (non-arena ones too), for checks
  std::vector<std::string> fused, rejected;  // scheduler decisions
  std::vector<std::string> in_place;  // "param 'w1': in place in K" or "... copied back: reason"
};

// Throws GraphError for an invalid graph.
ProgramPlan plan_program(const ir::Graph& g, const PlanOptions& options);

// What GROKJIT_DEBUG prints: level 1 = per kernel its ops; level 2 = also the
// rejected fusions, the in-place decisions and the memory plan; level 3 =
// also every kernel's IR.
std::string describe_plan(const ProgramPlan& plan, int level);

// Index of the buffer bound to `name` (an input or output), or -1.
int find_buffer(const ProgramPlan& plan, BufferKind kind, const std::string& name);

}  // namespace grokjit::codegen
