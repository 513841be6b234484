// The PyTorch cross-check (docs/crosscheck.md): the cases, the batches of the
// first steps exactly as grokjit's training loop draws them, the export file
// tests/crosscheck/torch_reference.py reads, and a replay of grokjit's
// train-step program on those batches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/device.h"
#include "runtime/step_graph.h"
#include "runtime/train_config.h"

namespace grokjit::crosscheck {

inline constexpr int kFormatVersion = 1;  // of the export file and the reference JSON
inline constexpr int64_t kSteps = 50;

struct Case {
  std::string name;         // "small_adamw": reference file tests/data/crosscheck_<name>.json
  nlohmann::json spec;      // the minimal spec (defaults fill the rest)
  bool on_reference = true; // also run on the float64 reference device (too slow for the full-size model)
};

const std::vector<Case>& cases();
const Case& find_case(const std::string& name);
runtime::RunConfig case_config(const Case& c);

// The first `steps` batches of a run, as runtime/trainer.cpp fills them:
// epoch e (from 1) visits tasks::epoch_order(split.train, seed, e) in chunks
// of `batch` rows; a short last chunk is padded with copies of its first row
// under row_mask 0; inv_rows = 1 / real rows (f32).
struct Batches {
  int64_t steps = 0, batch = 0, seq_len = 0;
  std::vector<int32_t> tokens;    // [steps, batch, seq_len]
  std::vector<int32_t> labels;    // [steps, batch]
  std::vector<float> row_mask;    // [steps, batch]
  std::vector<float> inv_rows;    // [steps]
  std::vector<int64_t> real_rows; // [steps]
  std::vector<int64_t> epoch;     // [steps], from 1
};

struct Prepared {
  runtime::RunConfig config;
  runtime::DataShape shape;
  int64_t train_rows = 0;
  std::vector<models::ParamSpec> params;
  std::vector<std::vector<float>> init;  // models::init_params(params, train.seed)
  Batches batches;
  int32_t dropout_seed = 0;              // the "seed" input: train.seed & 0x7fffffff
  std::string init_sha256, data_sha256;  // fingerprints (see fingerprint_*)
};

Prepared prepare(const Case& c, int64_t steps = kSteps);

// SHA-256 (FIPS 180-4) as lowercase hex.
std::string sha256_hex(const std::vector<uint8_t>& bytes);
// init: for each parameter in spec order, its name, a 0 byte, its f32 values
// (little-endian). data: tokens, labels (i32), row_mask, inv_rows (f32),
// concatenated. torch_reference.py computes the same with hashlib.
std::string fingerprint_init(const std::vector<models::ParamSpec>& params, const std::vector<std::vector<float>>& init);
std::string fingerprint_data(const Batches& b);

// Writes <dir>/crosscheck_<case>_export.safetensors: every parameter under
// its grokjit name (f32), batch.tokens [S, B, T] i32, batch.labels [S, B]
// i32, batch.row_mask [S, B] f32, batch.inv_rows [S] f32, and metadata
// grokjit.{crosscheck_format, case, case_spec, config, dropout_seed, steps,
// vocab, seq_len, batch, param_order, init_sha256, data_sha256}.
std::string write_export(const std::string& dir, const Case& c, const Prepared& p);

struct StepResult {
  double loss = 0;     // loss_sum / real rows: the batch's mean loss before the update
  float loss_sum = 0;  // as the program wrote it
  float correct = 0;
};

// grokjit's train-step program (runtime::build_step_graphs), compiled on
// `device` with the prepared init bound, replayed on the prepared batches one
// step at a time (step s uses batch s and the "step" input s + 1).
class Replay {
 public:
  Replay(const Prepared& p, runtime::Device& device);
  StepResult step(int64_t s);
  double compile_seconds() const { return compile_seconds_; }

 private:
  const Prepared& p_;
  runtime::StepGraphs graphs_;
  std::unique_ptr<runtime::Program> program_;
  std::vector<std::unique_ptr<runtime::Buffer>> owned_;
  runtime::Buffer *tokens_ = nullptr, *labels_ = nullptr, *row_mask_ = nullptr, *inv_rows_ = nullptr,
                  *step_ = nullptr, *loss_sum_ = nullptr, *correct_ = nullptr;
  double compile_seconds_ = 0;
};

}  // namespace grokjit::crosscheck
