// Options shared by spec-driven commands, and the --backend choice.
#include <charconv>
#include <cstdint>
#include <cstdio>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "runtime/cuda_device.h"
#include "runtime/knobs.h"
#include "runtime/spec.h"

namespace grokjit::cli {

void add_spec_options(CLI::App& cmd, SpecArgs& args) {
  cmd.add_option("spec", args.spec, "model spec (JSON); see docs/spec.md")->required();
  cmd.add_option("--set", args.sets, "override a spec field: key.path=value (JSON value), repeatable");
  // CLI11 would wrap "-1" into 2^64 - 1 and clamp overflow: check the text first.
  cmd.add_option("--seed", args.seed, "override train.seed (init, shuffling, dropout)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            uint64_t value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec != std::errc() || end != text.data() + text.size())
              return "'" + text + "' is not a whole number from 0 to 18446744073709551615";
            return "";
          },
          "UINT64"));
}

CLI::Validator not_empty() {
  return CLI::Validator(
      [](std::string& text) {
        return text.empty() ? std::string("an empty value is not allowed; leave the option out for its default")
                            : std::string();
      },
      "");
}

void add_backend_option(CLI::App& cmd, SpecArgs& args) {
  cmd.add_option("--backend", args.backend, "cpu | cuda | auto | reference (float64 interpreter); default GROKJIT_BACKEND, else cpu")
      ->check(CLI::IsMember({"cpu", "cuda", "auto", "reference"}));
}

void add_fusion_option(CLI::App& cmd, SpecArgs& args) {
  cmd.add_option("--fusion", args.fusion, "on | off (one kernel per IR op); default GROKJIT_FUSION or on")
      ->check(CLI::IsMember({"on", "off"}));
}

runtime::RunConfig load_run_config(const SpecArgs& args) {
  std::vector<std::string> sets = args.sets;
  if (args.seed) sets.push_back("train.seed=" + std::to_string(*args.seed));
  return runtime::load_spec(args.spec, sets);
}

std::string effective_backend(const SpecArgs& args) {
  return args.backend.empty() ? runtime::backend_setting() : args.backend;
}

bool effective_fusion(const SpecArgs& args) {
  return args.fusion.empty() ? runtime::fusion_enabled() : args.fusion == "on";
}

std::string resolve_auto_backend(bool verbose) {
  const std::string why_not = runtime::cuda_unusable_reason();
  if (verbose)
    std::fprintf(stderr, "grokjit: backend auto -> %s\n",
                 why_not.empty() ? "cuda" : ("cpu (no usable GPU: " + why_not + ")").c_str());
  return why_not.empty() ? "cuda" : "cpu";
}

std::unique_ptr<runtime::Device> make_device(const std::string& backend, bool verbose) {
  if (backend == "auto") return make_device(resolve_auto_backend(verbose), verbose);
  if (backend == "reference") return runtime::make_reference_device();
  if (backend == "cpu") return runtime::make_cpu_device(runtime::thread_count_setting());
  if (const std::string why_not = runtime::cuda_unusable_reason(); !why_not.empty())
    throw Error("--backend cuda: no usable GPU: " + why_not + ". Use --backend cpu (or auto).", ExitCode::Usage);
  return runtime::make_cuda_device();
}

}  // namespace grokjit::cli
