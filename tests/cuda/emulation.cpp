#include "tests/cuda/emulation.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ir/error.h"
#include "codegen/llvm_emit.h"  // kernel_symbol
#include "runtime/host_buffer.h"

namespace grokjit::testing {

namespace {

const char* c_type(codegen::ScalarType t, bool written) {
  switch (t) {
    case codegen::ScalarType::F32: return written ? "float*" : "const float*";
    case codegen::ScalarType::F64: return written ? "double*" : "const double*";
    case codegen::ScalarType::I32: return written ? "int*" : "const int*";
    case codegen::ScalarType::Bool: return written ? "unsigned char*" : "const unsigned char*";
    case codegen::ScalarType::Index: return written ? "long long*" : "const long long*";
  }
  return "void*";
}

ir::DType dtype_of(codegen::ScalarType t) {
  switch (t) {
    case codegen::ScalarType::F32: return ir::DType::F32;
    case codegen::ScalarType::F64: return ir::DType::F64;
    case codegen::ScalarType::I32: return ir::DType::I32;
    case codegen::ScalarType::Bool: return ir::DType::Bool;
    case codegen::ScalarType::Index: break;
  }
  throw Error("emulation: no dtype for an index buffer");
}

// The launcher: grid, block and arena size from `L`, errors returned as text
// (an exception must not cross the dlopen boundary).
std::string launcher(const std::string& fn, const std::string& call) {
  return "extern \"C\" __attribute__((visibility(\"default\"))) const char* " + fn +
         "(void** a, const long long* L, unsigned seed) {\n"
         "  static std::string error;\n"
         "  try {\n"
         "    gj_emu::launch(dim3{(unsigned)L[0], (unsigned)L[1], (unsigned)L[2]}, dim3{(unsigned)L[3], (unsigned)L[4], (unsigned)L[5]},\n"
         "                   (size_t)L[6], seed, [&] { " + call + " });\n"
         "  } catch (const std::exception& e) {\n"
         "    error = e.what();\n"
         "    return error.c_str();\n"
         "  }\n"
         "  return nullptr;\n"
         "}\n";
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

EmulatedKernels::EmulatedKernels(const std::vector<const codegen::Kernel*>& kernels, const std::vector<Raw>& raw, int parts) {
  parts = std::max(1, parts);
  std::vector<std::ostringstream> src(static_cast<size_t>(parts));
  for (auto& s : src) s << "#include \"cuda_emulation.h\"\n#include <string>\n";
  int n = 0;
  for (const codegen::Kernel* k : kernels) {
    codegen::CudaKernelSource s = codegen::emit_cuda(*k);
    if (sources_.count(s.symbol)) continue;
    std::string ns = "gjk" + std::to_string(n), fn = "gj_launch_" + std::to_string(n);
    std::ostringstream& out = src[static_cast<size_t>(n % parts)];
    launcher_[s.symbol] = {n % parts, fn};
    ++n;
    out << "namespace " << ns << " {\n" << s.source << "}\n";
    std::string call = ns + "::" + s.symbol + "(";
    for (size_t i = 0; i < k->buffers.size(); ++i)
      call += std::string(i ? ", " : "") + "(" + c_type(k->buffers[i].type, k->buffers[i].written) + ")a[" + std::to_string(i) + "]";
    call += ");";
    out << launcher(fn, call);
    sources_[s.symbol] = std::move(s);
  }
  for (const Raw& r : raw) {
    std::string ns = "gjraw_" + r.name, fn = "gj_launch_raw_" + r.name;
    src[0] << "namespace " << ns << " {\n" << r.source << "}\n";
    src[0] << launcher(fn, "using namespace " + ns + "; " + r.launch);
    launcher_["raw:" + r.name] = {0, fn};
  }
  static std::atomic<int> serial{0};
  dir_ = (std::filesystem::temp_directory_path() / ("grokjit-cuda-emu-" + std::to_string(::getpid()) + "-" + std::to_string(serial++)))
             .string();
  std::filesystem::create_directories(dir_);
  // ctest runs every test in its own process: compiled shared objects are
  // kept in the build tree under the hash of everything that makes them
  // (flags, emulation header, source), so only the first process compiles.
  const std::string flags = "-std=c++17 -O1 -w -shared -fPIC -fvisibility=hidden -Wl,-Bsymbolic";
  const std::string header = read_text(std::string(GROKJIT_CUDA_EMULATION_DIR) + "/cuda_emulation.h");
  const std::filesystem::path cache = GROKJIT_CUDA_EMULATION_CACHE;
  std::filesystem::create_directories(cache);
  std::vector<std::string> cmds, logs, sos, tmps, finals;
  for (int i = 0; i < parts; ++i) {
    std::string text = src[static_cast<size_t>(i)].str();
    std::string key = codegen::hex_digest(std::string(GROKJIT_TEST_CXX) + "\n" + flags + "\n" + header + "\n" + text, 32);
    sos.push_back((cache / (key + ".so")).string());
    if (std::filesystem::exists(sos.back())) continue;
    std::string base = dir_ + "/kernels" + std::to_string(i);
    std::ofstream(base + ".cpp") << text;
    logs.push_back(base + ".log");
    finals.push_back(sos.back());
    tmps.push_back(sos.back() + "." + std::to_string(::getpid()) + ".tmp");
    cmds.push_back(shell_quote(GROKJIT_TEST_CXX) + " " + flags + " -I" + shell_quote(GROKJIT_CUDA_EMULATION_DIR) + " " +
                   shell_quote(base + ".cpp") + " -o " + shell_quote(tmps.back()) + " > " + shell_quote(logs.back()) + " 2>&1");
  }
  // One compiler per part, in parallel. -O1: a fraction of -O2's compile
  // time, and the kernels run on small shapes.
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int> rcs(cmds.size());
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < cmds.size(); ++i) threads.emplace_back([&, i] { rcs[i] = std::system(cmds[i].c_str()); });
    for (auto& t : threads) t.join();
  }
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (size_t i = 0; i < cmds.size(); ++i) {
    if (rcs[i] != 0)
      throw Error("emulation: compiling the emitted CUDA as C++ failed (kept in " + dir_ + "):\n" + cmds[i] + "\n" +
                  read_text(logs[i]).substr(0, 8000));
    std::filesystem::rename(tmps[i], finals[i]);  // atomic: a concurrent test process sees all or nothing
  }
  for (int i = 0; i < parts; ++i) {
    void* h = dlopen(sos[static_cast<size_t>(i)].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) throw Error(std::string("emulation: dlopen failed: ") + dlerror());
    handles_.push_back(h);
  }
}

EmulatedKernels::~EmulatedKernels() {
  for (void* h : handles_) dlclose(h);
  std::error_code ec;
  if (!dir_.empty() && !std::getenv("GROKJIT_KEEP_EMULATION")) std::filesystem::remove_all(dir_, ec);
}

EmulatedKernels::LaunchFn EmulatedKernels::find(const std::string& key) const {
  auto it = launcher_.find(key);
  if (it == launcher_.end()) throw Error("emulation: no kernel " + key + " in this shared object");
  auto fn = reinterpret_cast<LaunchFn>(dlsym(handles_.at(static_cast<size_t>(it->second.first)), it->second.second.c_str()));
  if (!fn) throw Error("emulation: launcher " + it->second.second + " not found");
  return fn;
}

const codegen::CudaKernelSource& EmulatedKernels::source(const codegen::Kernel& k) const {
  return sources_.at(codegen::kernel_symbol(k));
}

static void call(const char* (*fn)(void**, const long long*, unsigned), const codegen::CudaLaunch& l, void** buffers, unsigned seed,
                 const std::string& what) {
  long long L[7] = {l.grid_x, l.grid_y, l.grid_z, l.block_x, l.block_y, l.block_z, static_cast<long long>(l.dynamic_smem_bytes)};
  if (const char* err = fn(buffers, L, seed)) throw Error("emulation of " + what + ": " + err);
}

void EmulatedKernels::run(const codegen::Kernel& k, void** buffers, unsigned seed) const {
  std::string sym = codegen::kernel_symbol(k);
  call(find(sym), sources_.at(sym).launch, buffers, seed, k.name);
}

void EmulatedKernels::run_raw(const std::string& name, const codegen::CudaLaunch& launch, void** buffers, unsigned seed) const {
  call(find("raw:" + name), launch, buffers, seed, name);
}

EmulatedRun run_plan_emulated(const codegen::ProgramPlan& plan, const ir::Graph& g, const ir::TensorMap& inputs,
                              const EmulatedKernels& kernels, unsigned seed) {
  using codegen::BufferKind;
  // The arena starts as garbage (0x7f bytes: large floats), so a kernel
  // reading what no kernel wrote shows up.
  std::vector<uint8_t> arena(plan.memory.arena_bytes + 64, 0x7f);
  std::vector<std::vector<uint8_t>> owned(plan.buffers.size());
  std::vector<void*> ptr(plan.buffers.size(), nullptr);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const codegen::PlanBuffer& b = plan.buffers[i];
    if (b.kind == BufferKind::Arena) {
      ptr[i] = arena.data() + plan.memory.offsets[i];
      continue;
    }
    owned[i].assign(b.bytes() + 8, 0);
    ptr[i] = owned[i].data();
    if (b.kind == BufferKind::Constant) runtime::f64_to_bytes(b.data, dtype_of(b.type), ptr[i]);
    if (b.kind == BufferKind::Input) {
      const ir::Tensor64& t = inputs.at(b.name);
      if (static_cast<int64_t>(t.data.size()) != b.elements) throw Error("emulation: input " + b.name + " has the wrong size");
      runtime::f64_to_bytes(t.data, dtype_of(b.type), ptr[i]);
    }
  }
  unsigned n = 0;
  for (const codegen::PlannedKernel& pk : plan.kernels) {
    std::vector<void*> args;
    for (int b : pk.args) args.push_back(ptr[static_cast<size_t>(b)]);
    kernels.run(pk.kernel, args.data(), seed + 7919 * n++);
  }
  auto read = [&](BufferKind kind, const std::string& name, const ir::Node& node) {
    int b = codegen::find_buffer(plan, kind, name);
    if (b < 0) throw Error("emulation: no plan buffer for " + name);
    return ir::Tensor64(node.shape, runtime::bytes_to_f64(ptr[static_cast<size_t>(b)], node.dtype,
                                                          static_cast<size_t>(ir::num_elements(node.shape))));
  };
  EmulatedRun r;
  for (const auto& o : g.outputs()) r.outputs[o.name] = read(BufferKind::Output, o.name, g.node(o.node));
  for (const auto& u : g.updates()) {
    const ir::Node& t = g.node(u.target);
    r.updated[t.attrs.name] = read(BufferKind::Input, t.attrs.name, t);
  }
  return r;
}

}  // namespace grokjit::testing
