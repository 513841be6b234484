// A Buffer in host memory, and conversions between a tensor's bytes in its
// dtype and float64 values (the interpreter's representation).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "runtime/device.h"

namespace grokjit::runtime {

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes);
  size_t bytes() const override { return bytes_.size(); }
  void write(const void* src, size_t bytes, size_t offset = 0) override;
  void read(void* dst, size_t bytes, size_t offset = 0) const override;
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }

 private:
  std::vector<uint8_t> bytes_;
};

std::vector<double> bytes_to_f64(const void* bytes, ir::DType dtype, size_t count);
void f64_to_bytes(const std::vector<double>& values, ir::DType dtype, void* bytes);  // rounds to dtype

}  // namespace grokjit::runtime
