// Independent jobs (kernel compiles) on a few short-lived threads.
#pragma once

#include <cstddef>
#include <functional>

namespace grokjit::runtime {

// Runs job(i) for every i in [0, count) on up to `threads` threads (0 = all
// cores; the caller is one of them). Jobs are claimed in order from a shared
// counter. When jobs throw, the others still run and the first exception is
// rethrown at the end.
void run_jobs(size_t count, int threads, const std::function<void(size_t)>& job);

}  // namespace grokjit::runtime
