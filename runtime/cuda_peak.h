// What the GPU can do at best, measured (not taken from a data sheet) for
// `grokjit bench --backend cuda`'s fractions of peak: fp32 FMA throughput and
// memory bandwidth, each from a small NVRTC-compiled kernel timed with CUDA
// events, best of several launches. Device 0, as the CUDA backend uses.
#pragma once

#include <string>

namespace grokjit::runtime {

struct CudaPeak {
  double fma_gflops = 0;
  double memory_gbs = 0;  // read + write counted, as on the CPU
};

// Throws Error (Usage) naming cuda_unusable_reason() when there is no GPU, and
// Error (Failure) when the FMA kernel's result differs from the host's (the
// measurement would then time something else than the FMA chains).
CudaPeak measure_cuda_peak();

// The CUDA C of the two kernels and their entry points (tests compile them
// with NVRTC on machines without a GPU).
struct CudaPeakKernel {
  const char* symbol;
  std::string source;
};
CudaPeakKernel cuda_fma_peak_kernel();
CudaPeakKernel cuda_copy_peak_kernel();

// The FMA kernel's output for every thread, computed on the host: 8 chains
// a = fma(a, m, c), `iters` steps each from a0[k], summed in order.
float cuda_fma_peak_expected(int iters, const float a0[8], float m, float c);

}  // namespace grokjit::runtime
