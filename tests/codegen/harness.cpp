#include "tests/codegen/harness.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "ir/builder.h"
#include "runtime/cpu_device.h"
#include "runtime/host_buffer.h"

namespace grokjit::testing {

const std::string& test_cache_dir() {
  static const std::string dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("grokjit-test-cache-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

namespace {
struct CacheDirCleanup {
  ~CacheDirCleanup() {
    std::error_code ec;
    if (!test_cache_dir().empty()) std::filesystem::remove_all(test_cache_dir(), ec);
  }
};
}  // namespace

runtime::Device& cpu_device(int threads) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<runtime::Device>> devices;
  static CacheDirCleanup cleanup;
  std::lock_guard<std::mutex> lock(mu);
  auto& d = devices[threads];
  if (!d) {
    runtime::CpuDeviceOptions o;
    o.threads = threads;
    o.use_default_cache = false;
    o.cache_dir = test_cache_dir();
    d = runtime::make_cpu_device(o);
  }
  return *d;
}

ir::TensorMap random_inputs(const ir::Graph& g, uint32_t seed, const std::map<std::string, InputRange>& ranges,
                            InputRange fallback) {
  std::mt19937 rng(seed);
  ir::TensorMap m;
  for (ir::NodeId id : g.inputs()) {
    const ir::Node& n = g.node(id);
    auto it = ranges.find(n.attrs.name);
    InputRange r = it == ranges.end() ? fallback : it->second;
    ir::Tensor64 t = ir::Tensor64::zeros(n.shape);
    for (double& v : t.data) {
      switch (n.dtype) {
        case ir::DType::F32: v = static_cast<float>(std::uniform_real_distribution<double>(r.lo, r.hi)(rng)); break;
        case ir::DType::F64: v = std::uniform_real_distribution<double>(r.lo, r.hi)(rng); break;
        case ir::DType::I32:
          v = static_cast<double>(std::uniform_int_distribution<int64_t>(static_cast<int64_t>(r.lo), static_cast<int64_t>(r.hi))(rng));
          break;
        case ir::DType::Bool: v = std::uniform_int_distribution<int>(0, 1)(rng); break;
      }
    }
    m[n.attrs.name] = std::move(t);
  }
  return m;
}

RunResult run_on(runtime::Device& device, const ir::Graph& g, const ir::TensorMap& inputs, const runtime::CompileOptions& options,
                 runtime::ProgramStats* stats) {
  auto program = device.compile(g, options);
  std::map<std::string, std::unique_ptr<runtime::Buffer>> buffers;
  for (ir::NodeId id : g.inputs()) {
    const ir::Node& n = g.node(id);
    const ir::Tensor64& t = inputs.at(n.attrs.name);
    size_t bytes = t.data.size() * ir::dtype_size(n.dtype);
    auto b = device.alloc(bytes);
    std::vector<uint8_t> raw(bytes);
    runtime::f64_to_bytes(t.data, n.dtype, raw.data());
    b->write(raw.data(), bytes);
    program->bind(n.attrs.name, *b);
    buffers[n.attrs.name] = std::move(b);
  }
  std::map<std::string, std::unique_ptr<runtime::Buffer>> outs;
  for (const auto& o : g.outputs()) {
    const ir::Node& n = g.node(o.node);
    auto b = device.alloc(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
    program->bind(o.name, *b);
    outs[o.name] = std::move(b);
  }
  program->run();
  if (stats) *stats = program->stats();
  auto read = [](runtime::Buffer& b, const ir::Node& n) {
    std::vector<uint8_t> raw(b.bytes());
    b.read(raw.data(), raw.size());
    return ir::Tensor64(n.shape, runtime::bytes_to_f64(raw.data(), n.dtype, static_cast<size_t>(ir::num_elements(n.shape))));
  };
  RunResult r;
  for (const auto& o : g.outputs()) r.outputs[o.name] = read(*outs[o.name], g.node(o.node));
  for (const auto& u : g.updates()) {
    const ir::Node& t = g.node(u.target);
    r.updated[t.attrs.name] = read(*buffers[t.attrs.name], t);
  }
  return r;
}

void expect_close(const ir::Tensor64& got, const ir::Tensor64& want, const std::string& what, Tolerance tol) {
  ASSERT_EQ(got.shape, want.shape) << what;
  ASSERT_EQ(got.data.size(), want.data.size()) << what;
  int failures = 0;
  double worst = 0;
  for (size_t i = 0; i < got.data.size(); ++i) {
    double a = got.data[i], b = want.data[i];
    bool ok;
    if (std::isnan(b)) ok = std::isnan(a);
    else if (std::isinf(b)) ok = a == b;
    else ok = std::fabs(a - b) <= tol.atol + tol.rtol * std::fabs(b);
    if (!ok) {
      worst = std::max(worst, std::fabs(a - b));
      if (++failures <= 5) ADD_FAILURE() << what << "[" << i << "]: got " << a << ", interpreter " << b << " (diff " << a - b << ")";
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << got.data.size() << " elements off, worst diff " << worst;
}

void expect_bitwise(const ir::Tensor64& got, const ir::Tensor64& want, const std::string& what) {
  ASSERT_EQ(got.data.size(), want.data.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.data.size(); ++i) {
    uint64_t a, b;
    std::memcpy(&a, &got.data[i], 8);
    std::memcpy(&b, &want.data[i], 8);
    if (a != b && !(std::isnan(got.data[i]) && std::isnan(want.data[i])))
      if (++failures <= 5) ADD_FAILURE() << what << "[" << i << "]: " << got.data[i] << " vs " << want.data[i];
  }
  EXPECT_EQ(failures, 0) << what;
}

void add_transposed_matmuls(ir::Graph& g, ir::DType t) {
  using ir::InputRole;
  ir::Value a = ir::input(g, "a", {37, 603}, t, InputRole::Data);
  ir::Value b = ir::input(g, "b", {45, 603}, t, InputRole::Data);
  ir::output(ir::matmul(a, ir::transpose(b)), "a_bT");
  ir::Value c = ir::input(g, "c", {29, 70}, t, InputRole::Data);
  ir::Value d = ir::input(g, "d", {29, 33}, t, InputRole::Data);
  ir::output(ir::matmul(ir::transpose(c), d), "cT_d");
  ir::output(ir::matmul(ir::transpose(c), ir::transpose(ir::transpose(c))), "cT_c");
  ir::Value e = ir::input(g, "e", {41, 29}, t, InputRole::Data);
  ir::output(ir::matmul(ir::transpose(d), ir::transpose(e)), "dT_eT");
  ir::Value x = ir::input(g, "x", {3, 20, 40}, t, InputRole::Data);
  ir::Value y = ir::input(g, "y", {3, 33, 40}, t, InputRole::Data);
  ir::output(ir::matmul(x, ir::permute(y, {0, 2, 1})), "x_yT");
  ir::output(ir::matmul(y, ir::permute(y, {0, 2, 1})), "y_yT");
}

void check_against_interpreter(const ir::Graph& g, const ir::TensorMap& inputs, Tolerance tol, bool fusion, runtime::ProgramStats* stats) {
  check_against_interpreter_on(cpu_device(), g, inputs, tol, fusion, stats);
}

void check_against_interpreter_on(runtime::Device& device, const ir::Graph& g, const ir::TensorMap& inputs, Tolerance tol,
                                  bool fusion, runtime::ProgramStats* stats) {
  ir::InterpretResult want = ir::interpret(g, inputs);
  runtime::CompileOptions o;
  o.fusion = fusion;
  RunResult got = run_on(device, g, inputs, o, stats);
  for (const auto& [name, t] : want.outputs) expect_close(got.outputs.at(name), t, "output " + name, tol);
  for (const auto& [name, t] : want.updated) expect_close(got.updated.at(name), t, "updated " + name, tol);
}

}  // namespace grokjit::testing
