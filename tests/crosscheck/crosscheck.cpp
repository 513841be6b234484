#include "crosscheck.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "ir/error.h"
#include "models/params.h"
#include "runtime/safetensors.h"
#include "runtime/spec.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::crosscheck {

using nlohmann::json;

namespace {

// A small model for the float64 reference device (fast enough for CI) and
// the paper's model (REFERENCE.md s.2-3) for the compiled CPU backend.
// Both optimizers use their REFERENCE.md defaults; weight decay 1.0.
json small_spec(const std::string& optimizer) {
  return {{"name", "crosscheck-small-" + optimizer},
          {"task", {{"kind", "add"}, {"p", 23}, {"train_fraction", 0.8}, {"split_seed", 1}}},
          {"model",
           {{"kind", "transformer"},
            {"output", "softmax"},
            {"transformer", {{"depth", 2}, {"d_model", 32}, {"heads", 2}, {"dropout", 0.2}}}}},
          {"optimizer", {{"kind", optimizer}}},
          {"train", {{"batch_size", 64}, {"seed", 7}}}};
}

json default_spec(const std::string& optimizer) {
  return {{"name", "crosscheck-default-" + optimizer},
          {"task", {{"kind", "add"}, {"p", 97}, {"train_fraction", 0.8}, {"split_seed", 0}}},
          {"model",
           {{"kind", "transformer"},
            {"output", "softmax"},
            {"transformer", {{"depth", 2}, {"d_model", 128}, {"heads", 1}, {"dropout", 0.2}}}}},
          {"optimizer", {{"kind", optimizer}}},
          {"train", {{"batch_size", 512}, {"seed", 0}}}};
}

void append(std::vector<uint8_t>& out, const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + bytes);
}

}  // namespace

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"small_adamw", small_spec("adamw"), true},
      {"small_muon", small_spec("muon"), true},
      {"default_adamw", default_spec("adamw"), false},
      {"default_muon", default_spec("muon"), false},
  };
  return all;
}

const Case& find_case(const std::string& name) {
  for (const Case& c : cases())
    if (c.name == name) return c;
  throw std::invalid_argument("no cross-check case '" + name + "'");
}

runtime::RunConfig case_config(const Case& c) { return runtime::parse_spec(c.spec, "crosscheck case " + c.name); }

Prepared prepare(const Case& c, int64_t steps) {
  Prepared p;
  p.config = case_config(c);
  const tasks::Dataset data = tasks::make_dataset(p.config.task);
  const tasks::Split split = tasks::make_split(p.config.task);
  p.shape = runtime::data_shape(p.config, data, split);
  p.train_rows = static_cast<int64_t>(split.train.size());
  p.params = runtime::model_param_specs(p.config.model, p.shape);
  p.init = models::init_params(p.params, p.config.train.seed);
  p.dropout_seed = static_cast<int32_t>(p.config.train.seed & 0x7fffffff);

  Batches& b = p.batches;
  b.steps = steps;
  b.batch = p.shape.batch;
  b.seq_len = data.seq_len;
  const int64_t B = b.batch, T = b.seq_len, n = p.train_rows;
  b.tokens.resize(static_cast<size_t>(steps * B * T));
  b.labels.resize(static_cast<size_t>(steps * B));
  b.row_mask.resize(static_cast<size_t>(steps * B));
  int64_t s = 0;
  for (int64_t epoch = 1; s < steps; ++epoch) {
    const std::vector<int64_t> order = tasks::epoch_order(split.train, p.config.train.seed, epoch);
    for (int64_t begin = 0; begin < n && s < steps; begin += B, ++s) {
      const int64_t count = std::min(B, n - begin);
      for (int64_t i = 0; i < B; ++i) {
        const bool real = i < count;
        const int64_t r = order[static_cast<size_t>(real ? begin + i : begin)];
        std::copy_n(data.tokens.begin() + r * T, T, b.tokens.begin() + (s * B + i) * T);
        b.labels[static_cast<size_t>(s * B + i)] = data.labels[static_cast<size_t>(r)];
        b.row_mask[static_cast<size_t>(s * B + i)] = real ? 1.0f : 0.0f;
      }
      b.inv_rows.push_back(1.0f / static_cast<float>(count));
      b.real_rows.push_back(count);
      b.epoch.push_back(epoch);
    }
  }
  p.init_sha256 = fingerprint_init(p.params, p.init);
  p.data_sha256 = fingerprint_data(b);
  return p;
}

// ---- SHA-256 (FIPS 180-4)

std::string sha256_hex(const std::vector<uint8_t>& bytes) {
  static constexpr std::array<uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  std::vector<uint8_t> msg = bytes;
  const uint64_t bit_length = static_cast<uint64_t>(bytes.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<uint8_t>(bit_length >> (8 * i)));
  std::array<uint32_t, 64> w{};
  for (size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    for (int i = 0; i < 16; ++i) {
      const uint8_t* q = &msg[chunk + 4 * static_cast<size_t>(i)];
      w[i] = (uint32_t{q[0]} << 24) | (uint32_t{q[1]} << 16) | (uint32_t{q[2]} << 8) | uint32_t{q[3]};
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const uint32_t ch = (e & f) ^ (~e & g);
      const uint32_t t1 = hh + S1 + ch + k[i] + w[i];
      const uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      const uint32_t t2 = S0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int i = 28; i >= 0; i -= 4) out += hex[(v >> i) & 0xf];
  return out;
}

std::string fingerprint_init(const std::vector<models::ParamSpec>& params, const std::vector<std::vector<float>>& init) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < params.size(); ++i) {
    append(bytes, params[i].name.data(), params[i].name.size());
    bytes.push_back(0);
    append(bytes, init[i].data(), init[i].size() * sizeof(float));  // little-endian hosts only (x86-64, arm64)
  }
  return sha256_hex(bytes);
}

std::string fingerprint_data(const Batches& b) {
  std::vector<uint8_t> bytes;
  append(bytes, b.tokens.data(), b.tokens.size() * sizeof(int32_t));
  append(bytes, b.labels.data(), b.labels.size() * sizeof(int32_t));
  append(bytes, b.row_mask.data(), b.row_mask.size() * sizeof(float));
  append(bytes, b.inv_rows.data(), b.inv_rows.size() * sizeof(float));
  return sha256_hex(bytes);
}

std::string write_export(const std::string& dir, const Case& c, const Prepared& p) {
  using runtime::make_tensor;
  std::vector<runtime::NamedTensor> tensors;
  json order = json::array();
  for (size_t i = 0; i < p.params.size(); ++i) {
    tensors.push_back(make_tensor<float>(p.params[i].name, p.params[i].shape, p.init[i]));
    order.push_back(p.params[i].name);
  }
  const Batches& b = p.batches;
  tensors.push_back(make_tensor<int32_t>("batch.tokens", {b.steps, b.batch, b.seq_len}, b.tokens));
  tensors.push_back(make_tensor<int32_t>("batch.labels", {b.steps, b.batch}, b.labels));
  tensors.push_back(make_tensor<float>("batch.row_mask", {b.steps, b.batch}, b.row_mask));
  tensors.push_back(make_tensor<float>("batch.inv_rows", {b.steps}, b.inv_rows));
  std::map<std::string, std::string> meta = {
      {"grokjit.crosscheck_format", std::to_string(kFormatVersion)},
      {"grokjit.case", c.name},
      {"grokjit.case_spec", c.spec.dump()},
      {"grokjit.config", runtime::spec_to_json(p.config).dump()},
      {"grokjit.dropout_seed", std::to_string(p.dropout_seed)},
      {"grokjit.steps", std::to_string(b.steps)},
      {"grokjit.vocab", std::to_string(p.shape.vocab)},
      {"grokjit.seq_len", std::to_string(b.seq_len)},
      {"grokjit.batch", std::to_string(b.batch)},
      {"grokjit.param_order", order.dump()},
      {"grokjit.init_sha256", p.init_sha256},
      {"grokjit.data_sha256", p.data_sha256},
  };
  const std::string path = (std::filesystem::path(dir) / ("crosscheck_" + c.name + "_export.safetensors")).string();
  runtime::save_safetensors(path, tensors, meta);
  return path;
}

// ---- replay on a device

Replay::Replay(const Prepared& p, runtime::Device& device) : p_(p) {
  graphs_ = runtime::build_step_graphs(p.config, p.shape);
  runtime::CompileOptions options;
  options.program_name = "crosscheck_train_step";
  const auto t0 = std::chrono::steady_clock::now();
  program_ = device.compile(graphs_.train, options);
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto make = [&](size_t bytes) {
    owned_.push_back(device.alloc(bytes));
    return owned_.back().get();
  };
  for (size_t i = 0; i < graphs_.params.size(); ++i) {
    // Same order as prepare(): model_param_specs is what build_step_graphs uses.
    if (graphs_.params[i].name != p.params[i].name) throw Error("crosscheck: parameter order changed");
    runtime::Buffer* buf = make(p.init[i].size() * sizeof(float));
    buf->write(p.init[i].data(), p.init[i].size() * sizeof(float));
    program_->bind(graphs_.params[i].name, *buf);
  }
  for (const runtime::StateSpec& s : graphs_.state)
    program_->bind(s.name, *make(static_cast<size_t>(ir::num_elements(s.shape)) * ir::dtype_size(s.dtype)));
  const Batches& b = p.batches;
  tokens_ = make(static_cast<size_t>(b.batch * b.seq_len) * sizeof(int32_t));
  labels_ = make(static_cast<size_t>(b.batch) * sizeof(int32_t));
  row_mask_ = make(static_cast<size_t>(b.batch) * sizeof(float));
  inv_rows_ = make(sizeof(float));
  step_ = make(sizeof(int32_t));
  runtime::Buffer* seed = make(sizeof(int32_t));
  runtime::Buffer* lr_scale = make(sizeof(float));
  seed->write(&p.dropout_seed, sizeof(int32_t));
  const float one = 1.0f;
  lr_scale->write(&one, sizeof one);
  loss_sum_ = make(sizeof(float));
  correct_ = make(sizeof(float));
  program_->bind("tokens", *tokens_);
  program_->bind("labels", *labels_);
  program_->bind("row_mask", *row_mask_);
  program_->bind("inv_rows", *inv_rows_);
  program_->bind("seed", *seed);
  program_->bind("step", *step_);
  program_->bind("lr_scale", *lr_scale);
  program_->bind("loss_sum", *loss_sum_);
  program_->bind("correct", *correct_);
}

StepResult Replay::step(int64_t s) {
  const Batches& b = p_.batches;
  const size_t B = static_cast<size_t>(b.batch), T = static_cast<size_t>(b.seq_len), i = static_cast<size_t>(s);
  tokens_->write(b.tokens.data() + i * B * T, B * T * sizeof(int32_t));
  labels_->write(b.labels.data() + i * B, B * sizeof(int32_t));
  row_mask_->write(b.row_mask.data() + i * B, B * sizeof(float));
  inv_rows_->write(&b.inv_rows[i], sizeof(float));
  const int32_t step = static_cast<int32_t>(s + 1);
  step_->write(&step, sizeof step);
  program_->run();
  StepResult r;
  loss_sum_->read(&r.loss_sum, sizeof(float));
  correct_->read(&r.correct, sizeof(float));
  r.loss = static_cast<double>(r.loss_sum) / static_cast<double>(b.real_rows[i]);
  return r;
}

}  // namespace grokjit::crosscheck
