#include "runtime/cuda_peak.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "codegen/cuda_emit.h"
#include "ir/error.h"
#include "runtime/cuda_device.h"
#include "runtime/cuda_driver.h"
#include "runtime/kernel_cache.h"
#include "runtime/nvrtc_compiler.h"

namespace grokjit::runtime {

namespace {

// 8 independent FMA chains per thread (FMA latency is 4 cycles: 8 chains keep
// a scheduler issuing), unrolled 16 times so that the loop's own instructions
// (3 per 128 FMAs) cost little of the issue slots. Every thread writes its
// sum, so nothing is dead code.
constexpr int kChains = 8;
constexpr int kFmaIters = 1 << 17;     // about 10 ms on an H100
constexpr unsigned kBlock = 256;
constexpr unsigned kBlocksPerSm = 8;   // 64 warps per SM: full occupancy
constexpr size_t kCopyBytes = size_t{1} << 30;  // per direction: far beyond the L2
constexpr int kTimedLaunches = 5;

class Timer {
 public:
  explicit Timer(const cu::Driver& d) : d_(d) {
    d_.check(d_.cuEventCreate(&start_, cu::kEventDefault), "cuEventCreate");
    if (const cu::Result rc = d_.cuEventCreate(&stop_, cu::kEventDefault); rc != 0) {
      d_.cuEventDestroy(start_);
      d_.check(rc, "cuEventCreate");
    }
  }
  ~Timer() {
    d_.cuEventDestroy(start_);
    d_.cuEventDestroy(stop_);
  }
  // The best of kTimedLaunches launches after one untimed, in ms.
  double best_ms(cu::Function f, unsigned grid, void** args, const char* what) {
    double best = 1e300;
    for (int i = 0; i <= kTimedLaunches; ++i) {
      d_.check(d_.cuEventRecord(start_, nullptr), "cuEventRecord", what);
      d_.check(d_.cuLaunchKernel(f, grid, 1, 1, kBlock, 1, 1, 0, nullptr, args, nullptr), "cuLaunchKernel", what);
      d_.check(d_.cuEventRecord(stop_, nullptr), "cuEventRecord", what);
      d_.check(d_.cuEventSynchronize(stop_), "cuEventSynchronize", what);
      float ms = 0;
      d_.check(d_.cuEventElapsedTime(&ms, start_, stop_), "cuEventElapsedTime", what);
      if (i > 0) best = std::min(best, static_cast<double>(ms));
    }
    return best;
  }

 private:
  const cu::Driver& d_;
  cu::Event start_ = nullptr, stop_ = nullptr;
};

struct DeviceAlloc {
  const cu::Driver& d;
  cu::DevicePtr ptr = 0;
  DeviceAlloc(const cu::Driver& driver, size_t bytes, const char* what) : d(driver) {
    d.check(d.cuMemAlloc(&ptr, bytes), "cuMemAlloc", what);
  }
  ~DeviceAlloc() { d.cuMemFree(ptr); }
};

}  // namespace

CudaPeakKernel cuda_fma_peak_kernel() {
  return {"grokjit_fma_peak", R"(extern "C" __global__ void grokjit_fma_peak(float* out, const float* a0, int iters, float m, float c) {
  float a[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) a[k] = a0[k];
#pragma unroll 16
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < 8; ++k) a[k] = fmaf(a[k], m, c);
  }
  float s = a[0];
#pragma unroll
  for (int k = 1; k < 8; ++k) s += a[k];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
)"};
}

CudaPeakKernel cuda_copy_peak_kernel() {
  return {"grokjit_copy_peak", R"(extern "C" __global__ void grokjit_copy_peak(const float4* __restrict__ in, float4* __restrict__ out, unsigned long long n) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = in[i];
}
)"};
}

float cuda_fma_peak_expected(int iters, const float a0[8], float m, float c) {
  float a[kChains];
  std::copy(a0, a0 + kChains, a);
  for (int i = 0; i < iters; ++i)
    for (float& x : a) x = std::fma(x, m, c);
  float s = a[0];
  for (int k = 1; k < kChains; ++k) s += a[k];
  return s;
}

CudaPeak measure_cuda_peak() {
  if (std::string why = cuda_unusable_reason(); !why.empty())
    throw Error("measuring the GPU's peak: no usable GPU: " + why, ExitCode::Usage);
  const cu::Driver& d = cu::driver();
  cu::Device dev = 0;
  cu::Context ctx = nullptr;
  d.check(d.cuDeviceGet(&dev, 0), "cuDeviceGet");
  d.check(d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  struct Release {
    const cu::Driver& d;
    cu::Device dev;
    ~Release() { d.cuDevicePrimaryCtxRelease(dev); }
  } release{d, dev};
  d.check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
  int major = 0, minor = 0, sms = 0;
  d.check(d.cuDeviceGetAttribute(&major, cu::kAttrComputeCapabilityMajor, dev), "cuDeviceGetAttribute(major)");
  d.check(d.cuDeviceGetAttribute(&minor, cu::kAttrComputeCapabilityMinor, dev), "cuDeviceGetAttribute(minor)");
  d.check(d.cuDeviceGetAttribute(&sms, cu::kAttrMultiprocessorCount, dev), "cuDeviceGetAttribute(SM count)");

  NvrtcOptions options;
  codegen::CudaTarget target;  // the CUDA backend's arch naming (sm_90, ...)
  target.sm = major * 10 + minor;
  options.arch = target.arch();
  NvrtcCompiler compiler(options, KernelCache::default_dir());
  auto load = [&](const CudaPeakKernel& k, cu::Module& module) {
    CompiledCuda c = compiler.compile({k.symbol, k.symbol, k.source, ""});
    cu::Function f = nullptr;
    d.check(d.cuModuleLoadData(&module, c.cubin.data()), "cuModuleLoadData", k.symbol);
    d.check(d.cuModuleGetFunction(&f, module, k.symbol), "cuModuleGetFunction", k.symbol);
    return f;
  };
  cu::Module fma_module = nullptr, copy_module = nullptr;
  struct Unload {
    const cu::Driver& d;
    cu::Module& a;
    cu::Module& b;
    ~Unload() {
      if (a) d.cuModuleUnload(a);
      if (b) d.cuModuleUnload(b);
    }
  } unload{d, fma_module, copy_module};
  cu::Function fma = load(cuda_fma_peak_kernel(), fma_module);
  cu::Function copy = load(cuda_copy_peak_kernel(), copy_module);
  Timer timer(d);
  CudaPeak peak;

  // FMA: 2 flops per FMA, kChains per iteration per thread.
  const unsigned grid = static_cast<unsigned>(sms) * kBlocksPerSm;
  const size_t threads = size_t{grid} * kBlock;
  const float a0[kChains] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  float m = 0.999f, c = 0.001f;  // a -> c / (1 - m) = 1: bounded, never subnormal
  int iters = kFmaIters;
  DeviceAlloc out(d, threads * sizeof(float), "the FMA peak's output");
  DeviceAlloc init(d, sizeof a0, "the FMA peak's start values");
  d.check(d.cuMemcpyHtoD(init.ptr, a0, sizeof a0), "cuMemcpyHtoD");
  void* fma_args[] = {&out.ptr, &init.ptr, &iters, &m, &c};
  const double fma_ms = timer.best_ms(fma, grid, fma_args, "the FMA peak kernel");
  peak.fma_gflops = 2.0 * kChains * static_cast<double>(iters) * static_cast<double>(threads) / (fma_ms * 1e6);
  std::vector<float> sums(threads);
  d.check(d.cuMemcpyDtoH(sums.data(), out.ptr, threads * sizeof(float)), "cuMemcpyDtoH");
  const float want = cuda_fma_peak_expected(iters, a0, m, c);
  for (size_t t = 0; t < threads; ++t)
    if (std::memcmp(&sums[t], &want, sizeof want) != 0)
      throw Error("the GPU's FMA peak kernel computed " + std::to_string(sums[t]) + " in thread " + std::to_string(t) +
                  ", the host " + std::to_string(want) + ": its timing would not measure the FMA chains");

  // Memory: a grid-stride float4 copy of kCopyBytes; bytes read + written.
  DeviceAlloc src(d, kCopyBytes, "the bandwidth peak's input"), dst(d, kCopyBytes, "the bandwidth peak's output");
  d.check(d.cuMemsetD8(src.ptr, 0x3f, kCopyBytes), "cuMemsetD8");
  unsigned long long n = kCopyBytes / 16;
  void* copy_args[] = {&src.ptr, &dst.ptr, &n};
  const double copy_ms = timer.best_ms(copy, static_cast<unsigned>(sms) * 16, copy_args, "the bandwidth peak kernel");
  peak.memory_gbs = 2.0 * static_cast<double>(kCopyBytes) / (copy_ms * 1e6);
  unsigned char last[16];
  d.check(d.cuMemcpyDtoH(last, dst.ptr + kCopyBytes - sizeof last, sizeof last), "cuMemcpyDtoH");
  if (std::any_of(last, last + sizeof last, [](unsigned char b) { return b != 0x3f; }))
    throw Error("the GPU's bandwidth peak kernel did not copy its whole buffer: its timing would not measure the copy");
  return peak;
}

}  // namespace grokjit::runtime
