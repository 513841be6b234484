#include "runtime/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace grokjit::runtime {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

constexpr int kSpins = 20000;  // ~ tens of microseconds of spinning before sleeping

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
FlushSubnormals::FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | _MM_FLUSH_ZERO_ON); }
FlushSubnormals::~FlushSubnormals() { _mm_setcsr(saved_); }
#else
FlushSubnormals::FlushSubnormals() {}
FlushSubnormals::~FlushSubnormals() {}
#endif

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

// Takes chunks of `generation` until none is left. A thread that arrives
// late (the generation moved on) claims nothing: the compare-exchange checks
// the generation together with the counter.
void ThreadPool::claim_chunks(uint32_t generation, int thread) {
  Task task = task_.load(std::memory_order_relaxed);
  void* context = context_.load(std::memory_order_relaxed);
  const int64_t chunks = chunks_.load(std::memory_order_relaxed);
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(s >> 32) != generation || static_cast<int64_t>(s & 0xffffffffu) >= chunks) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    task(context, static_cast<int64_t>(s & 0xffffffffu), thread);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) done_.notify_one();
    s = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run(Task task, void* context, int64_t chunks) {
  if (chunks <= 0) return;
  if (threads_ == 1 || chunks == 1) {
    for (int64_t c = 0; c < chunks; ++c) task(context, c, 0);
    return;
  }
  task_.store(task, std::memory_order_relaxed);
  context_.store(context, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t g = ++generation_;
  state_.store(static_cast<uint64_t>(g) << 32, std::memory_order_release);
  wake_.store(g, std::memory_order_release);
  wake_.notify_all();
  claim_chunks(g, 0);
  for (int spin = 0;; ++spin) {
    int64_t d = done_.load(std::memory_order_acquire);
    if (d == chunks) break;
    if (spin < kSpins) cpu_relax();
    else done_.wait(d, std::memory_order_acquire);
  }
}

void ThreadPool::worker(int index) {
  const FlushSubnormals flush;  // for the life of the worker
  uint32_t seen = 0;
  for (;;) {
    uint32_t g;
    for (int spin = 0;; ++spin) {
      g = wake_.load(std::memory_order_acquire);
      if (g != seen) break;
      if (spin < kSpins) cpu_relax();
      else wake_.wait(g, std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_relaxed)) return;
    uint64_t s = state_.load(std::memory_order_acquire);
    claim_chunks(static_cast<uint32_t>(s >> 32), index);
  }
}

}  // namespace grokjit::runtime
