// Measured peaks (see machine_peak.h).
#include "runtime/machine_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace grokjit::runtime {
namespace {
using Clock = std::chrono::steady_clock;

template <typename F>
double best_of_three_seconds(int threads, F&& body) {
  body();  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 1; t < threads; ++t) ts.emplace_back(body);
    body();
    for (auto& t : ts) t.join();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// ---- FMA peak: 12 independent FMA chains, enough to cover the latency of
// two FMA pipes. Each chain starts from its own value and passes through an
// empty asm statement every iteration: with equal starts the compiler proves
// the chains equal and keeps one (GCC did: the "peak" was then one chain's
// latency-bound rate times 12, 1.5x too high).
#define GJ_FMA12(F, a, b)                                                                                  \
  x0 = F(x0, a, b); x1 = F(x1, a, b); x2 = F(x2, a, b); x3 = F(x3, a, b); x4 = F(x4, a, b); x5 = F(x5, a, b); \
  x6 = F(x6, a, b); x7 = F(x7, a, b); x8 = F(x8, a, b); x9 = F(x9, a, b); x10 = F(x10, a, b); x11 = F(x11, a, b);
#define GJ_OPAQUE12(C)                                                                                      \
  asm volatile("" : "+" C(x0), "+" C(x1), "+" C(x2), "+" C(x3), "+" C(x4), "+" C(x5), "+" C(x6), "+" C(x7), \
               "+" C(x8), "+" C(x9), "+" C(x10), "+" C(x11));

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
  __m256 x0 = _mm256_set1_ps(0), x1 = _mm256_set1_ps(1), x2 = _mm256_set1_ps(2), x3 = _mm256_set1_ps(3), x4 = _mm256_set1_ps(4),
         x5 = _mm256_set1_ps(5), x6 = _mm256_set1_ps(6), x7 = _mm256_set1_ps(7), x8 = _mm256_set1_ps(8), x9 = _mm256_set1_ps(9),
         x10 = _mm256_set1_ps(10), x11 = _mm256_set1_ps(11);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    GJ_FMA12(_mm256_fmadd_ps, a, b)
    GJ_OPAQUE12("x")
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                           _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(_mm256_add_ps(x6, x7), _mm256_add_ps(x8, x9))));
  s = _mm256_add_ps(s, _mm256_add_ps(x10, x11));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
  __m512 x0 = _mm512_set1_ps(0), x1 = _mm512_set1_ps(1), x2 = _mm512_set1_ps(2), x3 = _mm512_set1_ps(3), x4 = _mm512_set1_ps(4),
         x5 = _mm512_set1_ps(5), x6 = _mm512_set1_ps(6), x7 = _mm512_set1_ps(7), x8 = _mm512_set1_ps(8), x9 = _mm512_set1_ps(9),
         x10 = _mm512_set1_ps(10), x11 = _mm512_set1_ps(11);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    GJ_FMA12(_mm512_fmadd_ps, a, b)
    GJ_OPAQUE12("v")
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                           _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(_mm512_add_ps(x6, x7), _mm512_add_ps(x8, x9))));
  return _mm512_reduce_add_ps(_mm512_add_ps(s, _mm512_add_ps(x10, x11)));
}

// One dependent FMA chain: iters x the FMA latency.
__attribute__((target("avx2,fma"))) float fma_chain_avx2(int64_t iters) {
  __m256 x = _mm256_set1_ps(1);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    x = _mm256_fmadd_ps(x, a, b);
    asm volatile("" : "+x"(x));
  }
  float out[8];
  _mm256_storeu_ps(out, x);
  return out[0];
}

}  // namespace

double measure_fma_peak_gflops(int threads) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int64_t iters = 20'000'000;
  const double flops_per_iter = avx512 ? 12.0 * 16 * 2 : 12.0 * 8 * 2;
  volatile float sink = 0;
  double s = best_of_three_seconds(threads, [&] { sink = sink + (avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters)); });
  return threads * iters * flops_per_iter / s / 1e9;
}

double measure_fma_latency_seconds() {
  const int64_t iters = 20'000'000;
  volatile float sink = 0;
  double s = best_of_three_seconds(1, [&] { sink = sink + fma_chain_avx2(iters); });
  return s / static_cast<double>(iters);
}

double measure_memory_bandwidth_gbs(int threads) {
  // 256 MiB per direction per thread, far beyond any cache; at most 1 GiB per
  // direction in all (--threads 64 asked for 32 GiB), which more than 4 threads
  // share: still far beyond the caches of every core together.
  const size_t floats = std::min(size_t{64} << 20, (size_t{256} << 20) / static_cast<size_t>(std::max(threads, 1)));
  std::vector<std::vector<float>> src(threads, std::vector<float>(floats, 1.0f)), dst(threads, std::vector<float>(floats, 0.0f));
  int next = 0;
  std::vector<int> ids(threads);
  double s = best_of_three_seconds(threads, [&] {
    int me = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % threads;
    std::memcpy(dst[me].data(), src[me].data(), floats * sizeof(float));
  });
  return 2.0 * threads * floats * sizeof(float) / s / 1e9;
}

}  // namespace grokjit::runtime
