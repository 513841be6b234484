#include "runtime/cuda_driver.h"

#include <dlfcn.h>

#include "ir/error.h"


namespace grokjit::runtime::cu {

namespace {

// Fills `fn` from the symbol `name`; returns false (and names it) if absent.
template <typename Fn>
bool load(void* lib, const char* name, Fn& fn, std::string* missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (fn == nullptr) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return fn != nullptr;
}

Driver load_driver() {
  Driver d;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    d.reason = std::string("no CUDA driver: dlopen(libcuda.so.1) failed") + (why ? std::string(": ") + why : "");
    return d;
  }
  // The driver stays loaded: unloading libcuda after cuInit is not supported.
  std::string missing;
  load(lib, "cuInit", d.cuInit, &missing);
  load(lib, "cuDriverGetVersion", d.cuDriverGetVersion, &missing);
  load(lib, "cuGetErrorName", d.cuGetErrorName, &missing);
  load(lib, "cuGetErrorString", d.cuGetErrorString, &missing);
  load(lib, "cuDeviceGetCount", d.cuDeviceGetCount, &missing);
  load(lib, "cuDeviceGet", d.cuDeviceGet, &missing);
  load(lib, "cuDeviceGetName", d.cuDeviceGetName, &missing);
  load(lib, "cuDeviceGetAttribute", d.cuDeviceGetAttribute, &missing);
  load(lib, "cuDeviceTotalMem_v2", d.cuDeviceTotalMem, &missing);
  load(lib, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain, &missing);
  load(lib, "cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease, &missing);
  load(lib, "cuCtxSetCurrent", d.cuCtxSetCurrent, &missing);
  load(lib, "cuCtxSynchronize", d.cuCtxSynchronize, &missing);
  load(lib, "cuMemAlloc_v2", d.cuMemAlloc, &missing);
  load(lib, "cuMemFree_v2", d.cuMemFree, &missing);
  load(lib, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD, &missing);
  load(lib, "cuMemcpyDtoH_v2", d.cuMemcpyDtoH, &missing);
  load(lib, "cuMemsetD8_v2", d.cuMemsetD8, &missing);
  load(lib, "cuModuleLoadData", d.cuModuleLoadData, &missing);
  load(lib, "cuModuleUnload", d.cuModuleUnload, &missing);
  load(lib, "cuModuleGetFunction", d.cuModuleGetFunction, &missing);
  load(lib, "cuFuncSetAttribute", d.cuFuncSetAttribute, &missing);
  load(lib, "cuFuncGetAttribute", d.cuFuncGetAttribute, &missing);
  load(lib, "cuLaunchKernel", d.cuLaunchKernel, &missing);
  load(lib, "cuStreamCreate", d.cuStreamCreate, &missing);
  load(lib, "cuStreamDestroy_v2", d.cuStreamDestroy, &missing);
  load(lib, "cuStreamSynchronize", d.cuStreamSynchronize, &missing);
  load(lib, "cuStreamBeginCapture_v2", d.cuStreamBeginCapture, &missing);
  load(lib, "cuStreamEndCapture", d.cuStreamEndCapture, &missing);
  load(lib, "cuGraphInstantiateWithFlags", d.cuGraphInstantiate, &missing);
  load(lib, "cuGraphLaunch", d.cuGraphLaunch, &missing);
  load(lib, "cuGraphExecDestroy", d.cuGraphExecDestroy, &missing);
  load(lib, "cuGraphDestroy", d.cuGraphDestroy, &missing);
  load(lib, "cuEventCreate", d.cuEventCreate, &missing);
  load(lib, "cuEventDestroy_v2", d.cuEventDestroy, &missing);
  load(lib, "cuEventRecord", d.cuEventRecord, &missing);
  load(lib, "cuEventSynchronize", d.cuEventSynchronize, &missing);
  load(lib, "cuEventElapsedTime", d.cuEventElapsedTime, &missing);
  if (!missing.empty()) {
    d.reason = "libcuda.so.1 is too old or not NVIDIA's: it lacks " + missing;
    return d;
  }
  d.cuDriverGetVersion(&d.driver_version);
  if (Result rc = d.cuInit(0); rc != 0) {
    d.reason = "cuInit failed: " + d.error_text(rc) + " (no usable GPU)";
    return d;
  }
  if (Result rc = d.cuDeviceGetCount(&d.device_count); rc != 0 || d.device_count == 0) {
    d.reason = rc != 0 ? "cuDeviceGetCount failed: " + d.error_text(rc) : "CUDA driver found, but 0 devices";
    return d;
  }
  Device dev = 0;
  char name[256] = {0};
  int major = 0, minor = 0;
  if (d.cuDeviceGet(&dev, 0) != 0 || d.cuDeviceGetName(name, sizeof name, dev) != 0 ||
      d.cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor, dev) != 0 ||
      d.cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, dev) != 0) {
    d.reason = "cannot query CUDA device 0";
    return d;
  }
  d.usable = true;
  d.reason = std::string(name) + " (sm_" + std::to_string(major) + std::to_string(minor) + ", driver " +
             std::to_string(d.driver_version / 1000) + "." + std::to_string(d.driver_version % 1000 / 10) + ", " +
             std::to_string(d.device_count) + " device" + (d.device_count > 1 ? "s" : "") + ")";
  return d;
}

}  // namespace

std::string Driver::error_text(Result rc) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (cuGetErrorName) cuGetErrorName(rc, &name);
  if (cuGetErrorString) cuGetErrorString(rc, &text);
  std::string s = name ? name : "CUresult " + std::to_string(rc);
  if (text) s += std::string(" (") + text + ")";
  return s;
}

void Driver::check(Result rc, const char* call, const std::string& where) const {
  if (rc != 0) throw Error(std::string(call) + " failed: " + error_text(rc) + (where.empty() ? "" : " (" + where + ")"));
}

const Driver& driver() {
  static const Driver d = load_driver();
  return d;
}

}  // namespace grokjit::runtime::cu

#if __has_include(<cuda.h>)
// Our copies of the driver's ABI must match the toolkit's header. (Included
// last: <cuda.h> #defines the plain names to the versioned ones.)
#include <cuda.h>
static_assert(grokjit::runtime::cu::kAttrMultiprocessorCount == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(grokjit::runtime::cu::kAttrComputeCapabilityMajor == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(grokjit::runtime::cu::kAttrComputeCapabilityMinor == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(grokjit::runtime::cu::kAttrMaxSharedMemoryPerBlockOptin ==
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
static_assert(grokjit::runtime::cu::kFuncAttrMaxDynamicSharedSizeBytes == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(grokjit::runtime::cu::kFuncAttrNumRegs == CU_FUNC_ATTRIBUTE_NUM_REGS);
static_assert(grokjit::runtime::cu::kStreamNonBlocking == CU_STREAM_NON_BLOCKING);
static_assert(grokjit::runtime::cu::kCaptureModeThreadLocal == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(grokjit::runtime::cu::kEventDefault == CU_EVENT_DEFAULT);
static_assert(sizeof(grokjit::runtime::cu::DevicePtr) == sizeof(CUdeviceptr));
static_assert(sizeof(grokjit::runtime::cu::Device) == sizeof(CUdevice));
#endif
