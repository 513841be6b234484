// The grokjit command line: subcommands over the library. Every error a user
// can cause arrives here as grokjit::Error and leaves with its exit code.
#include "cli/app.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "grokjit/build_config.h"
#include "grokjit/source_commit.h"
#include "ir/error.h"
#include "runtime/knobs.h"

namespace grokjit::cli {

namespace {
// Output that could not be written (stdout on a full disk, a closed pipe's
// reader gone) must not end in success: the user would take a cut file for
// the whole.
void flush_standard_output() {
  std::cout.flush();
  const bool failed = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (failed) throw Error("cannot write to standard output (a full disk, or a closed pipe?): the output is incomplete",
                          ExitCode::Io);
}
}  // namespace

int run_main(int argc, char** argv) {
  CLI::App app{"grokjit: a JIT training engine for grokking and optimizer research"};
  app.require_subcommand(0, 1);
  // Usage errors read like every other error: "grokjit: error: --steps: ...".
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "grokjit: error: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  bool version = false;
  app.add_flag("--version", version, "print the version and build configuration");
  // Flags that set knobs (runtime/knobs.h): validated there, by name.
  std::map<std::string, std::string> knob_flags;
  for (const runtime::Knob& k : runtime::all_knobs()) {
    if (k.flag.empty() || k.flag == "--backend" || k.flag == "--fusion") continue;  // per-command options
    std::string flag(k.flag);
    if (k.type == runtime::KnobType::Bool) {
      app.add_flag_callback(flag, [&knob_flags, name = std::string(k.name)] { knob_flags[name] = "1"; },
                            std::string(k.help));
    } else {
      app.add_option_function<std::string>(
          flag, [&knob_flags, name = std::string(k.name)](const std::string& v) { knob_flags[name] = v; },
          std::string(k.help) + " (" + std::string(k.name) + ")")
          ->check(not_empty());  // empty would mean the default (--cache-dir "" wrote into the current directory)
    }
  }

  TrainArgs train_args;
  CLI::App* train = app.add_subcommand("train", "train a model spec until it groks");
  add_train_options(*train, train_args);

  SweepArgs sweep_args;
  CLI::App* sweep = app.add_subcommand("sweep", "train every point of a grid of specs; one results row per run");
  add_sweep_options(*sweep, sweep_args);

  ExperimentArgs experiment_args;
  CLI::App* experiment =
      app.add_subcommand("experiment", "run one of the shipped experiments (a sweep) and write its Markdown report");
  add_experiment_options(*experiment, experiment_args);

  ReportArgs report_args;
  CLI::App* report = app.add_subcommand("report", "statistics, tables and plots of sweep results (grokking epochs by group)");
  add_report_options(*report, report_args);

  GraphArgs graph_args;
  CLI::App* graph = app.add_subcommand("graph", "print the train-step or eval graph of a spec (text, DOT or JSON)");
  add_graph_options(*graph, graph_args);

  DataArgs data_args;
  CLI::App* data = app.add_subcommand("data", "export a spec's dataset and train/val split (CSV or JSON)");
  add_data_options(*data, data_args);

  CLI::App* doctor = app.add_subcommand("doctor", "what this machine and build offer: CPU features, LLVM, NVRTC, GPU");
  bool doctor_json = false;
  doctor->add_flag("--json", doctor_json, "machine-readable output");

  KernelsArgs kernels_args;
  CLI::App* kernels = app.add_subcommand("kernels", "list the fused kernels of a spec's train-step and eval programs; dump their IR");
  add_kernels_options(*kernels, kernels_args);

  BenchArgs bench_args;
  CLI::App* bench = app.add_subcommand("bench", "time the training step, fusion on and off, against this machine's peak");
  add_bench_options(*bench, bench_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (app.exit(e) != 0) return static_cast<int>(ExitCode::Usage);
    try {  // --help: its text must have reached stdout
      flush_standard_output();
    } catch (const Error& error) {
      std::fprintf(stderr, "grokjit: error: %s\n", error.what());
      return error.exit_code();
    }
    return 0;
  }

  try {
    for (const auto& [name, value] : knob_flags) runtime::set_knob_override(name, value);
    for (const std::string& warning : runtime::undeclared_knob_warnings())
      std::fprintf(stderr, "grokjit: warning: %s\n", warning.c_str());
    if (version) {
      std::printf("grokjit %s (source %s, LLVM %s, NVRTC %s, %s)\n", GROKJIT_VERSION, GROKJIT_SOURCE_COMMIT,
                  GROKJIT_LLVM_VERSION, GROKJIT_HAVE_NVRTC ? GROKJIT_CUDA_VERSION : "off", GROKJIT_BUILD_TYPE);
      flush_standard_output();
      return 0;
    }
    if (!doctor->parsed()) runtime::check_knobs();  // doctor lists every knob, bad ones with why
    auto run_command = [&]() -> int {
      if (train->parsed()) return run_train(train_args);
      if (sweep->parsed()) return run_sweep_command(sweep_args);
      if (experiment->parsed()) return run_experiment(experiment_args);
      if (report->parsed()) return run_report(report_args, std::cout);
      if (graph->parsed()) return run_graph(graph_args);
      if (doctor->parsed()) return run_doctor(doctor_json);
      if (data->parsed()) return run_data(data_args);
      if (kernels->parsed()) return run_kernels(kernels_args, std::cout);
      if (bench->parsed()) return run_bench(bench_args, std::cout);
      std::cout << app.help();
      return 0;
    };
    const int rc = run_command();
    if (rc == 0) flush_standard_output();  // (an interrupted or failed command keeps its own exit code)
    return rc;
  } catch (const Error& e) {
    std::fprintf(stderr, "grokjit: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::filesystem::filesystem_error& e) {
    // A directory that cannot be created or a file that cannot be written
    // (--out under /proc, onto an existing file, a full disk): the user's to fix.
    std::fprintf(stderr, "grokjit: error: %s\n", e.what());
    return static_cast<int>(ExitCode::Io);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "grokjit: error: out of memory (the model, batch or pack may be too large for this machine; "
                 "check the spec's sizes)\n");
    return static_cast<int>(ExitCode::Failure);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grokjit: internal error: %s\n(please report this with the command you ran)\n", e.what());
    return static_cast<int>(ExitCode::Failure);
  }
}

}  // namespace grokjit::cli
