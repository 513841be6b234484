#include "runtime/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "ir/error.h"
#include "runtime/files.h"
#include "runtime/stats.h"
#include "runtime/sweep.h"

namespace grokjit::runtime::report {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The paper's pooled comparison (Tveit et al. 2025; /work/shared/REFERENCE.md §8).
constexpr double kPaperMeanAdamW = 153.09, kPaperMeanMuon = 102.89, kPaperT = 5.0175, kPaperP = 6.33e-8;

// ---- loading

std::string where(const std::string& file, size_t line) { return file + ":" + std::to_string(line); }

// Where a run's epoch cap is recorded: its summary's criterion, else its
// config's train.max_epochs; nullptr when neither is there.
const json* epoch_cap_field(const json& config, const json* summary) {
  if (summary && summary->contains("criterion") && (*summary)["criterion"].is_object() &&
      (*summary)["criterion"].contains("cap"))
    return &(*summary)["criterion"]["cap"];
  if (config.contains("train") && config["train"].is_object() && config["train"].contains("max_epochs"))
    return &config["train"]["max_epochs"];
  return nullptr;
}

}  // namespace

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text + ",");  // the trailing ',' keeps a trailing empty part
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

// report.h: why `row` is not a complete results row, or "".
std::string results_row_problem(const json& row) {
  if (!row.is_object()) return "not a JSON object";
  if (!row.contains("id") || !row["id"].is_string() || row["id"].get<std::string>().empty()) return "no \"id\"";
  if (!row.contains("summary")) return "no \"summary\"";
  if (row.contains("point") && !row["point"].is_object())
    return "\"point\" is " + row["point"].dump() + ", not an object of axis values";
  if (row.contains("out_dir") && !row["out_dir"].is_string())  // the experiments read metrics from it
    return "\"out_dir\" is " + row["out_dir"].dump() + ", not a path";
  const json& s = row["summary"];
  if (s.is_null()) {
    if (!row.contains("failure") || !row["failure"].is_object()) return "\"summary\" is null and there is no \"failure\"";
    if (!row.contains("config") || !row["config"].is_object()) return "a failed run's row has no \"config\"";
    return "";
  }
  if (!s.is_object()) return "\"summary\" is not an object";
  if (!s.contains("config") || !s["config"].is_object()) return "no \"summary.config\"";
  if (!s.contains("grokking_epoch") || !(s["grokking_epoch"].is_null() || s["grokking_epoch"].is_number_integer()))
    return "\"summary.grokking_epoch\" is neither an integer nor null";
  // Values no run can have (an edited or foreign row) would skew every statistic.
  auto positive_integer = [](const json& j) { return j.is_number_integer() && j.get<int64_t>() >= 1; };
  const json* cap = epoch_cap_field(s["config"], &s);
  if (cap && !positive_integer(*cap)) return "its epoch cap " + cap->dump() + " is not a whole number of epochs";
  if (s.contains("censored") && !s["censored"].is_boolean())
    return "\"summary.censored\" is " + s["censored"].dump() + ", not true or false";
  const json& epoch = s["grokking_epoch"];
  if (epoch.is_number_integer()) {
    if (!positive_integer(epoch)) return "\"summary.grokking_epoch\" is " + epoch.dump() + " (epochs count from 1)";
    if (cap && epoch.get<int64_t>() > cap->get<int64_t>())
      return "\"summary.grokking_epoch\" " + epoch.dump() + " is after its epoch cap " + cap->dump();
    if (s.contains("censored") && s["censored"] == true) return "\"summary.censored\" is true, yet it has a grokking epoch";
  }
  // A censored run's time is its epochs_run (make_run): it must be an epoch the run could have reached.
  if (s.contains("epochs_run")) {
    const json& run = s["epochs_run"];
    if (!positive_integer(run)) return "\"summary.epochs_run\" is " + run.dump() + ", not a whole number >= 1";
    if (cap && run.get<int64_t>() > cap->get<int64_t>())
      return "\"summary.epochs_run\" " + run.dump() + " is after its epoch cap " + cap->dump();
    if (epoch.is_number_integer() && run.get<int64_t>() < epoch.get<int64_t>())
      return "\"summary.epochs_run\" " + run.dump() + " is before its grokking epoch " + epoch.dump();
  }
  return "";
}

namespace {

int64_t epoch_cap(const json& config, const json* summary) {
  const json* cap = epoch_cap_field(config, summary);
  return cap && cap->is_number() ? cap->get<int64_t>() : 0;
}

Run make_run(json row, const std::string& source) {
  Run r;
  r.id = row["id"].get<std::string>();
  r.source = source;
  if (row["summary"].is_null()) {
    r.config = row["config"];
    r.diverged = true;
    r.cap = epoch_cap(r.config, nullptr);
    r.time = static_cast<double>(r.cap);  // never groks: not grokked by the cap
  } else {
    const json& s = row["summary"];
    r.config = s["config"];
    r.cap = epoch_cap(r.config, &s);
    if (s["grokking_epoch"].is_number_integer()) {
      r.grokked = true;
      r.time = s["grokking_epoch"].get<double>();
    } else {
      r.time = s.value("epochs_run", json(r.cap)).get<double>();  // a whole number (results_row_problem() checked it)
    }
  }
  r.row = std::move(row);
  return r;
}

// A string member of a row (or of its summary), or "not recorded".
std::string recorded(const json& object, const char* key) {
  if (!object.is_object()) return "not recorded";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "not recorded";
}

// Where a run ran, as its summary names the device, without the thread count: results are bitwise the same for
// any thread count, so only the rest (backend, CPU, vector width) tells runs apart that cannot reproduce each other.
std::string device_of(const Run& r) {
  static const std::regex threads(", [0-9]+ threads?");
  return std::regex_replace(recorded(r.row.value("summary", json()), "device"), threads, "");
}

// The commit grokjit was built from (rows before 2026-12-06 do not record it).
std::string source_of(const Run& r) { return recorded(r.row, "grokjit_source"); }

// ---- formatting

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
// An epoch count: whole numbers without decimals.
std::string epochs(double v) { return std::isfinite(v) && v == std::floor(v) ? fmt("%.0f", v) : fmt("%.1f", v); }
std::string pval(double p) { return fmt(p < 1e-3 ? "%.2e" : "%.3f", p); }

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string value_text(const json* v) {
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number()) return number_text(v->get<double>());
  return v->dump();
}

std::string safe_stem(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  return out.empty() ? "all" : out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// ---- analysis

// Group keys in order: numbers by value ("1e-05" < "0.001" < "0.01"), then other text alphabetically.
struct KeyLess {
  static bool number(const std::string& s, double& v) {
    if (s.empty()) return false;
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
  }
  bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      double x, y;
      bool nx = number(a[i], x), ny = number(b[i], y);
      if (nx != ny) return nx;  // numbers first: a strict weak order even for mixed fields
      if (nx) {
        if (x != y) return x < y;
      } else if (a[i] != b[i]) {
        return a[i] < b[i];
      }
    }
    return a.size() < b.size();
  }
};

std::vector<double> grok_times(const std::vector<const Run*>& runs) {
  std::vector<double> t;
  for (const Run* r : runs)
    if (r->grokked) t.push_back(r->time);
  return t;
}
std::vector<stats::Observation> observations(const std::vector<const Run*>& runs) {
  std::vector<stats::Observation> o;
  for (const Run* r : runs) o.push_back({r->time, r->grokked});
  return o;
}

struct Group {
  std::vector<std::string> key;  // one value per --by field
  std::vector<const Run*> runs;
  size_t grokked = 0, diverged = 0;
  stats::Summary grok;           // over grokked runs
  stats::KaplanMeier km;         // over all runs
  int64_t cap_min = 0, cap_max = 0;
};

Group analyse_group(std::vector<std::string> key, std::vector<const Run*> runs) {
  Group g;
  g.key = std::move(key);
  g.runs = std::move(runs);
  for (const Run* r : g.runs) {
    g.grokked += r->grokked;
    g.diverged += r->diverged;
  }
  g.grok = stats::summarize(grok_times(g.runs));
  g.km = stats::kaplan_meier(observations(g.runs));
  g.cap_min = g.cap_max = g.runs.front()->cap;
  for (const Run* r : g.runs) {
    g.cap_min = std::min(g.cap_min, r->cap);
    g.cap_max = std::max(g.cap_max, r->cap);
  }
  return g;
}

std::string km_median_text(const Group& g) {
  return g.km.median ? epochs(*g.km.median) : "not reached (> " + std::to_string(g.cap_max) + ")";
}
std::string caps_text(const Group& g) {
  return g.cap_min == g.cap_max ? std::to_string(g.cap_min)
                                : std::to_string(g.cap_min) + "-" + std::to_string(g.cap_max);
}

json ttest_json(const stats::TTest& t) {
  return {{"t", num_or_null(t.t)}, {"df", num_or_null(t.df)}, {"p", num_or_null(t.p)},
          {"mean_a", num_or_null(t.mean_a)}, {"mean_b", num_or_null(t.mean_b)}, {"why", t.why}};
}
json logrank_json(const stats::LogRank& l) {
  return {{"chi2", num_or_null(l.chi2)},         {"p", num_or_null(l.p)},
          {"observed_a", l.observed_a},          {"expected_a", l.expected_a},
          {"observed_b", l.observed_b},          {"expected_b", l.expected_b},
          {"why", l.why}};
}
json group_stats_json(const Group& g) {
  return {{"runs", g.runs.size()},
          {"grokked", g.grokked},
          {"censored", g.runs.size() - g.grokked},
          {"diverged", g.diverged},
          {"grokking_epoch",
           {{"n", g.grok.n},
            {"mean", num_or_null(g.grok.mean)},
            {"sd", num_or_null(g.grok.sd)},
            {"median", num_or_null(g.grok.median)},
            {"q1", num_or_null(g.grok.q1)},
            {"q3", num_or_null(g.grok.q3)},
            {"iqr", num_or_null(g.grok.iqr())},
            {"min", num_or_null(g.grok.min)},
            {"max", num_or_null(g.grok.max)}}},
          {"km_median", g.km.median ? json(*g.km.median) : json(nullptr)},
          {"cap", {{"min", g.cap_min}, {"max", g.cap_max}}}};
}

// Two sets of runs compared: Welch on grokked runs, Cohen's d, log-rank on all.
struct Comparison {
  std::string a, b;
  std::vector<const Run*> runs_a, runs_b;
  stats::TTest welch, student;
  double d;
  stats::LogRank lr;
};
Comparison compare(std::string a, std::string b, std::vector<const Run*> ra, std::vector<const Run*> rb) {
  Comparison c{std::move(a), std::move(b), std::move(ra), std::move(rb), {}, {}, 0, {}};
  std::vector<double> ta = grok_times(c.runs_a), tb = grok_times(c.runs_b);
  c.welch = stats::welch_t_test(ta, tb);
  c.student = stats::student_t_test(ta, tb);
  c.d = stats::cohens_d(ta, tb);
  c.lr = stats::log_rank(observations(c.runs_a), observations(c.runs_b));
  return c;
}
size_t count_grokked(const std::vector<const Run*>& runs) {
  return static_cast<size_t>(std::count_if(runs.begin(), runs.end(), [](const Run* r) { return r->grokked; }));
}

// ---- the report

// The report replaces DIR/report.md, DIR/report.json and the plot files in
// DIR/plots/ (.dat, .gp, .svg, .png): a results file among them would be
// lost, so that is refused before anything is written.
void refuse_to_overwrite_inputs(const std::vector<std::string>& inputs, const std::string& dir, bool plots) {
  for (const std::string& input : inputs) {
    for (const char* name : {"report.md", "report.json"}) {
      const fs::path output = fs::path(dir) / name;
      if (same_file(input, output.string()))
        throw Error("results file " + input + " is " + output.string() +
                        ", which the report would replace; give another --out",
                    ExitCode::Usage);
    }
    const std::string ext = fs::path(input).extension().string();
    const bool plot_file = ext == ".dat" || ext == ".gp" || ext == ".svg" || ext == ".png";
    std::error_code ec;
    if (plots && plot_file && same_file(fs::absolute(input, ec).parent_path().string(), (fs::path(dir) / "plots").string()))
      throw Error("results file " + input + " is in " + (fs::path(dir) / "plots").string() +
                      ", where the report writes its plot files (" + ext + " among them); give another --out",
                  ExitCode::Usage);
  }
}

class Reporter {
 public:
  Reporter(const Options& o, Loaded loaded) : opt_(o), loaded_(std::move(loaded)) {}
  Written run();

 private:
  void check_fields();
  void check_curves();
  void make_groups();
  void comparisons_section();
  void pooled_section();
  void paired_section();
  void groups_section();
  void censoring_section();
  void plots_section();
  void box_plots();
  void curves();
  void heat_maps();
  void tuned_section();
  void provenance_line();
  void add_plot(const std::string& kind, const std::string& title, const plot::Result& r,
                const std::string& note = "");
  void warn(const std::string& w) { warnings_.push_back(w); }
  std::vector<std::string> key_of(const Run& r) const;
  const std::string& compare_field() const { return opt_.by.back(); }

  const Options& opt_;
  Loaded loaded_;
  std::string dir_, plot_dir_;
  std::vector<Group> groups_;
  std::optional<std::pair<std::string, std::string>> grid_;  // the lr x wd axes (grid_axes), if the runs form a grid
  std::string no_grid_why_;                                  // else why not, when it is worth saying
  std::vector<std::string> warnings_;
  std::ostringstream md_, plots_md_;
  json js_;
  std::vector<std::string> drawn_;
  std::set<std::string> not_drawn_reasons_;  // warned once each; the first is "no plot images" when gnuplot is missing
  std::vector<std::string> curve_ids_;  // --curves IDS, checked by check_curves
};

std::vector<std::string> Reporter::key_of(const Run& r) const {
  std::vector<std::string> key;
  for (const std::string& f : opt_.by) key.push_back(value_text(field(r, f)));
  return key;
}

void Reporter::check_fields() {
  if (opt_.by.empty()) throw Error("--by: give at least one field (e.g. optimizer.kind)", ExitCode::Usage);
  // An empty or repeated field would add a column that groups nothing (or the same thing twice).
  const std::string given = "--by '" + join(opt_.by, ",") + "'";
  std::set<std::string> seen;
  for (size_t i = 0; i < opt_.by.size(); ++i) {
    if (opt_.by[i].empty())
      throw Error(given + ": field " + std::to_string(i + 1) + " is empty; give fields separated by single commas",
                  ExitCode::Usage);
    if (!seen.insert(opt_.by[i]).second)
      throw Error(given + ": " + opt_.by[i] + " is given twice; give each field once", ExitCode::Usage);
  }
  for (const std::string& f : opt_.by) {
    size_t have = 0;
    for (const Run& r : loaded_.runs) have += field(r, f) != nullptr;
    if (have == 0)
      throw Error("--by " + f + ": no run has this field in its config or point (fields are dotted config paths "
                  "such as task.kind, model.output, optimizer.kind, optimizer.muon.lr, or point.AXIS)",
                  ExitCode::Usage);
    for (const Run& r : loaded_.runs) {
      const json* v = field(r, f);
      if (v == nullptr || !v->is_structured()) continue;
      std::string leaf = "kind";  // what most config objects are told apart by; else their first plain value
      if (v->is_object() && !v->contains("kind"))
        for (const auto& [key, value] : v->items())
          if (!value.is_structured()) {
            leaf = key;
            break;
          }
      throw Error("--by " + f + ": this field is a whole " + (v->is_object() ? "object" : "array") +
                      " in the config; group by one of its values instead (e.g. " + f + "." + leaf + ")",
                  ExitCode::Usage);
    }
    if (have < loaded_.runs.size())
      warn("--by " + f + ": " + std::to_string(loaded_.runs.size() - have) + " of " +
           std::to_string(loaded_.runs.size()) + " runs lack this field; they are grouped under '-'");
  }
}

// --curves: "auto", "none" or run ids of these results, each once. Checked
// before anything is written, so that a mistake is an error, not a missing plot.
void Reporter::check_curves() {
  if (opt_.curves == "auto" || opt_.curves == "none") return;
  if (opt_.curves.empty()) throw Error("--curves: empty; give run ids, 'auto' or 'none'", ExitCode::Usage);
  std::set<std::string> ids;
  for (const Run& r : loaded_.runs) ids.insert(r.id);
  for (const std::string& id : split_commas(opt_.curves)) {
    if (id.empty())
      throw Error("--curves '" + opt_.curves + "': an empty id; give ids separated by single commas", ExitCode::Usage);
    if (!ids.count(id))
      throw Error("--curves: no run with id '" + id + "' in the results (" + std::to_string(ids.size()) +
                      " runs, e.g. '" + *ids.begin() + "'); give ids, 'auto' or 'none'",
                  ExitCode::Usage);
    if (std::find(curve_ids_.begin(), curve_ids_.end(), id) != curve_ids_.end())
      throw Error("--curves '" + opt_.curves + "': '" + id + "' is given twice", ExitCode::Usage);
    curve_ids_.push_back(id);
  }
}

void Reporter::make_groups() {
  std::map<std::vector<std::string>, std::vector<const Run*>, KeyLess> by_key;
  for (const Run& r : loaded_.runs) by_key[key_of(r)].push_back(&r);
  // Runs by id, so that the order of rows and files (shards) does not show.
  for (auto& [key, runs] : by_key) {
    std::sort(runs.begin(), runs.end(), [](const Run* a, const Run* b) { return a->id < b->id; });
    groups_.push_back(analyse_group(key, runs));
  }
}

void Reporter::censoring_section() {
  std::set<std::string> criteria;
  for (const Run& r : loaded_.runs) {
    if (r.diverged) continue;
    const json& c = r.row["summary"].value("criterion", json::object());
    criteria.insert("val_acc >= " + value_text(c.contains("grok_threshold") ? &c["grok_threshold"] : nullptr) +
                    " at or after train_acc >= " +
                    value_text(c.contains("memorize_threshold") ? &c["memorize_threshold"] : nullptr));
  }
  std::string crit = criteria.size() == 1 ? *criteria.begin() : "each run's own criterion (they differ)";
  std::string text =
      "**Censored runs.** A run's grokking epoch is the first epoch with " + crit +
      " (epochs count from 1). A run that did not grok by its epoch cap is right-censored at the epoch it "
      "stopped (the cap); a run whose loss diverged never groks and is censored at its cap. Censored runs are "
      "counted in every table, never dropped: the mean, median, IQR, t-tests and Cohen's d describe the grokked "
      "runs only, while the Kaplan-Meier (KM) medians and the log-rank tests use all runs.";
  md_ << "## How censored runs are treated\n\n" << text << "\n\n";
  js_["censoring"] = text;
}

void Reporter::groups_section() {
  std::vector<std::string> header = opt_.by;
  for (const char* h : {"runs", "grokked", "censored", "diverged", "mean", "median", "Q1", "Q3", "IQR", "KM median",
                        "cap"})
    header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  json arr = json::array();
  for (const Group& g : groups_) {
    std::vector<std::string> row = g.key;
    for (const std::string& v :
         {std::to_string(g.runs.size()), std::to_string(g.grokked), std::to_string(g.runs.size() - g.grokked),
          std::to_string(g.diverged), fmt("%.1f", g.grok.mean), epochs(g.grok.median), epochs(g.grok.q1),
          epochs(g.grok.q3), epochs(g.grok.iqr()), km_median_text(g), caps_text(g)})
      row.push_back(v);
    rows.push_back(row);
    json jg = group_stats_json(g);
    json key = json::object();
    for (size_t i = 0; i < opt_.by.size(); ++i) key[opt_.by[i]] = g.key[i];
    jg["key"] = key;
    json ids = json::array();
    for (const Run* r : g.runs) ids.push_back(r->id);
    jg["ids"] = ids;
    arr.push_back(jg);
  }
  md_ << "## Groups\n\n"
      << "Grokking epochs per " << join(opt_.by, " x ")
      << ". mean, median, Q1, Q3 and IQR (= Q3 - Q1; quantiles by R's type 7) are over the grokked runs; "
         "KM median is the Kaplan-Meier median over all runs (\"not reached\" when more than half never grokked "
         "within the cap); censored includes diverged.\n\n"
      << markdown_table(header, rows) << "\n";
  // Other point axes that vary inside a group are pooled: say which.
  std::set<std::string> pooled;
  for (const Group& g : groups_) {
    std::map<std::string, std::set<std::string>> seen;
    for (const Run* r : g.runs)
      if (r->row.contains("point") && r->row["point"].is_object())
        for (auto& [axis, v] : r->row["point"].items()) seen[axis].insert(v.dump());
    for (auto& [axis, values] : seen)
      if (values.size() > 1 && axis.find("seed") == std::string::npos &&
          std::find(opt_.by.begin(), opt_.by.end(), "point." + axis) == opt_.by.end())
        pooled.insert(axis);
  }
  if (!pooled.empty()) {
    std::vector<std::string> axes(pooled.begin(), pooled.end());
    md_ << "Groups pool runs that differ in the sweep axes " << join(axes, ", ")
        << " (besides seeds); add e.g. `--by " << join(opt_.by, ",") << ",point." << axes.front()
        << "` to split them.\n\n";
    js_["pooled_axes"] = axes;
  }
  js_["groups"] = arr;
}

void Reporter::comparisons_section() {
  const std::string& cf = compare_field();
  std::vector<std::string> strata_fields(opt_.by.begin(), opt_.by.end() - 1);
  // Strata: the key without its last field; groups are sorted, so a stratum's groups are adjacent.
  std::map<std::vector<std::string>, std::vector<const Group*>, KeyLess> strata;
  for (const Group& g : groups_) strata[{g.key.begin(), g.key.end() - 1}].push_back(&g);
  std::vector<std::string> header = strata_fields;
  for (const char* h : {"A", "B", "runs A/B", "grokked A/B", "mean A", "mean B", "Welch t", "df", "p", "Cohen's d",
                        "log-rank chi2", "log-rank p"})
    header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
  json arr = json::array();
  for (auto& [stratum, gs] : strata) {
    for (size_t i = 0; i < gs.size(); ++i) {
      for (size_t j = i + 1; j < gs.size(); ++j) {
        Comparison c = compare(gs[i]->key.back(), gs[j]->key.back(), gs[i]->runs, gs[j]->runs);
        std::vector<std::string> row = stratum;
        std::string label = join(stratum, "/") + (stratum.empty() ? "" : ": ") + c.a + " vs " + c.b;
        for (const std::string& v :
             {c.a, c.b, std::to_string(c.runs_a.size()) + "/" + std::to_string(c.runs_b.size()),
              std::to_string(count_grokked(c.runs_a)) + "/" + std::to_string(count_grokked(c.runs_b)),
              fmt("%.1f", c.welch.mean_a), fmt("%.1f", c.welch.mean_b), fmt("%.2f", c.welch.t),
              fmt("%.1f", c.welch.df), pval(c.welch.p), fmt("%.2f", c.d), fmt("%.2f", c.lr.chi2), pval(c.lr.p)})
          row.push_back(v);
        rows.push_back(row);
        if (!c.welch.defined()) notes.push_back(label + ": no t-test: " + c.welch.why + " (grokked runs)");
        if (!c.lr.defined()) notes.push_back(label + ": no log-rank test: " + c.lr.why);
        json key = json::object();
        for (size_t k = 0; k < strata_fields.size(); ++k) key[strata_fields[k]] = stratum[k];
        arr.push_back({{"stratum", key},
                       {"field", cf},
                       {"a", c.a},
                       {"b", c.b},
                       {"runs_a", c.runs_a.size()},
                       {"runs_b", c.runs_b.size()},
                       {"grokked_a", count_grokked(c.runs_a)},
                       {"grokked_b", count_grokked(c.runs_b)},
                       {"welch", ttest_json(c.welch)},
                       {"cohens_d", num_or_null(c.d)},
                       {"log_rank", logrank_json(c.lr)}});
      }
    }
  }
  md_ << "## Comparisons of " << cf << (strata_fields.empty() ? "" : " within each " + join(strata_fields, " x "))
      << "\n\n";
  if (rows.empty()) {
    md_ << "No comparisons: no " << (strata_fields.empty() ? "" : join(strata_fields, " x ") + " with ")
        << "two or more values of " << cf << ".\n\n";
  } else {
    md_ << "Welch's t-test (unequal variances, Welch-Satterthwaite df, two-sided p) and Cohen's d (pooled SD) "
           "compare the grokking epochs of the grokked runs of A and B; positive t and d: A groks later. The "
           "log-rank test (chi-square, 1 df) compares the whole grokking-time distributions, censored runs "
           "included. p-values are per row, not adjusted for multiple comparisons ("
        << rows.size() << (rows.size() == 1 ? " row" : " rows") << " here).\n\n"
        << markdown_table(header, rows) << "\n";
    for (const std::string& n : notes) md_ << "- " << n << "\n";
    if (!notes.empty()) md_ << "\n";
  }
  js_["compare_field"] = cf;
  js_["comparisons"] = arr;
}

void Reporter::pooled_section() {
  const std::string kField = "optimizer.kind";
  std::vector<const Run*> adamw, muon;
  std::set<std::string> tasks, outputs, kinds;
  for (const Run& r : loaded_.runs) {
    std::string k = value_text(field(r, kField));
    kinds.insert(k);
    if (k != "adamw" && k != "muon") continue;
    (k == "adamw" ? adamw : muon).push_back(&r);
    tasks.insert(value_text(field(r, "task.kind")));
    outputs.insert(value_text(field(r, "model.output")));
  }
  md_ << "## Pooled comparison, as in the paper: AdamW vs Muon\n\n";
  json j;
  if (adamw.empty() || muon.empty()) {
    std::string why = "needs runs with optimizer.kind adamw and muon; these results have " +
                      join(std::vector<std::string>(kinds.begin(), kinds.end()), ", ");
    md_ << "Not available: " << why << ".\n\n";
    js_["pooled"] = {{"available", false}, {"why", why}};
    return;
  }
  Comparison c = compare("adamw", "muon", adamw, muon);
  stats::KaplanMeier km_a = stats::kaplan_meier(observations(adamw)), km_m = stats::kaplan_meier(observations(muon));
  auto km_text = [](const stats::KaplanMeier& km) { return km.median ? epochs(*km.median) : "not reached"; };
  md_ << "The paper (Tveit et al. 2025) pooled every task and softmax variant into one t-test of the mean "
         "grokking epoch. Ours below pools the same way over these results ("
      << tasks.size() << " task(s): " << join({tasks.begin(), tasks.end()}, ", ") << "; " << outputs.size()
      << " output(s): " << join({outputs.begin(), outputs.end()}, ", ")
      << "). The paper does not say whether its t-test pooled the variances, so both are shown. Rows marked "
         "**paper** are the paper's published numbers, not computed here.\n\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"**paper** (published)", "-", "-", fmt("%.2f", kPaperMeanAdamW), fmt("%.2f", kPaperMeanMuon),
                  fmt("%.4f", kPaperT), "-", fmt("%.2e", kPaperP) + " (as reported)", "-", "-"});
  std::string runs = std::to_string(adamw.size()) + "/" + std::to_string(muon.size());
  std::string grokked = std::to_string(count_grokked(adamw)) + "/" + std::to_string(count_grokked(muon));
  for (const auto& [name, t] : {std::pair<std::string, const stats::TTest&>{"ours, Student (pooled variance)", c.student},
                                {"ours, Welch", c.welch}})
    rows.push_back({name, runs, grokked, fmt("%.2f", t.mean_a), fmt("%.2f", t.mean_b), fmt("%.2f", t.t),
                    fmt("%.1f", t.df), pval(t.p), fmt("%.2f", c.d), km_text(km_a) + " / " + km_text(km_m)});
  md_ << markdown_table({"source", "runs AdamW/Muon", "grokked AdamW/Muon", "mean AdamW", "mean Muon", "t", "df", "p",
                   "Cohen's d", "KM median AdamW/Muon"},
                  rows)
      << "\n";
  md_ << "Log-rank test, all runs (censored included): chi2 = " << fmt("%.2f", c.lr.chi2)
      << ", p = " << pval(c.lr.p) << (c.lr.defined() ? "" : " (" + c.lr.why + ")") << ".\n\n";
  if (!c.welch.defined()) md_ << "No t-test: " << c.welch.why << " (grokked runs).\n\n";
  md_ << "Caveats: a t of " << kPaperT << " gives a two-sided p of at least "
      << pval(stats::t_two_sided_p(kPaperT, std::numeric_limits<double>::infinity()))
      << " (the normal limit, any df), so the paper's p = " << fmt("%.2e", kPaperP)
      << " does not follow from its t. Pooling tasks and softmax variants treats runs of different tasks as "
         "replicates of one experiment (pseudo-replication) and mixes their scales; the per-group comparisons "
         "above are the ones to read.\n\n";
  js_["pooled"] = {{"available", true},
                   {"field", kField},
                   {"a", "adamw"},
                   {"b", "muon"},
                   {"runs_a", adamw.size()},
                   {"runs_b", muon.size()},
                   {"grokked_a", count_grokked(adamw)},
                   {"grokked_b", count_grokked(muon)},
                   {"student", ttest_json(c.student)},
                   {"welch", ttest_json(c.welch)},
                   {"cohens_d", num_or_null(c.d)},
                   {"log_rank", logrank_json(c.lr)},
                   {"km_median_a", km_a.median ? json(*km_a.median) : json(nullptr)},
                   {"km_median_b", km_m.median ? json(*km_m.median) : json(nullptr)},
                   {"paper", {{"source", "Tveit et al. 2025, as published"},
                              {"mean_a", kPaperMeanAdamW},
                              {"mean_b", kPaperMeanMuon},
                              {"t", kPaperT},
                              {"p", kPaperP}}}};
}

// AdamW against Muon run by run. Runs whose configs differ only in the
// optimizer (and the name and comment that say which) form a pair: the same
// task, output, seed and everything else. In each pair the run that grokked
// first wins; a grokked run beats a censored one (the pair shares its cap),
// two censored runs tie. The exact sign test then asks whether one optimizer
// wins more often than chance, without pooling the epochs of different tasks.
void Reporter::paired_section() {
  struct Tally {
    size_t pairs = 0, muon_first = 0, adamw_first = 0, ties = 0;
    std::vector<double> differences;  // AdamW's epoch - Muon's, where both grokked
  };
  std::map<std::string, std::pair<std::vector<const Run*>, std::vector<const Run*>>> by_rest;
  for (const Run& r : loaded_.runs) {
    const std::string kind = value_text(field(r, "optimizer.kind"));
    if (kind != "adamw" && kind != "muon") continue;
    json rest = r.config;
    for (const char* key : {"optimizer", "name", "comment"}) rest.erase(key);
    auto& [adamw, muon] = by_rest[rest.dump()];
    (kind == "adamw" ? adamw : muon).push_back(&r);
  }
  std::map<std::vector<std::string>, Tally, KeyLess> per_group;  // by task.kind, model.output
  Tally all;
  size_t ambiguous = 0, unpaired = 0;
  for (const auto& [rest, sides] : by_rest) {
    const auto& [adamw, muon] = sides;
    if (adamw.size() != 1 || muon.size() != 1) {
      (adamw.empty() || muon.empty() ? unpaired : ambiguous) += adamw.size() + muon.size();
      continue;
    }
    const Run& a = *adamw.front();
    const Run& m = *muon.front();
    Tally& g = per_group[{value_text(field(a, "task.kind")), value_text(field(a, "model.output"))}];
    for (Tally* t : {&g, &all}) {
      ++t->pairs;
      if (a.grokked && m.grokked) t->differences.push_back(a.time - m.time);
      const bool muon_first = m.grokked && (!a.grokked || m.time < a.time);
      const bool adamw_first = a.grokked && (!m.grokked || a.time < m.time);
      (muon_first ? t->muon_first : adamw_first ? t->adamw_first : t->ties) += 1;
    }
  }
  md_ << "## Paired comparison: AdamW vs Muon run by run\n\n";
  if (all.pairs == 0) {
    const std::string why = ambiguous ? std::to_string(ambiguous) +
                                            " runs share everything but the optimizer with more than one run of the "
                                            "other optimizer (a grid over optimizer settings): no one-to-one pairs"
                                      : "no AdamW run has a Muon run with the same config otherwise";
    md_ << "Not available: " << why << ".\n\n";
    js_["paired"] = {{"available", false}, {"why", why}};
    return;
  }
  md_ << "Runs whose configs differ only in the optimizer are pairs (same task, output, seed, everything else). "
         "In each pair the run that grokked first wins; a grokked run beats a censored one, two censored runs "
         "tie. The exact two-sided sign test asks whether one optimizer wins more often than chance; unlike the "
         "pooled t-test it does not mix the epoch scales of different tasks. The median difference is over the "
         "pairs where both grokked (positive: Muon earlier).\n\n";
  std::vector<std::vector<std::string>> rows;
  json groups = json::array();
  auto add_row = [&](const std::vector<std::string>& key, const Tally& t) {
    const stats::SignTest st = stats::sign_test(t.muon_first, t.adamw_first, t.ties);
    const double median = stats::median(t.differences);
    std::vector<std::string> row = key;
    for (const std::string& cell : {std::to_string(t.pairs), std::to_string(t.muon_first), std::to_string(t.adamw_first),
                                    std::to_string(t.ties), t.differences.empty() ? "-" : epochs(median),
                                    st.defined() ? pval(st.p) : "n/a"})
      row.push_back(cell);
    rows.push_back(row);
    groups.push_back({{"task.kind", key[0]},
                      {"model.output", key[1]},
                      {"pairs", t.pairs},
                      {"muon_first", t.muon_first},
                      {"adamw_first", t.adamw_first},
                      {"ties", t.ties},
                      {"median_difference_adamw_minus_muon", num_or_null(median)},
                      {"sign_test_p", num_or_null(st.p)}});
  };
  for (const auto& [key, t] : per_group) add_row(key, t);
  if (per_group.size() > 1) add_row({"**all**", "**all**"}, all);
  md_ << markdown_table({"task.kind", "model.output", "pairs", "Muon first", "AdamW first", "ties",
                         "median AdamW - Muon", "sign test p"},
                        rows)
      << "\n";
  if (ambiguous + unpaired)
    md_ << "Not paired: " << unpaired << " runs with no run of the other optimizer, " << ambiguous
        << " runs in groups with several runs of one optimizer.\n\n";
  const stats::SignTest overall = stats::sign_test(all.muon_first, all.adamw_first, all.ties);
  js_["paired"] = {{"available", true},
                   {"pairs", all.pairs},
                   {"muon_first", all.muon_first},
                   {"adamw_first", all.adamw_first},
                   {"ties", all.ties},
                   {"sign_test_p", num_or_null(overall.p)},
                   {"unpaired_runs", unpaired},
                   {"ambiguous_runs", ambiguous},
                   {"groups", groups}};
}

// ---- plots

void Reporter::add_plot(const std::string& kind, const std::string& title, const plot::Result& r,
                        const std::string& note) {
  auto rel = [&](const std::string& p) { return p.empty() ? "" : fs::relative(p, dir_).generic_string(); };
  js_["plots"].push_back({{"kind", kind},
                          {"title", title},
                          {"svg", rel(r.svg)},
                          {"png", rel(r.png)},
                          {"gp", rel(r.gp)},
                          {"dat", rel(r.dat)}});
  plots_md_ << "### " << title << "\n\n";
  if (!note.empty()) plots_md_ << note << "\n\n";
  if (r.drawn) {
    plots_md_ << "![" << title << "](" << rel(r.svg) << ")\n\n"
              << "PNG: [" << rel(r.png) << "](" << rel(r.png) << "); data and gnuplot script: " << rel(r.dat)
              << ", " << rel(r.gp) << "\n\n";
    drawn_.push_back(r.svg);
    drawn_.push_back(r.png);
  } else {
    if (not_drawn_reasons_.insert(r.not_drawn_reason).second)  // gnuplot hung on this plot, or on one before
      warn("plot '" + title + "' not drawn: " + r.not_drawn_reason);
    plots_md_ << "Not drawn (" << r.not_drawn_reason << "); draw it with `cd " << rel(plot_dir_) << " && gnuplot "
              << fs::path(r.gp).filename().string() << "`.\n\n";
  }
}

void Reporter::box_plots() {
  // One plot per combination of the middle --by fields; boxes = first x last field.
  const size_t nb = opt_.by.size();
  std::map<std::vector<std::string>, std::vector<const Group*>, KeyLess> panels;
  for (const Group& g : groups_)
    panels[nb >= 3 ? std::vector<std::string>(g.key.begin() + 1, g.key.end() - 1) : std::vector<std::string>{}]
        .push_back(&g);
  std::map<std::string, int> colors;  // by compare value
  for (const Group& g : groups_) colors.emplace(g.key.back(), static_cast<int>(colors.size()));
  for (auto& [middle, gs] : panels) {
    plot::BoxPlot bp;
    std::string where = middle.empty() ? "" : " (" + join(middle, ", ") + ")";
    bp.labels = {"Grokking epoch per " + (nb >= 2 ? opt_.by.front() + " and " : "") + compare_field() + where,
                 nb >= 2 ? opt_.by.front() + " / " + compare_field() : compare_field(), "grokking epoch"};
    bp.values_label = "grokked";
    bp.marked_label = "censored (at the epoch it stopped)";
    for (const Group* g : gs) {
      plot::BoxGroup box;
      box.label = nb >= 2 ? g->key.front() + "/" + g->key.back() : g->key.back();
      for (const Run* r : g->runs) (r->grokked ? box.values : box.marked).push_back(r->time);
      box.color = colors[g->key.back()];
      bp.groups.push_back(box);
    }
    std::string stem = "box" + (middle.empty() ? "" : "-" + safe_stem(join(middle, "-")));
    add_plot("box", bp.labels.title, plot::box_plot(plot_dir_, stem, bp, opt_.plot));
  }
}

// The row's "out_dir" as written; "" when absent or not a string.
std::string out_dir_of(const Run& r) {
  auto it = r.row.find("out_dir");
  return it != r.row.end() && it->is_string() ? it->get<std::string>() : "";
}

// Finds a run's metrics.jsonl: out_dir as written (absolute, or relative to
// the current directory), else relative to the results file's folder, else
// <that folder>/runs/<id>/.
std::optional<fs::path> metrics_file(const Run& r) {
  std::string file = r.source.substr(0, r.source.rfind(':'));
  fs::path base = fs::path(file).parent_path();
  const std::string out = out_dir_of(r);
  std::vector<fs::path> tries;
  if (!out.empty()) {
    tries.push_back(fs::path(out) / "metrics.jsonl");
    if (fs::path(out).is_relative()) tries.push_back(base / out / "metrics.jsonl");
  }
  tries.push_back(base / "runs" / r.id / "metrics.jsonl");
  for (const fs::path& p : tries) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return std::nullopt;
}

void Reporter::curves() {
  if (opt_.curves == "none") return;
  std::vector<std::pair<const Run*, std::string>> chosen;  // run, why chosen
  if (opt_.curves == "auto") {
    std::map<std::string, std::vector<const Run*>> by_value;
    for (const Run& r : loaded_.runs) by_value[value_text(field(r, compare_field()))].push_back(&r);
    for (auto& [value, runs] : by_value) {
      std::vector<const Run*> grokked;
      for (const Run* r : runs)
        if (r->grokked) grokked.push_back(r);
      auto by_time = [](const Run* x, const Run* y) { return x->time != y->time ? x->time < y->time : x->id < y->id; };
      if (!grokked.empty()) {
        std::sort(grokked.begin(), grokked.end(), by_time);
        // The lower median, so the run is a real one.
        chosen.push_back({grokked[(grokked.size() - 1) / 2], "median grokking epoch of " + value});
      } else {
        std::sort(runs.begin(), runs.end(), [](const Run* x, const Run* y) { return x->id < y->id; });
        chosen.push_back({runs.front(), "no " + value + " run grokked; first by id"});
      }
    }
  } else {
    std::map<std::string, const Run*> by_id;
    for (const Run& r : loaded_.runs) by_id[r.id] = &r;
    for (const std::string& id : curve_ids_) chosen.push_back({by_id.at(id), "chosen with --curves"});
  }
  plot::LinePlot lp;
  lp.labels = {"Accuracy of chosen runs (dashed: train, solid: validation)", "epoch", "accuracy"};
  lp.y_min = 0;
  lp.y_max = 1.02;
  json list = json::array();
  int color = 0;
  for (const auto& [run, why] : chosen) {
    std::optional<fs::path> path = metrics_file(*run);
    if (!path) {
      warn("curves: no metrics.jsonl for run " + run->id + " (looked in its out_dir '" + out_dir_of(*run) +
           "' and next to " + run->source + ")");
      continue;
    }
    std::ifstream f(*path);
    plot::Series train{run->id + " train", {}, {}, color, true}, val{run->id + " val", {}, {}, color, false};
    std::string line;
    size_t n = 0, bad = 0;
    while (std::getline(f, line)) {
      ++n;
      json m = json::parse(line, nullptr, false);
      if (m.is_discarded() || !m.is_object() || !m.value("epoch", json()).is_number()) {
        bad += !line.empty();
        continue;
      }
      double epoch = m["epoch"].get<double>();
      if (m.value("train_acc", json()).is_number()) {
        train.x.push_back(epoch);
        train.y.push_back(m["train_acc"].get<double>());
      }
      if (m.value("val_acc", json()).is_number()) {
        val.x.push_back(epoch);
        val.y.push_back(m["val_acc"].get<double>());
      }
    }
    if (bad) warn(path->string() + ": skipped " + std::to_string(bad) + " of " + std::to_string(n) + " lines that are not metrics");
    list.push_back({{"id", run->id}, {"why", why}, {"metrics", path->string()}});
    lp.series.push_back(std::move(train));
    lp.series.push_back(std::move(val));
    ++color;
  }
  js_["curves"] = list;
  bool any = std::any_of(lp.series.begin(), lp.series.end(), [](const plot::Series& s) { return !s.x.empty(); });
  if (!any) return;
  std::vector<std::string> names;
  for (const auto& c : list) names.push_back(c["id"].get<std::string>() + " (" + c["why"].get<std::string>() + ")");
  add_plot("curves", lp.labels.title, plot::line_plot(plot_dir_, "curves", lp, opt_.plot),
           "Runs: " + join(names, "; ") + ".");
}

// The two numeric point axes of a learning-rate x weight-decay grid, or why not.
std::optional<std::pair<std::string, std::string>> grid_axes(const std::vector<Run>& runs, std::string& why) {
  std::map<std::string, std::set<double>> numeric;
  std::set<std::string> non_numeric;
  for (const Run& r : runs) {
    if (!r.row.contains("point") || !r.row["point"].is_object()) continue;
    for (auto& [axis, v] : r.row["point"].items()) {
      if (v.is_number())
        numeric[axis].insert(v.get<double>());
      else
        non_numeric.insert(axis);
    }
  }
  std::vector<std::string> axes;
  for (auto& [axis, values] : numeric)
    if (values.size() > 1 && !non_numeric.count(axis) && axis.find("seed") == std::string::npos) axes.push_back(axis);
  auto like = [](const std::string& a, std::initializer_list<const char*> words) {
    std::string last = a.substr(a.rfind('.') + 1);
    for (const char* w : words)
      if (last == w || last.find(w) != std::string::npos) return true;
    return false;
  };
  std::vector<std::string> lr, wd;
  for (const std::string& a : axes) {
    if (like(a, {"lr", "learning_rate"})) lr.push_back(a);
    else if (like(a, {"wd", "weight_decay", "decay"})) wd.push_back(a);
  }
  if (lr.size() == 1 && wd.size() == 1) return std::pair{lr[0], wd[0]};
  if (axes.size() == 2) return std::pair{axes[0], axes[1]};
  if (axes.size() > 2)
    why = "the points vary " + std::to_string(axes.size()) + " numeric axes (" + join(axes, ", ") +
          "), not one learning rate and one weight decay";
  return std::nullopt;
}

// A group's runs by their (x, y) values of two numeric point axes.
using Cells = std::map<std::pair<double, double>, std::vector<const Run*>>;
Cells grid_cells(const Group& g, const std::string& xa, const std::string& ya) {
  Cells cells;
  for (const Run* r : g.runs) {
    const json* x = field(*r, "point." + xa);
    const json* y = field(*r, "point." + ya);
    if (x && y && x->is_number() && y->is_number()) cells[{x->get<double>(), y->get<double>()}].push_back(r);
  }
  return cells;
}

void Reporter::heat_maps() {
  if (!grid_) {
    if (!no_grid_why_.empty()) plots_md_ << "No heat map: " << no_grid_why_ << ".\n\n";
    return;
  }
  const auto& [xa, ya] = *grid_;
  for (const Group& g : groups_) {
    const Cells cells = grid_cells(g, xa, ya);
    std::set<double> xs, ys;
    for (const auto& [xy, runs] : cells) {
      xs.insert(xy.first);
      ys.insert(xy.second);
    }
    if (xs.size() < 2 && ys.size() < 2) continue;
    plot::HeatMap hm;
    std::string name = join(g.key, "/");
    hm.labels = {"Median grokking epoch (Kaplan-Meier), " + name + "; cells: median (grokked/runs)", xa, ya};
    hm.value_label = "KM median grokking epoch";
    std::vector<double> xv(xs.begin(), xs.end()), yv(ys.begin(), ys.end());
    for (double x : xv) hm.x_ticks.push_back(number_text(x));
    for (double y : yv) hm.y_ticks.push_back(number_text(y));
    json cells_json = json::array();
    for (double y : yv) {
      hm.value.emplace_back();
      hm.text.emplace_back();
      for (double x : xv) {
        auto it = cells.find({x, y});
        if (it == cells.end()) {
          hm.value.back().push_back(std::nullopt);
          hm.text.back().push_back("");
          continue;
        }
        Group cell = analyse_group({}, it->second);
        std::string count = " (" + std::to_string(cell.grokked) + "/" + std::to_string(cell.runs.size()) + ")";
        // Not reached: coloured as the cap, the slowest possible.
        hm.value.back().push_back(cell.km.median ? *cell.km.median : static_cast<double>(cell.cap_max));
        hm.text.back().push_back((cell.km.median ? epochs(*cell.km.median) : ">" + std::to_string(cell.cap_max)) +
                                 count);
        cells_json.push_back({{xa, x}, {ya, y}, {"runs", cell.runs.size()}, {"grokked", cell.grokked},
                              {"km_median", cell.km.median ? json(*cell.km.median) : json(nullptr)}});
      }
    }
    js_["heat_maps"].push_back({{"group", name}, {"x", xa}, {"y", ya}, {"cells", cells_json}});
    add_plot("heat_map", hm.labels.title, plot::heat_map(plot_dir_, "heat-" + safe_stem(join(g.key, "-")), hm, opt_.plot));
  }
}

// On a hyperparameter grid (two numeric point axes, e.g. lr x wd): each
// group's best cell (lowest Kaplan-Meier median; then more grokked; then the
// lower mean), and the best cells compared pairwise within each stratum, as
// comparisons_section compares whole groups.
void Reporter::tuned_section() {
  if (!grid_) return;
  const auto& [xa, ya] = *grid_;
  struct Best {
    const Group* group;
    double x, y;
    Group cell;
  };
  auto km_or_cap = [](const Group& c) { return c.km.median ? *c.km.median : static_cast<double>(c.cap_max) + 1; };
  auto better = [&](const Group& a, const Group& b) {
    if (km_or_cap(a) != km_or_cap(b)) return km_or_cap(a) < km_or_cap(b);
    const double fa = static_cast<double>(a.grokked) / static_cast<double>(a.runs.size());
    const double fb = static_cast<double>(b.grokked) / static_cast<double>(b.runs.size());
    if (fa != fb) return fa > fb;
    return a.grok.n > 0 && (b.grok.n == 0 || a.grok.mean < b.grok.mean);
  };
  std::map<std::vector<std::string>, std::vector<Best>, KeyLess> strata;
  for (const Group& g : groups_) {
    std::optional<Best> best;
    for (const auto& [xy, runs] : grid_cells(g, xa, ya)) {
      Group cell = analyse_group({}, runs);
      if (!best || better(cell, best->cell)) best = Best{&g, xy.first, xy.second, std::move(cell)};
    }
    if (best) strata[{g.key.begin(), g.key.end() - 1}].push_back(std::move(*best));
  }
  std::vector<std::string> strata_fields(opt_.by.begin(), opt_.by.end() - 1);
  std::vector<std::string> best_header = opt_.by;
  for (const std::string& h : {xa, ya, std::string("runs"), std::string("grokked"), std::string("mean"),
                               std::string("KM median")})
    best_header.push_back(h);
  std::vector<std::string> cmp_header = strata_fields;
  for (const char* h : {"A", "B", "runs A/B", "grokked A/B", "mean A", "mean B", "Welch t", "df", "p", "log-rank p"})
    cmp_header.push_back(h);
  std::vector<std::vector<std::string>> best_rows, cmp_rows;
  json arr = json::array();
  for (auto& [stratum, bests] : strata) {
    for (const Best& b : bests) {
      std::vector<std::string> row = b.group->key;
      for (const std::string& v : {number_text(b.x), number_text(b.y), std::to_string(b.cell.runs.size()),
                                   std::to_string(b.cell.grokked), fmt("%.1f", b.cell.grok.mean), km_median_text(b.cell)})
        row.push_back(v);
      best_rows.push_back(row);
    }
    for (size_t i = 0; i < bests.size(); ++i)
      for (size_t j = i + 1; j < bests.size(); ++j) {
        const Best &a = bests[i], &b = bests[j];
        Comparison c = compare(a.group->key.back(), b.group->key.back(), a.cell.runs, b.cell.runs);
        std::vector<std::string> row = stratum;
        for (const std::string& v :
             {c.a, c.b, std::to_string(c.runs_a.size()) + "/" + std::to_string(c.runs_b.size()),
              std::to_string(count_grokked(c.runs_a)) + "/" + std::to_string(count_grokked(c.runs_b)),
              fmt("%.1f", c.welch.mean_a), fmt("%.1f", c.welch.mean_b), fmt("%.2f", c.welch.t), fmt("%.1f", c.welch.df),
              pval(c.welch.p), pval(c.lr.p)})
          row.push_back(v);
        cmp_rows.push_back(row);
        json key = json::object();
        for (size_t k = 0; k < strata_fields.size(); ++k) key[strata_fields[k]] = stratum[k];
        arr.push_back({{"stratum", key},
                       {"a", {{"value", c.a}, {xa, a.x}, {ya, a.y}, {"stats", group_stats_json(a.cell)}}},
                       {"b", {{"value", c.b}, {xa, b.x}, {ya, b.y}, {"stats", group_stats_json(b.cell)}}},
                       {"welch", ttest_json(c.welch)},
                       {"log_rank", logrank_json(c.lr)}});
      }
  }
  md_ << "## Each at its best " << xa << " x " << ya << "\n\n"
      << "The grid's best cell for each " << join(opt_.by, " x ")
      << ": the lowest Kaplan-Meier median grokking epoch (then the larger grokked fraction, then the lower mean). "
         "The cells are picked on the same runs they are then compared with, which flatters every side's best "
         "(the winner's curse): rerun the picked cells with new seeds to confirm a difference.\n\n"
      << markdown_table(best_header, best_rows) << "\n";
  if (!cmp_rows.empty())
    md_ << "Best cell against best cell (Welch's t on the grokked runs, log-rank on all; as above):\n\n"
        << markdown_table(cmp_header, cmp_rows) << "\n";
  js_["tuned"] = {{"axes", {xa, ya}}, {"comparisons", arr}};
}

void Reporter::plots_section() {
  js_["plots"] = json::array();
  if (!opt_.plots) {
    md_ << "## Plots\n\nNot made (--no-plots).\n\n";
    return;
  }
  plot::GnuplotStatus g;
  try {
    g = plot::find_gnuplot(opt_.plot);
  } catch (const std::exception& e) {  // no pipe or process to run it
    g.reason = e.what();
  }
  if (!g.available) {
    warn("no plot images: " + g.reason + "; the data and gnuplot scripts are in " + plot_dir_);
    not_drawn_reasons_.insert(g.reason);
  }
  // A plot that fails in any way (gnuplot fails or hangs, a file cannot be
  // written) leaves the rest of the report standing: report.md and
  // report.json are still written, with a warning.
  auto guarded = [&](const char* what, void (Reporter::*fn)()) {
    try {
      (this->*fn)();
    } catch (const std::exception& e) {
      warn(std::string(what) + " plot failed: " + e.what());
    }
  };
  guarded("box", &Reporter::box_plots);
  guarded("curves", &Reporter::curves);
  guarded("heat map", &Reporter::heat_maps);
  md_ << "## Plots\n\n";
  if (!g.available) md_ << "No images: " << g.reason << ". The data (.dat) and gnuplot scripts (.gp) are written.\n\n";
  md_ << plots_md_.str();
}

// Merged shards may come from different machines and builds: say which, and what that means for reproducing a run.
void Reporter::provenance_line() {
  auto tally = [&](std::string (*of)(const Run&)) {
    std::map<std::string, size_t> count;
    for (const Run& r : loaded_.runs) ++count[of(r)];
    return count;
  };
  auto listed = [](const std::map<std::string, size_t>& count) {
    std::vector<std::string> parts;
    for (const auto& [what, n] : count) parts.push_back("`" + what + "` (" + std::to_string(n) + ")");
    return join(parts, ", ");
  };
  std::map<std::string, size_t> devices = tally(device_of), sources = tally(source_of);
  md_ << "Ran on: " << listed(devices) << ". Built from: " << listed(sources) << ".";
  if (devices.size() > 1 || sources.size() > 1)
    md_ << " Runs from different devices or builds are independent samples and pool, but a run reproduces bit for"
           " bit only on its own kind of device (the vector width sets the order of float sums) and build.";
  md_ << "\n\n";
  js_["devices"] = devices;
  js_["sources"] = sources;
}

Written Reporter::run() {
  check_fields();
  check_curves();
  fs::path first(opt_.results.front());
  dir_ = opt_.out.empty() ? (first.parent_path() / "report").string() : opt_.out;
  if (dir_.empty()) dir_ = "report";
  plot_dir_ = (fs::path(dir_) / "plots").string();
  refuse_to_overwrite_inputs(loaded_.files, dir_, opt_.plots);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create the report directory " + dir_ + ": " + ec.message(), ExitCode::Io);
  for (const std::string& w : loaded_.warnings) warn(w);
  make_groups();
  grid_ = grid_axes(loaded_.runs, no_grid_why_);

  md_ << "# grokjit report\n\n"
      << "Results: " << join(loaded_.files, ", ") << " (" << loaded_.lines - loaded_.skipped << " rows, "
      << loaded_.runs.size() << " runs";
  if (loaded_.duplicates) md_ << ", " << loaded_.duplicates << " duplicate rows counted once";
  if (loaded_.skipped) md_ << "; " << loaded_.skipped << " lines skipped, see Warnings";
  md_ << "). Definitions and methods: docs/report.md.\n\n";
  provenance_line();
  censoring_section();
  groups_section();
  comparisons_section();
  pooled_section();
  paired_section();
  tuned_section();
  plots_section();
  if (!warnings_.empty()) {
    md_ << "## Warnings\n\n";
    for (const std::string& w : warnings_) md_ << "- " << w << "\n";
    md_ << "\n";
  }
  js_["inputs"] = {{"files", loaded_.files},
                   {"rows", loaded_.lines - loaded_.skipped},
                   {"skipped_lines", loaded_.skipped},
                   {"runs", loaded_.runs.size()},
                   {"duplicates", loaded_.duplicates}};
  js_["by"] = opt_.by;
  js_["warnings"] = warnings_;

  Written w;
  w.dir = dir_;
  w.markdown = md_.str();
  w.json = js_;
  w.warnings = warnings_;
  w.plots = drawn_;
  w.markdown_path = (fs::path(dir_) / "report.md").string();
  w.json_path = (fs::path(dir_) / "report.json").string();
  // Atomically: a failed write (a full disk) keeps the previous report whole, and the error says why.
  write_file_atomically(w.markdown_path, w.markdown);
  write_file_atomically(w.json_path, js_.dump(2) + "\n");
  return w;
}

}  // namespace


const json* field(const Run& run, const std::string& path) {
  if (path.rfind("point.", 0) == 0) {
    if (!run.row.contains("point") || !run.row["point"].is_object()) return nullptr;
    auto it = run.row["point"].find(path.substr(6));
    return it == run.row["point"].end() ? nullptr : &*it;
  }
  const json* node = &run.config;
  std::stringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

// One config is one run whatever a sweep named it (the paper grid's
// add-adamw seed 0 is the lr-wd grid's shipped cell): a second row of the
// same config would count one sample twice.
static void count_each_config_once(Loaded& out) {
  std::map<std::string, size_t> by_config;  // identity config -> position in kept
  std::vector<Run> kept;
  for (Run& run : out.runs) {
    const std::string key = run.config.is_null() ? "" : identity_config(run.config).dump();
    auto [it, fresh] = key.empty() ? std::pair{by_config.end(), true} : by_config.emplace(key, kept.size());
    if (fresh) {
      kept.push_back(std::move(run));
      continue;
    }
    const Run& first = kept[it->second];
    ++out.duplicates;
    std::string warning = run.source + ": run '" + run.id + "' ran the same config as '" + first.id + "' (" +
                          first.source + "); counted once";
    auto outcome = [](const Run& r) {
      return epochs(r.time) + (r.grokked ? " grokked" : r.diverged ? " diverged" : " censored");
    };
    if (outcome(run) != outcome(first))
      warning += ", although their results differ (epoch " + outcome(first) + " vs " + outcome(run) +
                 "; another build or device?)";
    out.warnings.push_back(warning);
  }
  out.runs = std::move(kept);
}

Loaded load_results(const std::vector<std::string>& paths) {
  if (paths.empty()) throw Error("report: give at least one results file", ExitCode::Usage);
  Loaded out;
  std::map<std::string, size_t> index;  // id -> position in out.runs
  for (const std::string& path : paths) {
    std::ifstream f(path);
    if (!f) {
      std::error_code ec;
      bool exists = fs::exists(path, ec);
      throw Error("cannot read results file " + path + (exists ? " (permission?)" : ": no such file"), ExitCode::Io);
    }
    if (std::error_code ec; fs::is_directory(path, ec))
      throw Error("cannot read results file " + path + ": it is a directory (give its results.jsonl)", ExitCode::Io);
    out.files.push_back(path);
    std::string line;
    size_t n = 0;
    const size_t lines_before = out.lines, skipped_before = out.skipped;
    while (std::getline(f, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++out.lines;
      json row = json::parse(line, nullptr, false);
      std::string why = row.is_discarded() ? "not valid JSON" : results_row_problem(row);
      if (!why.empty()) {
        out.warnings.push_back(where(path, n) + ": skipped a line that is not a complete results row (" + why +
                               "; a write cut short?)");
        ++out.skipped;
        continue;
      }
      Run run = make_run(std::move(row), where(path, n));
      auto it = index.find(run.id);
      if (it == index.end()) {
        if (!run.grokked && !run.diverged && run.time < static_cast<double>(run.cap))
          out.warnings.push_back(run.source + ": run '" + run.id + "' stopped at epoch " + epochs(run.time) +
                                 " before its cap " + std::to_string(run.cap) + " without grokking (interrupted?); " +
                                 "it is censored at " + epochs(run.time));
        index[run.id] = out.runs.size();
        out.runs.push_back(std::move(run));
        continue;
      }
      const Run& first = out.runs[it->second];
      require_same_run(run.id, first.row, first.source, run.row, run.source);
      ++out.duplicates;
    }
    // Among other files (no rows at all is the error below): the wrong file, or a shard that has not run yet.
    const size_t lines = out.lines - lines_before;
    if (lines == out.skipped - skipped_before)
      out.warnings.push_back(path + ": no results rows" +
                             (lines ? " (" + std::to_string(lines) + " lines, none a complete row)" : " (empty)") +
                             "; it adds no runs to the report");
  }
  count_each_config_once(out);
  if (out.runs.empty())
    throw Error("no results rows in " + join(paths, ", ") +
                    (out.lines ? " (" + std::to_string(out.lines) + " lines, none a complete row)" : " (empty)"),
                ExitCode::Usage);
  return out;
}

Written write_report(const Options& options) {
  Loaded loaded = load_results(options.results);
  Reporter reporter(options, std::move(loaded));
  return reporter.run();
}

std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  auto line = [](const std::vector<std::string>& cells) {
    std::string l = "|";
    for (const std::string& c : cells) {
      std::string e;
      for (char ch : c) e += ch == '|' ? std::string("\\|") : std::string(1, ch);
      l += " " + e + " |";
    }
    return l + "\n";
  };
  std::string out = line(header) + "|";
  for (size_t i = 0; i < header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

}  // namespace grokjit::runtime::report
