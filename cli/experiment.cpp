// grokjit experiment NAME: run an experiment's sweep (as `grokjit sweep` does)
// and write its report (runtime/analysis_experiments.h, docs/experiments.md).
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/analysis_experiments.h"
#include "runtime/analysis_stability.h"
#include "runtime/sweep.h"

namespace grokjit::cli {

namespace {

// An experiment's default sweep (or plan) is a path relative to the
// repository root: run from anywhere else it is not there, and the error
// should say how to fix that.
void check_default_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return;
  std::string here = std::filesystem::current_path(ec).string();
  throw Error("cannot read " + std::string(what) + " '" + path + "' (the experiment's default, relative to the " +
                  "current directory" + (here.empty() ? "" : " " + here) +
                  "): run from the repository root, or give --sweep PATH",
              ExitCode::Io);
}

}  // namespace

void add_experiment_options(CLI::App& cmd, ExperimentArgs& args) {
  std::string names;
  for (const runtime::ExperimentInfo& e : runtime::experiments()) names += "\n  " + e.name + ": " + e.what;
  cmd.add_option("name", args.name, "the experiment:" + names)->required();
  cmd.add_option("--sweep", args.sweep.sweep,
                 "sweep file (default: the experiment's, specs/sweeps/<name>.json; stable-lr: its plan, "
                 "specs/experiments/stable-lr.json)")
      ->check(not_empty());
  cmd.add_option("--out", args.sweep.out, "output directory (default: the sweep's \"out\")")->check(not_empty());
  cmd.add_option("--jobs,-j", args.sweep.jobs, "runs at once (default 1)")->check(CLI::Range(1, 256));
  cmd.add_flag("--report-only", args.report_only, "only (re)write the report from the results already there");
  cmd.add_flag("--overwrite", args.overwrite,
               "stable-lr: replace the results already in --out (else refused; the sweep experiments resume instead)");
  cmd.add_option("--backend", args.sweep.backend, "cpu | cuda | auto | reference; default GROKJIT_BACKEND, else cpu")
      ->check(CLI::IsMember({"cpu", "cuda", "auto", "reference"}));
}

int run_experiment(const ExperimentArgs& args) {
  const runtime::ExperimentInfo& experiment = runtime::find_experiment(args.name);
  SweepArgs sweep_args = args.sweep;
  const bool stable_lr = experiment.name == "stable-lr";
  if (sweep_args.sweep.empty()) {
    sweep_args.sweep = experiment.sweep;
    check_default_file(sweep_args.sweep, stable_lr ? "stable-lr plan" : "sweep");
  }
  if (stable_lr) {  // its own per-step loop, not a sweep
    if (args.report_only) throw Error("stable-lr writes its report as it runs; --report-only does not apply", ExitCode::Usage);
    const runtime::StabilityPlan plan = runtime::load_stability_plan(sweep_args.sweep);
    const std::string out = sweep_args.out.empty() ? plan.out : sweep_args.out;
    runtime::prepare_stability_out(out, args.overwrite);  // before anything starts: a refusal changes nothing
    SpecArgs spec_args;
    spec_args.backend = sweep_args.backend;
    std::unique_ptr<runtime::Device> device = make_device(effective_backend(spec_args), true);
    std::printf("report: %s\n", runtime::run_stability(plan, *device, out, false).c_str());
    return 0;
  }
  if (args.overwrite)
    throw Error("--overwrite applies to stable-lr only; " + experiment.name +
                    " resumes its sweep (finished points are kept); give another --out to start afresh",
                ExitCode::Usage);
  const runtime::Sweep sweep = runtime::load_sweep(sweep_args.sweep);
  if (sweep_args.out.empty()) sweep_args.out = sweep.default_out;
  if (!args.report_only) {
    const int rc = run_sweep_command(sweep_args);
    if (rc != 0) return rc;
  }
  std::printf("report: %s\n", runtime::write_experiment_report(experiment, sweep, sweep_args.out).c_str());
  return 0;
}

}  // namespace grokjit::cli
