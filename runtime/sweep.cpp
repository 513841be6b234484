// Sweep files -> points -> runs -> rows of a JSON-lines results file.
#include "runtime/sweep.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "codegen/kernel_ir.h"
#include "grokjit/build_config.h"
#include "grokjit/source_commit.h"
#include "ir/error.h"
#include "runtime/files.h"
#include "runtime/report.h"
#include "runtime/knobs.h"
#include "runtime/spec.h"
#include "runtime/sweep_eta.h"
#include "runtime/trainer.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------- parsing

// "/grid/train.seed/2": JSON pointer tokens escape '~' and '/'.
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return out;
}

[[noreturn]] void fail(const std::string& source, const std::string& where, const std::string& message,
                       ExitCode code = ExitCode::Usage) {
  throw Error(source + ": " + (where.empty() ? "" : where + ": ") + message, code);
}

std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + value.type_name() + ")";
}


// "dir/add-muon.json" -> "add-muon".
std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

// Letters, digits, '.', '_', '-' (what a run name allows); anything else becomes '_'.
std::string id_safe(const std::string& text) {
  std::string out;
  for (char c : text) out += is_name_char(c) ? c : '_';
  return out;
}

// One `path=value` assignment through the spec parser's --set, with its
// "--set path=value: " prefix replaced by `where`.
void apply_set(json& spec, const std::string& path, const json& value, const std::string& source,
               const std::string& where) {
  const std::string assignment = path + "=" + value.dump();
  try {
    apply_override(spec, assignment);
  } catch (const Error& e) {
    std::string message = e.what();
    const std::string prefix = "--set " + assignment + ": ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    fail(source, where, message, e.code());
  }
}

bool is_spec_path(const std::string& path) {
  json probe = json::object();
  try {
    apply_override(probe, path + "=0");
    return true;
  } catch (const Error&) {
    return false;
  }
}

struct AxisValue {
  std::string label;      // its part of the run id
  json point_value;       // what the row's "point" records
  std::string spec_file;  // "spec" axis: the resolved path
  std::vector<std::pair<std::string, json>> sets;
};

struct Axis {
  std::string name;
  std::vector<AxisValue> values;
};

using Sets = std::vector<std::pair<std::string, json>>;

// {"path": value, ...}: every path checked against the spec's fields now.
Sets parse_sets(const json& object, const std::string& source, const std::string& where) {
  if (!object.is_object()) fail(source, where, "expected an object {\"dotted.path\": value}, got " + describe(object));
  Sets sets;
  for (const auto& [path, value] : object.items()) {
    const std::string at = where + "/" + pointer_token(path);
    if (value.is_null()) fail(source, at, "null is not a value; leave the field out to keep its default");
    json probe = json::object();
    apply_set(probe, path, value, source, at);
    sets.emplace_back(path, value);
  }
  return sets;
}

class SweepParser {
 public:
  SweepParser(std::string source, std::string spec_dir) : source_(std::move(source)), spec_dir_(std::move(spec_dir)) {}

  Sweep parse(const json& sweep) {
    if (!sweep.is_object()) fail(source_, "", "a sweep is a JSON object, got " + describe(sweep));
    static const std::vector<std::string> kKeys = {"name", "comment", "base", "set", "grid", "grids", "out"};
    for (const auto& [key, value] : sweep.items()) {
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        const std::string close = closest_name(key, kKeys);
        fail(source_, "", "unknown key '" + key + "' at the top level" +
                              (close.empty() ? ";" : "; did you mean '" + close + "'?") +
                              " allowed: name, comment, base, set, grid, grids, out");
      }
    }
    Sweep out;
    out.source = source_;
    out.name = sweep.contains("name") ? string_at(sweep["name"], "/name") : stem_of(source_);
    if (out.name.empty() || id_safe(out.name) != out.name || out.name == "." || out.name == "..")
      fail(source_, "/name", "'" + out.name + "' is not a sweep name; use letters, digits, '.', '_', '-' (not . or ..)");
    if (sweep.contains("comment")) string_at(sweep["comment"], "/comment");
    out.default_out = sweep.contains("out") ? string_at(sweep["out"], "/out") : "runs/sweeps/" + out.name;
    if (out.default_out.empty()) fail(source_, "/out", "empty output directory");
    if (sweep.contains("set")) sets_ = parse_sets(sweep["set"], source_, "/set");

    if (sweep.contains("grid") && sweep.contains("grids"))
      fail(source_, "", "give either \"grid\" (one grid) or \"grids\" (a list of grids whose points are joined), not both");
    std::vector<std::pair<std::string, json>> grids;  // JSON pointer, grid object
    if (sweep.contains("grids")) {
      const json& list = sweep["grids"];
      if (!list.is_array() || list.empty()) fail(source_, "/grids", "expected a non-empty list of grids, got " + describe(list));
      for (size_t i = 0; i < list.size(); ++i) grids.emplace_back("/grids/" + std::to_string(i), list[i]);
    } else {
      grids.emplace_back("/grid", sweep.contains("grid") ? sweep["grid"] : json::object());
    }

    if (sweep.contains("base")) {
      const json& base = sweep["base"];
      if (base.is_string()) {
        base_ = load_spec_json(base.get<std::string>(), "/base");
        base_name_ = stem_of(base.get<std::string>());
      } else if (base.is_object()) {
        base_ = base;
        base_name_ = out.name;
      } else {
        fail(source_, "/base", "expected a spec file name or an inline spec object, got " + describe(base));
      }
      has_base_ = true;
    }

    for (const auto& [where, grid] : grids) expand(grid, where, out);
    check_unique_ids(out);
    return out;
  }

 private:
  std::string string_at(const json& value, const std::string& where) {
    if (!value.is_string()) fail(source_, where, "expected a string, got " + describe(value));
    return value.get<std::string>();
  }

  std::string resolve_path(const std::string& written) const {
    fs::path p(written);
    return p.is_absolute() || spec_dir_.empty() ? written : (fs::path(spec_dir_) / p).lexically_normal().string();
  }

  json load_spec_json(const std::string& written, const std::string& where) {
    const std::string path = resolve_path(written);
    auto cached = spec_files_.find(path);
    if (cached != spec_files_.end()) return cached->second;
    std::string text;
    try {
      text = read_text_file(path, "spec");
    } catch (const Error& e) {
      fail(source_, where, std::string(e.what()) + " (spec paths are relative to the sweep file's directory)",
           ExitCode::Io);
    }
    json spec;
    try {
      spec = parse_json_text(text, path);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (the spec at " + source_ + ": " + where + ")", e.code());
    }
    if (!spec.is_object())
      fail(path, "", "a spec is a JSON object, got " + describe(spec) + " (the spec at " + source_ + ": " + where + ")");
    return spec_files_[path] = spec;
  }

  Axis parse_axis(const std::string& name, const json& values, const std::string& where) {
    Axis axis{name, {}};
    if (!values.is_array()) fail(source_, where, "expected a list of values, got " + describe(values));
    if (values.empty()) fail(source_, where, "empty list; an axis needs at least one value");
    const bool path_axis = name != "spec" && is_spec_path(name);
    for (size_t i = 0; i < values.size(); ++i) {
      const json& v = values[i];
      const std::string at = where + "/" + std::to_string(i);
      AxisValue value;
      if (name == "spec") {
        if (has_base_) fail(source_, where, "a \"spec\" axis replaces \"base\"; give one or the other");
        const std::string written = string_at(v, at);
        load_spec_json(written, at);
        value.spec_file = resolve_path(written);
        value.label = id_safe(stem_of(written));
        value.point_value = written;
      } else if (path_axis) {
        if (v.is_null()) fail(source_, at, "null is not a value");
        json probe = json::object();
        apply_set(probe, name, v, source_, at);
        value.sets.emplace_back(name, v);
        value.point_value = v;
        const std::string last = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
        value.label = id_safe(v.is_string() ? v.get<std::string>() : last + v.dump());
      } else {
        // A named variant: {"label": "...", "set": {...}, "value": optional}.
        if (!v.is_object() || !v.contains("label") || !v.contains("set")) {
          std::vector<std::string> paths;
          for (const SpecField& f : spec_fields()) paths.push_back(f.path);
          const std::string close = closest_name(name, paths);
          fail(source_, where,
               "'" + name + "' is neither a spec field" + (close.empty() ? "" : " (did you mean '" + close + "'?)") +
                   " nor \"spec\", so its values must be variants {\"label\": ..., \"set\": {...}}; got " +
                   describe(v) + " at " + at);
        }
        for (const auto& [key, unused] : v.items()) {
          if (key != "label" && key != "set" && key != "value")
            fail(source_, at, "unknown key '" + key + "' in a variant; allowed: label, set, value");
        }
        value.label = string_at(v["label"], at + "/label");
        if (value.label.empty() || id_safe(value.label) != value.label)
          fail(source_, at + "/label", "'" + value.label + "' is not a label; use letters, digits, '.', '_', '-'");
        value.sets = parse_sets(v["set"], source_, at + "/set");
        value.point_value = v.contains("value") ? v["value"] : json(value.label);
      }
      for (const AxisValue& earlier : axis.values) {
        if (earlier.point_value == value.point_value && earlier.label == value.label)
          fail(source_, at, "repeats the value " + value.point_value.dump() + " of this axis");
      }
      axis.values.push_back(std::move(value));
    }
    return axis;
  }

  void expand(const json& grid, const std::string& where, Sweep& out) {
    if (!grid.is_object()) fail(source_, where, "expected an object {axis: [values...]}, got " + describe(grid));
    // Axis order: "spec" first, then by name (the file's key order does not matter).
    std::vector<Axis> axes;
    if (grid.contains("spec")) axes.push_back(parse_axis("spec", grid["spec"], where + "/spec"));
    for (const auto& [name, values] : grid.items()) {
      if (name != "spec") axes.push_back(parse_axis(name, values, where + "/" + pointer_token(name)));
    }
    if (!has_base_ && (axes.empty() || axes.front().name != "spec"))
      fail(source_, where, "no spec: give \"base\" (a spec file or object) or a \"spec\" axis");
    refuse_overlapping_sets(axes, where);
    refuse_huge_grid(axes, where, out.points.size());

    std::vector<size_t> at(axes.size(), 0);
    while (true) {
      out.points.push_back(resolve(axes, at, out));
      // Odometer: the last axis varies fastest.
      size_t k = axes.size();
      while (k > 0 && ++at[k - 1] == axes[k - 1].values.size()) at[--k] = 0;
      if (k == 0) break;
    }
  }

  // Two places that set one field (or a field and the object holding it): the
  // one applied last would silently win, and the point would record a value
  // its run did not use (or "set" a value that was ignored). "set" against
  // every axis, and axes against each other.
  void refuse_overlapping_sets(const std::vector<Axis>& axes, const std::string& where) {
    // Setting `outer` replaces `inner`: the same field, or one inside that object.
    auto covers = [](const std::string& outer, const std::string& inner) {
      return inner == outer || inner.rfind(outer + ".", 0) == 0;
    };
    std::vector<std::set<std::string>> paths(axes.size());
    for (size_t i = 0; i < axes.size(); ++i)
      for (const AxisValue& v : axes[i].values)
        for (const auto& [path, unused] : v.sets) paths[i].insert(path);
    for (size_t i = 0; i < axes.size(); ++i) {
      const std::string at = where + "/" + pointer_token(axes[i].name);
      for (const std::string& path : paths[i]) {
        // (An axis that refines a field of an object "set" gives is fine: it applies after.)
        for (const auto& [fixed, unused] : sets_)
          if (covers(path, fixed))
            fail(source_, at, "sets '" + path + "', which \"set\" fixes too ('" + fixed + "'); remove it from one of them");
        for (size_t j = i + 1; j < axes.size(); ++j)
          for (const std::string& other : paths[j])
            if (covers(path, other) || covers(other, path))
              fail(source_, at, "sets '" + path + "', which axis '" + axes[j].name + "' sets too ('" + other +
                                    "'): the later one would win; set each field in one axis only");
      }
    }
  }

  // 10 axes of 10 values are 10^10 points: refused before they fill memory.
  void refuse_huge_grid(const std::vector<Axis>& axes, const std::string& where, size_t points_before) {
    double points = 1;  // a double cannot overflow here (at most 10^308)
    std::string shape;
    for (const Axis& axis : axes) {
      shape += (shape.empty() ? "" : " x ") + std::to_string(axis.values.size()) + " (" + axis.name + ")";
      points *= static_cast<double>(axis.values.size());
    }
    if (points + static_cast<double>(points_before) <= static_cast<double>(kMaxSweepPoints)) return;
    char count[32];
    std::snprintf(count, sizeof count, points < 1e15 ? "%.0f" : "%.3g", points);
    fail(source_, where,
         "the grid has " + std::string(count) + " points (" + shape +
             (points_before ? "; the grids before it have " + std::to_string(points_before) : "") +
             "); a sweep holds at most " + std::to_string(kMaxSweepPoints) + ": split it into several sweeps");
  }

  SweepPoint resolve(const std::vector<Axis>& axes, const std::vector<size_t>& at, const Sweep& sweep) {
    SweepPoint p;
    p.index = sweep.points.size();
    p.point = json::object();
    json spec = has_base_ ? base_ : json::object();
    std::string base_name = base_name_;
    std::vector<std::string> labels;
    std::string described;
    for (size_t k = 0; k < axes.size(); ++k) {
      const AxisValue& v = axes[k].values[at[k]];
      p.point[axes[k].name] = v.point_value;
      labels.push_back(v.label);
      described += (described.empty() ? "" : ", ") + axes[k].name + "=" +
                   (v.point_value.is_string() ? v.point_value.get<std::string>() : v.point_value.dump());
      if (!v.spec_file.empty()) {
        spec = spec_files_.at(v.spec_file);
        base_name = v.label;
      }
    }
    const std::string where = source_ + " point " + std::to_string(p.index) + (described.empty() ? "" : " (" + described + ")");
    spec["name"] = "point";  // replaced by the id below
    for (const auto& [path, value] : sets_) apply_set(spec, path, value, where, "/set/" + pointer_token(path));
    for (size_t k = 0; k < axes.size(); ++k) {
      for (const auto& [path, value] : axes[k].values[at[k]].sets)
        apply_set(spec, path, value, where, "axis '" + axes[k].name + "'");
    }
    p.config = parse_spec(spec, where);
    p.config_json = spec_to_json(p.config);
    std::string human;
    for (const std::string& l : labels) human += (human.empty() ? "" : ".") + l;
    if (human.empty()) human = base_name;
    if (human.size() > 80) human.resize(80);
    p.id = human + "-" + codegen::hex_digest(identity_config(p.config_json).dump(), 8);
    p.config.name = p.id;
    p.config_json["name"] = p.id;
    described_.push_back(described);
    return p;
  }

  // Two points with one config (whatever their labels) would run it twice.
  void check_unique_ids(const Sweep& out) {
    std::map<std::string, size_t> seen;
    for (const SweepPoint& p : out.points) {
      auto [it, fresh] = seen.emplace(identity_config(p.config_json).dump(), p.index);
      if (!fresh)
        fail(source_, "", "points " + std::to_string(it->second) + " (" + described_[it->second] + ") and " +
                              std::to_string(p.index) + " (" + described_[p.index] +
                              ") resolve to the same config (id " + p.id + "); remove one");
    }
  }

  std::string source_, spec_dir_;
  Sets sets_;
  json base_;
  bool has_base_ = false;
  std::string base_name_;
  std::map<std::string, json> spec_files_;
  std::vector<std::string> described_;
};

// ---------------------------------------------------------------- signals

// SIGINT/SIGTERM are blocked in every thread the sweep starts (and so in the
// trainer's and the devices' threads); one thread takes them with
// sigtimedwait. The first stops the sweep at the end of the runs' current
// epochs; a second exits at once (runs resume from their last checkpoint).
class SignalWatch {
 public:
  SignalWatch(std::atomic<bool>& stop, std::function<void(const std::string&)> log) : stop_(stop), log_(std::move(log)) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] {
      const timespec tick{0, 100'000'000};
      while (!done_.load()) {
        if (sigtimedwait(&set_, nullptr, &tick) > 0) take();
      }
    });
  }
  ~SignalWatch() {
    done_.store(true);
    thread_.join();
    const timespec zero{0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) take();  // none is left pending when unblocked
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  void take() {
    if (++count_ > 1) {
      std::fprintf(stderr, "grokjit: second interrupt: exiting now; runs resume from their last checkpoint\n");
      std::_Exit(static_cast<int>(ExitCode::Interrupted));
    }
    stop_.store(true);
    if (log_) log_("interrupt: stopping after the current epoch of each run (checkpointed); Ctrl-C again to quit now");
  }

  std::atomic<bool>& stop_;
  std::function<void(const std::string&)> log_;
  sigset_t set_{}, old_{};
  std::atomic<bool> done_{false};
  int count_ = 0;
  std::thread thread_;
};

// A finished run's summary.json, when it is one for this point (else null).
json finished_summary(const fs::path& run_dir, const SweepPoint& p) {
  const fs::path file = run_dir / "summary.json";
  if (!fs::exists(file)) return nullptr;
  json s = json::parse(read_text_file(file.string(), "summary"), nullptr, false);
  if (s.is_discarded() || !s.is_object() || s.value("interrupted", true) || !s.contains("config")) return nullptr;
  if (identity_config(s["config"]) != identity_config(p.config_json))
    throw Error(file.string() + " holds a run of another config than point " + std::to_string(p.index) + " (" + p.id +
                    "): " + first_difference(identity_config(s["config"]), identity_config(p.config_json)) +
                    "; move that directory away",
                ExitCode::Usage);
  // Taken over as a row, it must be one the next scan keeps, or it would be taken over again on every run.
  if (const std::string why = report::results_row_problem(json{{"id", p.id}, {"summary", s}}); !why.empty())
    throw Error(file.string() + " is not a summary a finished run writes (" + why + "); move that directory away",
                ExitCode::Usage);
  return s;
}

}  // namespace

// ---------------------------------------------------------------- public API

Sweep parse_sweep(const nlohmann::json& sweep, const std::string& source, const std::string& spec_dir) {
  return SweepParser(source.empty() ? "sweep" : source, spec_dir).parse(sweep);
}

Sweep load_sweep(const std::string& path) {
  json sweep = parse_json_text(read_text_file(path, "sweep"), path);
  return parse_sweep(sweep, path, fs::path(path).parent_path().string());
}

nlohmann::json identity_config(nlohmann::json config_json) {
  if (config_json.is_object()) config_json.erase("name");
  return config_json;
}

std::string results_file(const std::string& out_dir, int shard, int shards, bool per_shard) {
  if (!per_shard || shards <= 1) return (fs::path(out_dir) / "results.jsonl").string();
  return (fs::path(out_dir) / ("results.shard-" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".jsonl"))
      .string();
}

namespace {

// What must agree between two rows of one id: the run's result, not when or
// how fast it ran, nor where its files went.
json comparable_row(const json& row) {
  json c = row;
  for (const char* k : {"finished_at", "grokjit_version", "grokjit_source", "out_dir"}) c.erase(k);
  if (c.contains("failure") && c["failure"].is_object()) c["failure"].erase("message");  // names paths
  if (c["summary"].is_object()) {
    json& s = c["summary"];
    // How it was computed (fusion, packing, kernel counts) is not the result.
    for (const char* k : {"wall_seconds", "step_ms_median", "compile_seconds", "device", "grokjit_source", "fusion",
                          "pack", "kernels_per_step", "eval_kernels"})
      s.erase(k);
    if (s.contains("final") && s["final"].is_object())
      for (const char* k : {"step_ms", "epoch_s"}) s["final"].erase(k);
  }
  return c;
}

}  // namespace

void require_same_run(const std::string& id, const json& first, const std::string& first_at, const json& again,
                      const std::string& again_at) {
  if (const std::string why = first_difference(comparable_row(first), comparable_row(again)); !why.empty())
    throw Error("results disagree for run '" + id + "': " + first_at + " and " + again_at + " differ at " + why +
                    "; remove the wrong row (the same id must be the same run)",
                ExitCode::Usage);
}

ResultsScan scan_results(const std::string& out_dir) {
  ResultsScan scan;
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) return scan;
  for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool shard_file = name.rfind("results.shard-", 0) == 0 && name.size() > 6 &&
                            name.compare(name.size() - 6, 6, ".jsonl") == 0;
    if (!(name == "results.jsonl" || shard_file)) continue;
    if (entry.is_directory(ec))
      throw Error(entry.path().string() + " is a directory, not a results file: move it away", ExitCode::Io);
    scan.files.push_back(entry.path().string());
  }
  std::sort(scan.files.begin(), scan.files.end());  // results.jsonl before results.shard-*
  for (const std::string& file : scan.files) {
    std::ifstream in(file);
    std::string line;
    size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // as the report does
      json row = json::parse(line, nullptr, false);
      // The report's test of a row, so that a row the report skips is not "done" here.
      const std::string why = row.is_discarded() ? "not valid JSON" : report::results_row_problem(row);
      if (!why.empty()) {
        scan.warnings.push_back(file + ":" + std::to_string(number) + ": ignoring a line that is not a complete results row (" +
                                why + "; a write cut short?); its run is redone unless another row has it");
        scan.damaged.push_back({file, number, line});
        continue;
      }
      const std::string id = row["id"].get<std::string>();
      auto [it, first] = scan.rows.emplace(id, ResultRow{row, file, number});
      if (!first)
        require_same_run(id, it->second.row, it->second.file + ":" + std::to_string(it->second.line), row,
                         file + ":" + std::to_string(number));
    }
  }
  return scan;
}

// The config a row ran: the summary's, or for a failed run the row's own.
static const json* row_config(const json& row) {
  if (row.contains("summary") && row["summary"].is_object() && row["summary"].contains("config"))
    return &row["summary"]["config"];
  if (row.contains("config")) return &row["config"];
  return nullptr;
}

size_t check_results_match(const Sweep& sweep, ResultsScan& scan) {
  std::map<std::string, const SweepPoint*> by_id;
  for (const SweepPoint& p : sweep.points) by_id[p.id] = &p;
  size_t foreign = 0;
  for (const auto& [id, r] : scan.rows) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      ++foreign;
      continue;
    }
    const json* config = row_config(r.row);
    const json want = identity_config(it->second->config_json);
    if (config == nullptr || identity_config(*config) != want) {
      throw Error(r.file + ":" + std::to_string(r.line) + ": the row of run " + id +
                      " ran another config than point " + std::to_string(it->second->index) + " of " + sweep.source +
                      (config ? " (" + first_difference(identity_config(*config), want) + ", row vs sweep)"
                              : " (the row has no config)") +
                      "; fix or remove that row, or use another --out",
                  ExitCode::Usage);
    }
    if (r.row.contains("point") && r.row["point"] != it->second->point)
      scan.warnings.push_back(r.file + ":" + std::to_string(r.line) + ": the row of run " + id + " records the point " +
                              r.row["point"].dump() + ", point " + std::to_string(it->second->index) + " of " +
                              sweep.source + " is " + it->second->point.dump() +
                              " (edited?); a report groups the run by the row's");
  }
  return foreign;
}

// Appends `lines` (whole lines, each ending in '\n') with one write(2) and an
// fsync; `what` names the file in errors ("results file").
static void append_lines(const std::string& path, std::string line, const std::string& what) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot open " + what + " " + path + ": " + std::strerror(errno), ExitCode::Io);
  // A torn last line (a writer killed mid-line) must not swallow this row.
  struct stat st {};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(rfd);
    }
  }
  if (last != '\n') line.insert(line.begin(), '\n');
  const ssize_t written = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(line.size()) || !synced)
    throw Error("cannot append to " + what + " " + path + ": " +
                    (written < 0 ? std::strerror(write_errno) : "short write or fsync failed"),
                ExitCode::Io);
}

void append_result_line(const std::string& path, const nlohmann::json& row) {
  append_lines(path, row.dump() + "\n", "results file");
}

std::pair<int, int> parse_shard(const std::string& text, const std::string& what) {
  const size_t slash = text.find('/');
  auto number = [&](const std::string& s, long& out) {
    if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
    out = std::stol(s);
    return true;
  };
  long i = -1, n = 0;
  if (slash == std::string::npos || !number(text.substr(0, slash), i) || !number(text.substr(slash + 1), n) || n < 1 ||
      i >= n)
    throw Error(what + " '" + text + "': expected i/N with 0 <= i < N (shards count from 0), e.g. 0/4", ExitCode::Usage);
  return {static_cast<int>(i), static_cast<int>(n)};
}

std::optional<std::pair<int, int>> shard_from_slurm(std::string* note) {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const char* step = std::getenv("SLURM_ARRAY_TASK_STEP");
  if (id == nullptr || count == nullptr || *id == '\0' || *count == '\0') return std::nullopt;
  // --array=0-8:2 numbers its tasks 0, 2, 4...: ID - MIN would skip shards.
  if (step != nullptr && *step != '\0' && std::string(step) != "1")
    throw Error(std::string("cannot take the shard from a stepped SLURM job array (SLURM_ARRAY_TASK_STEP=") + step +
                    "): use a contiguous array such as --array=0-" + std::to_string(std::max(1L, std::atol(count)) - 1) +
                    ", or give --shard i/N",
                ExitCode::Usage);
  auto number = [](const char* text, long& out) {
    const std::string s(text);
    if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
    out = std::stol(s);
    return true;
  };
  long i = 0, n = 0, lo = 0;
  const std::string contiguous =
      number(count, n) && n >= 1 ? "--array=0-" + std::to_string(n - 1) : "--array=0-<COUNT - 1>";
  const std::string seen = std::string("SLURM_ARRAY_TASK_ID=") + id + ", SLURM_ARRAY_TASK_COUNT=" + count +
                           (min ? std::string(", SLURM_ARRAY_TASK_MIN=") + min : std::string());
  if (!number(id, i) || !number(count, n) || (min && *min && !number(min, lo)) || n < 1 || i < lo || i - lo >= n)
    throw Error("cannot take the shard from the SLURM job array (" + seen +
                    "): expected 0 <= ID - MIN < COUNT, i.e. a contiguous array such as " + contiguous +
                    "; or give --shard i/N",
                ExitCode::Usage);
  if (note) *note = "shard " + std::to_string(i - lo) + "/" + std::to_string(n) + " from " + seen;
  return std::make_pair(static_cast<int>(i - lo), static_cast<int>(n));
}

std::vector<const SweepPoint*> shard_points(const Sweep& sweep, int shard, int shards) {
  std::vector<const SweepPoint*> out;
  for (const SweepPoint& p : sweep.points) {
    if (static_cast<int>(p.index % static_cast<size_t>(shards)) == shard) out.push_back(&p);
  }
  return out;
}

std::vector<std::vector<const SweepPoint*>> plan_work_items(const std::vector<const SweepPoint*>& todo,
                                                            const std::string& out_dir, int pack) {
  std::vector<std::vector<const SweepPoint*>> items;
  std::vector<bool> can_grow;  // items[i] is a pack (to be) that takes more points
  for (const SweepPoint* p : todo) {
    const fs::path run_dir = fs::path(out_dir) / "runs" / p->id;
    const bool alone = pack <= 1 || fs::exists(run_dir / "checkpoint.safetensors") || !finished_summary(run_dir, *p).is_null();
    size_t i = 0;
    while (i < items.size() && (alone || !can_grow[i] || items[i].size() >= static_cast<size_t>(pack) ||
                                !pack_mismatch(items[i][0]->config, p->config).empty()))
      ++i;
    if (i < items.size()) {
      items[i].push_back(p);
    } else {
      items.push_back({p});
      can_grow.push_back(!alone);
    }
  }
  // Seeds last: every point's first seed runs before any point's second, so
  // a sweep stopped early has covered its whole grid with fewer seeds (in
  // grid order, one grid after the other, it would have covered only the
  // first grids).
  auto seeds = [](const std::vector<const SweepPoint*>& item) {
    return std::pair{item.front()->config.train.seed, item.front()->config.task.split_seed};
  };
  std::stable_sort(items.begin(), items.end(), [&](const auto& a, const auto& b) { return seeds(a) < seeds(b); });
  return items;
}

std::string describe_points(const Sweep& sweep, const std::vector<const SweepPoint*>& points,
                            const std::string& out_dir, int pack, std::vector<std::string>* warnings) {
  ResultsScan scan = scan_results(out_dir);
  check_results_match(sweep, scan);  // a row of another config is the error the run would give, not "done"
  if (warnings) warnings->insert(warnings->end(), scan.warnings.begin(), scan.warnings.end());
  std::vector<const SweepPoint*> todo;
  for (const SweepPoint* p : points)
    if (!scan.rows.count(p->id)) todo.push_back(p);
  std::map<const SweepPoint*, std::string> run_as;  // "pack 3 (4 runs)" for the points packed together
  size_t packs = 0, alone = 0;
  for (const auto& item : plan_work_items(todo, out_dir, pack)) {
    if (item.size() == 1) {
      ++alone;
      continue;
    }
    ++packs;
    for (const SweepPoint* p : item) run_as[p] = "pack " + std::to_string(packs) + " (" + std::to_string(item.size()) + " runs)";
  }
  std::ostringstream out;
  for (const SweepPoint* p : points) {
    const fs::path run_dir = fs::path(out_dir) / "runs" / p->id;
    const char* state = scan.rows.count(p->id)                               ? "done"
                        : fs::exists(run_dir / "checkpoint.safetensors") ? "partial"
                                                                           : "pending";
    std::string axes;
    for (const auto& [axis, value] : p->point.items())
      axes += " " + axis + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    char head[64];
    std::snprintf(head, sizeof head, "%4zu  %-8s ", p->index, state);
    out << head << p->id << " " << axes;
    if (auto it = run_as.find(p); it != run_as.end()) out << "  [" << it->second << "]";
    out << "\n";
  }
  if (pack > 1)
    out << "--pack " << pack << ": the " << todo.size() << " points to run train as " << packs << " pack(s) and " << alone
        << " run(s) alone\n";
  return out.str();
}

// The lines of results.jsonl that are not rows, appended to
// results.damaged.jsonl before a merge rewrites results.jsonl: nothing a
// run wrote is lost, and the next merge does not meet them again.
static void keep_damaged_lines(const ResultsScan& scan, const std::string& out_dir, std::vector<std::string>* messages) {
  const std::string results = (fs::path(out_dir) / "results.jsonl").string();
  const std::string kept = (fs::path(out_dir) / "results.damaged.jsonl").string();
  std::string text;
  size_t lines = 0;
  for (const ResultsScan::Damaged& d : scan.damaged) {
    if (d.file != results) continue;  // a shard's file is left as it is
    text += d.text + "\n";
    ++lines;
  }
  if (lines == 0) return;
  append_lines(kept, text, "the file for the damaged lines of " + results + " (nothing was merged):");
  messages->push_back("moved " + std::to_string(lines) + " line(s) of " + results + " that are not results rows to " + kept);
}

size_t merge_results(const Sweep& sweep, const std::string& out_dir, std::vector<std::string>* messages, bool dry_run) {
  ResultsScan scan = scan_results(out_dir);
  if (scan.files.empty())
    throw Error("--merge: no results files in " + out_dir + " (results.jsonl or results.shard-*.jsonl); is --out right?",
                ExitCode::Usage);
  const size_t foreign = check_results_match(sweep, scan);
  for (const std::string& w : scan.warnings) messages->push_back("warning: " + w);
  std::string text;
  size_t missing = 0;
  for (const SweepPoint& p : sweep.points) {
    auto it = scan.rows.find(p.id);
    if (it == scan.rows.end()) {
      ++missing;
      continue;
    }
    text += it->second.row.dump() + "\n";
  }
  // Rows of other sweeps that share this directory are kept, after ours.
  std::set<std::string> ours;
  for (const SweepPoint& p : sweep.points) ours.insert(p.id);
  for (const auto& [id, r] : scan.rows) {
    if (!ours.count(id)) text += r.row.dump() + "\n";
  }
  if (!dry_run) {
    keep_damaged_lines(scan, out_dir, messages);  // results.jsonl is rewritten without them
    write_file_atomically((fs::path(out_dir) / "results.jsonl").string(), text);
  }
  messages->push_back(std::string(dry_run ? "would merge " : "merged ") + std::to_string(scan.files.size()) + " file(s) into " +
                      (fs::path(out_dir) / "results.jsonl").string() + ": " +
                      std::to_string(sweep.points.size() - missing) + " of " + std::to_string(sweep.points.size()) +
                      " points" + (foreign ? ", plus " + std::to_string(foreign) + " rows of other sweeps" : "") +
                      (missing ? "; " + std::to_string(missing) + " missing" : ""));
  return missing;
}

// ---------------------------------------------------------------- running

SweepOutcome run_sweep(const Sweep& sweep, const SweepOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  if (options.out_dir.empty()) throw Error("run_sweep: no output directory", ExitCode::Failure);
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw Error("shard " + std::to_string(options.shard) + "/" + std::to_string(options.shards) + " is out of range",
                ExitCode::Usage);
  if (options.jobs < 1) throw Error("--jobs " + std::to_string(options.jobs) + ": expected at least 1", ExitCode::Usage);
  if (!options.make_device) throw Error("run_sweep: no device factory", ExitCode::Failure);

  std::mutex log_mutex;
  auto log = [&](const std::string& line) {
    if (!options.log) return;
    std::lock_guard<std::mutex> lock(log_mutex);
    options.log(line);
  };

  SweepOutcome outcome;
  const std::vector<const SweepPoint*> mine = shard_points(sweep, options.shard, options.shards);
  outcome.selected = mine.size();
  create_output_directory(options.out_dir, "--out");
  create_output_directory((fs::path(options.out_dir) / "runs").string(), "--out");
  ResultsScan scan = scan_results(options.out_dir);
  check_results_match(sweep, scan);
  for (const std::string& w : scan.warnings) log("warning: " + w);
  std::vector<const SweepPoint*> todo;
  for (const SweepPoint* p : mine) {
    if (scan.rows.count(p->id)) ++outcome.already;
    else todo.push_back(p);
  }
  const std::string results = results_file(options.out_dir, options.shard, options.shards, options.per_shard_results);
  log("sweep '" + sweep.name + "': " + std::to_string(mine.size()) + " of " + std::to_string(sweep.points.size()) +
      " points" + (options.shards > 1 ? " (shard " + std::to_string(options.shard) + "/" + std::to_string(options.shards) + ")" : "") +
      ", " + std::to_string(outcome.already) + " already in the results, " + std::to_string(todo.size()) + " to run, " +
      std::to_string(options.jobs) + " at a time -> " + results);

  std::atomic<bool> stop{false};
  std::unique_ptr<SignalWatch> signals;
  if (options.handle_signals) signals = std::make_unique<SignalWatch>(stop, log);

  const std::vector<std::vector<const SweepPoint*>> items = plan_work_items(todo, options.out_dir, options.pack);
  size_t packs = 0;
  for (const auto& item : items) packs += item.size() > 1;
  if (packs) log(std::to_string(packs) + " pack(s) of up to " + std::to_string(options.pack) + " runs differing only in their seeds");

  const int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(std::max<size_t>(1, items.size()))));
  const int cores = options.total_threads > 0 ? options.total_threads
                                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int threads_per_run = std::max(1, cores / jobs);

  std::atomic<size_t> next{0};
  std::mutex state_mutex;  // guards the counters below and first_error
  size_t started = 0;
  SweepEta eta(jobs);
  for (const SweepPoint* p : todo) eta.add_run(p->id, p->config.train.max_epochs);
  std::exception_ptr first_error;

  auto run_dir_of = [&](const SweepPoint& p) { return fs::path(options.out_dir) / "runs" / p.id; };
  auto new_row = [&](const SweepPoint& p) {
    return json{{"id", p.id},
                {"sweep", sweep.name},
                {"point", p.point},
                {"out_dir", run_dir_of(p).string()},
                {"grokjit_version", GROKJIT_VERSION},
                {"grokjit_source", GROKJIT_SOURCE_COMMIT}};
  };
  auto mark_diverged = [](json& row, const SweepPoint& p, int exit_code, const std::string& message) {
    row["summary"] = nullptr;
    row["config"] = p.config_json;
    row["failure"] = {{"kind", "diverged"}, {"exit_code", exit_code}, {"message", message}};
  };
  // Appends the finished run's row (summary: its summary.json; null when it
  // diverged). `wall`: the run's time, its share of the pack's for a pack.
  auto record = [&](const SweepPoint& p, json row, const json& summary, bool adopted, double wall) {
    const bool diverged = summary.is_null();
    std::string result_text = "diverged";
    if (!diverged) {
      row["summary"] = summary;
      result_text = summary["grokking_epoch"].is_null()
                        ? "censored at " + std::to_string(summary.value("epochs_run", 0))
                        : "grokked at epoch " + std::to_string(summary["grokking_epoch"].get<int64_t>());
    }
    row["finished_at"] = iso_utc_now();
    append_result_line(results, row);
    std::lock_guard<std::mutex> lock(state_mutex);
    if (adopted) {
      ++outcome.adopted;
      eta.drop_run(p.id);
      log("done  " + p.id + ": " + result_text + " (from its summary.json of an earlier sweep)");
      return;
    }
    ++outcome.trained;
    if (diverged) ++outcome.diverged;
    eta.run_finished(p.id, wall);
    log("done  " + p.id + ": " + result_text + ", " + format_duration(wall) + "; " + std::to_string(eta.runs_left()) +
        " left, " + eta.describe());
  };
  auto number_started = [&](size_t runs) {
    std::lock_guard<std::mutex> lock(state_mutex);
    started += runs;
    return started;
  };
  auto quiet_options = [&](const SweepPoint& p) {
    TrainOptions train_options;
    train_options.out_dir = run_dir_of(p).string();
    train_options.fusion = options.fusion;
    train_options.quiet = true;
    train_options.progress = false;
    train_options.after_epoch = [&options, &stop, &p, &state_mutex, &eta](int64_t epoch) {
      {
        std::lock_guard<std::mutex> lock(state_mutex);
        eta.epoch_done(p.id, epoch);
      }
      if (options.after_epoch && !options.after_epoch(p, epoch)) stop.store(true);
      return !stop.load();
    };
    return train_options;
  };

  auto run_point = [&](const SweepPoint& p, std::unique_ptr<Device>& device) {
    const fs::path run_dir = run_dir_of(p);
    const auto run_t0 = Clock::now();
    json summary = finished_summary(run_dir, p);
    json row = new_row(p);
    const bool adopted = !summary.is_null();
    if (!adopted) {
      if (!device) device = options.make_device(threads_per_run);
      TrainOptions train_options = quiet_options(p);
      train_options.resume = fs::exists(run_dir / "checkpoint.safetensors");
      log("[" + std::to_string(number_started(1)) + "/" + std::to_string(todo.size()) + "] start " + p.id +
          (train_options.resume ? " (resuming from its checkpoint)" : ""));
      try {
        TrainSummary s = train(p.config, *device, train_options);
        if (!s.interrupted && train_options.resume && s.last.epoch == 0) {
          // Stopped right after its last epoch: the checkpoint has nothing
          // left to run, and the final metrics are not in it. Run it again.
          log("rerunning " + p.id + " from the start: its checkpoint was taken after its last epoch");
          fs::remove_all(run_dir);
          train_options.resume = false;
          s = train(p.config, *device, train_options);
        }
        if (s.interrupted) {
          log("stopped " + p.id + " after epoch " + std::to_string(s.epochs_run) + "; its checkpoint is in " +
              run_dir.string());
          stop.store(true);
          return;
        }
        summary = json::parse(read_text_file((run_dir / "summary.json").string(), "summary"));
      } catch (const Error& e) {
        if (e.code() == ExitCode::Io && train_options.resume)  // a damaged checkpoint: say how to go on
          throw Error(std::string(e.what()) + " (to rerun point " + p.id + " from the start, delete " +
                          run_dir.string() + ")",
                      e.code());
        if (e.code() != ExitCode::Diverged) throw;
        mark_diverged(row, p, e.exit_code(), e.what());
      }
    }
    record(p, row, summary, adopted, std::chrono::duration<double>(Clock::now() - run_t0).count());
  };

  // A pack: one program for all its runs (runtime/trainer.h, train_pack).
  // Rows are written when the pack returns; its interrupted runs get none
  // and start again from scratch next time (packs write no checkpoints).
  auto run_pack = [&](const std::vector<const SweepPoint*>& pack, std::unique_ptr<Device>& device) {
    const auto run_t0 = Clock::now();
    if (!device) device = options.make_device(threads_per_run);
    std::vector<RunConfig> configs;
    std::vector<TrainOptions> train_options;
    std::string ids;
    for (const SweepPoint* p : pack) {
      configs.push_back(p->config);
      train_options.push_back(quiet_options(*p));
      ids += (ids.empty() ? "" : ", ") + p->id;
    }
    const size_t last = number_started(pack.size());
    log("[" + std::to_string(last - pack.size() + 1) + "-" + std::to_string(last) + "/" + std::to_string(todo.size()) +
        "] start a pack of " + std::to_string(pack.size()) + ": " + ids);
    const std::vector<TrainSummary> summaries = train_pack(configs, *device, train_options);
    const double wall = std::chrono::duration<double>(Clock::now() - run_t0).count() / static_cast<double>(pack.size());
    for (size_t i = 0; i < pack.size(); ++i) {
      const SweepPoint& p = *pack[i];
      json row = new_row(p);
      json summary;
      if (!summaries[i].divergence.empty()) {
        mark_diverged(row, p, static_cast<int>(ExitCode::Diverged), summaries[i].divergence);
      } else if (summaries[i].interrupted) {
        log("stopped " + p.id + " (in a pack) after epoch " + std::to_string(summaries[i].epochs_run) +
            "; packs write no checkpoints: it starts again next time");
        stop.store(true);
        continue;
      } else {
        summary = json::parse(read_text_file((run_dir_of(p) / "summary.json").string(), "summary"));
      }
      record(p, row, summary, false, wall);
    }
  };

  auto worker = [&] {
    std::unique_ptr<Device> device;
    while (!stop.load()) {
      const size_t k = next.fetch_add(1);
      if (k >= items.size()) return;
      try {
        if (items[k].size() == 1) run_point(*items[k][0], device);
        else run_pack(items[k], device);
      } catch (...) {
        std::lock_guard<std::mutex> lock(state_mutex);
        if (!first_error) first_error = std::current_exception();
        stop.store(true);
        return;
      }
    }
  };

  std::vector<std::thread> workers;
  for (int j = 1; j < jobs; ++j) workers.emplace_back(worker);
  worker();
  for (std::thread& t : workers) t.join();
  signals.reset();
  if (first_error) std::rethrow_exception(first_error);
  outcome.interrupted = stop.load() && outcome.already + outcome.adopted + outcome.trained < outcome.selected;
  outcome.wall_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return outcome;
}

}  // namespace grokjit::runtime
