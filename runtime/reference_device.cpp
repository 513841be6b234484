// make_reference_device(): the float64 interpreter behind the Device
// interface. Slow, but the oracle: the training loop can run on it and be
// compared step by step with the compiled backends.
#include <cstring>
#include <map>

#include "ir/error.h"
#include "ir/interpreter.h"
#include "runtime/host_buffer.h"

namespace grokjit::runtime {

HostBuffer::HostBuffer(size_t bytes) : bytes_(bytes, 0) {}

void HostBuffer::write(const void* src, size_t bytes, size_t offset) {
  if (offset + bytes > bytes_.size()) throw Error("HostBuffer::write out of range");
  std::memcpy(bytes_.data() + offset, src, bytes);
}

void HostBuffer::read(void* dst, size_t bytes, size_t offset) const {
  if (offset + bytes > bytes_.size()) throw Error("HostBuffer::read out of range");
  std::memcpy(dst, bytes_.data() + offset, bytes);
}

std::vector<double> bytes_to_f64(const void* bytes, ir::DType dtype, size_t count) {
  std::vector<double> out(count);
  for (size_t i = 0; i < count; ++i) {
    switch (dtype) {
      case ir::DType::F32: out[i] = static_cast<const float*>(bytes)[i]; break;
      case ir::DType::F64: out[i] = static_cast<const double*>(bytes)[i]; break;
      case ir::DType::I32: out[i] = static_cast<const int32_t*>(bytes)[i]; break;
      case ir::DType::Bool: out[i] = static_cast<const uint8_t*>(bytes)[i] ? 1.0 : 0.0; break;
    }
  }
  return out;
}

void f64_to_bytes(const std::vector<double>& values, ir::DType dtype, void* bytes) {
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case ir::DType::F32: static_cast<float*>(bytes)[i] = static_cast<float>(values[i]); break;
      case ir::DType::F64: static_cast<double*>(bytes)[i] = values[i]; break;
      case ir::DType::I32: static_cast<int32_t*>(bytes)[i] = static_cast<int32_t>(values[i]); break;
      case ir::DType::Bool: static_cast<uint8_t*>(bytes)[i] = values[i] != 0.0; break;
    }
  }
}

namespace {

size_t tensor_bytes(const ir::Node& n) {
  return static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype);
}

class ReferenceProgram final : public Program {
 public:
  ReferenceProgram(const ir::Graph& graph, const CompileOptions& options) : graph_(graph) {
    stats_.kernels = 1;
    (void)options;
  }

  void bind(const std::string& name, Buffer& buffer) override {
    const ir::Node* node = find_tensor(name);
    if (node == nullptr) throw Error("reference program: no input or output named '" + name + "'", ExitCode::Usage);
    if (buffer.bytes() != tensor_bytes(*node))
      throw Error("reference program: buffer for '" + name + "' has " + std::to_string(buffer.bytes()) +
                  " bytes, tensor " + std::string(ir::dtype_name(node->dtype)) + ir::shape_str(node->shape) +
                  " needs " + std::to_string(tensor_bytes(*node)), ExitCode::Usage);
    bound_[name] = &buffer;
  }

  void run() override {
    ir::TensorMap inputs;
    for (ir::NodeId id : graph_.inputs()) {
      const ir::Node& n = graph_.node(id);
      Buffer& b = bound(n.attrs.name);
      std::vector<uint8_t> raw(b.bytes());
      b.read(raw.data(), raw.size());
      inputs[n.attrs.name] = ir::Tensor64(n.shape, bytes_to_f64(raw.data(), n.dtype, static_cast<size_t>(ir::num_elements(n.shape))));
    }
    ir::InterpretResult result = ir::interpret(graph_, inputs);
    for (const ir::Output& out : graph_.outputs()) store(out.name, graph_.node(out.node).dtype, result.outputs.at(out.name));
    for (const ir::Update& up : graph_.updates()) {
      const ir::Node& target = graph_.node(up.target);
      store(target.attrs.name, target.dtype, result.updated.at(target.attrs.name));
    }
  }

  const ProgramStats& stats() const override { return stats_; }

 private:
  const ir::Node* find_tensor(const std::string& name) const {
    ir::NodeId id = graph_.find_input(name);
    if (id >= 0) return &graph_.node(id);
    for (const ir::Output& out : graph_.outputs())
      if (out.name == name) return &graph_.node(out.node);
    return nullptr;
  }

  Buffer& bound(const std::string& name) const {
    auto it = bound_.find(name);
    if (it == bound_.end()) throw Error("reference program: '" + name + "' was never bound", ExitCode::Usage);
    return *it->second;
  }

  void store(const std::string& name, ir::DType dtype, const ir::Tensor64& value) {
    std::vector<uint8_t> raw(value.data.size() * ir::dtype_size(dtype));
    f64_to_bytes(value.data, dtype, raw.data());
    bound(name).write(raw.data(), raw.size());
  }

  ir::Graph graph_;
  std::map<std::string, Buffer*> bound_;
  ProgramStats stats_;
};

class ReferenceDevice final : public Device {
 public:
  std::string name() const override { return "reference (float64 interpreter)"; }
  std::unique_ptr<Buffer> alloc(size_t bytes) override { return std::make_unique<HostBuffer>(bytes); }
  std::unique_ptr<Program> compile(const ir::Graph& graph, const CompileOptions& options) override {
    return std::make_unique<ReferenceProgram>(graph, options);
  }
};

}  // namespace

std::unique_ptr<Device> make_reference_device() { return std::make_unique<ReferenceDevice>(); }

}  // namespace grokjit::runtime
