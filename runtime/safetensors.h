// The safetensors format (https://github.com/huggingface/safetensors), as
// the Python package reads and writes it: an 8-byte little-endian header
// length N, N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//    "__metadata__": {"key": "value"}}
// then the data; offsets are relative to the data and the tensors tile it
// without gaps. Used for checkpoints and for exchanging weights with PyTorch.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace grokjit::runtime {

// Dtypes understood here (element size in bytes): F32 4, F64 8, I32 4, I64 8,
// BOOL 1 (0 or 1). Returns 0 for any other string.
size_t safetensors_dtype_size(std::string_view dtype);

struct NamedTensor {
  std::string name;
  std::string dtype;             // "F32", "F64", "I32", "I64", "BOOL"
  std::vector<int64_t> shape;    // [] is a scalar
  std::vector<uint8_t> bytes;    // little-endian, row-major
};

struct SafetensorsContents {
  std::string source;                           // the file it came from (for messages)
  std::vector<NamedTensor> tensors;             // in data order
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Writes atomically: a temp file in the same folder, fsync, rename, fsync of
// the folder, so a crash leaves the old file or the new one, never a torn
// one. Names must be unique and not "__metadata__"; bytes must match dtype
// and shape (else Error, ExitCode::Failure: a caller's bug). I/O failures:
// Error, ExitCode::Io, naming the file.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates everything (truncation, header length, JSON, entries,
// dtypes, shapes against byte counts, offsets in range, overlaps and gaps).
// Errors: Error, ExitCode::Io, naming the file and the tensor.
SafetensorsContents load_safetensors(const std::string& path);

// The same on memory (`source` names it in errors).
std::vector<uint8_t> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});
SafetensorsContents decode_safetensors(std::span<const uint8_t> file, std::string_view source);

// The tensor called `name`; Error (ExitCode::Io) naming the file when absent.
const NamedTensor& find_tensor(const SafetensorsContents& contents, std::string_view name);

// Typed views. T is float (F32), double (F64), int32_t (I32), int64_t (I64)
// or bool (BOOL).
template <class T>
constexpr const char* safetensors_dtype_of();
template <> constexpr const char* safetensors_dtype_of<float>() { return "F32"; }
template <> constexpr const char* safetensors_dtype_of<double>() { return "F64"; }
template <> constexpr const char* safetensors_dtype_of<int32_t>() { return "I32"; }
template <> constexpr const char* safetensors_dtype_of<int64_t>() { return "I64"; }
template <> constexpr const char* safetensors_dtype_of<bool>() { return "BOOL"; }

template <class T>
NamedTensor make_tensor(std::string name, std::vector<int64_t> shape, const std::vector<T>& values) {
  NamedTensor tensor{std::move(name), safetensors_dtype_of<T>(), std::move(shape), {}};
  tensor.bytes.resize(values.size() * sizeof(T));
  for (size_t i = 0; i < values.size(); ++i) {
    const T value = values[i];  // vector<bool> has no data()
    std::memcpy(tensor.bytes.data() + i * sizeof(T), &value, sizeof(T));
  }
  return tensor;
}

// The values of `tensor`; Error (ExitCode::Io) when its dtype is not T's.
template <class T>
std::vector<T> tensor_values(const NamedTensor& tensor);

extern template std::vector<float> tensor_values<float>(const NamedTensor&);
extern template std::vector<double> tensor_values<double>(const NamedTensor&);
extern template std::vector<int32_t> tensor_values<int32_t>(const NamedTensor&);
extern template std::vector<int64_t> tensor_values<int64_t>(const NamedTensor&);
extern template std::vector<bool> tensor_values<bool>(const NamedTensor&);

}  // namespace grokjit::runtime
