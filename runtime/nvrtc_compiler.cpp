#include "runtime/nvrtc_compiler.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>

#include "codegen/cuda_emit.h"
#include "codegen/kernel_ir.h"
#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/parallel_jobs.h"

#if GROKJIT_HAVE_NVRTC
#include <nvrtc.h>
#endif

namespace grokjit::runtime {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- cache payload: "GJCUDA1 <cubin bytes> <ptx bytes> <log bytes>\n" + the three.
constexpr const char* kPayloadTag = "GJCUDA1";

std::string encode(const CompiledCuda& c) {
  std::string head = std::string(kPayloadTag) + " " + std::to_string(c.cubin.size()) + " " + std::to_string(c.ptx.size()) +
                     " " + std::to_string(c.log.size()) + "\n";
  return head + c.cubin + c.ptx + c.log;
}

bool decode(const std::string& payload, CompiledCuda* c) {
  size_t nl = payload.find('\n');
  if (nl == std::string::npos) return false;
  std::istringstream head(payload.substr(0, nl));
  std::string tag;
  size_t nc = 0, np = 0, nlg = 0;
  if (!(head >> tag >> nc >> np >> nlg) || tag != kPayloadTag) return false;
  if (payload.size() - nl - 1 != nc + np + nlg || nc == 0) return false;
  size_t at = nl + 1;
  c->cubin = payload.substr(at, nc);
  c->ptx = payload.substr(at + nc, np);
  c->log = payload.substr(at + nc + np, nlg);
  return true;
}

std::string one_line(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : " ") + i;
  return s;
}

// Where a failing kernel's source is written for the user.
fs::path failed_source_path(const KernelCache& cache, const std::string& symbol) {
  fs::path dir = cache.enabled() ? fs::path(cache.dir()) / "failed" : fs::temp_directory_path() / "grokjit-nvrtc-failed";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir / (symbol + ".cu");
}

}  // namespace

// ------------------------------------------------------------------ report

std::string PtxasReport::text() const {
  if (!parsed) return "no ptxas report";
  return std::to_string(registers) + " regs, spills " + std::to_string(spill_store_bytes) + "+" +
         std::to_string(spill_load_bytes) + " B, smem " + std::to_string(static_smem_bytes) + " B, stack " +
         std::to_string(stack_frame_bytes) + " B";
}

PtxasReport parse_ptxas_report(const std::string& log) {
  // ptxas -v (CUDA 12/13):
  //   ptxas         .     400 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
  //   ptxas info    : Used 40 registers, used 1 barriers, 400 bytes cumulative stack size, 256 bytes smem
  // (older: "Used 40 registers, 256 bytes smem, 400 bytes cmem[0]").
  static const std::regex frame(R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)");
  static const std::regex regs(R"(Used (\d+) registers)");
  static const std::regex smem(R"((\d+) bytes smem)");
  PtxasReport r;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, frame)) {
      r.stack_frame_bytes = std::max<size_t>(r.stack_frame_bytes, std::stoull(m[1]));
      r.spill_store_bytes += std::stoull(m[2]);
      r.spill_load_bytes += std::stoull(m[3]);
    }
    if (std::regex_search(line, m, regs)) {
      r.parsed = true;
      r.registers = std::max(r.registers, std::stoi(m[1]));
      if (std::smatch s; std::regex_search(line, s, smem))
        r.static_smem_bytes = std::max<size_t>(r.static_smem_bytes, std::stoull(s[1]));
    }
  }
  return r;
}

// ----------------------------------------------------------------- options

bool nvrtc_available() { return GROKJIT_HAVE_NVRTC != 0; }

std::string nvrtc_version() {
#if GROKJIT_HAVE_NVRTC
  static const std::string version = [] {
    int major = 0, minor = 0;
    if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return std::string("unknown");
    return std::to_string(major) + "." + std::to_string(minor);
  }();
  return version;
#else
  return "not built";
#endif
}

std::vector<std::string> NvrtcOptions::list() const {
  std::vector<std::string> o{"--gpu-architecture=" + arch, "-std=c++17", "--ptxas-options=-v"};
  if (lineinfo) o.push_back("-lineinfo");
  return o;
}

std::string NvrtcOptions::nvcc_command(const std::string& cu_path) const {
  std::string out = fs::path(cu_path).replace_extension(".cubin").string();
  return "/usr/local/cuda/bin/nvcc -cubin -arch=" + arch + " -std=c++17 -Xptxas -v" + (lineinfo ? " -lineinfo" : "") +
         " -o " + out + " " + cu_path;
}

// ---------------------------------------------------------------- compiler

NvrtcCompiler::NvrtcCompiler(NvrtcOptions options, std::string cache_dir)
    : options_(std::move(options)), cache_(std::move(cache_dir)) {}

std::string NvrtcCompiler::cache_key(const CudaCompileRequest& r) const {
  std::ostringstream os;
  os << "grokjit cuda kernel cache v" << kKernelCacheVersion << "\n"
     << "nvrtc " << nvrtc_version() << "\n"
     << "arch " << options_.arch << "\n"
     << "options " << one_line(options_.list()) << "\n"
     << "emitter v" << codegen::kCudaEmitterVersion << "\n"
     << "symbol " << r.symbol << "\n"
     << r.source;
  return codegen::hex_digest(os.str(), 64);
}

CompiledCuda NvrtcCompiler::compile(const CudaCompileRequest& request) {
  const std::string key = cache_key(request);
  CompiledCuda cached;
  auto not_cuda = [&](const std::string& payload) {
    return decode(payload, &cached) ? std::string() : std::string("a well-formed entry whose payload is not a CUDA entry");
  };
  if (cache_.get(key, not_cuda)) {
    cached.name = request.name;
    cached.symbol = request.symbol;
    cached.report = parse_ptxas_report(cached.log);
    cached.cache_hit = true;
    return cached;
  }
  CompiledCuda c = compile_uncached(request);
  cache_.put(key, encode(c));
  return c;
}

std::vector<CompiledCuda> NvrtcCompiler::compile_all(const std::vector<CudaCompileRequest>& requests, int threads) {
  std::map<std::string, size_t> first;  // symbol -> index of its first request
  std::vector<size_t> distinct;
  for (size_t i = 0; i < requests.size(); ++i)
    if (first.emplace(requests[i].symbol, i).second) distinct.push_back(i);
  std::vector<CompiledCuda> done(requests.size());
  run_jobs(distinct.size(), threads, [&](size_t j) { done[distinct[j]] = compile(requests[distinct[j]]); });
  for (size_t i = 0; i < requests.size(); ++i) {
    size_t f = first[requests[i].symbol];
    if (f != i) {
      done[i] = done[f];
      done[i].name = requests[i].name;
    }
  }
  return done;
}

CompiledCuda NvrtcCompiler::compile_uncached(const CudaCompileRequest& request) const {
#if GROKJIT_HAVE_NVRTC
  auto t0 = Clock::now();
  std::vector<std::string> opts = options_.list();
  std::vector<const char*> argv;
  for (const auto& o : opts) argv.push_back(o.c_str());

  auto fail = [&](const std::string& what, const std::string& log) -> Error {
    fs::path cu = failed_source_path(cache_, request.symbol);
    std::ofstream(cu, std::ios::binary) << request.source;
    std::string msg = "CUDA compile of kernel '" + request.name + "' (symbol " + request.symbol + ") failed: " + what +
                      "\n  arch: " + options_.arch + "\n  NVRTC: " + nvrtc_version() + "\n  options: " + one_line(opts) +
                      "\n  source saved to: " + cu.string() + "\n  reproduce: " + options_.nvcc_command(cu.string());
    if (!request.repro.empty()) msg += "\n         or: " + request.repro;
    msg += "\n  log:\n" + (log.empty() ? std::string("(empty)") : log);
    return Error(msg, ExitCode::Compile);
  };
  auto check = [&](nvrtcResult rc, const char* call) {
    if (rc != NVRTC_SUCCESS) throw fail(std::string(call) + ": " + nvrtcGetErrorString(rc), "");
  };

  nvrtcProgram prog = nullptr;
  check(nvrtcCreateProgram(&prog, request.source.c_str(), (request.symbol + ".cu").c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  struct Destroy {
    nvrtcProgram* p;
    ~Destroy() { nvrtcDestroyProgram(p); }
  } destroy{&prog};

  nvrtcResult rc = nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  CompiledCuda c;
  c.name = request.name;
  c.symbol = request.symbol;
  size_t n = 0;
  check(nvrtcGetProgramLogSize(prog, &n), "nvrtcGetProgramLogSize");
  c.log.assign(n, '\0');
  if (n > 0) check(nvrtcGetProgramLog(prog, c.log.data()), "nvrtcGetProgramLog");
  while (!c.log.empty() && c.log.back() == '\0') c.log.pop_back();
  if (rc != NVRTC_SUCCESS) throw fail(nvrtcGetErrorString(rc), c.log);

  check(nvrtcGetPTXSize(prog, &n), "nvrtcGetPTXSize");
  c.ptx.assign(n, '\0');
  check(nvrtcGetPTX(prog, c.ptx.data()), "nvrtcGetPTX");
  while (!c.ptx.empty() && c.ptx.back() == '\0') c.ptx.pop_back();
  check(nvrtcGetCUBINSize(prog, &n), "nvrtcGetCUBINSize");
  // A virtual arch (compute_90) compiles "successfully" to PTX only.
  if (n == 0) throw fail("NVRTC produced no CUBIN (is the arch a real one, sm_XX?)", c.log);
  c.cubin.assign(n, '\0');
  check(nvrtcGetCUBIN(prog, c.cubin.data()), "nvrtcGetCUBIN");
  c.report = parse_ptxas_report(c.log);
  c.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return c;
#else
  throw Error("cannot compile CUDA kernel '" + request.name +
                  "': grokjit was built without NVRTC (CUDA toolkit not found at configure time; see docs/cuda.md)",
              ExitCode::Usage);
#endif
}

}  // namespace grokjit::runtime
