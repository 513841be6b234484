// Sweeps: a grid over spec fields expanded into runs with stable ids, run one
// after another or several at once, each appending one row to a JSON-lines
// results file when it finishes. docs/sweeps.md describes the file format,
// the ids, the results rows, resuming and sharding.
//
//   {"name": "quick",
//    "base": "../add-adamw.json",              (or an inline spec object)
//    "set":  {"train.max_epochs": 300},        (fixed overrides, dotted paths)
//    "grid": {"spec": ["../add-adamw.json", "../add-muon.json"],
//             "train.seed": [0, 1, 2],
//             "wd": [{"label": "wd0.1", "value": 0.1, "set": {"optimizer.adam.weight_decay": 0.1}}]},
//    "grids": [{...}, {...}],                  (instead of "grid": the union of several grids)
//    "out":  "runs/sweeps/quick"}
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/device.h"
#include "runtime/train_config.h"

namespace grokjit::runtime {

// One point of the grid: a resolved run.
struct SweepPoint {
  size_t index = 0;        // position in the expansion order
  std::string id;          // "<labels>-<8 hex of the config hash>", e.g. "add-muon.seed3-1a2b3c4d"
  nlohmann::json point;    // {axis: value}: the path axes' JSON values, spec files as written, variant values
  RunConfig config;        // config.name == id
  nlohmann::json config_json;  // spec_to_json(config)
};

struct Sweep {
  std::string name;
  std::string source;       // the sweep file ("" for an inline object: then "sweep")
  std::string default_out;  // "out", else runs/sweeps/<name>
  std::vector<SweepPoint> points;
};

// The most points a sweep may expand to (all its grids together): far more
// runs than any machine or cluster job finishes, and far fewer than would
// fill memory while expanding.
inline constexpr size_t kMaxSweepPoints = 100000;

// Parses and expands a sweep. Spec paths ("base", the "spec" axis) are
// relative to `spec_dir` (the sweep file's directory) unless absolute. Every
// point is resolved through parse_spec, so a bad value is an error naming the
// point and its axis values. Errors: grokjit::Error, ExitCode::Usage (bad
// sweep), Io (unreadable file).
Sweep parse_sweep(const nlohmann::json& sweep, const std::string& source, const std::string& spec_dir);
Sweep load_sweep(const std::string& path);

// The part of a config that identifies a run: everything but its name.
nlohmann::json identity_config(nlohmann::json config_json);

// ---- results files

// <out>/results.jsonl, or the shard's own file with per-shard results.
std::string results_file(const std::string& out_dir, int shard, int shards, bool per_shard);

struct ResultRow {
  nlohmann::json row;
  std::string file;
  size_t line = 0;
};

// Two results rows of one id must record the same run (they may differ in
// when, where and how fast it ran, and how it was computed); else an Error
// (Usage) naming both places ("FILE:LINE") and the first field that differs.
void require_same_run(const std::string& id, const nlohmann::json& first, const std::string& first_at,
                      const nlohmann::json& again, const std::string& again_at);

// Every well-formed row of <out>/results.jsonl and <out>/results.shard-*.jsonl,
// first occurrence of each id; a later row of an id that records another
// result is an Error (Usage) naming both files and lines. A line that is not
// a row by report::results_row_problem (a half-written line from a kill, a
// row no run writes) adds a warning naming file, line and why, and is kept
// in `damaged`; blank lines are skipped.
struct ResultsScan {
  struct Damaged {
    std::string file;
    size_t line = 0;
    std::string text;
  };
  std::map<std::string, ResultRow> rows;  // by id
  std::vector<Damaged> damaged;           // the lines that are not rows, as read
  std::vector<std::string> warnings;
  std::vector<std::string> files;         // the files read, sorted
};
ResultsScan scan_results(const std::string& out_dir);

// Checks that every row of `scan` whose id is a point of `sweep` ran that
// point's config; a mismatch is an Error (Usage) naming the results file and
// line, the sweep and the first differing field. A row whose "point" differs
// from the sweep's (edited by hand: the report would group it by the row's)
// adds a warning to scan.warnings. Returns how many rows belong to other
// sweeps (ids not in this one).
size_t check_results_match(const Sweep& sweep, ResultsScan& scan);

// Appends one line (`row` + '\n') with a single write(2) on an O_APPEND
// descriptor, then fsync: concurrent appenders (shards on a shared file
// system) never interleave within a line. Starts a new line first when the
// file ends in a torn line.
void append_result_line(const std::string& path, const nlohmann::json& row);

// ---- running

struct SweepOptions {
  std::string out_dir;           // required
  int shard = 0, shards = 1;     // this process runs points with index % shards == shard
  bool per_shard_results = false;
  int jobs = 1;                  // runs (or packs) at once
  // Up to `pack` points that differ only in train.seed / task.split_seed train
  // as one pack (runtime/trainer.h, train_pack); 1 = every run alone.
  int pack = 1;
  bool fusion = true;
  // Makes the device for one worker; `threads` = the CPU threads it may use.
  std::function<std::unique_ptr<Device>(int threads)> make_device;
  int total_threads = 0;         // CPU threads shared by the jobs; 0 = all cores
  std::function<void(const std::string& line)> log;  // progress lines; null = silent
  // SIGINT/SIGTERM stop the sweep: in-flight runs checkpoint at the end of
  // their epoch, no row is written for them. Tests turn this off.
  bool handle_signals = true;
  // Test hook, called after each epoch of each run; false stops the sweep as SIGINT does.
  std::function<bool(const SweepPoint& point, int64_t epoch)> after_epoch;
};

struct SweepOutcome {
  size_t selected = 0;   // points of this shard
  size_t already = 0;    // rows found in the results files at the start
  size_t adopted = 0;    // finished earlier (summary.json present) but had no row
  size_t trained = 0;    // runs finished in this invocation (rows appended), failures included
  size_t diverged = 0;   // of those, runs whose loss diverged (a row with "failure")
  bool interrupted = false;
  double wall_seconds = 0;
};

SweepOutcome run_sweep(const Sweep& sweep, const SweepOptions& options);

// The points of shard `shard` of `shards`, in order.
std::vector<const SweepPoint*> shard_points(const Sweep& sweep, int shard, int shards);

// "i/N" (0 <= i < N) -> {i, N}; Error (Usage) naming `what` otherwise.
std::pair<int, int> parse_shard(const std::string& text, const std::string& what);

// The shard of a SLURM job array: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN
// (0 when unset) of SLURM_ARRAY_TASK_COUNT, when both ID and COUNT are set;
// `note` says where it came from. Bad values: Error (Usage) naming the variables.
std::optional<std::pair<int, int>> shard_from_slurm(std::string* note);

// How run_sweep trains the points not yet in the results, in its order: one
// work item per run alone, or a pack of up to `pack` points that differ only
// in their seeds (points with a checkpoint or a finished summary always run
// alone). Items run seeds last: by (train.seed, task.split_seed) of their
// first point, then in grid order.
std::vector<std::vector<const SweepPoint*>> plan_work_items(const std::vector<const SweepPoint*>& todo,
                                                            const std::string& out_dir, int pack);

// One line per point: index, state (done / partial / pending), id, axis
// values and, with pack > 1, the pack it trains in; then a summary of packs.
// The results scan's warnings (damaged lines, edited points) go to `warnings`.
std::string describe_points(const Sweep& sweep, const std::vector<const SweepPoint*>& points,
                            const std::string& out_dir, int pack = 1, std::vector<std::string>* warnings = nullptr);

// Rewrites <out>/results.jsonl as the union of all results files, one row per
// id of `sweep`, in grid order (atomically: temp file + rename); with dry_run
// only says what it would write. Lines of results.jsonl that are not rows are
// first appended to results.damaged.jsonl. Returns the points still missing.
// No results file in out_dir, or two rows of one id that disagree: Error (Usage).
size_t merge_results(const Sweep& sweep, const std::string& out_dir, std::vector<std::string>* messages,
                     bool dry_run = false);

}  // namespace grokjit::runtime
