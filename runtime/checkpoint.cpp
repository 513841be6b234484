// Checkpoint = safetensors file: one tensor per param / state buffer, and the
// loop position as string metadata ("grokjit.*" keys).
#include "runtime/checkpoint.h"

#include <llvm/Support/xxhash.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "ir/error.h"
#include "runtime/safetensors.h"

namespace grokjit::runtime {
namespace {

std::string safetensors_dtype(ir::DType d) {
  switch (d) {
    case ir::DType::F32: return "F32";
    case ir::DType::F64: return "F64";
    case ir::DType::I32: return "I32";
    case ir::DType::Bool: return "BOOL";
  }
  return "?";
}

struct Expected {
  std::string name;
  ir::Shape shape;
  ir::DType dtype;
};

std::vector<Expected> expected_tensors(const StepGraphs& graphs) {
  std::vector<Expected> out;
  for (const auto& p : graphs.params) out.push_back({p.name, p.shape, ir::DType::F32});
  for (const auto& s : graphs.state) out.push_back({s.name, s.shape, s.dtype});
  return out;
}

std::string shape_text(const std::vector<int64_t>& s) { return ir::shape_str(s); }

// xxh3 of every tensor's name and bytes, in the program's order: a changed
// byte (a disk error, an edit) is caught on load, not trained on.
std::string tensor_checksum(const std::vector<const NamedTensor*>& tensors) {
  std::string names_and_hashes;
  for (const NamedTensor* t : tensors) {
    const uint64_t h = llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(t->bytes.data(), t->bytes.size()));
    names_and_hashes += t->name + '\0' + std::to_string(h) + '\n';
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(llvm::xxh3_64bits(names_and_hashes)));
  return std::string("xxh3:") + hex;
}

}  // namespace

void save_checkpoint_file(const std::string& path, const CheckpointState& state, const StepGraphs& graphs,
                          const PersistentBuffers& buffers) {
  std::vector<NamedTensor> tensors;
  for (const Expected& e : expected_tensors(graphs)) {
    const Buffer& buf = *buffers.at(e.name);
    NamedTensor t;
    t.name = e.name;
    t.dtype = safetensors_dtype(e.dtype);
    t.shape = e.shape;
    t.bytes.resize(buf.bytes());
    buf.read(t.bytes.data(), t.bytes.size());
    tensors.push_back(std::move(t));
  }
  nlohmann::json pos{{"epoch", state.epoch},
                     {"next_batch", state.next_batch},
                     {"step", state.step},
                     {"running_loss", state.running_loss},
                     {"running_correct", state.running_correct},
                     {"memorization_epoch", state.memorization_epoch},
                     {"grokking_epoch", state.grokking_epoch},
                     {"elapsed_seconds", state.elapsed_seconds}};
  std::map<std::string, std::string> metadata{{"format", "grokjit-checkpoint-1"},
                                              {"grokjit.position", pos.dump()},
                                              {"grokjit.config", state.config_json}};
  std::vector<const NamedTensor*> in_order;
  for (const NamedTensor& t : tensors) in_order.push_back(&t);
  metadata["grokjit.checksum"] = tensor_checksum(in_order);
  save_safetensors(path, tensors, metadata);
}

CheckpointState load_checkpoint_file(const std::string& path, const StepGraphs& graphs, PersistentBuffers& buffers,
                                     const std::function<void(const std::string& config_json)>& check_config) {
  SafetensorsContents file = load_safetensors(path);
  auto fail = [&](const std::string& what) { throw Error("checkpoint " + path + ": " + what, ExitCode::Io); };
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end()) fail("metadata key '" + key + "' is missing (not a grokjit checkpoint?)");
    return it->second;
  };
  if (meta("format") != "grokjit-checkpoint-1")
    fail("format '" + meta("format") + "' is not grokjit-checkpoint-1");
  // The checksum covers the tensors only: an edited config must not pass for "another config".
  const nlohmann::json config = nlohmann::json::parse(meta("grokjit.config"), nullptr, false);
  if (!config.is_object() || !config.contains("task") || !config.contains("model") || !config.contains("train"))
    fail("metadata 'grokjit.config' is not a run config (the file was edited or damaged)");
  if (check_config) check_config(meta("grokjit.config"));

  std::vector<const NamedTensor*> in_order;
  for (const Expected& e : expected_tensors(graphs)) {
    const NamedTensor* t = nullptr;
    for (const NamedTensor& cand : file.tensors)
      if (cand.name == e.name) t = &cand;
    if (t == nullptr) fail("tensor '" + e.name + "' is missing");
    if (t->dtype != safetensors_dtype(e.dtype) || t->shape != e.shape)
      fail("tensor '" + e.name + "' is " + t->dtype + shape_text(t->shape) + ", the model needs " +
           safetensors_dtype(e.dtype) + shape_text(e.shape));
    in_order.push_back(t);
  }
  // Checkpoints written before the checksum existed have none: loaded as they are.
  if (auto it = file.metadata.find("grokjit.checksum"); it != file.metadata.end() && it->second != tensor_checksum(in_order))
    fail("its tensors do not match the checksum written with them (" + it->second +
         "): the file was changed or damaged after it was written");
  for (size_t i = 0; i < in_order.size(); ++i)
    buffers.at(in_order[i]->name)->write(in_order[i]->bytes.data(), in_order[i]->bytes.size());

  CheckpointState st;
  nlohmann::json pos = nlohmann::json::parse(meta("grokjit.position"), nullptr, false);
  if (pos.is_discarded() || !pos.is_object()) fail("metadata 'grokjit.position' is not a JSON object");
  try {
    st.epoch = pos.at("epoch").get<int64_t>();
    st.next_batch = pos.at("next_batch").get<int64_t>();
    st.step = pos.at("step").get<int64_t>();
    st.running_loss = pos.at("running_loss").get<double>();
    st.running_correct = pos.at("running_correct").get<double>();
    st.memorization_epoch = pos.at("memorization_epoch").get<int64_t>();
    st.grokking_epoch = pos.at("grokking_epoch").get<int64_t>();
    st.elapsed_seconds = pos.at("elapsed_seconds").get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("metadata 'grokjit.position' is incomplete: ") + e.what());
  }
  if (st.epoch < 1 || st.next_batch < 0 || st.step < 0) fail("metadata 'grokjit.position' holds a negative position");
  st.config_json = meta("grokjit.config");
  return st;
}

}  // namespace grokjit::runtime
