#include "runtime/analysis_experiments.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "ir/error.h"
#include "runtime/knobs.h"  // closest_name
#include "runtime/plot.h"
#include "runtime/report.h"
#include "runtime/stats.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct RunData {
  const SweepPoint* point = nullptr;
  bool done = false;
  std::string failure;  // the results row's "failure" (a diverged run: not done)
  json summary;
  std::vector<json> metrics;  // metrics.jsonl lines
};

// The sweep's runs from its results; the lines skipped (not rows) add to `skipped`.
std::vector<RunData> load_runs(const Sweep& sweep, const std::string& out_dir, std::vector<std::string>& skipped) {
  ResultsScan scan = scan_results(out_dir);
  skipped.insert(skipped.end(), scan.warnings.begin(), scan.warnings.end());
  std::vector<RunData> runs;
  for (const SweepPoint& p : sweep.points) {
    RunData r;
    r.point = &p;
    auto it = scan.rows.find(p.id);
    // A diverged run's row has "summary": null and a "failure": not done.
    if (it != scan.rows.end() && it->second.row.contains("failure")) {
      const json& f = it->second.row["failure"];
      r.failure = f.is_object() ? f.value("kind", "failed") + " (" + f.value("message", "") + ")" : f.dump();
    }
    if (it != scan.rows.end() && it->second.row.contains("summary") && it->second.row["summary"].is_object()) {
      r.done = true;
      r.summary = it->second.row["summary"];
      fs::path dir = it->second.row.value("out_dir", (fs::path(out_dir) / p.id).string());
      std::ifstream in(dir / "metrics.jsonl");
      for (std::string line; std::getline(in, line);) {
        json j = json::parse(line, nullptr, false);
        if (!j.is_discarded()) r.metrics.push_back(std::move(j));
      }
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

// j[a][b]... as a number; NaN when absent or null.
double num(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return kNaN;
    cur = &(*cur)[key];
  }
  return cur->is_number() ? cur->get<double>() : kNaN;
}

std::string fmt(double v, const char* f = "%.4g") {
  if (std::isnan(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string axis_text(const RunData& r, const std::string& axis) {
  return r.point->point.contains(axis) ? text_of(r.point->point[axis]) : "";
}

// A table and the blank line after it.
std::string md_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  return report::markdown_table(headers, rows) + "\n";
}

// Runs grouped by the text of one axis, in first-appearance order.
std::vector<std::pair<std::string, std::vector<const RunData*>>> group_by(const std::vector<RunData>& runs,
                                                                         const std::string& axis) {
  std::vector<std::pair<std::string, std::vector<const RunData*>>> groups;
  for (const RunData& r : runs) {
    if (!r.done) continue;
    std::string key = axis_text(r, axis);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {}});
      it = groups.end() - 1;
    }
    it->second.push_back(&r);
  }
  return groups;
}

// Series of metric `f(line)` over epochs.
template <class F>
plot::Series curve(const RunData& r, const std::string& label, F f) {
  plot::Series s;
  s.label = label;
  for (const json& line : r.metrics) {
    double y = f(line);
    if (std::isnan(y)) continue;
    s.x.push_back(num(line, {"epoch"}));
    s.y.push_back(y);
  }
  return s;
}

std::string epoch_text(const json& summary, const char* key) {
  return summary.contains(key) && summary[key].is_number() ? std::to_string(summary[key].get<int64_t>()) : "never";
}

double mean_of(const std::vector<double>& v) { return stats::mean(v); }

std::string missing_note(const std::vector<RunData>& runs) {
  std::string out;
  for (const RunData& r : runs)
    if (!r.done)
      out += "- " + (r.failure.empty() ? "missing (no results row yet): " + r.point->id : "failed: " + r.point->id + ": " + r.failure) + "\n";
  return out.empty() ? out : "\n" + out + "\n";
}

// ---- (a) weight decay 0 vs > 0: grokking and the stages over training.
std::string report_li2_wd(const std::vector<RunData>& runs, const std::string& plots) {
  std::string md;
  std::vector<std::vector<std::string>> rows;
  for (const RunData& r : runs) {
    if (!r.done) continue;
    const json& last = r.metrics.empty() ? json::object() : r.metrics.back();
    rows.push_back({axis_text(r, "wd"), axis_text(r, "train.seed"), epoch_text(r.summary, "memorization_epoch"),
                    epoch_text(r.summary, "grokking_epoch"), fmt(num(r.summary, {"final", "train_acc"})),
                    fmt(num(r.summary, {"final", "val_acc"})), fmt(num(last, {"li2", "fourier", "coverage"})),
                    fmt(num(last, {"li2", "energy_mean"}) / num(last, {"li2", "energy_random"})),
                    fmt(num(last, {"weight_norms", "W"}))});
  }
  md += "## Runs\n\n" +
        md_table({"weight decay", "seed", "memorized", "grokked", "train acc", "val acc", "coverage",
                  "energy / random", "‖W‖"},
                 rows);
  // Stages: the first run of each weight decay at its milestones.
  md += "## Stages over training (first seed of each weight decay)\n\n"
        "Milestones: the first evaluation, memorization (train acc >= threshold), grokking (val acc >= "
        "threshold) and the last evaluation. dW, dV: Frobenius change of W, V since the previous evaluation.\n\n";
  for (const auto& [wd, group] : group_by(runs, "wd")) {
    const RunData& r = *group.front();
    if (r.metrics.empty()) continue;
    std::vector<std::pair<std::string, double>> marks = {{"first eval", num(r.metrics.front(), {"epoch"})}};
    if (num(r.summary, {"memorization_epoch"}) > 0) marks.push_back({"memorized", num(r.summary, {"memorization_epoch"})});
    if (num(r.summary, {"grokking_epoch"}) > 0) marks.push_back({"grokked", num(r.summary, {"grokking_epoch"})});
    marks.push_back({"last", num(r.metrics.back(), {"epoch"})});
    std::vector<std::vector<std::string>> st;
    for (const auto& [what, epoch] : marks) {
      for (const json& line : r.metrics) {
        if (num(line, {"epoch"}) != epoch) continue;
        st.push_back({what, fmt(epoch, "%.0f"), fmt(num(line, {"train_acc"})), fmt(num(line, {"val_acc"})),
                      fmt(num(line, {"li2", "energy_mean"}) / num(line, {"li2", "energy_random"})),
                      fmt(num(line, {"li2", "fourier", "coverage"})), fmt(num(line, {"li2", "fourier", "purity_mean"})),
                      fmt(num(line, {"li2", "dW"})), fmt(num(line, {"li2", "dV"})),
                      fmt(num(line, {"li2", "grad_norm_mean"}))});
      }
    }
    md += "### weight decay " + wd + "\n\n" +
          md_table({"stage", "epoch", "train acc", "val acc", "energy / random", "coverage", "purity", "dW", "dV",
                    "mean ‖G_F‖"},
                   st);
  }
  // Plots over epochs, every run; colour = weight decay, dashed = later seeds.
  auto over_epochs = [&](const std::string& stem, const std::string& title, const std::string& ylabel, bool log_y,
                         auto f) {
    plot::LinePlot p;
    p.labels = {title, "epoch", ylabel};
    p.log_y = log_y;
    p.key = "top left";
    int color = 0;
    for (const auto& [wd, group] : group_by(runs, "wd")) {
      for (size_t i = 0; i < group.size(); ++i) {
        plot::Series s = curve(*group[i], "wd " + wd + " seed " + axis_text(*group[i], "train.seed"), f);
        s.color = color;
        s.dashed = i > 0;
        if (!s.x.empty()) p.series.push_back(std::move(s));
      }
      ++color;
    }
    if (p.series.empty()) return std::string();
    return plot::markdown_image(plot::line_plot(plots, stem, p), title);
  };
  md += "## Over training\n\n";
  md += over_epochs("wd-val-acc", "validation accuracy", "val acc", false,
                    [](const json& l) { return num(l, {"val_acc"}); });
  md += over_epochs("wd-energy", "mean node energy / mean energy of random unit w", "ratio", true, [](const json& l) {
    return num(l, {"li2", "energy_mean"}) / num(l, {"li2", "energy_random"});
  });
  md += over_epochs("wd-coverage", "Fourier coverage of the hidden nodes", "coverage", false,
                    [](const json& l) { return num(l, {"li2", "fourier", "coverage"}); });
  md += over_epochs("wd-dW", "||W_t - W_{t-eval}||_F between evaluations", "dW", true,
                    [](const json& l) { return num(l, {"li2", "dW"}); });
  return md;
}

// ---- (b) test accuracy over M and the train fraction, with p*.
std::string report_li2_pstar(const std::vector<RunData>& runs, const std::string& plots) {
  std::map<double, std::map<double, std::vector<double>>> acc;  // M -> fraction -> final val acc per seed
  for (const RunData& r : runs) {
    if (!r.done) continue;
    double M = num(r.summary, {"config", "task", "p"}), f = num(r.summary, {"config", "task", "train_fraction"});
    acc[M][f].push_back(num(r.summary, {"final", "val_acc"}));
  }
  std::set<double> fractions;
  for (const auto& [M, by_f] : acc)
    for (const auto& [f, v] : by_f) fractions.insert(f);
  std::vector<std::string> headers = {"M", "p* = 2.7482 ln M / M", "smallest fraction with val acc >= 0.95"};
  for (double f : fractions) headers.push_back("val acc @ " + fmt(f, "%.3g"));
  std::vector<std::vector<std::string>> rows;
  plot::LinePlot lp;
  lp.labels = {"final validation accuracy (mean over seeds); dashed: p*(M)", "train fraction", "val acc"};
  lp.y_min = 0;
  lp.y_max = 1.05;
  lp.key = "bottom right";
  plot::HeatMap hm;
  hm.labels = {"final validation accuracy (mean over seeds)", "train fraction", "M"};
  hm.value_label = "val acc";
  for (double f : fractions) hm.x_ticks.push_back(fmt(f, "%.3g"));
  int color = 0;
  for (const auto& [M, by_f] : acc) {
    const double pstar = li2_critical_fraction(M);
    std::vector<std::string> row = {fmt(M, "%.0f"), fmt(pstar, "%.3f"), "none"};
    plot::Series s;
    s.label = "M = " + fmt(M, "%.0f");
    s.color = color;
    s.points = true;
    std::vector<std::optional<double>> cells;
    std::vector<std::string> texts;
    for (double f : fractions) {
      auto it = by_f.find(f);
      if (it == by_f.end()) {
        row.push_back("–");
        cells.push_back(std::nullopt);
        texts.push_back("");
        continue;
      }
      double m = mean_of(it->second);
      row.push_back(fmt(m, "%.3f") + (it->second.size() > 1 ? " (n=" + std::to_string(it->second.size()) + ")" : ""));
      if (row[2] == "none" && m >= 0.95) row[2] = fmt(f, "%.3g");
      s.x.push_back(f);
      s.y.push_back(m);
      cells.push_back(m);
      texts.push_back(fmt(m, "%.2f"));
    }
    rows.push_back(row);
    lp.series.push_back(s);
    plot::Series mark;
    mark.label = "p*(" + fmt(M, "%.0f") + ") = " + fmt(pstar, "%.3f");
    mark.x = {pstar, pstar};
    mark.y = {0, 1};
    mark.color = color++;
    mark.dashed = true;
    lp.series.push_back(mark);
    hm.y_ticks.push_back(fmt(M, "%.0f"));
    hm.value.push_back(cells);
    hm.text.push_back(texts);
  }
  std::string md = "## Final validation accuracy over M and train fraction\n\n" + md_table(headers, rows);
  if (!lp.series.empty()) {
    md += plot::markdown_image(plot::line_plot(plots, "pstar-lines", lp), "val acc vs train fraction, p* dashed");
    md += plot::markdown_image(plot::heat_map(plots, "pstar-heat", hm), "val acc heat map");
  }
  return md;
}

// ---- (c) optimizers at small hidden width K: test loss and coverage vs K.
// The learning rate a run's optimizer used (Muon: the rate of its Muon-routed W).
double run_lr(const RunData& r) {
  const json* optimizer = r.summary.is_object() && r.summary.contains("config") ? &r.summary["config"]["optimizer"] : nullptr;
  if (!optimizer || !optimizer->is_object()) return kNaN;
  const std::string kind = optimizer->value("kind", "");
  return num(*optimizer, {kind == "adamw" ? "adam" : kind.c_str(), "lr"});
}

// With an "lr" axis, each optimizer is compared at its own best rate: the
// one with the lowest mean final test loss over all K and seeds. Returns
// optimizer -> chosen lr label, and a table of every rate.
std::map<std::string, std::string> choose_rates(const std::vector<RunData>& runs, std::string* table) {
  std::map<std::string, std::map<std::string, std::vector<double>>> loss, acc;  // opt -> lr label -> per run
  std::map<std::pair<std::string, std::string>, double> rate;
  std::vector<std::string> order;
  for (const RunData& r : runs) {
    if (!r.done) continue;
    const std::string opt = axis_text(r, "opt"), lr = axis_text(r, "lr");
    if (std::find(order.begin(), order.end(), opt) == order.end()) order.push_back(opt);
    loss[opt][lr].push_back(num(r.summary, {"final", "val_loss"}));
    acc[opt][lr].push_back(num(r.summary, {"final", "val_acc"}));
    rate[{opt, lr}] = run_lr(r);
  }
  std::map<std::string, std::string> chosen;
  std::vector<std::vector<std::string>> rows;
  for (const std::string& opt : order) {
    double best = std::numeric_limits<double>::infinity();
    for (const auto& [lr, v] : loss[opt]) {
      const double m = mean_of(v);  // a diverged run (NaN loss) makes its rate lose
      if (!std::isnan(m) && m < best) {
        best = m;
        chosen[opt] = lr;
      }
    }
    std::vector<std::string> by_rate;
    for (const auto& [lr, v] : loss[opt]) by_rate.push_back(lr);
    std::sort(by_rate.begin(), by_rate.end(), [&](const auto& a, const auto& b) { return rate[{opt, a}] < rate[{opt, b}]; });
    for (const std::string& lr : by_rate) {
      const std::vector<double>& v = loss[opt][lr];
      rows.push_back({opt, lr, fmt(rate[{opt, lr}], "%.3g"), std::to_string(v.size()), fmt(mean_of(v)),
                      fmt(mean_of(acc[opt][lr]), "%.3f"), chosen[opt] == lr ? "**chosen**" : ""});
    }
  }
  *table = "## Learning rate per optimizer\n\nEach optimizer is compared at the rate with the lowest mean final test "
           "loss over all K and seeds.\n\n" +
           md_table({"optimizer", "lr axis", "lr", "runs", "val loss (mean over K, seeds)", "val acc (mean)", ""}, rows);
  return chosen;
}

std::string report_li2_width(const std::vector<RunData>& runs, const std::string& plots) {
  double M = kNaN;
  std::string tuning;
  std::map<std::string, std::string> chosen;
  const bool tuned = std::any_of(runs.begin(), runs.end(), [](const RunData& r) { return !axis_text(r, "lr").empty(); });
  if (tuned) chosen = choose_rates(runs, &tuning);
  // optimizer -> K -> final values per seed, at the optimizer's chosen rate
  std::map<std::string, std::map<double, std::vector<double>>> loss, coverage, acc;
  std::map<std::string, double> lr_of;
  std::vector<std::string> order;
  for (const RunData& r : runs) {
    if (!r.done) continue;
    M = num(r.summary, {"config", "task", "p"});
    const std::string opt = axis_text(r, "opt");
    if (tuned && axis_text(r, "lr") != chosen[opt]) continue;
    if (std::find(order.begin(), order.end(), opt) == order.end()) order.push_back(opt);
    lr_of[opt] = run_lr(r);
    const double K = num(r.summary, {"config", "model", "two_layer", "hidden"});
    const json& last = r.metrics.empty() ? json::object() : r.metrics.back();
    loss[opt][K].push_back(num(r.summary, {"final", "val_loss"}));
    acc[opt][K].push_back(num(r.summary, {"final", "val_acc"}));
    coverage[opt][K].push_back(num(last, {"li2", "fourier", "coverage"}));
  }
  const double half = std::floor((M - 1) / 2);
  std::vector<std::vector<std::string>> rows;
  plot::LinePlot lp, cp;
  lp.labels = {"final test loss vs hidden width K (dashed: K = (M-1)/2)", "K", "val loss"};
  lp.log_y = true;
  lp.key = "top right";
  cp.labels = {"final Fourier coverage vs hidden width K (dashed: K = (M-1)/2)", "K", "coverage"};
  cp.y_min = 0;
  cp.y_max = 1.05;
  int color = 0;
  double lo = 1e300, hi = -1e300;
  for (const std::string& opt : order) {
    plot::Series ls, cs;
    ls.label = cs.label = opt + " (lr " + fmt(lr_of[opt], "%.3g") + ")";
    ls.color = cs.color = color++;
    ls.points = cs.points = true;
    for (const auto& [K, v] : loss[opt]) {
      const double l = mean_of(v), c = mean_of(coverage[opt][K]);
      rows.push_back({opt, fmt(lr_of[opt], "%.3g"), fmt(K, "%.0f"), std::to_string(v.size()), fmt(l),
                      fmt(mean_of(acc[opt][K]), "%.3f"), fmt(c, "%.3f")});
      ls.x.push_back(K);
      ls.y.push_back(l);
      cs.x.push_back(K);
      cs.y.push_back(c);
      lo = std::min(lo, l);
      hi = std::max(hi, l);
    }
    lp.series.push_back(ls);
    cp.series.push_back(cs);
  }
  std::string md = "M = " + fmt(M, "%.0f") + ", (M-1)/2 = " + fmt(half, "%.0f") + " frequencies.\n\n" + tuning +
                   (tuned ? "## Each optimizer at its chosen rate\n\n" : "") +
                   md_table({"optimizer", "lr", "K", "seeds", "val loss (mean)", "val acc (mean)", "coverage (mean)"}, rows);
  if (!lp.series.empty()) {
    plot::Series mark;
    mark.label = "K = (M-1)/2";
    mark.x = {half, half};
    mark.dashed = true;
    mark.color = color;
    mark.y = {lo > 0 ? lo : 1e-6, hi > 0 ? hi : 1};
    lp.series.push_back(mark);
    mark.y = {0, 1};
    cp.series.push_back(mark);
    md += plot::markdown_image(plot::line_plot(plots, "width-loss", lp), "test loss vs K");
    md += plot::markdown_image(plot::line_plot(plots, "width-coverage", cp), "coverage vs K");
  }
  return md;
}

// ---- representation metrics of the last evaluation, per optimizer.
// The per-run figures of one optimizer's runs (one entry per seed).
struct RepresentationGroup {
  std::string optimizer;
  std::map<std::string, std::vector<double>> run_values;    // "margin", "val_acc", ... -> per run
  std::vector<std::string> layers;                           // in network order
  std::map<std::string, std::vector<double>> probe, erank_energy, erank_nuclear;  // layer -> per run
  std::vector<double> sigmas;
  std::map<double, std::vector<double>> noise_acc;           // sigma -> per run
};

std::string mean_sd(const std::vector<double>& v, const char* f = "%.3f") {
  if (v.empty()) return "–";
  std::string out = fmt(stats::mean(v), f);
  return v.size() > 1 ? out + " ± " + fmt(stats::stddev(v), f) : out;
}

std::vector<RepresentationGroup> representation_groups(const std::vector<RunData>& runs) {
  std::vector<RepresentationGroup> groups;
  for (const RunData& r : runs) {
    if (!r.done || r.metrics.empty() || !r.metrics.back().contains("representation")) continue;
    const json& rep = r.metrics.back()["representation"];
    const std::string opt = axis_text(r, "opt");
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.optimizer == opt; });
    if (it == groups.end()) {
      groups.push_back({});
      it = groups.end() - 1;
      it->optimizer = opt;
    }
    it->run_values["val_acc"].push_back(num(rep, {"val_acc"}));
    it->run_values["margin"].push_back(num(rep, {"margin_mean"}));
    it->run_values["margin_normalized"].push_back(num(rep, {"margin_normalized_mean"}));
    it->run_values["grokked"].push_back(r.summary.contains("grokking_epoch") && r.summary["grokking_epoch"].is_number() ? 1 : 0);
    for (const json& l : rep["layers"]) {
      const std::string name = l["name"].get<std::string>();
      if (std::find(it->layers.begin(), it->layers.end(), name) == it->layers.end()) it->layers.push_back(name);
      it->probe[name].push_back(num(l, {"probe_acc"}));
      it->erank_energy[name].push_back(num(l, {"erank_energy"}));
      it->erank_nuclear[name].push_back(num(l, {"erank_nuclear"}));
    }
    for (const json& n : rep["noise"]) {
      const double sigma = num(n, {"sigma"});
      if (std::find(it->sigmas.begin(), it->sigmas.end(), sigma) == it->sigmas.end()) it->sigmas.push_back(sigma);
      it->noise_acc[sigma].push_back(num(n, {"val_acc"}));
    }
  }
  return groups;
}

// One optimizer's line: its label, colour and points.
plot::Series optimizer_series(const RepresentationGroup& g, int color) {
  plot::Series s;
  s.label = g.optimizer;
  s.color = color;
  s.points = true;
  return s;
}

// Per-layer means as a line over the layer index, one series per optimizer.
plot::LinePlot per_layer_plot(const std::vector<RepresentationGroup>& groups,
                              std::map<std::string, std::vector<double>> RepresentationGroup::*field, const plot::Labels& labels) {
  plot::LinePlot lp;
  lp.labels = labels;
  lp.key = "top left";
  int color = 0;
  for (const RepresentationGroup& g : groups) {
    plot::Series s = optimizer_series(g, color++);
    for (size_t i = 0; i < g.layers.size(); ++i) {
      s.x.push_back(static_cast<double>(i));
      s.y.push_back(stats::mean((g.*field).at(g.layers[i])));
    }
    lp.series.push_back(s);
  }
  return lp;
}

std::string report_representation(const std::vector<RunData>& runs, const std::string& plots) {
  const std::vector<RepresentationGroup> groups = representation_groups(runs);
  if (groups.empty()) return "No finished run has representation metrics yet.\n";
  const std::string last_layer = groups.front().layers.empty() ? "" : groups.front().layers.back();
  // Per optimizer: mean ± sd over seeds.
  std::vector<std::string> headers = {"optimizer", "runs", "grokked", "val acc", "margin", "margin / ‖z‖",
                                      "erank " + last_layer + " (energy)", "probe " + last_layer};
  for (double sigma : groups.front().sigmas) headers.push_back("val acc, noise σ=" + fmt(sigma, "%.2g"));
  std::vector<std::vector<std::string>> rows;
  for (const RepresentationGroup& g : groups) {
    const auto& grokked = g.run_values.at("grokked");
    std::vector<std::string> row = {g.optimizer, std::to_string(grokked.size()),
                                    fmt(std::accumulate(grokked.begin(), grokked.end(), 0.0), "%.0f"),
                                    mean_sd(g.run_values.at("val_acc")), mean_sd(g.run_values.at("margin"), "%.3g"),
                                    mean_sd(g.run_values.at("margin_normalized"), "%.3g")};
    row.push_back(g.erank_energy.count(last_layer) ? mean_sd(g.erank_energy.at(last_layer), "%.2f") : "–");
    row.push_back(g.probe.count(last_layer) ? mean_sd(g.probe.at(last_layer)) : "–");
    for (double sigma : groups.front().sigmas) row.push_back(g.noise_acc.count(sigma) ? mean_sd(g.noise_acc.at(sigma)) : "–");
    rows.push_back(row);
  }
  std::string md = "## Per optimizer (last evaluation, mean ± sd over seeds)\n\nmargin: mean over validation rows of "
                   "z_y - max_{j≠y} z_j; margin / ‖z‖: the same divided per row by the L2 norm of the logit vector. "
                   "Noise: N(0, (σ·rms)²) added to the input embedding, mean accuracy of 3 draws.\n\n" +
                   md_table(headers, rows);
  // The claims under test: larger margins and effective rank under Muon.
  std::vector<std::vector<std::string>> tests;
  auto compare = [&](const std::string& what, const std::vector<double>& a, const std::vector<double>& b,
                     const std::string& na, const std::string& nb) {
    stats::TTest t = stats::welch_t_test(a, b);
    tests.push_back({what, na + " vs " + nb, fmt(t.mean_a, "%.4g") + " vs " + fmt(t.mean_b, "%.4g"),
                     t.defined() ? fmt(t.t, "%.3g") : "–", t.defined() ? fmt(t.p, "%.3g") : t.why});
  };
  for (size_t i = 0; i < groups.size(); ++i)
    for (size_t j = i + 1; j < groups.size(); ++j) {
      const RepresentationGroup &a = groups[i], &b = groups[j];
      compare("margin", a.run_values.at("margin"), b.run_values.at("margin"), a.optimizer, b.optimizer);
      compare("margin / ‖z‖", a.run_values.at("margin_normalized"), b.run_values.at("margin_normalized"), a.optimizer, b.optimizer);
      if (a.erank_energy.count(last_layer) && b.erank_energy.count(last_layer))
        compare("erank " + last_layer + " (energy)", a.erank_energy.at(last_layer), b.erank_energy.at(last_layer), a.optimizer,
                b.optimizer);
    }
  md += "## Optimizer pairs (Welch's t-test over seeds)\n\n" +
        md_table({"metric", "pair", "means", "t", "p"}, tests);
  // Per layer.
  std::vector<std::vector<std::string>> layer_rows;
  for (const RepresentationGroup& g : groups)
    for (const std::string& l : g.layers)
      layer_rows.push_back({g.optimizer, l, mean_sd(g.probe.at(l)), mean_sd(g.erank_energy.at(l), "%.2f"),
                            mean_sd(g.erank_nuclear.at(l), "%.2f")});
  md += "## Per layer\n\nprobe: ridge regression (λ = 1e-3 relative) on standardized states, fit on the first half "
        "of the validation rows, accuracy on the second half. Effective ranks of the uncentred validation-set "
        "states (float64 SVD): energy uses q = σ²/Σσ², nuclear q = σ/Σσ. Layers in network order: ";
  for (size_t i = 0; i < groups.front().layers.size(); ++i) md += (i ? ", " : "") + std::to_string(i) + " = " + groups.front().layers[i];
  md += ".\n\n" + md_table({"optimizer", "layer", "probe acc", "erank (energy)", "erank (nuclear)"}, layer_rows);
  plot::LinePlot probe = per_layer_plot(groups, &RepresentationGroup::probe, {"linear-probe accuracy per layer (mean over seeds)", "layer", "probe acc"});
  probe.y_min = 0;
  probe.y_max = 1.05;
  md += plot::markdown_image(plot::line_plot(plots, "representation-probe", probe), "probe accuracy per layer");
  md += plot::markdown_image(plot::line_plot(plots, "representation-erank",
                              per_layer_plot(groups, &RepresentationGroup::erank_energy,
                                             {"effective rank (energy) per layer (mean over seeds)", "layer", "effective rank"})),
              "effective rank per layer");
  plot::LinePlot noise;
  noise.labels = {"validation accuracy under embedding noise (mean over seeds)", "noise σ (relative to rms)", "val acc"};
  noise.log_x = true;
  noise.y_min = 0;
  noise.y_max = 1.05;
  noise.key = "bottom left";
  int color = 0;
  for (const RepresentationGroup& g : groups) {
    plot::Series s = optimizer_series(g, color++);
    for (double sigma : g.sigmas) {
      s.x.push_back(sigma);
      s.y.push_back(stats::mean(g.noise_acc.at(sigma)));
    }
    noise.series.push_back(s);
  }
  md += plot::markdown_image(plot::line_plot(plots, "representation-noise", noise), "accuracy under embedding noise");
  return md;
}

}  // namespace

double li2_critical_fraction(double M) { return 2.7482 * std::log(M) / M; }

const std::vector<ExperimentInfo>& experiments() {
  static const std::vector<ExperimentInfo> list = {
      {"li2-wd", "specs/sweeps/li2-wd.json",
       "Li2 (a): the 2-layer net groks only with weight decay > 0; energy, coverage and weight change over training"},
      {"li2-pstar", "specs/sweeps/li2-pstar.json",
       "Li2 (b): test accuracy over group size M and train fraction, against p* = 2.7482 ln M / M"},
      {"li2-width", "specs/sweeps/li2-width.json",
       "Li2 (c): Adam vs Muon vs SGD at small hidden width K: test loss and Fourier coverage against K"},
      {"representation", "specs/sweeps/representation.json",
       "AdamW vs Muon vs SGD at the same step budget: probes, margins, effective ranks, noise robustness"},
      {"stable-lr", "specs/experiments/stable-lr.json",
       "Muon vs SGD: largest stable learning rate next to the curvature-predicted threshold (runtime/analysis_stability.h)"},
  };
  return list;
}

const ExperimentInfo& find_experiment(const std::string& name) {
  std::vector<std::string> names;
  for (const ExperimentInfo& e : experiments()) {
    if (e.name == name) return e;
    names.push_back(e.name);
  }
  std::string guess = closest_name(name, names), all;
  for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
  throw Error("unknown experiment '" + name + "'" + (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                  " (known: " + all + ")",
              ExitCode::Usage);
}

std::string write_experiment_report(const ExperimentInfo& experiment, const Sweep& sweep, const std::string& out_dir) {
  std::vector<std::string> skipped;
  std::vector<RunData> runs = load_runs(sweep, out_dir, skipped);
  std::string skipped_note;  // a row skipped here shows as "missing" below: say why
  for (const std::string& w : skipped) skipped_note += "- " + w + "\n";
  size_t done = 0, failed = 0;
  for (const RunData& r : runs) {
    done += r.done;
    failed += !r.failure.empty();
  }
  // A report of nothing (`--report-only` before the sweep ran, or the wrong --out) is a mistake, as in `grokjit report`.
  if (done + failed == 0)
    throw Error("no results rows for the " + std::to_string(runs.size()) + " points of sweep '" + sweep.source +
                    "' in " + out_dir + " (results.jsonl or results.shard-*.jsonl): run `grokjit experiment " +
                    experiment.name + "` without --report-only first, or give the --out that holds them" +
                    (skipped.empty() ? "" : "; " + std::to_string(skipped.size()) + " line(s) were skipped, the first: " +
                                                skipped.front()),
                ExitCode::Usage);
  const std::string plots = (fs::path(out_dir) / "plots").string();
  fs::create_directories(plots);
  std::string md = "# " + experiment.name + "\n\n" + experiment.what + ".\n\nSweep `" + sweep.source + "` (" +
                   std::to_string(done) + " of " + std::to_string(runs.size()) + " points done), results in `" +
                   out_dir + "/results.jsonl`. Definitions: docs/experiments.md.\n" + missing_note(runs) +
                   (skipped_note.empty() ? "" : "\nResults lines skipped:\n\n" + skipped_note) + "\n";
  if (experiment.name == "li2-wd") md += report_li2_wd(runs, plots);
  if (experiment.name == "li2-pstar") md += report_li2_pstar(runs, plots);
  if (experiment.name == "li2-width") md += report_li2_width(runs, plots);
  if (experiment.name == "representation") md += report_representation(runs, plots);
  const fs::path path = fs::path(out_dir) / "report.md";
  std::ofstream f(path);
  f << md;
  if (!f) throw Error("cannot write " + path.string(), ExitCode::Io);
  return path.string();
}

}  // namespace grokjit::runtime
