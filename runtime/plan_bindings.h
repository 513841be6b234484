// What every device checks when a program's inputs and outputs are bound:
// the name exists, the buffer's size matches, everything is bound before a
// run. Shared by the CPU and CUDA devices so their errors read the same.
#pragma once

#include <string>
#include <vector>

#include "codegen/plan.h"
#include "runtime/device.h"

namespace grokjit::runtime {

class PlanBindings {
 public:
  // `plan` must outlive this object.
  PlanBindings(const codegen::ProgramPlan& plan, std::string program_name);

  // The plan buffer (index) that `name` binds to; throws Error (Usage) naming
  // the tensor for an unknown name or a wrong size. Does not mark it bound.
  size_t find(const std::string& name, const Buffer& buffer) const;
  void mark_bound(size_t buffer);
  bool all_bound() const { return unbound_ == 0; }
  // Throws Error (Usage) naming the first input or output not bound.
  void check_all_bound() const;

  const std::string& program_name() const { return name_; }

 private:
  std::string names_hint() const;

  const codegen::ProgramPlan* plan_;
  std::string name_;
  std::vector<bool> bound_;
  int unbound_ = 0;
};

// A planned kernel's name, ops and cost (KernelInfo::launch left empty).
KernelInfo plan_kernel_info(const codegen::PlannedKernel& kernel);

// A Constant plan buffer's values as bytes of its dtype.
std::vector<uint8_t> constant_bytes(const codegen::PlanBuffer& buffer);

}  // namespace grokjit::runtime
