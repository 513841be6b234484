// A persistent pool of threads for the CPU backend. run() hands one task to
// every thread (the caller is thread 0) and returns when all are done: no
// allocation, no locks, one atomic generation counter and one countdown.
// Idle workers spin briefly, then sleep on the counter (futex), so a pool
// that is not running costs no CPU.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace grokjit::runtime {

class ThreadPool {
 public:
  using Task = void (*)(void* context, int thread, int threads);

  explicit ThreadPool(int threads);  // threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }
  // Calls task(context, t, size()) on each thread t; t = 0 runs on the caller.
  // One run at a time per pool.
  void run(Task task, void* context);

  // [begin, end) of `n` items for thread t: a static, contiguous split.
  static void split(int64_t n, int t, int threads, int64_t* begin, int64_t* end) {
    *begin = n * t / threads;
    *end = n * (t + 1) / threads;
  }

 private:
  void worker(int index);

  int threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int32_t> pending_{0};
  std::atomic<bool> stop_{false};
  Task task_ = nullptr;
  void* context_ = nullptr;
};

int hardware_threads();

}  // namespace grokjit::runtime
