// The experiments of docs/experiments.md that are sweeps (specs/sweeps/*.json
// run by runtime/sweep.h) plus a report each: this file knows their names,
// default sweep files and how to turn a finished sweep into
// <out>/report.md with tables and plots (<out>/plots/).
#pragma once

#include <string>
#include <vector>

#include "runtime/sweep.h"

namespace grokjit::runtime {

struct ExperimentInfo {
  std::string name;   // "li2-wd"
  std::string sweep;  // default sweep file (stable-lr: its plan), relative to the repository root
  std::string what;   // one line for --help and the report's title
};
const std::vector<ExperimentInfo>& experiments();
// Throws Error (Usage) naming the unknown name and the known ones.
const ExperimentInfo& find_experiment(const std::string& name);

// Reads the sweep's rows from <out_dir>/results.jsonl and each run's
// metrics.jsonl, writes <out_dir>/report.md (and plots) and returns its path.
// Points without a results row are listed as missing; when no point has
// one, nothing is written and it is an Error (ExitCode::Usage).
std::string write_experiment_report(const ExperimentInfo& experiment, const Sweep& sweep, const std::string& out_dir);

// Critical train fraction of the Li2 authors' code: p* = 2.7482 ln M / M.
double li2_critical_fraction(double M);

}  // namespace grokjit::runtime
