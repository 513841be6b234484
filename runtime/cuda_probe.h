// Is a CUDA GPU usable here? The driver is loaded with dlopen, never linked:
// a binary linked to the toolkit's stub libcuda does not start without one.
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
