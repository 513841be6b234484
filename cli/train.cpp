// grokjit train SPEC: train until the model groks (or the epoch cap).
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/files.h"
#include "runtime/trainer.h"

namespace grokjit::cli {

void add_train_options(CLI::App& cmd, TrainArgs& args) {
  add_spec_options(cmd, args.spec);
  add_backend_option(cmd, args.spec);
  add_fusion_option(cmd, args.spec);
  cmd.add_option("--out", args.out, "output directory (default runs/<spec name>)")->check(not_empty());
  cmd.add_flag("--resume", args.resume, "continue the run in --out from its checkpoint");
  cmd.add_flag("--overwrite", args.overwrite, "replace the run already in --out (else refused)")->excludes("--resume");
  cmd.add_flag("--quiet,-q", args.quiet, "no per-epoch output");
}

namespace {

// What a run leaves in its --out.
constexpr const char* kRunFiles[] = {"summary.json", "metrics.jsonl", "checkpoint.safetensors"};

// A second `train` into the same --out would replace the first run's
// metrics, summary and checkpoint without a word.
void refuse_to_replace_a_run(const std::string& out_dir) {
  std::string found;
  for (const char* file : kRunFiles)
    if (std::filesystem::exists(std::filesystem::path(out_dir) / file)) found += std::string(found.empty() ? "" : ", ") + file;
  if (found.empty()) return;
  const bool resumable = found.find("checkpoint") != std::string::npos;
  throw Error(out_dir + " already holds a run (" + found + "): " + (resumable ? "--resume continues it, " : "") +
                  "--overwrite replaces it, or give another --out",
              ExitCode::Usage);
}

}  // namespace

int run_train(const TrainArgs& args) {
  runtime::RunConfig config = load_run_config(args.spec);
  std::unique_ptr<runtime::Device> device = make_device(effective_backend(args.spec), !args.quiet);
  runtime::TrainOptions options;
  options.out_dir = args.out.empty() ? "runs/" + config.name : args.out;
  options.fusion = effective_fusion(args.spec);
  options.resume = args.resume;
  options.quiet = args.quiet;
  if (args.resume && !std::filesystem::exists(std::filesystem::path(options.out_dir) / "checkpoint.safetensors"))
    throw Error("--resume: no checkpoint in " + options.out_dir + " (expected " + options.out_dir +
                    "/checkpoint.safetensors); run without --resume to start", ExitCode::Usage);
  // Held from before the checks below to the end of the run: another
  // process could otherwise pass them too, or delete this run's files.
  runtime::DirectoryLock out_lock(options.out_dir);
  if (!args.resume && !args.overwrite) refuse_to_replace_a_run(options.out_dir);
  if (args.overwrite)  // nothing of the old run may be left to mix with the new one (a crash before its first save)
    for (const char* file : kRunFiles) std::filesystem::remove(std::filesystem::path(options.out_dir) / file);
  if (!args.quiet)
    std::fprintf(stderr, "grokjit: training '%s' on %s, fusion %s -> %s\n", config.name.c_str(),
                 device->name().c_str(), options.fusion ? "on" : "off", options.out_dir.c_str());

  runtime::TrainSummary s = runtime::train(config, *device, options);

  if (s.interrupted) {
    std::fprintf(stderr, "grokjit: interrupted after epoch %lld; checkpoint saved in %s (resume with --resume)\n",
                 static_cast<long long>(s.epochs_run), options.out_dir.c_str());
    return static_cast<int>(ExitCode::Interrupted);
  }
  auto epoch_str = [](const std::optional<int64_t>& e) { return e ? std::to_string(*e) : std::string("never"); };
  std::printf("memorized at epoch: %s\n", epoch_str(s.memorization_epoch).c_str());
  if (s.grokking_epoch) {
    std::printf("grokked at epoch: %lld (val acc %.4f)\n", static_cast<long long>(*s.grokking_epoch), s.last.val_acc);
  } else {
    std::printf("did not grok within %lld epochs (censored)\n", static_cast<long long>(s.epochs_run));
  }
  std::printf("epochs: %lld, steps: %lld, wall: %.1f s, median step: %.2f ms, kernels/step: %zu, compile: %.2f s\n",
              static_cast<long long>(s.epochs_run), static_cast<long long>(s.steps), s.wall_seconds, s.step_ms_median,
              s.train_kernels, s.compile_seconds);
  std::printf("results: %s/{summary.json,metrics.jsonl,checkpoint.safetensors}\n", options.out_dir.c_str());
  return 0;
}

}  // namespace grokjit::cli
