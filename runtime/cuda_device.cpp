#include "runtime/cuda_device.h"

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>

#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/cuda_driver.h"
#include "runtime/kernel_cache.h"
#include "runtime/knobs.h"
#include "runtime/plan_bindings.h"

namespace grokjit::runtime {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Dynamic shared memory above this needs an opt-in per function.
constexpr size_t kDefaultDynamicSmem = 48 * 1024;

// Device 0's primary context (shared with any CUDA runtime code in the
// process), retained while a device, program or buffer uses it; and the
// modules loaded into it, by entry symbol.
class Context {
 public:
  Context() : d_(cu::driver()) {
    if (!d_.usable) throw Error("no usable GPU: " + d_.reason, ExitCode::Usage);
    d_.check(d_.cuDeviceGet(&dev_, 0), "cuDeviceGet");
    d_.check(d_.cuDevicePrimaryCtxRetain(&ctx_, dev_), "cuDevicePrimaryCtxRetain");
    make_current();
    int major = 0, minor = 0, optin = 0;
    d_.check(d_.cuDeviceGetAttribute(&major, cu::kAttrComputeCapabilityMajor, dev_), "cuDeviceGetAttribute(major)");
    d_.check(d_.cuDeviceGetAttribute(&minor, cu::kAttrComputeCapabilityMinor, dev_), "cuDeviceGetAttribute(minor)");
    d_.check(d_.cuDeviceGetAttribute(&optin, cu::kAttrMaxSharedMemoryPerBlockOptin, dev_),
             "cuDeviceGetAttribute(max shared memory per block, opt-in)");
    sm_ = major * 10 + minor;
    max_dynamic_smem_ = static_cast<size_t>(optin);
  }
  ~Context() {
    if (d_.cuCtxSetCurrent(ctx_) == 0)
      for (auto& [symbol, m] : modules_) d_.cuModuleUnload(m.module);
    d_.cuDevicePrimaryCtxRelease(dev_);
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const cu::Driver& d() const { return d_; }
  int sm() const { return sm_; }
  size_t max_dynamic_smem() const { return max_dynamic_smem_; }
  // Every thread that calls the driver needs the context current.
  void make_current() const { d_.check(d_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent"); }
  bool try_make_current() const noexcept { return d_.cuCtxSetCurrent(ctx_) == 0; }  // for destructors

  // The entry point of a compiled kernel, loading its module once.
  cu::Function function(const CompiledCuda& c, size_t dynamic_smem) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = modules_.find(c.symbol);
    if (it == modules_.end()) {
      Loaded l;
      const std::string where = "kernel " + c.name;
      d_.check(d_.cuModuleLoadData(&l.module, c.cubin.data()), "cuModuleLoadData", where);
      d_.check(d_.cuModuleGetFunction(&l.function, l.module, c.symbol.c_str()), "cuModuleGetFunction", where);
      it = modules_.emplace(c.symbol, l).first;
    }
    Loaded& l = it->second;
    if (dynamic_smem > kDefaultDynamicSmem && dynamic_smem > l.smem_opt_in) {
      if (dynamic_smem > max_dynamic_smem_)
        throw Error("kernel " + c.name + " needs " + std::to_string(dynamic_smem) + " bytes of dynamic shared memory; this GPU allows " +
                    std::to_string(max_dynamic_smem_) + " per block");
      d_.check(d_.cuFuncSetAttribute(l.function, cu::kFuncAttrMaxDynamicSharedSizeBytes, static_cast<int>(dynamic_smem)),
               "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)", "kernel " + c.name);
      l.smem_opt_in = dynamic_smem;
    }
    return l.function;
  }

 private:
  struct Loaded {
    cu::Module module = nullptr;
    cu::Function function = nullptr;
    size_t smem_opt_in = 0;
  };
  const cu::Driver& d_;
  cu::Device dev_ = 0;
  cu::Context ctx_ = nullptr;
  int sm_ = 0;
  size_t max_dynamic_smem_ = 0;
  std::mutex mu_;
  std::map<std::string, Loaded> modules_;
};

// One device allocation (at least one byte: cuMemAlloc rejects 0), zeroed.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(std::shared_ptr<Context> ctx, size_t bytes, const std::string& what) : ctx_(std::move(ctx)), bytes_(bytes) {
    ctx_->make_current();
    const cu::Driver& d = ctx_->d();
    d.check(d.cuMemAlloc(&ptr_, std::max<size_t>(bytes, 1)), "cuMemAlloc", std::to_string(bytes) + " bytes for " + what);
    d.check(d.cuMemsetD8(ptr_, 0, std::max<size_t>(bytes, 1)), "cuMemsetD8", what);
  }
  ~DeviceMemory() {
    if (ptr_ && ctx_->try_make_current()) ctx_->d().cuMemFree(ptr_);
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  DeviceMemory(DeviceMemory&& o) noexcept { *this = std::move(o); }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    std::swap(ctx_, o.ctx_);
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  cu::DevicePtr ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<Context> ctx_;
  cu::DevicePtr ptr_ = 0;
  size_t bytes_ = 0;
};

class CudaBuffer final : public Buffer {
 public:
  CudaBuffer(std::shared_ptr<Context> ctx, size_t bytes) : ctx_(ctx), mem_(std::move(ctx), bytes, "a buffer") {}
  size_t bytes() const override { return mem_.bytes(); }
  void write(const void* src, size_t bytes, size_t offset) override {
    if (offset + bytes > mem_.bytes()) throw Error("cuda buffer write out of range");
    if (bytes == 0) return;
    ctx_->make_current();
    ctx_->d().check(ctx_->d().cuMemcpyHtoD(mem_.ptr() + offset, src, bytes), "cuMemcpyHtoD");
  }
  void read(void* dst, size_t bytes, size_t offset) const override {
    if (offset + bytes > mem_.bytes()) throw Error("cuda buffer read out of range");
    if (bytes == 0) return;
    ctx_->make_current();
    ctx_->d().check(ctx_->d().cuMemcpyDtoH(dst, mem_.ptr() + offset, bytes), "cuMemcpyDtoH");
  }
  cu::DevicePtr ptr() const { return mem_.ptr(); }

 private:
  std::shared_ptr<Context> ctx_;
  DeviceMemory mem_;
};

struct Launch {
  cu::Function fn = nullptr;
  codegen::CudaLaunch shape;
  std::string name;
  size_t first_arg = 0;  // in CudaProgram::arg_pointers_
};

class CudaProgram final : public Program {
 public:
  CudaProgram(std::shared_ptr<Context> ctx, codegen::ProgramPlan plan, std::vector<Launch> launches, ProgramStats stats,
              std::string name, bool graphs)
      : ctx_(std::move(ctx)),
        plan_(std::move(plan)),
        bindings_(plan_, name),
        launches_(std::move(launches)),
        stats_(std::move(stats)),
        name_(std::move(name)),
        graphs_(graphs) {
    const cu::Driver& d = ctx_->d();
    ctx_->make_current();
    arena_ = DeviceMemory(ctx_, plan_.memory.arena_bytes, "the arena of program '" + name_ + "'");
    size_t const_bytes = 0;
    for (const auto& b : plan_.buffers)
      if (b.kind == codegen::BufferKind::Constant) const_bytes += (b.bytes() + 255) / 256 * 256;
    constants_ = DeviceMemory(ctx_, const_bytes, "the constants of program '" + name_ + "'");
    pointers_.assign(plan_.buffers.size(), 0);
    size_t at = 0;
    for (size_t i = 0; i < plan_.buffers.size(); ++i) {
      const auto& b = plan_.buffers[i];
      if (b.kind == codegen::BufferKind::Arena) pointers_[i] = arena_.ptr() + b.offset;
      if (b.kind == codegen::BufferKind::Constant) {
        pointers_[i] = constants_.ptr() + at;
        std::vector<uint8_t> bytes = constant_bytes(b);
        if (!bytes.empty()) d.check(d.cuMemcpyHtoD(pointers_[i], bytes.data(), bytes.size()), "cuMemcpyHtoD", "constant " + b.name);
        at += (b.bytes() + 255) / 256 * 256;
      }
    }
    size_t args = 0;
    for (const auto& pk : plan_.kernels) args += pk.args.size();
    arg_values_.assign(args, 0);
    arg_pointers_.resize(args);
    for (size_t a = 0; a < args; ++a) arg_pointers_[a] = &arg_values_[a];
    resolve_args();
    d.check(d.cuStreamCreate(&stream_, 0), "cuStreamCreate");
    d.check(d.cuEventCreate(&start_, cu::kEventDefault), "cuEventCreate");
    d.check(d.cuEventCreate(&stop_, cu::kEventDefault), "cuEventCreate");
  }

  ~CudaProgram() override {
    const cu::Driver& d = ctx_->d();
    if (!ctx_->try_make_current()) return;
    drop_graph();
    if (start_) d.cuEventDestroy(start_);
    if (stop_) d.cuEventDestroy(stop_);
    if (stream_) d.cuStreamDestroy(stream_);
  }

  void bind(const std::string& name, Buffer& buffer) override {
    size_t b = bindings_.find(name, buffer);
    auto* cb = dynamic_cast<CudaBuffer*>(&buffer);
    if (!cb)
      throw Error("program '" + name_ + "': '" + name + "' is bound to a buffer that is not in GPU memory (allocate it with the CUDA device)",
                  ExitCode::Usage);
    bindings_.mark_bound(b);
    if (pointers_[b] != cb->ptr()) {
      pointers_[b] = cb->ptr();
      resolve_args();
      drop_graph();  // the captured launches hold the old pointers
    }
  }

  void run() override {
    bindings_.check_all_bound();
    const cu::Driver& d = ctx_->d();
    ctx_->make_current();
    if (graphs_ && runs_ >= 1 && !graph_) capture();
    d.check(d.cuEventRecord(start_, stream_), "cuEventRecord");
    if (graph_) d.check(d.cuGraphLaunch(graph_, stream_), "cuGraphLaunch", "program '" + name_ + "'");
    else launch_all();
    d.check(d.cuEventRecord(stop_, stream_), "cuEventRecord");
    d.check(d.cuEventSynchronize(stop_), "cuEventSynchronize", "program '" + name_ + "' (a kernel failed?)");
    float ms = 0;
    d.check(d.cuEventElapsedTime(&ms, start_, stop_), "cuEventElapsedTime");
    last_ms_ = ms;
    ++runs_;
  }

  const ProgramStats& stats() const override { return stats_; }
  std::optional<double> last_ms() const { return runs_ > 0 ? std::optional<double>(last_ms_) : std::nullopt; }
  bool replaying() const { return graph_ != nullptr; }

 private:
  void resolve_args() {
    size_t a = 0;
    for (const auto& pk : plan_.kernels)
      for (int b : pk.args) arg_values_[a++] = pointers_[static_cast<size_t>(b)];
  }

  void launch_all() {
    const cu::Driver& d = ctx_->d();
    for (const Launch& l : launches_) {
      const codegen::CudaLaunch& s = l.shape;
      d.check(d.cuLaunchKernel(l.fn, static_cast<unsigned>(s.grid_x), static_cast<unsigned>(s.grid_y),
                               static_cast<unsigned>(s.grid_z), static_cast<unsigned>(s.block_x),
                               static_cast<unsigned>(s.block_y), static_cast<unsigned>(s.block_z),
                               static_cast<unsigned>(s.dynamic_smem_bytes), stream_, arg_pointers_.data() + l.first_arg,
                               nullptr),
              "cuLaunchKernel", "kernel " + l.name + ", " + s.text());
    }
  }

  // The whole program as one CUDA graph (kernel arguments are captured by value).
  void capture() {
    const cu::Driver& d = ctx_->d();
    d.check(d.cuStreamBeginCapture(stream_, cu::kCaptureModeThreadLocal), "cuStreamBeginCapture");
    cu::Graph graph = nullptr;
    try {
      launch_all();
    } catch (...) {
      d.cuStreamEndCapture(stream_, &graph);
      if (graph) d.cuGraphDestroy(graph);
      throw;
    }
    d.check(d.cuStreamEndCapture(stream_, &graph), "cuStreamEndCapture", "program '" + name_ + "'");
    cu::Result rc = d.cuGraphInstantiate(&graph_, graph, 0);
    d.cuGraphDestroy(graph);
    if (rc != 0) graph_ = nullptr;
    d.check(rc, "cuGraphInstantiate", "program '" + name_ + "'");
  }

  void drop_graph() {
    if (graph_) ctx_->d().cuGraphExecDestroy(graph_);
    graph_ = nullptr;
  }

  std::shared_ptr<Context> ctx_;
  codegen::ProgramPlan plan_;
  PlanBindings bindings_;
  std::vector<Launch> launches_;
  ProgramStats stats_;
  std::string name_;
  bool graphs_;
  DeviceMemory arena_, constants_;
  std::vector<cu::DevicePtr> pointers_;    // per plan buffer
  std::vector<cu::DevicePtr> arg_values_;  // per kernel argument, in launch order
  std::vector<void*> arg_pointers_;        // &arg_values_[i]: cuLaunchKernel's kernelParams
  cu::Stream stream_ = nullptr;
  cu::Event start_ = nullptr, stop_ = nullptr;
  cu::GraphExec graph_ = nullptr;
  size_t runs_ = 0;
  double last_ms_ = 0;
};

// Grid and block limits of every CUDA GPU since sm_30.
void check_launch(const codegen::CudaLaunch& l, const std::string& kernel) {
  bool ok = l.grid_x >= 1 && l.grid_x <= 2147483647LL && l.grid_y >= 1 && l.grid_y <= 65535 && l.grid_z >= 1 &&
            l.grid_z <= 65535 && l.block_x >= 1 && l.block_y >= 1 && l.block_z >= 1 &&
            l.block_x * l.block_y * l.block_z <= 1024;
  if (!ok) throw Error("kernel " + kernel + ": launch " + l.text() + " is outside CUDA's grid/block limits (an emitter bug)");
}

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const CudaDeviceOptions& o)
      : ctx_(std::make_shared<Context>()),
        target_(make_target(*ctx_)),
        compiler_(nvrtc_options(target_), o.use_default_cache ? KernelCache::default_dir() : o.cache_dir),
        graphs_(o.graphs),
        compile_threads_(o.compile_threads) {}

  std::string name() const override { return "cuda (" + ctx_->d().reason + ", NVRTC " + nvrtc_version() + ", " + target_.arch() + ")"; }

  std::unique_ptr<Buffer> alloc(size_t bytes) override { return std::make_unique<CudaBuffer>(ctx_, bytes); }

  std::unique_ptr<Program> compile(const ir::Graph& graph, const CompileOptions& options) override {
    auto t0 = Clock::now();
    ProgramStats stats;
    codegen::ProgramPlan plan = cuda_plan(graph, options);
    stats.plan_seconds = seconds_since(t0);
    if (int debug = debug_level(); debug >= 1)
      std::cerr << "grokjit: program '" << options.program_name << "': " << codegen::describe_plan(plan, debug);
    auto t1 = Clock::now();
    std::vector<CudaKernelArtifacts> arts = cuda_kernel_artifacts(plan, compiler_, target_, compile_threads_);
    stats.llvm_seconds = seconds_since(t1);  // here: emission + NVRTC
    ctx_->make_current();
    std::vector<Launch> launches;
    size_t arg = 0;
    for (size_t i = 0; i < arts.size(); ++i) {
      const CudaKernelArtifacts& a = arts[i];
      check_launch(a.emitted.launch, a.info.name);
      Launch l;
      l.fn = ctx_->function(a.compiled, a.emitted.launch.dynamic_smem_bytes);
      l.shape = a.emitted.launch;
      l.name = a.info.name;
      l.first_arg = arg;
      arg += plan.kernels[i].args.size();
      launches.push_back(std::move(l));
      if (a.compiled.cache_hit) ++stats.cache_hits;
      else ++stats.cache_misses;
      stats.kernel_info.push_back(a.info);
    }
    stats.kernels = plan.kernels.size();
    stats.peak_scratch_bytes = plan.memory.arena_bytes;
    stats.threads = 1;
    stats.compile_seconds = seconds_since(t0);
    return std::make_unique<CudaProgram>(ctx_, std::move(plan), std::move(launches), std::move(stats),
                                         options.program_name, graphs_);
  }

 private:
  static codegen::CudaTarget make_target(const Context& ctx) {
    codegen::CudaTarget t;
    t.sm = ctx.sm();
    t.max_dynamic_smem_bytes = ctx.max_dynamic_smem();
    return t;
  }
  static NvrtcOptions nvrtc_options(const codegen::CudaTarget& t) {
    NvrtcOptions o;
    o.arch = t.arch();
    return o;
  }

  std::shared_ptr<Context> ctx_;
  codegen::CudaTarget target_;
  NvrtcCompiler compiler_;
  bool graphs_;
  int compile_threads_;
};

}  // namespace

std::string cuda_unusable_reason() {
  if (!nvrtc_available())
    return "grokjit was built without NVRTC (no CUDA toolkit found when it was configured; see docs/cuda.md)";
  const cu::Driver& d = cu::driver();
  return d.usable ? "" : d.reason;
}

std::unique_ptr<Device> make_cuda_device(const CudaDeviceOptions& options) {
  if (std::string why = cuda_unusable_reason(); !why.empty())
    throw Error("the CUDA backend cannot run here: " + why, ExitCode::Usage);
  return std::make_unique<CudaDevice>(options);
}

codegen::TargetInfo cuda_target_info() {
  codegen::TargetInfo t;
  t.recompute = recompute_enabled();  // not measured on a GPU yet (docs/benchmarks.md)
  return t;
}

codegen::ProgramPlan cuda_plan(const ir::Graph& graph, const CompileOptions& options) {
  codegen::PlanOptions po;
  po.fusion = options.fusion;
  po.target = cuda_target_info();
  return codegen::plan_program(graph, po);
}

std::string cuda_launch_text(const codegen::CudaLaunch& launch, const PtxasReport& report) {
  return launch.text() + "; " + report.text();
}

std::vector<CudaKernelArtifacts> cuda_kernel_artifacts(const codegen::ProgramPlan& plan, NvrtcCompiler& compiler,
                                                       const codegen::CudaTarget& target, int threads,
                                                       const std::string& repro_prefix) {
  std::vector<CudaKernelArtifacts> arts(plan.kernels.size());
  std::vector<CudaCompileRequest> requests(plan.kernels.size());
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const codegen::PlannedKernel& pk = plan.kernels[i];
    CudaKernelArtifacts& a = arts[i];
    a.info = plan_kernel_info(pk);
    a.kernel_ir = codegen::to_text(pk.kernel);
    a.emitted = codegen::emit_cuda(pk.kernel, target);
    requests[i] = {pk.kernel.name, a.emitted.symbol, a.emitted.source,
                   repro_prefix.empty() ? "" : repro_prefix + " " + pk.kernel.name};
  }
  std::vector<CompiledCuda> compiled = compiler.compile_all(requests, threads);
  for (size_t i = 0; i < arts.size(); ++i) {
    arts[i].compiled = std::move(compiled[i]);
    arts[i].info.launch = cuda_launch_text(arts[i].emitted.launch, arts[i].compiled.report);
  }
  return arts;
}

std::optional<double> cuda_last_run_ms(const Program& program) {
  auto* p = dynamic_cast<const CudaProgram*>(&program);
  return p ? p->last_ms() : std::nullopt;
}

bool cuda_graph_replaying(const Program& program) {
  auto* p = dynamic_cast<const CudaProgram*>(&program);
  return p && p->replaying();
}

}  // namespace grokjit::runtime
