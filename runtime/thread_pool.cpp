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

constexpr int kSpins = 20000;  // ~ tens of microseconds before sleeping

}  // namespace

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(Task task, void* context) {
  if (threads_ == 1) {
    task(context, 0, 1);
    return;
  }
  task_ = task;
  context_ = context;
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  task(context, 0, threads_);
  for (int spin = 0;; ++spin) {
    int32_t left = pending_.load(std::memory_order_acquire);
    if (left == 0) break;
    if (spin < kSpins) cpu_relax();
    else pending_.wait(left, std::memory_order_acquire);
  }
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    for (int spin = 0;; ++spin) {
      uint32_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) {
        seen = g;
        break;
      }
      if (spin < kSpins) cpu_relax();
      else generation_.wait(g, std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    task_(context_, index, threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace grokjit::runtime
