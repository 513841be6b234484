// grokjit's generated matmul against OpenBLAS sgemm on the default grokking
// Transformer's shapes (batch*seq 2048, d_model 128, FFN 512, vocab 99),
// forward (A B^T with PyTorch-layout weights), and backward (A B for the
// input gradient, A^T B for the weight gradient), single- and multi-threaded.
// Also measures this machine's FMA peak and prints GFLOP/s against it.
//
//   build/release/bench/matmul_bench [--reps N] [--threads T]
//
// Each grokjit run alternates with an OpenBLAS run (other processes slow
// both alike); the table shows the best and the median of --reps runs, and
// the ratio of the best times. A grokjit time is a whole Program::run()
// (thread-pool dispatch included). The FMA peak is the best of 3 runs.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ir/builder.h"
#include "runtime/cpu_device.h"
#include "runtime/jit.h"

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

// Times a and b alternately (so that load from other processes hits both
// alike): `reps` runs each after warm-up; best and median seconds.
template <class A, class B>
std::pair<Timing, Timing> time_pair(int reps, A&& a, B&& b) {
  for (int i = 0; i < 3; ++i) {
    a();
    b();
  }
  std::vector<double> ta, tb;
  auto once = [](auto& f, std::vector<double>& t) {
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  };
  for (int i = 0; i < reps; ++i) {
    once(a, ta);
    once(b, tb);
  }
  auto summarize = [](std::vector<double>& t) {
    std::sort(t.begin(), t.end());
    return Timing{t.front(), t[t.size() / 2]};
  };
  return {summarize(ta), summarize(tb)};
}

// ---- FMA peak: independent FMA chains, enough to cover the latency (named
// variables, so they live in registers whatever the optimizer does).
#define GJ_FMA12(F, a, b)                                                                                  \
  x0 = F(x0, a, b); x1 = F(x1, a, b); x2 = F(x2, a, b); x3 = F(x3, a, b); x4 = F(x4, a, b); x5 = F(x5, a, b); \
  x6 = F(x6, a, b); x7 = F(x7, a, b); x8 = F(x8, a, b); x9 = F(x9, a, b); x10 = F(x10, a, b); x11 = F(x11, a, b);

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
  __m256 x0 = _mm256_set1_ps(0), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    GJ_FMA12(_mm256_fmadd_ps, a, b)
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                           _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(_mm256_add_ps(x6, x7), _mm256_add_ps(x8, x9))));
  s = _mm256_add_ps(s, _mm256_add_ps(x10, x11));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
  __m512 x0 = _mm512_set1_ps(0), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    GJ_FMA12(_mm512_fmadd_ps, a, b)
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                           _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(_mm512_add_ps(x6, x7), _mm512_add_ps(x8, x9))));
  return _mm512_reduce_add_ps(_mm512_add_ps(s, _mm512_add_ps(x10, x11)));
}

// GFLOP/s of `threads` threads running FMA chains at once.
double fma_peak_gflops(int threads) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int64_t iters = 20'000'000;
  const double flops_per_iter = avx512 ? 12.0 * 16 * 2 : 12.0 * 8 * 2;
  volatile float sink = 0;
  auto body = [&] { sink = sink + (avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters)); };
  body();
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 1; t < threads; ++t) ts.emplace_back(body);
    body();
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, threads * iters * flops_per_iter / s / 1e9);
  }
  return best;
}

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

}  // namespace

int main(int argc, char** argv) {
  int reps = 30, max_threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads")) max_threads = std::atoi(argv[++i]);
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
  std::printf("grokjit matmul vs OpenBLAS sgemm (%s)\n", runtime::host_target().describe().c_str());
  std::vector<int> thread_counts{1};
  if (max_threads > 1) thread_counts.push_back(max_threads);
  for (int t : thread_counts) std::printf("FMA peak, %d thread(s): %.1f GFLOP/s\n", t, fma_peak_gflops(t));
  for (int t : thread_counts) {
    double peak = fma_peak_gflops(t);
    auto dev = runtime::make_cpu_device(t);
    std::printf("\n%d thread(s); GFLOP/s best and median of %d runs\n%-26s %-6s %-14s %15s %16s %8s %8s\n", t, reps, "what",
                "op", "M x N x K", "grokjit", "OpenBLAS", "ratio", "of peak");
    double sum_g = 0, sum_o = 0;
    openblas_set_num_threads(t);
    for (const Case& c : cases) {
      Runner r = grokjit_runner(*dev, c);
      std::vector<float> theirs(r.c.size());
      auto [tg, to] = time_pair(reps, [&] { r.prog->run(); }, [&] { openblas_run(c, r, theirs.data()); });
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
  return 0;
}
