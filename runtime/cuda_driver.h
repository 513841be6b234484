// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"): never
// linked (a binary linked to the toolkit's stub libcuda does not start on a
// machine without a driver). The types below are the driver's own ABI
// (checked against <cuda.h> when the toolkit is present); the entry points
// are looked up by their versioned names (cuMemAlloc_v2, ...), the ones
// <cuda.h> maps the plain names to.
//
// cuda_driver() loads once per process. A missing library, a missing entry
// point or a failing cuInit leaves it not usable(), with the reason; every
// call made through check() throws Error naming the call and the driver's
// error name and string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace grokjit::runtime::cu {

using Result = int;  // CUresult; 0 = CUDA_SUCCESS
using Device = int;  // CUdevice
using DevicePtr = unsigned long long;  // CUdeviceptr
using Context = struct CUctx_st*;
using Module = struct CUmod_st*;
using Function = struct CUfunc_st*;
using Stream = struct CUstream_st*;
using Event = struct CUevent_st*;
using Graph = struct CUgraph_st*;
using GraphExec = struct CUgraphExec_st*;

// The enum values used here (CUdevice_attribute, CUfunction_attribute, ...).
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;
constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;
constexpr int kFuncAttrNumRegs = 4;
constexpr unsigned kStreamNonBlocking = 1;
constexpr int kCaptureModeThreadLocal = 1;
constexpr unsigned kEventDefault = 0;

struct Driver {
  bool usable = false;
  std::string reason;      // why not usable, or "NVIDIA H100 ... (driver 13.0, 1 device)"
  int driver_version = 0;  // e.g. 13000
  int device_count = 0;

  Result (*cuInit)(unsigned) = nullptr;
  Result (*cuDriverGetVersion)(int*) = nullptr;
  Result (*cuGetErrorName)(Result, const char**) = nullptr;
  Result (*cuGetErrorString)(Result, const char**) = nullptr;
  Result (*cuDeviceGetCount)(int*) = nullptr;
  Result (*cuDeviceGet)(Device*, int) = nullptr;
  Result (*cuDeviceGetName)(char*, int, Device) = nullptr;
  Result (*cuDeviceGetAttribute)(int*, int, Device) = nullptr;
  Result (*cuDeviceTotalMem)(size_t*, Device) = nullptr;                   // _v2
  Result (*cuDevicePrimaryCtxRetain)(Context*, Device) = nullptr;
  Result (*cuDevicePrimaryCtxRelease)(Device) = nullptr;                   // _v2
  Result (*cuCtxSetCurrent)(Context) = nullptr;
  Result (*cuCtxSynchronize)() = nullptr;
  Result (*cuMemAlloc)(DevicePtr*, size_t) = nullptr;                      // _v2
  Result (*cuMemFree)(DevicePtr) = nullptr;                                // _v2
  Result (*cuMemcpyHtoD)(DevicePtr, const void*, size_t) = nullptr;        // _v2
  Result (*cuMemcpyDtoH)(void*, DevicePtr, size_t) = nullptr;              // _v2
  Result (*cuMemsetD8)(DevicePtr, unsigned char, size_t) = nullptr;        // _v2
  Result (*cuModuleLoadData)(Module*, const void*) = nullptr;
  Result (*cuModuleUnload)(Module) = nullptr;
  Result (*cuModuleGetFunction)(Function*, Module, const char*) = nullptr;
  Result (*cuFuncSetAttribute)(Function, int, int) = nullptr;
  Result (*cuFuncGetAttribute)(int*, int, Function) = nullptr;
  Result (*cuLaunchKernel)(Function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, Stream, void**,
                           void**) = nullptr;
  Result (*cuStreamCreate)(Stream*, unsigned) = nullptr;
  Result (*cuStreamDestroy)(Stream) = nullptr;                             // _v2
  Result (*cuStreamSynchronize)(Stream) = nullptr;
  Result (*cuStreamBeginCapture)(Stream, int) = nullptr;                   // _v2 (with a mode)
  Result (*cuStreamEndCapture)(Stream, Graph*) = nullptr;
  Result (*cuGraphInstantiate)(GraphExec*, Graph, unsigned long long) = nullptr;  // WithFlags
  Result (*cuGraphLaunch)(GraphExec, Stream) = nullptr;
  Result (*cuGraphExecDestroy)(GraphExec) = nullptr;
  Result (*cuGraphDestroy)(Graph) = nullptr;
  Result (*cuEventCreate)(Event*, unsigned) = nullptr;
  Result (*cuEventDestroy)(Event) = nullptr;                               // _v2
  Result (*cuEventRecord)(Event, Stream) = nullptr;
  Result (*cuEventSynchronize)(Event) = nullptr;
  Result (*cuEventElapsedTime)(float*, Event, Event) = nullptr;

  // "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"
  std::string error_text(Result rc) const;
  // Throws Error("<call> failed: <error_text>" + where) unless rc == 0.
  void check(Result rc, const char* call, const std::string& where = "") const;
};

// The process's driver, loaded (and cuInit run) on first use.
const Driver& driver();

}  // namespace grokjit::runtime::cu
