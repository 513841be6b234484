// grokjit doctor: what this machine and build offer, and why a GPU is not used.
#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/Host.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/cuda_device.h"
#include "runtime/cuda_probe.h"
#include "runtime/knobs.h"
#include "runtime/nvrtc_compiler.h"

namespace grokjit::cli {

namespace {
std::string interesting_cpu_features() {
  std::string out;
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  for (const char* f : {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16", "avx512fp16", "amx-tile"})
    if (features.lookup(f)) out += std::string(out.empty() ? "" : " ") + f;
  return out.empty() ? "(none of avx2/fma/avx512)" : out;
}
}  // namespace

int run_doctor(bool as_json) {
  runtime::GpuProbe gpu = runtime::probe_gpu();
  const std::string cuda_why_not = runtime::cuda_unusable_reason();
  nlohmann::json j{
      {"version", GROKJIT_VERSION},
      {"build_type", GROKJIT_BUILD_TYPE},
      {"cpu", llvm::sys::getHostCPUName().str()},
      {"cpu_features", interesting_cpu_features()},
      {"hardware_threads", std::thread::hardware_concurrency()},
      {"llvm", GROKJIT_LLVM_VERSION},
      {"nvrtc", GROKJIT_HAVE_NVRTC ? runtime::nvrtc_version() + " (toolkit " + GROKJIT_CUDA_VERSION + "; compiles sm_90 without a GPU)"
                                   : std::string("not built (CUDA toolkit not found at configure time)")},
      {"gpu", gpu.usable},
      {"gpu_reason", gpu.reason},
      {"cuda_backend", cuda_why_not.empty() ? std::string("usable") : "not usable: " + cuda_why_not},
      {"cache_dir", runtime::cache_dir()},
  };
  const std::vector<runtime::KnobValue> knobs = runtime::knob_values();
  bool knobs_valid = true;
  for (const auto& k : knobs) knobs_valid = knobs_valid && k.error.empty();
  const int rc = knobs_valid ? 0 : static_cast<int>(ExitCode::Usage);
  if (as_json) {
    nlohmann::json values = nlohmann::json::object();
    for (const auto& k : knobs) {
      values[std::string(k.knob->name)] = {{"value", k.value}, {"source", k.source}};
      if (!k.error.empty()) values[std::string(k.knob->name)]["error"] = k.error;
    }
    j["knobs"] = values;
    std::printf("%s\n", j.dump(2).c_str());
    return rc;
  }
  for (auto& [k, v] : j.items()) std::printf("%-17s %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  std::printf("\nknobs in effect:\n");
  for (const auto& k : knobs) {
    std::printf("  %-20s %s (%s)%s%s\n", std::string(k.knob->name).c_str(), k.value.c_str(), k.source.c_str(),
                k.error.empty() ? "" : ": INVALID: ", k.error.c_str());
  }
  std::printf("\nknobs (environment):\n%s", runtime::format_knob_help().c_str());
  if (!knobs_valid) std::fprintf(stderr, "grokjit doctor: a knob has an invalid value (above)\n");
  return rc;
}

}  // namespace grokjit::cli
