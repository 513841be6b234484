// What this machine can do at best: fp32 FMA throughput and memory
// bandwidth, measured (not assumed) for benchmarks' "fraction of peak".
#pragma once

namespace grokjit::runtime {

// GFLOP/s of `threads` threads running independent FMA chains at once
// (AVX-512 where the CPU has it, else AVX2+FMA). Takes about a second.
double measure_fma_peak_gflops(int threads);

// Seconds of one fp32 FMA in a dependent chain (its latency, 4 cycles on
// current x86 cores): a clock estimate for sanity checks of the peak.
double measure_fma_latency_seconds();

// GB/s of `threads` threads streaming a large buffer (read + write counted).
double measure_memory_bandwidth_gbs(int threads);

}  // namespace grokjit::runtime
