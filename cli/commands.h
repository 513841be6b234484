// Subcommand options and entry points (one file per subcommand).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/train_config.h"

namespace grokjit::cli {

// Options of the spec-driven commands: the spec and its overrides (all of
// them), the backend and fusion (those that compile kernels).
struct SpecArgs {
  std::string spec;
  std::vector<std::string> sets;  // --set key=value
  std::optional<uint64_t> seed;
  std::string backend;  // cpu | cuda | auto | reference; "" = the GROKJIT_BACKEND knob
  std::string fusion;   // on | off; "" = the GROKJIT_FUSION knob
};
std::string effective_backend(const SpecArgs& args);
bool effective_fusion(const SpecArgs& args);
void add_spec_options(CLI::App& cmd, SpecArgs& args);  // SPEC, --set, --seed
void add_backend_option(CLI::App& cmd, SpecArgs& args);
void add_fusion_option(CLI::App& cmd, SpecArgs& args);
// For options whose empty value would silently mean their default (an unset
// shell variable in `--shard "$SHARD"` would run every shard's points).
CLI::Validator not_empty();
runtime::RunConfig load_run_config(const SpecArgs& args);
// `auto`: "cuda" when a GPU is usable, else "cpu"; says which and why on stderr when verbose.
std::string resolve_auto_backend(bool verbose);
// The device for --backend; says on stderr why `auto` chose what it chose.
std::unique_ptr<runtime::Device> make_device(const std::string& backend, bool verbose);

struct TrainArgs {
  SpecArgs spec;
  std::string out;        // default: runs/<spec name>
  bool resume = false;
  bool overwrite = false;  // replace a finished or interrupted run in `out`
  bool quiet = false;
};
void add_train_options(CLI::App& cmd, TrainArgs& args);
int run_train(const TrainArgs& args);

struct SweepArgs {
  std::string sweep;       // the sweep file
  std::string out;         // default: the sweep's "out", else runs/sweeps/<name>
  std::string shard;       // "i/N"; "" = SLURM array variables when set, else all points
  bool per_shard_results = false;
  int jobs = 1;
  int pack = 0;            // runs per pack (runtime/sweep.h); 0 = the backend's default
  bool dry_run = false;
  bool merge = false;
  std::string backend, fusion;  // as in SpecArgs
};
void add_sweep_options(CLI::App& cmd, SweepArgs& args);
int run_sweep_command(const SweepArgs& args);

struct ExperimentArgs {
  std::string name;        // runtime::experiments()
  SweepArgs sweep;         // sweep file (default: the experiment's), out, jobs, backend
  bool report_only = false;
  bool overwrite = false;  // stable-lr: replace the results already in --out
};
void add_experiment_options(CLI::App& cmd, ExperimentArgs& args);
int run_experiment(const ExperimentArgs& args);

struct ReportArgs {
  std::vector<std::string> results;  // results files
  std::string out;                   // "" = report/ next to the first results file
  std::optional<std::string> by;     // comma-separated fields; unset = task.kind,model.output,optimizer.kind
  std::string curves = "auto";       // ids | auto | none
  std::string format = "md";         // stdout: md | json
  bool no_plots = false;
  std::string gnuplot = "gnuplot";
  bool quiet = false;
};
void add_report_options(CLI::App& cmd, ReportArgs& args);
int run_report(const ReportArgs& args, std::ostream& out);

struct GraphArgs {
  SpecArgs spec;
  std::string which = "train";   // train | eval
  std::string format = "text";   // text | dot | json
};
void add_graph_options(CLI::App& cmd, GraphArgs& args);
int run_graph(const GraphArgs& args);

int run_doctor(bool json);

struct DataArgs {
  SpecArgs spec;
  std::string format = "csv";  // csv | json
  std::string out;             // "" = stdout
};
void add_data_options(CLI::App& cmd, DataArgs& args);
int run_data(const DataArgs& args);

struct KernelsArgs {
  SpecArgs spec;
  std::string which = "both";  // train | eval | both
  bool json = false;
  std::string dump;            // directory for every kernel's artifacts
  std::string kernel;          // print this kernel's kernel IR + LLVM IR
  int threads = 0;             // CPU threads the plan is for (0 = GROKJIT_THREADS, else all cores)
};
void add_kernels_options(CLI::App& cmd, KernelsArgs& args);
int run_kernels(const KernelsArgs& args, std::ostream& out);

struct BenchArgs {
  SpecArgs spec;               // spec.fusion unused: bench takes on, off or both
  std::string fusion = "both"; // on | off | both
  int steps = 30;
  int warmup = 5;
  int threads = 0;             // 0 = GROKJIT_THREADS, else all cores
  bool json = false;
  bool remeasure_peak = false;
  int profile = 0;             // > 0: time every kernel (CPU), list the slowest `profile` per program
};
void add_bench_options(CLI::App& cmd, BenchArgs& args);
int run_bench(const BenchArgs& args, std::ostream& out);

}  // namespace grokjit::cli
