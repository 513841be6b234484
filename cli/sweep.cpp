// grokjit sweep SWEEP.json: expand a grid of specs and train every point,
// one results row per finished run (runtime/sweep.h, docs/sweeps.md).
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "runtime/knobs.h"
#include "runtime/sweep.h"

namespace grokjit::cli {

// Default runs per pack (docs/sweeps.md, "Several runs in one program"): the
// CPU measurements there show little gain; the GPU default is not measured yet.
constexpr int kCpuPack = 1;
constexpr int kGpuPack = 8;

void add_sweep_options(CLI::App& cmd, SweepArgs& args) {
  cmd.add_option("sweep", args.sweep, "sweep file (JSON); see docs/sweeps.md")->required();
  cmd.add_option("--out", args.out, "output directory (default: the sweep's \"out\", else runs/sweeps/<name>)")
      ->check(not_empty());
  cmd.add_option("--shard", args.shard,
                 "run shard i of N (0 <= i < N): the points whose index % N == i; default SLURM_ARRAY_TASK_ID/COUNT "
                 "when set, else all")
      ->check(not_empty());
  cmd.add_flag("--per-shard-results", args.per_shard_results,
               "with a shard, write results.shard-i-of-N.jsonl instead of appending to results.jsonl");
  cmd.add_option("--jobs,-j", args.jobs, "runs at once; each gets threads/jobs CPU threads (default 1)")
      ->check(CLI::Range(1, 256));
  cmd.add_option("--pack", args.pack,
                 "train up to N points that differ only in train.seed (and task.split_seed) as one program (a leading run axis); "
                 "default: 8 on a GPU, 1 on the CPU (docs/sweeps.md)")
      ->check(CLI::Range(1, 64));
  cmd.add_flag("--dry-run,-n", args.dry_run, "list the points (index, state, id, axis values, the pack each trains in) and stop");
  cmd.add_flag("--merge", args.merge,
               "rewrite <out>/results.jsonl as the union of all results files (one row per point, grid order)");
  cmd.add_option("--backend", args.backend, "cpu | cuda | auto | reference; default GROKJIT_BACKEND, else cpu")
      ->check(CLI::IsMember({"cpu", "cuda", "auto", "reference"}));
  cmd.add_option("--fusion", args.fusion, "on | off; default GROKJIT_FUSION or on")->check(CLI::IsMember({"on", "off"}));
}

int run_sweep_command(const SweepArgs& args) {
  const runtime::Sweep sweep = runtime::load_sweep(args.sweep);
  const std::string out = args.out.empty() ? sweep.default_out : args.out;

  int shard = 0, shards = 1;
  if (!args.shard.empty()) {
    std::tie(shard, shards) = runtime::parse_shard(args.shard, "--shard");
  } else {
    std::string note;
    if (auto slurm = runtime::shard_from_slurm(&note)) {
      std::tie(shard, shards) = *slurm;
      std::fprintf(stderr, "grokjit sweep: %s (give --shard to override)\n", note.c_str());
    }
  }
  if (args.per_shard_results && shards == 1)
    std::fprintf(stderr, "grokjit sweep: --per-shard-results without a shard: writing results.jsonl\n");

  if (args.merge) {
    std::vector<std::string> messages;
    runtime::merge_results(sweep, out, &messages, args.dry_run);
    for (const std::string& m : messages) std::printf("%s\n", m.c_str());
    return 0;
  }
  const std::vector<const runtime::SweepPoint*> points = runtime::shard_points(sweep, shard, shards);
  SpecArgs spec_args;
  spec_args.backend = args.backend;
  spec_args.fusion = args.fusion;
  const std::string backend = effective_backend(spec_args);
  // `auto` decides once, here (and says why); the workers then make their own devices.
  bool cpu = backend == "cpu";
  if (backend == "auto") cpu = make_device(backend, !args.dry_run)->name().rfind("cpu", 0) == 0;
  const bool gpu = !cpu && backend != "reference";
  const int pack = args.pack > 0 ? args.pack : gpu ? kGpuPack : kCpuPack;
  if (args.dry_run) {
    std::printf("sweep '%s' (%s): %zu points%s, output %s\n", sweep.name.c_str(), sweep.source.c_str(),
                sweep.points.size(),
                shards > 1 ? (", shard " + std::to_string(shard) + "/" + std::to_string(shards) + ": " +
                              std::to_string(points.size()))
                                 .c_str()
                           : "",
                out.c_str());
    std::vector<std::string> warnings;
    std::printf("%s", runtime::describe_points(sweep, points, out, pack, &warnings).c_str());
    for (const std::string& w : warnings) std::fprintf(stderr, "grokjit sweep: warning: %s\n", w.c_str());
    return 0;
  }

  runtime::SweepOptions options;
  options.out_dir = out;
  options.shard = shard;
  options.shards = shards;
  options.per_shard_results = args.per_shard_results;
  options.jobs = args.jobs;
  options.pack = pack;
  options.fusion = effective_fusion(spec_args);
  options.total_threads = runtime::thread_count_setting();
  options.make_device = [cpu, backend](int threads) -> std::unique_ptr<runtime::Device> {
    if (cpu) return runtime::make_cpu_device(threads);
    return make_device(backend, false);
  };
  options.log = [](const std::string& line) { std::fprintf(stderr, "grokjit sweep: %s\n", line.c_str()); };

  const runtime::SweepOutcome o = runtime::run_sweep(sweep, options);
  const size_t done = o.already + o.adopted + o.trained;
  std::printf("sweep '%s': %zu of %zu points done (%zu this time%s%s), wall %.1f s; results in %s\n",
              sweep.name.c_str(), done, o.selected, o.trained,
              o.adopted ? (", " + std::to_string(o.adopted) + " from earlier summaries").c_str() : "",
              o.diverged ? (", " + std::to_string(o.diverged) + " diverged").c_str() : "", o.wall_seconds,
              runtime::results_file(out, shard, shards, args.per_shard_results).c_str());
  if (o.interrupted) {
    std::fprintf(stderr, "grokjit sweep: interrupted; run the same command again to resume\n");
    return static_cast<int>(ExitCode::Interrupted);
  }
  return 0;
}

}  // namespace grokjit::cli
