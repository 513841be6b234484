#include "runtime/safetensors.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <fstream>
#include <limits>
#include <optional>
#include <type_traits>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "runtime/files.h"
#include "runtime/spec.h"  // parse_json_text: strict JSON with positions and duplicate-key checks

namespace grokjit::runtime {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; add byte swapping");

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the Python package's limit
constexpr std::string_view kMetadataKey = "__metadata__";

[[noreturn]] void corrupt(std::string_view source, const std::string& message) {
  throw Error(std::string(source) + ": " + message, ExitCode::Io);
}

[[noreturn]] void corrupt_tensor(std::string_view source, const std::string& name, const std::string& message) {
  corrupt(source, "tensor '" + name + "': " + message);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Bytes of a tensor of `shape` and `dtype`, or nullopt on overflow.
std::optional<uint64_t> byte_count(const std::vector<int64_t>& shape, size_t element_size) {
  uint64_t count = element_size;
  for (int64_t extent : shape) {
    if (extent < 0) return std::nullopt;
    if (extent != 0 && count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(extent)) return std::nullopt;
    count *= static_cast<uint64_t>(extent);
  }
  return count;
}

void check_tensor_to_save(const NamedTensor& tensor, const std::vector<NamedTensor>& all) {
  auto bug = [&](const std::string& message) {
    throw Error("save_safetensors: tensor '" + tensor.name + "': " + message, ExitCode::Failure);
  };
  if (tensor.name.empty() || tensor.name == kMetadataKey) bug("the name is empty or reserved");
  if (std::count_if(all.begin(), all.end(), [&](const NamedTensor& t) { return t.name == tensor.name; }) > 1) {
    bug("the name is used twice");
  }
  const size_t element_size = safetensors_dtype_size(tensor.dtype);
  if (element_size == 0) bug("unknown dtype '" + tensor.dtype + "'; allowed: F32, F64, I32, I64, BOOL");
  const auto expected = byte_count(tensor.shape, element_size);
  if (!expected || *expected != tensor.bytes.size()) {
    bug(std::to_string(tensor.bytes.size()) + " bytes do not fit " + tensor.dtype + " " + shape_text(tensor.shape));
  }
}

// A tensor's header entry, validated; data_offsets checked against `data_size`.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

uint64_t non_negative_integer(const json& value, std::string_view source, const std::string& name, const char* what) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    corrupt_tensor(source, name, std::string(what) + " must be a non-negative integer, got " + value.dump());
  }
  return value.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const json& value, uint64_t data_size, std::string_view source) {
  if (!value.is_object()) corrupt_tensor(source, name, "the header entry is not an object: " + value.dump());
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      corrupt_tensor(source, name, "unexpected key '" + key + "'; allowed: dtype, shape, data_offsets");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) corrupt_tensor(source, name, std::string("missing '") + key + "'");
  }
  Entry entry;
  entry.name = name;
  const json& dtype = value.at("dtype");
  if (!dtype.is_string() || safetensors_dtype_size(dtype.get<std::string>()) == 0) {
    corrupt_tensor(source, name, "unknown dtype " + dtype.dump() + "; allowed: F32, F64, I32, I64, BOOL");
  }
  entry.dtype = dtype.get<std::string>();
  const json& shape = value.at("shape");
  if (!shape.is_array()) corrupt_tensor(source, name, "shape must be a list, got " + shape.dump());
  for (const json& extent : shape) {
    entry.shape.push_back(static_cast<int64_t>(non_negative_integer(extent, source, name, "a shape entry")));
  }
  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    corrupt_tensor(source, name, "data_offsets must be [begin, end], got " + offsets.dump());
  }
  entry.begin = non_negative_integer(offsets[0], source, name, "data_offsets[0]");
  entry.end = non_negative_integer(offsets[1], source, name, "data_offsets[1]");
  if (entry.begin > entry.end || entry.end > data_size) {
    corrupt_tensor(source, name, "data_offsets " + offsets.dump() + " are outside the " + std::to_string(data_size) +
                                     " data bytes (truncated file?)");
  }
  const auto expected = byte_count(entry.shape, safetensors_dtype_size(entry.dtype));
  if (!expected || *expected != entry.end - entry.begin) {
    corrupt_tensor(source, name, "data_offsets " + offsets.dump() + " hold " + std::to_string(entry.end - entry.begin) +
                                     " bytes but " + entry.dtype + " " + shape_text(entry.shape) + " needs " +
                                     (expected ? std::to_string(*expected) : std::string("more than 2^64")));
  }
  return entry;
}

std::map<std::string, std::string> parse_metadata(const json& value, std::string_view source) {
  if (!value.is_object()) corrupt(source, "__metadata__ must be an object of strings, got " + value.dump());
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string()) corrupt(source, "__metadata__ '" + key + "' must be a string, got " + text.dump());
    metadata[key] = text.get<std::string>();
  }
  return metadata;
}

// The tensors must tile the data exactly, as the Python package requires.
void check_tiling(std::vector<Entry>& entries, uint64_t data_size, std::string_view source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      corrupt_tensor(source, entry.name, "its data [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                                             ") overlaps tensor '" + previous->name + "'");
    }
    if (entry.begin > covered) {
      corrupt_tensor(source, entry.name, "its data starts at byte " + std::to_string(entry.begin) +
                                             " but the previous tensor ends at " + std::to_string(covered) +
                                             " (a gap)");
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size) {
    corrupt(source, std::to_string(data_size - covered) + " data bytes after the last tensor belong to none");
  }
}

std::vector<uint8_t> read_file(const std::string& path) {
  // No cap: a checkpoint of a wide model is gigabytes, and grokjit chose its path.
  const std::string bytes = read_text_file(path, "safetensors file", std::numeric_limits<size_t>::max());
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace

size_t safetensors_dtype_size(std::string_view dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "BOOL") return 1;
  return 0;
}

std::vector<uint8_t> encode_safetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const NamedTensor& tensor : tensors) {
    check_tensor_to_save(tensor, tensors);
    header[tensor.name] = {{"dtype", tensor.dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data to 8 bytes, as the Python writer does
  std::vector<uint8_t> file(8);
  const uint64_t length = text.size();
  std::memcpy(file.data(), &length, 8);
  file.insert(file.end(), text.begin(), text.end());
  for (const NamedTensor& tensor : tensors) file.insert(file.end(), tensor.bytes.begin(), tensor.bytes.end());
  return file;
}

SafetensorsContents decode_safetensors(std::span<const uint8_t> file, std::string_view source) {
  if (file.size() < 8) {
    corrupt(source, "only " + std::to_string(file.size()) +
                        " bytes; a safetensors file starts with an 8-byte header length (truncated?)");
  }
  uint64_t header_length = 0;
  std::memcpy(&header_length, file.data(), 8);
  if (header_length > file.size() - 8 || header_length > kMaxHeaderBytes) {
    corrupt(source, "the header length " + std::to_string(header_length) + " exceeds the " +
                        std::to_string(file.size() - 8) + " bytes after it (truncated, or not a safetensors file)");
  }
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), header_length);
  if (text.empty() || text.front() != '{') corrupt(source, "the header is not a JSON object");
  const json header = parse_json_text(text, std::string(source) + " (header)", ExitCode::Io);
  if (!header.is_object()) corrupt(source, "the header is not a JSON object");

  const uint64_t data_size = file.size() - 8 - header_length;
  SafetensorsContents contents;
  contents.source = source;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) contents.metadata = parse_metadata(value, source);
    else entries.push_back(parse_entry(name, value, data_size, source));
  }
  check_tiling(entries, data_size, source);
  const uint8_t* data = file.data() + 8 + header_length;
  for (Entry& entry : entries) {
    contents.tensors.push_back({std::move(entry.name), std::move(entry.dtype), std::move(entry.shape),
                                std::vector<uint8_t>(data + entry.begin, data + entry.end)});
  }
  return contents;
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = encode_safetensors(tensors, metadata);
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

SafetensorsContents load_safetensors(const std::string& path) {
  const std::vector<uint8_t> file = read_file(path);
  return decode_safetensors(file, path);
}

const NamedTensor& find_tensor(const SafetensorsContents& contents, std::string_view name) {
  for (const NamedTensor& tensor : contents.tensors) {
    if (tensor.name == name) return tensor;
  }
  throw Error(contents.source + ": no tensor '" + std::string(name) + "'", ExitCode::Io);
}

template <class T>
std::vector<T> tensor_values(const NamedTensor& tensor) {
  if (tensor.dtype != safetensors_dtype_of<T>()) {
    throw Error("tensor '" + tensor.name + "' is " + tensor.dtype + ", read as " + safetensors_dtype_of<T>(),
                ExitCode::Io);
  }
  std::vector<T> values(tensor.bytes.size() / sizeof(T));
  for (size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      values[i] = tensor.bytes[i] != 0;  // any non-zero byte is true, as in numpy
    } else {
      T value;
      std::memcpy(&value, tensor.bytes.data() + i * sizeof(T), sizeof(T));
      values[i] = value;
    }
  }
  return values;
}

template std::vector<float> tensor_values<float>(const NamedTensor&);
template std::vector<double> tensor_values<double>(const NamedTensor&);
template std::vector<int32_t> tensor_values<int32_t>(const NamedTensor&);
template std::vector<int64_t> tensor_values<int64_t>(const NamedTensor&);
template std::vector<bool> tensor_values<bool>(const NamedTensor&);

}  // namespace grokjit::runtime
