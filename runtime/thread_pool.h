// A persistent pool of threads for the CPU backend.
//
// run(task, context, chunks) executes task(context, c, thread) once for every
// chunk c in [0, chunks) and returns when all are done. Chunks are claimed
// from one atomic counter, so a thread that the OS has descheduled (these
// VMs are shared) never holds up the others: whoever is running takes the
// next chunk. What a chunk computes must not depend on which thread runs it
// (kernels get the thread index only to pick their scratch area), so results
// are the same whatever the thread count and scheduling.
//
// No allocation and no locks per run: one generation counter (idle workers
// spin briefly on it, then sleep on it with a futex) and one countdown.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace grokjit::runtime {

// Kernels flush subnormal results to zero (FTZ). Weight decay can shrink
// weights into the subnormal range, where x86 arithmetic is some 30x slower:
// a training step took 2 s instead of 70 ms. A result changes by less than
// 1.2e-38. Subnormal inputs are still read as they are (no DAZ: log(1e-40)
// stays -92.1); once kernels make none, none come back. Pool workers set the
// mode for good; a thread that runs kernels itself holds this guard
// meanwhile, which restores its own mode afterwards.
class FlushSubnormals {
 public:
  FlushSubnormals();
  ~FlushSubnormals();
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
};

class ThreadPool {
 public:
  using Task = void (*)(void* context, int64_t chunk, int thread);

  explicit ThreadPool(int threads);  // threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }
  // One run at a time per pool; the caller works too (as thread 0).
  void run(Task task, void* context, int64_t chunks);

  // [begin, end) of chunk c when n items are cut into `chunks` contiguous
  // pieces: a fixed function of (n, chunks, c).
  static void chunk_range(int64_t n, int64_t chunks, int64_t c, int64_t* begin, int64_t* end) {
    *begin = n * c / chunks;
    *end = n * (c + 1) / chunks;
  }

 private:
  void worker(int index);
  void claim_chunks(uint32_t generation, int thread);

  int threads_;
  std::vector<std::thread> workers_;
  uint32_t generation_ = 0;                 // written by the caller of run() only
  std::atomic<uint64_t> state_{0};          // generation << 32 | next unclaimed chunk
  std::atomic<uint32_t> wake_{0};           // the generation workers wait for
  std::atomic<int64_t> done_{0};            // chunks finished in this generation
  std::atomic<Task> task_{nullptr};
  std::atomic<void*> context_{nullptr};
  std::atomic<int64_t> chunks_{0};
  std::atomic<bool> stop_{false};
};

int hardware_threads();

}  // namespace grokjit::runtime
