// grokjit's generated matmul against OpenBLAS sgemm on the default grokking
// Transformer's shapes (batch*seq 2048, d_model 128, FFN 512, vocab 99),
// forward (A B^T with PyTorch-layout weights), and backward (A B for the
// input gradient, A^T B for the weight gradient), single- and multi-threaded.
// Also measures this machine's FMA peak and prints GFLOP/s against it.
//
// Then the default training step (Transformer d_model 128, 2 layers, FFN
// 512, batch 512 x seq 4, vocab 99; AdamW and Muon): kernels per step with
// fusion on and off, time per step (median, p20, p80 after warm-up),
// achieved GFLOP/s against the FMA peak, and cold/warm compile times.
//
//   build/release/bench/matmul_bench [--reps N] [--threads T] [--steps N] [--no-matmul] [--no-step]
//                                    [--profile] [--adamw-only] [--shape MxNxK:LAYOUT]...
//
// --shape (repeatable) replaces the default shapes by the given ones, LAYOUT
// one of nn (A B), nt (A B^T), tn (A^T B); e.g. --shape 2048x128x128:nt.
//
// Each grokjit run alternates with an OpenBLAS run (other processes slow
// both alike); the table shows the best and the median of --reps runs, and
// the ratio of the best times. Single-threaded runs are timed by the
// thread's CPU time (robust on a shared machine), multi-threaded by wall time. A grokjit time is a whole Program::run()
// (thread-pool dispatch included). The FMA peak is the best of 3 runs.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <filesystem>
#include <map>

#include "ir/builder.h"
#include "runtime/cpu_device.h"
#include "runtime/host_buffer.h"
#include "runtime/jit.h"
#include "runtime/machine_peak.h"
#include "runtime/step_graph.h"

using namespace grokjit;
using Clock = std::chrono::steady_clock;

namespace {

enum class Layout { NN, NT, TN };  // C = A B, A B^T, A^T B

struct Case {
  int64_t M, N, K;
  Layout layout;
  const char* what;
};

const char* layout_name(Layout l) { return l == Layout::NN ? "A B" : l == Layout::NT ? "A B^T" : "A^T B"; }

struct Timing {
  double best = 1e30, median = 0;
};

// With one thread the time that counts is the CPU time of this thread: other
// processes on the machine then cost us nothing (they still share caches).
bool g_thread_cpu_time = false;
bool g_profile = false;     // --profile: per-kernel times of the training step
bool g_adamw_only = false;  // --adamw-only

double now_seconds() {
  if (g_thread_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// Times a and b, `reps` runs each after warm-up; best and median seconds.
// Single runs alternate (load from other processes then hits both alike);
// with `blocks`, runs come in blocks of reps/4 so that each library's
// thread pool stays warm within a block (the two pools would otherwise
// fight over the cores).
template <class A, class B>
std::pair<Timing, Timing> time_pair(int reps, bool blocks, A&& a, B&& b) {
  std::vector<double> ta, tb;
  auto once = [](auto& f, std::vector<double>& t) {
    double t0 = now_seconds();
    f();
    t.push_back(now_seconds() - t0);
  };
  const int block = blocks ? std::max(1, reps / 4) : 1;
  for (int done = 0; done < reps; done += block) {
    for (int i = 0; i < 3; ++i) a();
    for (int i = 0; i < block; ++i) once(a, ta);
    for (int i = 0; i < 3; ++i) b();
    for (int i = 0; i < block; ++i) once(b, tb);
  }
  auto summarize = [](std::vector<double>& t) {
    std::sort(t.begin(), t.end());
    return Timing{t.front(), t[t.size() / 2]};
  };
  return {summarize(ta), summarize(tb)};
}

double fma_peak_gflops(int threads) { return runtime::measure_fma_peak_gflops(threads); }

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

struct Runner {
  std::unique_ptr<runtime::Program> prog;
  std::vector<std::unique_ptr<runtime::Buffer>> bufs;
  std::vector<float> a, b, c;
};

Runner grokjit_runner(runtime::Device& dev, const Case& c) {
  Runner r;
  ir::Graph g;
  ir::Shape as = c.layout == Layout::TN ? ir::Shape{c.K, c.M} : ir::Shape{c.M, c.K};
  ir::Shape bs = c.layout == Layout::NT ? ir::Shape{c.N, c.K} : ir::Shape{c.K, c.N};
  ir::Value a = ir::input(g, "a", as, ir::DType::F32, ir::InputRole::Data);
  ir::Value b = ir::input(g, "b", bs, ir::DType::F32, ir::InputRole::Param);
  ir::output(ir::matmul(c.layout == Layout::TN ? ir::transpose(a) : a, c.layout == Layout::NT ? ir::transpose(b) : b), "c");
  r.prog = dev.compile(g, {});
  r.a = random_floats(static_cast<size_t>(c.M * c.K), 1);
  r.b = random_floats(static_cast<size_t>(c.K * c.N), 2);
  r.c.resize(static_cast<size_t>(c.M * c.N));
  for (auto* v : {&r.a, &r.b, &r.c}) {
    r.bufs.push_back(dev.alloc(v->size() * 4));
    r.bufs.back()->write(v->data(), v->size() * 4);
  }
  r.prog->bind("a", *r.bufs[0]);
  r.prog->bind("b", *r.bufs[1]);
  r.prog->bind("c", *r.bufs[2]);
  return r;
}

void openblas_run(const Case& c, Runner& r, float* out) {
  int M = static_cast<int>(c.M), N = static_cast<int>(c.N), K = static_cast<int>(c.K);
  CBLAS_TRANSPOSE ta = c.layout == Layout::TN ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb = c.layout == Layout::NT ? CblasTrans : CblasNoTrans;
  int lda = c.layout == Layout::TN ? M : K, ldb = c.layout == Layout::NT ? K : N;
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, r.a.data(), lda, r.b.data(), ldb, 0.0f, out, N);
}


// ---- the default training step

struct StepTiming {
  size_t kernels = 0;
  double flops = 0, median = 0, p20 = 0, p80 = 0, compile_cold = 0, compile_warm = 0;
  double cpu_median = 0;  // one thread: this thread's CPU time per step (robust to other load)
};

StepTiming time_step(const ir::Graph& g, bool fusion, int threads, int steps) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("grokjit-bench-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  runtime::CpuDeviceOptions o;
  o.threads = threads;
  o.use_default_cache = false;
  o.cache_dir = dir.string();
  runtime::CompileOptions co;
  co.fusion = fusion;
  StepTiming r;
  r.compile_cold = runtime::make_cpu_device(o)->compile(g, co)->stats().compile_seconds;
  auto dev = runtime::make_cpu_device(o);  // a new JIT: objects come from the disk cache
  auto prog = dev->compile(g, co);
  r.compile_warm = prog->stats().compile_seconds;
  r.kernels = prog->stats().kernels;
  for (const auto& k : prog->stats().kernel_info) r.flops += k.flops;
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<runtime::Buffer>> bufs;
  auto bind = [&](const std::string& name, const ir::Node& n, const std::vector<double>& values) {
    std::vector<uint8_t> raw(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
    runtime::f64_to_bytes(values, n.dtype, raw.data());
    bufs.push_back(dev->alloc(raw.size()));
    bufs.back()->write(raw.data(), raw.size());
    prog->bind(name, *bufs.back());
  };
  for (ir::NodeId id : g.inputs()) {
    const ir::Node& n = g.node(id);
    std::vector<double> v(static_cast<size_t>(ir::num_elements(n.shape)));
    const std::string& name = n.attrs.name;
    if (name == "tokens") for (double& x : v) x = static_cast<double>(rng() % 99);
    else if (name == "labels") for (double& x : v) x = static_cast<double>(rng() % 97);
    else if (name == "row_mask" || name == "lr_scale") std::fill(v.begin(), v.end(), 1.0);
    else if (name == "inv_rows") std::fill(v.begin(), v.end(), 1.0 / 512);
    else if (name == "step") std::fill(v.begin(), v.end(), 1.0);
    else if (name == "seed") std::fill(v.begin(), v.end(), 1234.0);
    else if (n.attrs.role == ir::InputRole::Param)
      for (double& x : v) x = std::uniform_real_distribution<double>(-0.05, 0.05)(rng) + (name.find("norm") != std::string::npos ? 1.0 : 0.0);
    bind(name, n, v);
  }
  for (const auto& out : g.outputs()) bind(out.name, g.node(out.node), std::vector<double>(static_cast<size_t>(ir::num_elements(g.node(out.node).shape))));
  for (int i = 0; i < 5; ++i) prog->run();
  std::vector<double> t, cpu;
  for (int i = 0; i < steps; ++i) {
    g_thread_cpu_time = true;
    double c0 = now_seconds();
    auto t0 = Clock::now();
    prog->run();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    cpu.push_back(now_seconds() - c0);
  }
  g_thread_cpu_time = false;
  std::sort(cpu.begin(), cpu.end());
  r.cpu_median = cpu[cpu.size() / 2];
  if (g_profile) {  // where the time goes, slowest kernels first
    std::vector<double> secs = runtime::profile_kernels(*prog, 5);
    std::vector<size_t> order(secs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return secs[a] > secs[b]; });
    double total = 0;
    for (double x : secs) total += x;
    std::map<std::string, std::pair<double, int>> by_kind;  // name prefix -> (seconds, kernels)
    for (size_t i = 0; i < secs.size(); ++i) {
      const std::string& n = prog->stats().kernel_info[i].name;
      auto& e = by_kind[n.substr(0, n.find('_'))];
      e.first += secs[i];
      e.second += 1;
    }
    std::printf("  profile (fusion %s): %.2f ms in %zu kernels;", fusion ? "on" : "off", 1e3 * total, secs.size());
    for (const auto& [kind, e] : by_kind) std::printf(" %s %.2f ms (%d)", kind.c_str(), 1e3 * e.first, e.second);
    std::printf("\n");
    for (size_t i = 0; i < std::min<size_t>(order.size(), 25); ++i) {
      const auto& ki = prog->stats().kernel_info[order[i]];
      std::printf("  %8.3f ms %7.1f GF/s  %s  [%s]\n", 1e3 * secs[order[i]], ki.flops / secs[order[i]] / 1e9, ki.name.c_str(),
                  ki.launch.c_str());
    }
  }
  std::sort(t.begin(), t.end());
  r.median = t[t.size() / 2];
  r.p20 = t[t.size() / 5];
  r.p80 = t[t.size() * 4 / 5];
  fs::remove_all(dir);
  return r;
}

void step_report(int threads, int steps) {
  double peak = fma_peak_gflops(threads);
  std::printf("\nDefault training step (batch 512 x seq 4, d_model 128, 2 layers, FFN 512, vocab 99), %d thread(s), "
              "FMA peak %.0f GFLOP/s, %d timed steps\n", threads, peak, steps);
  std::printf("%-10s %-7s %8s %10s %26s %10s %9s %16s%s\n", "optimizer", "fusion", "kernels", "GFLOP", "ms/step median [p20, p80]",
              "GFLOP/s", "of peak", "compile cold/warm", threads == 1 ? "   CPU ms/step" : "");
  for (auto kind : {optimizers::OptimizerKind::AdamW, optimizers::OptimizerKind::Muon}) {
    if (g_adamw_only && kind != optimizers::OptimizerKind::AdamW) continue;
    runtime::RunConfig cfg;
    cfg.optimizer.kind = kind;
    runtime::DataShape shape;
    shape.batch = 512;
    shape.seq_len = 4;
    shape.vocab = 99;
    shape.classes = 97;
    runtime::StepGraphs graphs = runtime::build_step_graphs(cfg, shape);
    for (bool fusion : {true, false}) {
      StepTiming r = time_step(graphs.train, fusion, threads, steps);
      std::printf("%-10s %-7s %8zu %10.2f %10.2f [%6.2f, %6.2f] %10.1f %8.0f%% %7.2f s/%5.2f s", 
                  kind == optimizers::OptimizerKind::AdamW ? "AdamW" : "Muon", fusion ? "on" : "off", r.kernels, r.flops / 1e9,
                  1e3 * r.median, 1e3 * r.p20, 1e3 * r.p80, r.flops / r.median / 1e9, 100.0 * r.flops / r.median / 1e9 / peak,
                  r.compile_cold, r.compile_warm);
      if (threads == 1) std::printf(" %13.2f", 1e3 * r.cpu_median);
      std::printf("\n");
    }
  }
}

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "matmul_bench: %s\nusage: matmul_bench [--reps N] [--threads T] [--steps N] [--no-matmul] [--no-step] "
               "[--profile] [--adamw-only] [--shape MxNxK:nn|nt|tn]...\n", what.c_str());
  std::exit(2);
}

int positive_int(const char* flag, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 1000000) usage_error(std::string(flag) + ": expected a positive integer, got '" + text + "'");
  return static_cast<int>(v);
}

Case parse_shape(const char* text) {
  long m = 0, n = 0, k = 0;
  char layout[8] = {0};
  int consumed = 0;
  if (std::sscanf(text, "%ldx%ldx%ld:%7[a-z]%n", &m, &n, &k, layout, &consumed) != 4 || text[consumed] != '\0' || m < 1 || n < 1 ||
      k < 1)
    usage_error(std::string("--shape: expected MxNxK:nn|nt|tn, got '") + text + "'");
  std::string l = layout;
  if (l != "nn" && l != "nt" && l != "tn") usage_error("--shape: layout must be nn, nt or tn, got '" + l + "'");
  return {m, n, k, l == "nn" ? Layout::NN : l == "nt" ? Layout::NT : Layout::TN, "--shape"};
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 30, steps = 30, max_threads = static_cast<int>(std::thread::hardware_concurrency());
  bool matmuls = true, step = true;
  std::vector<Case> shapes;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) {
      if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--reps")) reps = positive_int("--reps", value("--reps"));
    else if (!std::strcmp(argv[i], "--threads")) max_threads = positive_int("--threads", value("--threads"));
    else if (!std::strcmp(argv[i], "--steps")) steps = positive_int("--steps", value("--steps"));
    else if (!std::strcmp(argv[i], "--shape")) shapes.push_back(parse_shape(value("--shape")));
    else if (!std::strcmp(argv[i], "--no-matmul")) matmuls = false;
    else if (!std::strcmp(argv[i], "--no-step")) step = false;
    else if (!std::strcmp(argv[i], "--profile")) g_profile = true;
    else if (!std::strcmp(argv[i], "--adamw-only")) g_adamw_only = true;
    else usage_error(std::string("unknown argument '") + argv[i] + "'");
  }
  if (max_threads < 1) max_threads = 1;
  const int64_t BT = 2048, D = 128, F = 512, V = 99, B = 512;
  std::vector<Case> cases = {
      {BT, F, D, Layout::NT, "fwd x W1^T (ffn up)"},      {BT, D, F, Layout::NT, "fwd h W2^T (ffn down)"},
      {BT, D, D, Layout::NT, "fwd x Wq^T (attention)"},   {B, V, D, Layout::NT, "fwd classifier"},
      {BT, D, F, Layout::NN, "bwd dY W1 (input grad)"},   {BT, F, D, Layout::NN, "bwd dY W2 (input grad)"},
      {BT, D, D, Layout::NN, "bwd dY Wq (input grad)"},   {F, D, BT, Layout::TN, "bwd dY^T X (W1 grad)"},
      {D, F, BT, Layout::TN, "bwd dY^T H (W2 grad)"},     {D, D, BT, Layout::TN, "bwd dY^T X (Wq grad)"},
      {V, D, B, Layout::TN, "bwd classifier grad"},
  };
  if (!shapes.empty()) cases = shapes;
  std::printf("grokjit matmul vs OpenBLAS sgemm (%s)\n", runtime::host_target().describe().c_str());
  std::vector<int> thread_counts{1};
  if (max_threads > 1) thread_counts.push_back(max_threads);
  for (int t : thread_counts) std::printf("FMA peak, %d thread(s): %.1f GFLOP/s\n", t, fma_peak_gflops(t));
  for (int t : thread_counts) {
    if (!matmuls) break;
    double peak = fma_peak_gflops(t);
    auto dev = runtime::make_cpu_device(t);
    std::printf("\n%d thread(s); GFLOP/s from the best and the median of %d runs (%s)\n%-26s %-6s %-14s %15s %16s %8s %8s\n", t, reps, t == 1 ? "thread CPU time" : "wall time", "what",
                "op", "M x N x K", "grokjit", "OpenBLAS", "ratio", "of peak");
    double sum_g = 0, sum_o = 0;
    openblas_set_num_threads(t);
    g_thread_cpu_time = t == 1;
    for (const Case& c : cases) {
      Runner r = grokjit_runner(*dev, c);
      std::vector<float> theirs(r.c.size());
      auto [tg, to] = time_pair(reps, t > 1, [&] { r.prog->run(); }, [&] { openblas_run(c, r, theirs.data()); });
      r.bufs[2]->read(r.c.data(), r.c.size() * 4);
      double max_diff = 0;
      for (size_t i = 0; i < r.c.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(r.c[i] - theirs[i])));
      double flops = 2.0 * static_cast<double>(c.M * c.N * c.K);
      sum_g += tg.best;
      sum_o += to.best;
      char shape[64];
      std::snprintf(shape, sizeof shape, "%ldx%ldx%ld", static_cast<long>(c.M), static_cast<long>(c.N), static_cast<long>(c.K));
      std::printf("%-26s %-6s %-14s %7.1f %7.1f %8.1f %7.1f %7.0f%% %7.0f%%%s\n", c.what, layout_name(c.layout), shape,
                  flops / tg.best / 1e9, flops / tg.median / 1e9, flops / to.best / 1e9, flops / to.median / 1e9,
                  100.0 * to.best / tg.best, 100.0 * flops / tg.best / 1e9 / peak, max_diff > 1e-3 ? "  MISMATCH" : "");
    }
    std::printf("%-48s sum of best times, OpenBLAS / grokjit: %.0f%%\n", "", 100.0 * sum_o / sum_g);
  }
  if (step)
    for (int t : thread_counts) step_report(t, steps);
  return 0;
}
