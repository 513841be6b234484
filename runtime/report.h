// `grokjit report`: reads the results rows `grokjit sweep` writes (one JSON
// object per line; docs/sweeps.md, "Results rows"), merges shards, groups the
// runs (task x output x optimizer by default), and writes report.md,
// report.json and plots. docs/report.md describes the output and the
// statistics.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/plot.h"

namespace grokjit::runtime::report {

// One run, as read from a results file.
struct Run {
  std::string id;
  nlohmann::json row;     // the whole row
  std::string source;     // "FILE:LINE" of the row kept
  // Derived from the row:
  nlohmann::json config;  // summary.config, or the row's "config" for a failed run
  bool grokked = false;
  bool diverged = false;  // a row with "failure" and no summary: never groks
  double time = 0;        // the grokking epoch, or the epoch it was censored at
  int64_t cap = 0;        // the epoch cap (train.max_epochs)
};

struct Loaded {
  std::vector<Run> runs;             // first occurrence of each id, in file order
  std::vector<std::string> warnings; // skipped lines, duplicates counted once
  std::vector<std::string> files;
  size_t lines = 0;                  // non-empty lines read
  size_t skipped = 0;                // of those, lines that are not complete rows (warned)
  size_t duplicates = 0;             // rows whose id, or config (another sweep's id), came before
};

// Why `row` (one parsed line of a results file) is not a row a run can
// have written, or "" for a good row. Not one: not an object; no "id"
// string; no "summary"; a "point" that is not an object; an "out_dir" that is
// not a string; a null summary
// without a "failure" object and a "config" object (a diverged run's row);
// a summary without a "config" object or an integer-or-null
// "grokking_epoch"; values no run writes: an epoch cap (criterion.cap, else
// config train.max_epochs) that is not a whole number >= 1, a grokking
// epoch below 1 or after the cap, "censored" that is not a boolean or is
// true with a grokking epoch, "epochs_run" that is not a whole number from
// 1 to the cap or is before the grokking epoch. The reason names the field
// and its value ("\"summary.epochs_run\" is -3, not a whole number >= 1").
// `grokjit report` skips such rows with a warning; `grokjit sweep` uses the
// same test, so both agree on which rows count.
std::string results_row_problem(const nlohmann::json& row);

// A comma-separated option (--by, --curves) split into every part, empty
// ones too ("a,,b" -> a, "", b; "" -> ""): an empty part is a mistake to name.
std::vector<std::string> split_commas(const std::string& text);

// Reads and merges results files. A line that is not a complete row (bad
// JSON, or results_row_problem) is skipped with a warning naming FILE:LINE.
// A repeated id whose row agrees with the first (ignoring when it finished
// and the wall-clock figures) counts once; one that disagrees is an Error
// (ExitCode::Usage) naming both FILE:LINE. A missing or unreadable file is
// ExitCode::Io; a file without rows among files with rows is a warning; no
// rows at all is ExitCode::Usage.
Loaded load_results(const std::vector<std::string>& paths);

// The value at a dotted path ("task.kind") in a run's config, or a
// "point.AXIS" value of its row; nullptr when absent.
const nlohmann::json* field(const Run& run, const std::string& path);

struct Options {
  std::vector<std::string> results;   // results files (at least one)
  std::string out;                    // "" = report/ next to the first results file
  // Grouping fields (dotted config paths, or point.AXIS). The last one is
  // compared pairwise (Welch, log-rank) within each combination of the others.
  std::vector<std::string> by = {"task.kind", "model.output", "optimizer.kind"};
  std::string curves = "auto";        // "auto", "none" or comma-separated run ids (each once)
  bool plots = true;
  plot::Options plot;
};

struct Written {
  std::string dir, markdown_path, json_path;
  std::string markdown;               // report.md's text
  nlohmann::json json;                // report.json's object
  std::vector<std::string> warnings;  // also listed in the report
  std::vector<std::string> plots;     // files drawn (svg and png)
};

// A Markdown table (a header line, the separator, one line per row; '|' in
// a cell is escaped). Every report of grokjit writes its tables with it.
std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// Loads, analyses and writes DIR/report.md, DIR/report.json and DIR/plots/.
// Without gnuplot, or when a plot fails in any way (gnuplot fails or runs
// past plot::Options::timeout_s), the report is still written: the plots'
// .dat/.gp files are there, a warning says why no image was drawn. Refused
// (ExitCode::Usage) before anything is written: a results file that is one
// of the files the report writes (report.md, report.json, a plot file in
// DIR/plots/), an empty or repeated --by field, a --curves list with an
// empty, repeated or unknown id.
Written write_report(const Options& options);

}  // namespace grokjit::runtime::report
