#include "runtime/cuda_probe.h"

#include <dlfcn.h>

namespace grokjit::runtime {

GpuProbe probe_gpu() {
  GpuProbe probe;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    probe.reason = "no CUDA driver (dlopen libcuda.so.1 failed)";
    return probe;
  }
  using InitFn = int (*)(unsigned);
  using IntOutFn = int (*)(int*);
  auto cu_init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto cu_version = reinterpret_cast<IntOutFn>(dlsym(lib, "cuDriverGetVersion"));
  auto cu_count = reinterpret_cast<IntOutFn>(dlsym(lib, "cuDeviceGetCount"));
  if (cu_init == nullptr || cu_version == nullptr || cu_count == nullptr) {
    probe.reason = "libcuda.so.1 lacks cuInit/cuDriverGetVersion/cuDeviceGetCount";
  } else if (int rc = cu_init(0); rc != 0) {
    probe.reason = "cuInit failed with CUresult " + std::to_string(rc) + " (no usable GPU)";
  } else {
    cu_version(&probe.driver_version);
    cu_count(&probe.device_count);
    probe.usable = probe.device_count > 0;
    probe.reason = probe.usable ? std::to_string(probe.device_count) + " CUDA device(s)" : "driver found, 0 devices";
  }
  // The driver stays loaded: unloading libcuda after cuInit is not supported.
  return probe;
}

}  // namespace grokjit::runtime
