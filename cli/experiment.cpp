// grokjit experiment NAME: run an experiment's sweep (as `grokjit sweep` does)
// and write its report (runtime/analysis_experiments.h, docs/experiments.md).
#include <cstdio>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/analysis_experiments.h"
#include "runtime/analysis_stability.h"
#include "runtime/sweep.h"

namespace grokjit::cli {

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
  cmd.add_option("--backend", args.sweep.backend, "cpu | cuda | auto | reference; default GROKJIT_BACKEND, else cpu")
      ->check(CLI::IsMember({"cpu", "cuda", "auto", "reference"}));
}

int run_experiment(const ExperimentArgs& args) {
  const runtime::ExperimentInfo& experiment = runtime::find_experiment(args.name);
  SweepArgs sweep_args = args.sweep;
  if (sweep_args.sweep.empty()) sweep_args.sweep = experiment.sweep;
  if (experiment.name == "stable-lr") {  // its own per-step loop, not a sweep
    if (args.report_only) throw Error("stable-lr writes its report as it runs; --report-only does not apply", ExitCode::Usage);
    const runtime::StabilityPlan plan = runtime::load_stability_plan(sweep_args.sweep);
    SpecArgs spec_args;
    spec_args.backend = sweep_args.backend;
    std::unique_ptr<runtime::Device> device = make_device(effective_backend(spec_args), true);
    const std::string out = sweep_args.out.empty() ? plan.out : sweep_args.out;
    std::printf("report: %s\n", runtime::run_stability(plan, *device, out, false).c_str());
    return 0;
  }
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
