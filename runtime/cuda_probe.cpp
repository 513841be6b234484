#include "runtime/cuda_probe.h"

#include "runtime/cuda_driver.h"

namespace grokjit::runtime {

GpuProbe probe_gpu() {
  const cu::Driver& d = cu::driver();
  GpuProbe probe;
  probe.usable = d.usable;
  probe.reason = d.reason;
  probe.driver_version = d.driver_version;
  probe.device_count = d.device_count;
  return probe;
}

}  // namespace grokjit::runtime
