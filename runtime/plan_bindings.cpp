#include "runtime/plan_bindings.h"

#include "ir/error.h"
#include "runtime/host_buffer.h"

namespace grokjit::runtime {

PlanBindings::PlanBindings(const codegen::ProgramPlan& plan, std::string program_name)
    : plan_(&plan), name_(std::move(program_name)), bound_(plan.buffers.size(), false) {
  for (const auto& b : plan.buffers)
    if (b.kind == codegen::BufferKind::Input || b.kind == codegen::BufferKind::Output) ++unbound_;
}

std::string PlanBindings::names_hint() const {
  std::string s = " (inputs:";
  for (const auto& b : plan_->buffers)
    if (b.kind == codegen::BufferKind::Input) s += " " + b.name;
  s += "; outputs:";
  for (const auto& b : plan_->buffers)
    if (b.kind == codegen::BufferKind::Output) s += " " + b.name;
  return s + ")";
}

size_t PlanBindings::find(const std::string& name, const Buffer& buffer) const {
  int b = codegen::find_buffer(*plan_, codegen::BufferKind::Input, name);
  if (b < 0) b = codegen::find_buffer(*plan_, codegen::BufferKind::Output, name);
  if (b < 0) throw Error("program '" + name_ + "': no input or output named '" + name + "'" + names_hint(), ExitCode::Usage);
  const auto& pb = plan_->buffers[static_cast<size_t>(b)];
  if (buffer.bytes() != pb.bytes())
    throw Error("program '" + name_ + "': '" + name + "' is " + std::string(codegen::scalar_type_name(pb.type)) + "[" +
                    std::to_string(pb.elements) + "] (" + std::to_string(pb.bytes()) + " bytes), the buffer has " +
                    std::to_string(buffer.bytes()) + " bytes",
                ExitCode::Usage);
  return static_cast<size_t>(b);
}

void PlanBindings::mark_bound(size_t buffer) {
  if (!bound_[buffer]) {
    bound_[buffer] = true;
    --unbound_;
  }
}

void PlanBindings::check_all_bound() const {
  if (unbound_ == 0) return;
  for (size_t i = 0; i < plan_->buffers.size(); ++i) {
    const auto& b = plan_->buffers[i];
    bool bindable = b.kind == codegen::BufferKind::Input || b.kind == codegen::BufferKind::Output;
    if (bindable && !bound_[i])
      throw Error("program '" + name_ + "': " + (b.kind == codegen::BufferKind::Input ? "input '" : "output '") + b.name +
                      "' is not bound",
                  ExitCode::Usage);
  }
}

KernelInfo plan_kernel_info(const codegen::PlannedKernel& pk) {
  KernelInfo info;
  info.name = pk.kernel.name;
  info.ops = pk.kernel.ir_ops;
  info.flops = pk.cost.flops;
  info.bytes_read = pk.cost.bytes_read;
  info.bytes_written = pk.cost.bytes_written;
  return info;
}

std::vector<uint8_t> constant_bytes(const codegen::PlanBuffer& buffer) {
  ir::DType dtype = ir::DType::Bool;
  switch (buffer.type) {
    case codegen::ScalarType::F32: dtype = ir::DType::F32; break;
    case codegen::ScalarType::F64: dtype = ir::DType::F64; break;
    case codegen::ScalarType::I32: dtype = ir::DType::I32; break;
    default: break;
  }
  std::vector<uint8_t> bytes(buffer.bytes());
  f64_to_bytes(buffer.data, dtype, bytes.data());
  return bytes;
}

}  // namespace grokjit::runtime
