#include "runtime/cpu_device.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "codegen/llvm_emit.h"
#include "ir/error.h"
#include "runtime/host_buffer.h"
#include "runtime/jit.h"
#include "runtime/kernel_cache.h"
#include "runtime/knobs.h"
#include "runtime/parallel_jobs.h"
#include "runtime/plan_bindings.h"
#include "runtime/thread_pool.h"

namespace grokjit::runtime {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Memory that is 64-byte aligned, zero-filled and already touched (first
// touches of fresh pages are slow on these VMs: pay them once, up front).
struct AlignedMemory {
  explicit AlignedMemory(size_t bytes = 0) : size(bytes) {
    if (bytes == 0) return;
    data = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!data) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
    std::memset(data, 0, bytes);
  }
  ~AlignedMemory() { std::free(data); }
  AlignedMemory(const AlignedMemory&) = delete;
  AlignedMemory& operator=(const AlignedMemory&) = delete;
  AlignedMemory(AlignedMemory&& o) noexcept : data(o.data), size(o.size) { o.data = nullptr; o.size = 0; }
  AlignedMemory& operator=(AlignedMemory&& o) noexcept {
    std::swap(data, o.data);
    std::swap(size, o.size);
    return *this;
  }
  uint8_t* data = nullptr;
  size_t size = 0;
};

class CpuBuffer final : public Buffer {
 public:
  explicit CpuBuffer(size_t bytes) : mem_(bytes) {}
  size_t bytes() const override { return mem_.size; }
  void write(const void* src, size_t bytes, size_t offset) override {
    if (offset + bytes > mem_.size) throw Error("cpu buffer write out of range");
    std::memcpy(mem_.data + offset, src, bytes);
  }
  void read(void* dst, size_t bytes, size_t offset) const override {
    if (offset + bytes > mem_.size) throw Error("cpu buffer read out of range");
    std::memcpy(dst, mem_.data + offset, bytes);
  }
  uint8_t* data() { return mem_.data; }

 private:
  AlignedMemory mem_;
};

uint8_t* host_pointer(Buffer& b) {
  if (auto* c = dynamic_cast<CpuBuffer*>(&b)) return c->data();
  if (auto* h = dynamic_cast<HostBuffer*>(&b)) return h->data();
  return nullptr;
}

// Work below this (flops + bytes) runs on the calling thread alone: waking
// the pool costs more than it saves.
constexpr double kParallelWork = 96 * 1024;

struct Launch {
  KernelFn fn = nullptr;
  void** args = nullptr;
  int64_t extent = 0;
  int64_t chunks = 1;
  uint8_t* scratch = nullptr;
  size_t scratch_stride = 0;
  bool parallel = false;
};

void run_chunk(void* context, int64_t chunk, int thread) {
  auto* l = static_cast<Launch*>(context);
  int64_t begin, end;
  ThreadPool::chunk_range(l->extent, l->chunks, chunk, &begin, &end);
  if (begin < end) l->fn(l->args, begin, end, l->scratch + static_cast<size_t>(thread) * l->scratch_stride);
}

class CpuDevice;

class CpuProgram final : public Program {
 public:
  CpuProgram(codegen::ProgramPlan plan, std::vector<KernelFn> fns, std::shared_ptr<ThreadPool> pool, size_t scratch_per_thread,
             ProgramStats stats, std::string name)
      : plan_(std::move(plan)), bindings_(plan_, name), pool_(std::move(pool)), stats_(std::move(stats)), name_(std::move(name)) {
    const int threads = pool_->size();
    scratch_stride_ = (scratch_per_thread + 63) / 64 * 64;
    arena_ = AlignedMemory(plan_.memory.arena_bytes + scratch_stride_ * static_cast<size_t>(threads) + 64);
    // Dense constants: converted to their dtype once.
    size_t const_bytes = 0;
    for (const auto& b : plan_.buffers)
      if (b.kind == codegen::BufferKind::Constant) const_bytes += (b.bytes() + 63) / 64 * 64;
    constants_ = AlignedMemory(const_bytes);
    pointers_.assign(plan_.buffers.size(), nullptr);
    size_t at = 0;
    for (size_t i = 0; i < plan_.buffers.size(); ++i) {
      const auto& b = plan_.buffers[i];
      if (b.kind == codegen::BufferKind::Arena) pointers_[i] = arena_.data + b.offset;
      if (b.kind == codegen::BufferKind::Constant) {
        pointers_[i] = constants_.data + at;
        std::vector<uint8_t> bytes = constant_bytes(b);
        if (!bytes.empty()) std::memcpy(pointers_[i], bytes.data(), bytes.size());
        at += (b.bytes() + 63) / 64 * 64;
      }
    }
    size_t total_args = 0;
    for (const auto& k : plan_.kernels) total_args += k.args.size();
    args_.assign(total_args, nullptr);
    launches_.resize(plan_.kernels.size());
    size_t a = 0;
    for (size_t k = 0; k < plan_.kernels.size(); ++k) {
      const auto& pk = plan_.kernels[k];
      Launch& l = launches_[k];
      l.fn = fns[k];
      l.args = args_.data() + a;
      a += pk.args.size();
      l.extent = pk.kernel.parallel_extent;
      l.scratch = arena_.data + plan_.memory.arena_bytes;
      l.scratch_stride = scratch_stride_;
      l.parallel = threads > 1 && l.extent > 1 && pk.cost.flops + pk.cost.bytes_read + pk.cost.bytes_written >= kParallelWork;
      l.chunks = std::min<int64_t>(l.extent, kChunksPerThread * threads);
    }
    resolve_args();
  }

  void bind(const std::string& name, Buffer& buffer) override {
    size_t b = bindings_.find(name, buffer);
    uint8_t* p = host_pointer(buffer);
    if (!p) throw Error("program '" + name_ + "': '" + name + "' is bound to a buffer that is not in host memory", ExitCode::Usage);
    bindings_.mark_bound(b);
    pointers_[b] = p;
    resolve_args();
  }

  void run() override {
    bindings_.check_all_bound();
    const FlushSubnormals flush;
    for (Launch& l : launches_) {
      if (l.parallel) pool_->run(run_chunk, &l, l.chunks);
      else l.fn(l.args, 0, l.extent, l.scratch);
    }
  }

  const ProgramStats& stats() const override { return stats_; }

  // Seconds per kernel, the best of `runs` runs of each (kernels run in
  // program order, so each sees its real inputs).
  std::vector<double> profile(int runs) {
    run();  // checks the bindings
    // One thread: this thread's CPU time (robust on a loaded machine).
    auto now = [single = pool_->size() == 1] {
      if (!single) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    };
    std::vector<double> best(launches_.size(), 1e30);
    const FlushSubnormals flush;
    for (int r = 0; r < runs; ++r)
      for (size_t k = 0; k < launches_.size(); ++k) {
        Launch& l = launches_[k];
        double t0 = now();
        if (l.parallel) pool_->run(run_chunk, &l, l.chunks);
        else l.fn(l.args, 0, l.extent, l.scratch);
        best[k] = std::min(best[k], now() - t0);
      }
    return best;
  }

 private:
  void resolve_args() {
    size_t a = 0;
    for (const auto& pk : plan_.kernels)
      for (int b : pk.args) args_[a++] = pointers_[static_cast<size_t>(b)];
  }

  codegen::ProgramPlan plan_;
  PlanBindings bindings_;
  std::shared_ptr<ThreadPool> pool_;
  ProgramStats stats_;
  std::string name_;
  size_t scratch_stride_ = 0;
  AlignedMemory arena_, constants_;
  std::vector<uint8_t*> pointers_;
  std::vector<void*> args_;
  std::vector<Launch> launches_;
};

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const CpuDeviceOptions& o)
      : threads_(resolve_threads(o.threads)),
        vector_bytes_(o.vector_bytes),
        cache_(o.use_default_cache ? KernelCache::default_dir() : o.cache_dir) {}

  std::string name() const override {
    std::string width = vector_bytes_ > 0 ? ", emitting " + std::to_string(vector_bytes_ * 8) + "-bit vectors" : "";
    return "cpu (llvm " + host_target().llvm_version + ", " + std::to_string(threads_) + " threads, " + host_target().describe() +
           width + ")";
  }

  std::unique_ptr<Buffer> alloc(size_t bytes) override { return std::make_unique<CpuBuffer>(bytes); }

  std::unique_ptr<Program> compile(const ir::Graph& graph, const CompileOptions& options) override {
    auto t0 = Clock::now();
    ProgramStats stats;
    const int threads = options.threads > 0 ? options.threads : threads_;
    CompileOptions resolved = options;
    resolved.threads = threads;
    codegen::ProgramPlan plan = cpu_plan(graph, resolved, vector_bytes_);
    stats.plan_seconds = seconds_since(t0);
    int debug = debug_level();
    if (debug >= 1) std::cerr << "grokjit: program '" << options.program_name << "': " << codegen::describe_plan(plan, debug);
    codegen::CpuEmitOptions eo = cpu_emit_options(vector_bytes_);
    std::vector<KernelFn> fns = load_kernels(plan, eo, &stats);
    size_t scratch = 0;
    for (const auto& pk : plan.kernels) scratch = std::max(scratch, codegen::cpu_scratch_bytes(pk.kernel, eo));
    stats.kernels = plan.kernels.size();
    stats.peak_scratch_bytes = plan.memory.arena_bytes;
    stats.threads = static_cast<size_t>(threads);
    for (const auto& pk : plan.kernels) {
      KernelInfo info = plan_kernel_info(pk);
      info.launch = codegen::launch_shape(pk.kernel);
      stats.kernel_info.push_back(std::move(info));
    }
    stats.compile_seconds = seconds_since(t0);
    return std::make_unique<CpuProgram>(std::move(plan), std::move(fns), pool(threads), scratch, std::move(stats),
                                        options.program_name);
  }

 private:
  std::shared_ptr<ThreadPool> pool(int threads) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& p = pools_[threads];
    if (!p) p = std::make_shared<ThreadPool>(threads);
    return p;
  }

  std::vector<KernelFn> load_kernels(const codegen::ProgramPlan& plan, const codegen::CpuEmitOptions& eo, ProgramStats* stats) {
    std::vector<std::string> symbols;
    std::vector<size_t> missing;  // kernel index of each distinct symbol not loaded yet
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < plan.kernels.size(); ++i) {
      std::string s = codegen::kernel_symbol(plan.kernels[i].kernel);
      symbols.push_back(s);
      if (linker_.has(s)) {
        ++stats->cache_hits;
        continue;
      }
      if (seen.emplace(s, i).second) missing.push_back(i);
    }
    std::vector<std::pair<std::string, std::string>> objects(missing.size());
    std::vector<size_t> to_compile;
    for (size_t j = 0; j < missing.size(); ++j) {
      const codegen::Kernel& k = plan.kernels[missing[j]].kernel;
      objects[j].first = symbols[missing[j]];
      const std::string& symbol = objects[j].first;
      if (auto hit = cache_.get(kernel_cache_key(k, eo),
                                [&](const std::string& object) { return object_defect(object, symbol); })) {
        objects[j].second = std::move(*hit);
        ++stats->cache_hits;
      } else {
        to_compile.push_back(j);
        ++stats->cache_misses;
      }
    }
    auto t0 = Clock::now();
    // Compile in parallel: one LLVM context and target machine per thread.
    run_jobs(to_compile.size(), 0, [&](size_t n) {
      size_t j = to_compile[n];
      const codegen::Kernel& k = plan.kernels[missing[j]].kernel;
      objects[j].second = compile_kernel(k, eo).object;
      cache_.put(kernel_cache_key(k, eo), objects[j].second);
    });
    stats->llvm_seconds = seconds_since(t0);
    linker_.add(objects);
    std::vector<KernelFn> fns;
    for (const auto& s : symbols) fns.push_back(linker_.lookup(s));
    return fns;
  }

  int threads_;
  int vector_bytes_;
  KernelCache cache_;
  JitLinker linker_;
  std::mutex mu_;
  std::map<int, std::shared_ptr<ThreadPool>> pools_;
};

}  // namespace

codegen::CpuEmitOptions cpu_emit_options(int vector_bytes) {
  codegen::CpuEmitOptions o;
  o.vector_bytes = vector_bytes > 0 ? vector_bytes : host_target().vector_bytes;
  o.gemm_mr = 6;
  return o;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return thread_count_setting() > 0 ? thread_count_setting() : hardware_threads();
}

codegen::TargetInfo cpu_target_info(int threads, int vector_bytes) {
  const codegen::CpuEmitOptions eo = cpu_emit_options(vector_bytes);
  codegen::TargetInfo t;
  t.vector_bytes = eo.vector_bytes;
  t.gemm_mr = eo.gemm_mr;
  t.gemm_nr = t.vector_bytes / 2;  // two vectors of f32
  // One thread: the largest tiles (fewest operand re-reads). More: two
  // tiles per thread, which measured faster than eight per two threads
  // (docs/benchmarks.md, session 6).
  threads = resolve_threads(threads);
  t.gemm_parallel_tiles = threads == 1 ? 1 : 2 * threads;
  t.threads = threads;
  t.recompute = recompute_enabled();  // docs/benchmarks.md: no gain on a Zen 3 or a Zen 4
  t.split_loops = split_loops_enabled();
  t.small_matmuls_as_loops = true;  // docs/benchmarks.md, session 9
  return t;
}

codegen::ProgramPlan cpu_plan(const ir::Graph& graph, const CompileOptions& options, int vector_bytes) {
  codegen::PlanOptions po;
  po.fusion = options.fusion;
  po.target = cpu_target_info(options.threads, vector_bytes);
  return codegen::plan_program(graph, po);
}

std::unique_ptr<Device> make_cpu_device(int threads) {
  CpuDeviceOptions o;
  o.threads = threads;
  return make_cpu_device(o);
}

std::unique_ptr<Device> make_cpu_device(const CpuDeviceOptions& options) { return std::make_unique<CpuDevice>(options); }

std::vector<double> profile_kernels(Program& program, int runs) {
  auto* p = dynamic_cast<CpuProgram*>(&program);
  if (!p) throw Error("profile_kernels: not a CPU program");
  return p->profile(runs);
}

std::vector<KernelArtifacts> cpu_kernel_artifacts(const ir::Graph& graph, const CompileOptions& options) {
  codegen::ProgramPlan plan = cpu_plan(graph, options);
  codegen::CpuEmitOptions eo = cpu_emit_options();
  std::vector<KernelArtifacts> out;
  for (const auto& pk : plan.kernels) {
    KernelArtifacts a;
    a.info = plan_kernel_info(pk);
    a.info.launch = codegen::launch_shape(pk.kernel);
    a.kernel_ir = codegen::to_text(pk.kernel);
    CompiledObject obj = compile_kernel(pk.kernel, eo, true);
    a.llvm_ir = std::move(obj.ir);
    a.assembly = std::move(obj.assembly);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace grokjit::runtime
