// Is a CUDA GPU usable here, and if not, why? (The driver is loaded with
// dlopen by runtime/cuda_driver.h, never linked.)
#pragma once

#include <string>

namespace grokjit::runtime {

struct GpuProbe {
  bool usable = false;
  std::string reason;       // why not, or which device
  int driver_version = 0;   // cuDriverGetVersion, e.g. 13000
  int device_count = 0;
};

GpuProbe probe_gpu();

}  // namespace grokjit::runtime
