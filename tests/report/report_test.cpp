// `grokjit report` on results files the tests write themselves, with known
// grokking epochs: the expected counts, medians and quartiles below are
// worked out by hand from the fixture (comments show the arithmetic), not
// by the code under test. Also: shard merging, duplicates, corrupt lines,
// plots, and the command line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/app.h"
#include "ir/error.h"
#include "runtime/plot.h"
#include "runtime/report.h"
#include "runtime/stats.h"

namespace {

namespace fs = std::filesystem;
namespace rep = grokjit::runtime::report;
using nlohmann::json;

constexpr int kCap = 200;

int run_cli(std::vector<std::string> args);  // the command line, in-process (below)

// One results row as `grokjit sweep` writes it (docs/sweeps.md); `grok` < 0:
// censored at the cap.
// Each id its own seed: rows of one config are one run (counted once).
int seed_of(const std::string& id) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return static_cast<int>(h % 1000003u);
}

json row(const std::string& id, const std::string& task, const std::string& output, const std::string& opt,
         int grok, json point = json::object()) {
  json config{{"name", id},
              {"task", {{"kind", task}, {"p", 97}}},
              {"model", {{"output", output}}},
              {"optimizer", {{"kind", opt}}},
              {"train", {{"max_epochs", kCap}, {"seed", seed_of(id)}}}};
  json summary{{"name", id},
               {"grokking_epoch", grok >= 0 ? json(grok) : json(nullptr)},
               {"memorization_epoch", 10},
               {"censored", grok < 0},
               {"interrupted", false},
               {"epochs_run", grok >= 0 ? grok : kCap},
               {"criterion", {{"cap", kCap}, {"grok_threshold", 0.95}, {"memorize_threshold", 0.99}}},
               {"final", {{"val_acc", grok >= 0 ? 0.96 : 0.3}, {"step_ms", 1.5}, {"epoch_s", 0.1}}},
               {"wall_seconds", 12.5},
               {"step_ms_median", 1.5},
               {"config", config}};
  return {{"id", id},
          {"sweep", "fixture"},
          {"point", point},
          {"out_dir", "runs/" + id},
          {"finished_at", "2026-11-23T15:00:00Z"},
          {"grokjit_version", "0.1.0"},
          {"summary", summary}};
}

// A run whose loss diverged: no summary, its config and a failure.
json diverged_row(const std::string& id, const std::string& task, const std::string& output, const std::string& opt) {
  json r = row(id, task, output, opt, -1);
  r["config"] = r["summary"]["config"];
  r["summary"] = nullptr;
  r["failure"] = {{"kind", "diverged"}, {"exit_code", 4}, {"message", "loss is NaN at epoch 7"}};
  return r;
}

// The fixture: grokking epochs per task/output/optimizer (-1 = censored at 200).
//   add/softmax/adamw:   150 120 180 100 -1
//   add/softmax/muon:     90 100 110  95
//   add/stablemax/adamw:  -1  -1  -1
//   add/stablemax/muon:   60 + one diverged run
std::vector<json> fixture_rows() {
  std::vector<json> rows;
  int i = 0;
  auto add = [&](const std::string& output, const std::string& opt, std::vector<int> epochs) {
    for (int e : epochs) rows.push_back(row("r" + std::to_string(i++), "add", output, opt, e));
  };
  add("softmax", "adamw", {150, 120, 180, 100, -1});
  add("softmax", "muon", {90, 100, 110, 95});
  add("stablemax", "adamw", {-1, -1, -1});
  add("stablemax", "muon", {60});
  rows.push_back(diverged_row("r" + std::to_string(i++), "add", "stablemax", "muon"));
  return rows;
}

// The rows of the first Markdown table after `heading`, as header -> cell.
std::vector<std::map<std::string, std::string>> md_table(const std::string& md, const std::string& heading) {
  size_t at = md.find("\n" + heading + "\n");
  EXPECT_NE(at, std::string::npos) << "no section '" << heading << "' in:\n" << md;
  if (at == std::string::npos) return {};
  std::istringstream in(md.substr(at + heading.size() + 2));
  auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
        out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    return out;
  };
  std::string line;
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) break;
    if (line.empty() || line[0] != '|') {
      if (!header.empty()) break;
      continue;
    }
    if (header.empty()) {
      header = cells(line);
      std::getline(in, line);  // |---|
      continue;
    }
    std::vector<std::string> c = cells(line);
    std::map<std::string, std::string> r;
    for (size_t i = 0; i < header.size() && i < c.size(); ++i) r[header[i]] = c[i];
    rows.push_back(r);
  }
  return rows;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("grokjit_test_report_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::vector<json>& rows, const std::string& extra_line = "",
                    size_t extra_at = 0) {
    std::string path = (dir_ / name).string();
    std::ofstream f(path);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!extra_line.empty() && i == extra_at) f << extra_line << "\n";
      f << rows[i].dump() << "\n";
    }
    return path;
  }
  rep::Written report(const std::vector<std::string>& files, const std::string& out = "", bool plots = false) {
    rep::Options o;
    o.results = files;
    o.out = out.empty() ? (dir_ / "report").string() : out;
    o.plots = plots;
    o.curves = "none";
    return rep::write_report(o);
  }
  static std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  fs::path dir_;
};

const std::map<std::string, std::string>* find_row(const std::vector<std::map<std::string, std::string>>& rows,
                                                   const std::map<std::string, std::string>& key) {
  for (const auto& r : rows) {
    bool all = true;
    for (const auto& [k, v] : key) all = all && r.count(k) && r.at(k) == v;
    if (all) return &r;
  }
  return nullptr;
}

TEST_F(ReportTest, GroupsTableHasTheFixturesCounts) {
  rep::Written w = report({write("results.jsonl", fixture_rows())});
  EXPECT_TRUE(fs::exists(w.markdown_path));
  EXPECT_TRUE(fs::exists(w.json_path));
  EXPECT_EQ(read(w.markdown_path), w.markdown);
  auto rows = md_table(w.markdown, "## Groups");
  ASSERT_EQ(rows.size(), 4u);

  // add/softmax/adamw: grokked 100 120 150 180, one censored.
  // mean 550/4 = 137.5; type-7 Q1 = 100 + 0.75*20 = 115, median 135, Q3 = 150 + 0.25*30 = 157.5, IQR 42.5.
  // KM: S(100) = 4/5, S(120) = 3/5, S(150) = 2/5 <= 0.5 -> median 150.
  auto* r = find_row(rows, {{"task.kind", "add"}, {"model.output", "softmax"}, {"optimizer.kind", "adamw"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("runs"), "5");
  EXPECT_EQ(r->at("grokked"), "4");
  EXPECT_EQ(r->at("censored"), "1");
  EXPECT_EQ(r->at("diverged"), "0");
  EXPECT_EQ(r->at("mean"), "137.5");
  EXPECT_EQ(r->at("median"), "135");
  EXPECT_EQ(r->at("Q1"), "115");
  EXPECT_EQ(r->at("Q3"), "157.5");
  EXPECT_EQ(r->at("IQR"), "42.5");
  EXPECT_EQ(r->at("KM median"), "150");
  EXPECT_EQ(r->at("cap"), "200");

  // add/softmax/muon: 90 95 100 110: mean 98.75 (printed 98.8), median 97.5; KM S(95) = 2/4 -> 95.
  r = find_row(rows, {{"model.output", "softmax"}, {"optimizer.kind", "muon"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("runs"), "4");
  EXPECT_EQ(r->at("censored"), "0");
  EXPECT_EQ(r->at("median"), "97.5");
  EXPECT_EQ(r->at("KM median"), "95");

  // add/stablemax/adamw: all censored: no grokked statistics, KM median not reached.
  r = find_row(rows, {{"model.output", "stablemax"}, {"optimizer.kind", "adamw"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("runs"), "3");
  EXPECT_EQ(r->at("grokked"), "0");
  EXPECT_EQ(r->at("censored"), "3");
  EXPECT_EQ(r->at("mean"), "n/a");
  EXPECT_EQ(r->at("KM median"), "not reached (> 200)");

  // add/stablemax/muon: 60 and a diverged run, counted as censored at the cap, never dropped.
  // KM: S(60) = 1/2 -> median 60.
  r = find_row(rows, {{"model.output", "stablemax"}, {"optimizer.kind", "muon"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("runs"), "2");
  EXPECT_EQ(r->at("grokked"), "1");
  EXPECT_EQ(r->at("censored"), "1");
  EXPECT_EQ(r->at("diverged"), "1");
  EXPECT_EQ(r->at("KM median"), "60");

  // The explicit line on censoring.
  EXPECT_NE(w.markdown.find("## How censored runs are treated"), std::string::npos);
  EXPECT_NE(w.markdown.find("val_acc >= 0.95 at or after train_acc >= 0.99"), std::string::npos);
  EXPECT_NE(w.markdown.find("never dropped"), std::string::npos);
  // report.json agrees with the table.
  ASSERT_EQ(w.json["groups"].size(), 4u);
  EXPECT_EQ(w.json["groups"][0]["key"]["optimizer.kind"], "adamw");
  EXPECT_EQ(w.json["groups"][0]["grokking_epoch"]["q3"], 157.5);
  EXPECT_EQ(w.json["groups"][0]["km_median"], 150);
  EXPECT_TRUE(w.json["groups"][2]["km_median"].is_null());
}

TEST_F(ReportTest, ComparisonsPerTaskAndOutput) {
  rep::Written w = report({write("results.jsonl", fixture_rows())});
  auto rows = md_table(w.markdown, "## Comparisons of optimizer.kind within each task.kind x model.output");
  ASSERT_EQ(rows.size(), 2u);
  auto* r = find_row(rows, {{"model.output", "softmax"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("A"), "adamw");
  EXPECT_EQ(r->at("B"), "muon");
  EXPECT_EQ(r->at("runs A/B"), "5/4");
  EXPECT_EQ(r->at("grokked A/B"), "4/4");
  // The statistics are runtime/stats' (tested against SciPy in stats_test.cpp), on the grokked epochs.
  std::vector<double> a = {150, 120, 180, 100}, b = {90, 100, 110, 95};
  grokjit::runtime::stats::TTest t = grokjit::runtime::stats::welch_t_test(a, b);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", t.t);
  EXPECT_EQ(r->at("Welch t"), buf);
  std::snprintf(buf, sizeof buf, "%.2f", grokjit::runtime::stats::cohens_d(a, b));
  EXPECT_EQ(r->at("Cohen's d"), buf);
  EXPECT_NE(r->at("log-rank p"), "n/a");
  // stablemax: AdamW never grokked: no t-test (said why), but a log-rank test.
  r = find_row(rows, {{"model.output", "stablemax"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("Welch t"), "n/a");
  EXPECT_NE(r->at("log-rank chi2"), "n/a");
  EXPECT_NE(w.markdown.find("add/stablemax: adamw vs muon: no t-test: needs at least 2 values per group (have 0 and 1)"),
            std::string::npos)
      << w.markdown;
  const json& c = w.json["comparisons"][0];
  EXPECT_EQ(c["stratum"]["model.output"], "softmax");
  EXPECT_NEAR(c["welch"]["t"].get<double>(), t.t, 1e-12);
}

TEST_F(ReportTest, PooledComparisonSideBySideWithThePaper) {
  rep::Written w = report({write("results.jsonl", fixture_rows())});
  auto rows = md_table(w.markdown, "## Pooled comparison, as in the paper: AdamW vs Muon");
  ASSERT_EQ(rows.size(), 3u);
  auto* paper = find_row(rows, {{"source", "**paper** (published)"}});
  ASSERT_TRUE(paper);
  EXPECT_EQ(paper->at("mean AdamW"), "153.09");
  EXPECT_EQ(paper->at("mean Muon"), "102.89");
  EXPECT_EQ(paper->at("t"), "5.0175");
  // Ours: AdamW 5 + 3 runs, 4 grokked, mean 137.5; Muon 4 + 2 runs, 5 grokked: (90+100+110+95+60)/5 = 91.
  for (const char* source : {"ours, Student (pooled variance)", "ours, Welch"}) {
    auto* r = find_row(rows, {{"source", source}});
    ASSERT_TRUE(r) << source;
    EXPECT_EQ(r->at("runs AdamW/Muon"), "8/6");
    EXPECT_EQ(r->at("grokked AdamW/Muon"), "4/5");
    EXPECT_EQ(r->at("mean AdamW"), "137.50");
    EXPECT_EQ(r->at("mean Muon"), "91.00");
  }
  // Pooled KM medians: AdamW 100 120 150 180 + 4 censored at 200: S(180) = 4/8 -> 180.
  // Muon 60 90 95 100 110 + 1 censored: S(90) = 4/6, S(95) = 3/6 -> 95.
  EXPECT_EQ(find_row(rows, {{"source", "ours, Welch"}})->at("KM median AdamW/Muon"), "180 / 95");
  EXPECT_EQ(w.json["pooled"]["student"]["df"], 7);  // 4 + 5 - 2
  EXPECT_NE(w.markdown.find("does not follow from its t"), std::string::npos);
}

// Runs that differ only in the optimizer pair up (here by seed): the one that
// grokked first wins, a grokked run beats a censored one, two censored tie.
TEST_F(ReportTest, PairedComparisonRunByRunWithTheSignTest) {
  std::vector<json> rows;
  auto add = [&](const std::string& output, const std::string& opt, int seed, int grok) {
    json r = row(output + "-" + opt + "-" + std::to_string(seed), "add", output, opt, grok);
    r["summary"]["config"]["train"]["seed"] = seed;
    rows.push_back(r);
  };
  const std::vector<int> adamw = {100, 120, -1, 80}, muon = {90, 100, 110, 80};
  for (int seed = 0; seed < 4; ++seed) {
    add("softmax", "adamw", seed, adamw[seed]);
    add("softmax", "muon", seed, muon[seed]);
  }
  add("stablemax", "adamw", 0, 50);
  add("stablemax", "muon", 0, 60);
  add("stablemax", "adamw", 1, -1);
  add("stablemax", "muon", 1, -1);
  add("sparsemax", "muon", 0, 70);  // no AdamW run to pair with
  rep::Written w = report({write("results.jsonl", rows)});
  auto table = md_table(w.markdown, "## Paired comparison: AdamW vs Muon run by run");
  ASSERT_EQ(table.size(), 3u) << w.markdown;
  // softmax: Muon first at seeds 0, 1 and 2 (AdamW censored), a tie at 3; differences 10, 20, 0.
  auto* soft = find_row(table, {{"model.output", "softmax"}});
  ASSERT_TRUE(soft);
  EXPECT_EQ(soft->at("pairs"), "4");
  EXPECT_EQ(soft->at("Muon first"), "3");
  EXPECT_EQ(soft->at("AdamW first"), "0");
  EXPECT_EQ(soft->at("ties"), "1");
  EXPECT_EQ(soft->at("median AdamW - Muon"), "10");
  EXPECT_EQ(soft->at("sign test p"), "0.250");  // 2 / 2^3
  // stablemax: AdamW first at seed 0, both censored at seed 1.
  auto* stable = find_row(table, {{"model.output", "stablemax"}});
  ASSERT_TRUE(stable);
  EXPECT_EQ(stable->at("AdamW first"), "1");
  EXPECT_EQ(stable->at("ties"), "1");
  EXPECT_EQ(stable->at("median AdamW - Muon"), "-10");
  // All: 3 against 1 with 2 ties: p = 2 (1 + 4) / 2^4.
  auto* all = find_row(table, {{"task.kind", "**all**"}});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->at("pairs"), "6");
  EXPECT_EQ(all->at("sign test p"), "0.625");
  EXPECT_EQ(w.json["paired"]["unpaired_runs"], 1);
  EXPECT_EQ(w.json["paired"]["muon_first"], 3);
  EXPECT_DOUBLE_EQ(w.json["paired"]["sign_test_p"].get<double>(), 0.625);
}

// A grid over optimizer settings has no one-to-one pairs: said, not guessed.
TEST_F(ReportTest, PairedComparisonNeedsOneRunOfEachOptimizer) {
  std::vector<json> rows;
  for (const char* lr : {"1e-3", "3e-3"}) {  // two AdamW settings against one Muon run, one seed
    json r = row(std::string("adamw-lr") + lr, "add", "softmax", "adamw", 100);
    r["summary"]["config"]["train"]["seed"] = 0;
    r["summary"]["config"]["optimizer"]["adam"] = {{"lr", std::stod(lr)}};
    rows.push_back(r);
  }
  json m = row("muon", "add", "softmax", "muon", 90);
  m["summary"]["config"]["train"]["seed"] = 0;
  rows.push_back(m);
  rep::Written w = report({write("results.jsonl", rows)});
  EXPECT_FALSE(w.json["paired"]["available"].get<bool>());
  EXPECT_NE(w.markdown.find("no one-to-one pairs"), std::string::npos) << w.markdown;
  // Every seed different: nothing to pair, said so.
  w = report({write("results.jsonl", fixture_rows())});
  EXPECT_FALSE(w.json["paired"]["available"].get<bool>());
  EXPECT_NE(w.markdown.find("no AdamW run has a Muon run with the same config otherwise"), std::string::npos);
}

TEST_F(ReportTest, ShardsMergeToTheSameReport) {
  std::vector<json> all = fixture_rows();
  std::vector<json> s0, s1;
  for (size_t i = 0; i < all.size(); ++i) (i % 2 ? s1 : s0).push_back(all[i]);
  // A run both shards finished (a resubmitted array task): same result, other
  // finishing time and wall clock: counted once.
  json again = all[3];
  again["finished_at"] = "2026-11-24T09:00:00Z";
  again["summary"]["wall_seconds"] = 99.0;
  again["out_dir"] = "elsewhere/r3";
  s0.push_back(again);
  rep::Written merged = report({write("shard0.jsonl", s0), write("shard1.jsonl", s1)}, (dir_ / "m").string());
  rep::Written single = report({write("results.jsonl", all)}, (dir_ / "s").string());
  for (const char* key : {"groups", "comparisons", "pooled", "censoring"})
    EXPECT_EQ(merged.json[key], single.json[key]) << key;
  EXPECT_EQ(merged.json["inputs"]["runs"], all.size());
  EXPECT_EQ(merged.json["inputs"]["duplicates"], 1);
  EXPECT_NE(merged.markdown.find("1 duplicate rows counted once"), std::string::npos);
  // The Markdown tables match too (only the inputs line differs).
  auto tail = [](const std::string& md) { return md.substr(md.find("## How censored")); };
  EXPECT_EQ(tail(merged.markdown), tail(single.markdown));
}

// Two sweeps that share a point (the paper grid's add-adamw seed 0 is the lr-wd
// grid's shipped cell) name it differently: one config, one run, counted once.
TEST_F(ReportTest, OneConfigUnderTwoSweepsIdsIsCountedOnce) {
  std::vector<json> rows = fixture_rows();
  json other = rows[0];
  other["id"] = "add-adamw.lr0.001.seed0-xyz";
  other["summary"]["name"] = other["summary"]["config"]["name"] = other["id"];
  other["sweep"] = "lr-wd";
  rep::Written once = report({write("a.jsonl", fixture_rows()), write("b.jsonl", {other})}, (dir_ / "once").string());
  rep::Written plain = report({write("results.jsonl", fixture_rows())}, (dir_ / "plain").string());
  EXPECT_EQ(once.json["inputs"]["runs"], fixture_rows().size());
  EXPECT_EQ(once.json["inputs"]["duplicates"], 1);
  for (const char* key : {"groups", "comparisons", "pooled", "censoring"}) EXPECT_EQ(once.json[key], plain.json[key]) << key;
  std::string warnings;
  for (const auto& w : once.warnings) warnings += w + "\n";
  EXPECT_NE(warnings.find("run 'add-adamw.lr0.001.seed0-xyz' ran the same config as 'r0'"), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("results differ"), std::string::npos) << warnings;
  // Another result for the same config (another build?): still once, and said.
  other["summary"]["grokking_epoch"] = 77;
  rep::Written differ = report({write("a.jsonl", fixture_rows()), write("c.jsonl", {other})}, (dir_ / "differ").string());
  warnings.clear();
  for (const auto& w : differ.warnings) warnings += w + "\n";
  EXPECT_NE(warnings.find("although their results differ (epoch 150 grokked vs 77 grokked"), std::string::npos) << warnings;
  EXPECT_EQ(differ.json["inputs"]["runs"], fixture_rows().size());
}

// Shards merged from several machines and builds: the report says where the runs ran (thread counts aside: they do
// not change results) and from which commit, and that runs reproduce bit for bit only on their own kind of device
// and build.
TEST_F(ReportTest, DevicesAndBuildsAreListedAndAMixExplained) {
  std::vector<json> rows;  // the fixture's runs that have a summary (a diverged run has none)
  for (const json& r : fixture_rows())
    if (r["summary"].is_object()) rows.push_back(r);
  ASSERT_GE(rows.size(), 6u);
  const char* devices[] = {"cpu (llvm 19.1.7, 1 threads, znver3, avx2)", "cpu (llvm 19.1.7, 2 threads, znver3, avx2)",
                           "cpu (llvm 19.1.7, 1 threads, znver3, avx2)", "cpu (llvm 19.1.7, 1 threads, rocketlake, avx512)",
                           "cpu (llvm 19.1.7, 1 threads, rocketlake, avx512)"};
  size_t i = 0;
  for (const char* d : devices) rows[i++]["summary"]["device"] = d;
  rows[0]["grokjit_source"] = "630d9bc";  // sweep rows name their build
  rows[1]["grokjit_source"] = "82602ae";
  rep::Written w = report({write("results.jsonl", rows)});
  EXPECT_NE(w.markdown.find("`cpu (llvm 19.1.7, znver3, avx2)` (3)"), std::string::npos) << w.markdown;
  EXPECT_NE(w.markdown.find("`cpu (llvm 19.1.7, rocketlake, avx512)` (2)"), std::string::npos) << w.markdown;
  EXPECT_NE(w.markdown.find("`not recorded` (" + std::to_string(rows.size() - 5) + ")"), std::string::npos);
  EXPECT_NE(w.markdown.find("reproduces bit for bit only on its own kind of device"), std::string::npos);
  EXPECT_EQ(w.json["devices"]["cpu (llvm 19.1.7, znver3, avx2)"], 3);
  EXPECT_EQ(w.json["devices"]["cpu (llvm 19.1.7, rocketlake, avx512)"], 2);
  EXPECT_NE(w.markdown.find("Built from: `630d9bc` (1), `82602ae` (1), `not recorded` (" +
                            std::to_string(rows.size() - 2) + ")."),
            std::string::npos) << w.markdown;
  EXPECT_EQ(w.json["sources"]["630d9bc"], 1);

  rows[0].erase("grokjit_source");
  rows[1].erase("grokjit_source");
  for (json& r : rows) r["summary"]["device"] = "cpu (llvm 19.1.7, 2 threads, znver3, avx2)";
  w = report({write("one.jsonl", rows)}, (dir_ / "one").string());
  EXPECT_NE(w.markdown.find("Ran on: `cpu (llvm 19.1.7, znver3, avx2)` (" + std::to_string(rows.size()) + ")."),
            std::string::npos) << w.markdown;
  EXPECT_EQ(w.markdown.find("bit for bit"), std::string::npos);
  EXPECT_EQ(w.json["devices"].size(), 1u);
}

TEST_F(ReportTest, ConflictingDuplicatesAreAnErrorNamingBothLines) {
  std::vector<json> rows = fixture_rows();
  json other = rows[1];
  other["summary"]["grokking_epoch"] = 119;  // before its epochs_run (120): a row a run can write
  std::string a = write("a.jsonl", rows), b = write("b.jsonl", {rows[0], other});
  try {
    report({a, b});
    FAIL() << "no error";
  } catch (const grokjit::Error& e) {
    EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
    std::string m = e.what();
    EXPECT_NE(m.find("run 'r1'"), std::string::npos) << m;
    EXPECT_NE(m.find(a + ":2"), std::string::npos) << m;
    EXPECT_NE(m.find(b + ":2"), std::string::npos) << m;
    EXPECT_NE(m.find("/summary/grokking_epoch: 120 vs 119"), std::string::npos) << m;
  }
}

TEST_F(ReportTest, CorruptLinesAreSkippedWithAWarning) {
  std::vector<json> rows = fixture_rows();
  std::string cut = rows[0].dump().substr(0, 40);  // a write cut short
  std::string path = write("results.jsonl", rows, cut, 2);
  // Also a complete JSON object that is not a row.
  std::ofstream(path, std::ios::app) << "{\"id\": \"x\"}\n\n";
  rep::Written w = report({path});
  EXPECT_EQ(w.json["inputs"]["runs"], rows.size());
  EXPECT_EQ(w.json["inputs"]["rows"], rows.size());  // the two skipped lines are not rows
  EXPECT_EQ(w.json["inputs"]["skipped_lines"], 2);
  EXPECT_NE(w.markdown.find("(" + std::to_string(rows.size()) + " rows, " + std::to_string(rows.size()) +
                            " runs; 2 lines skipped, see Warnings)"),
            std::string::npos)
      << w.markdown.substr(0, 400);
  ASSERT_EQ(w.warnings.size(), 2u);
  EXPECT_NE(w.warnings[0].find(path + ":3: skipped"), std::string::npos) << w.warnings[0];
  EXPECT_NE(w.warnings[0].find("not valid JSON"), std::string::npos) << w.warnings[0];
  EXPECT_NE(w.warnings[1].find(path + ":" + std::to_string(rows.size() + 2) + ": skipped"), std::string::npos)
      << w.warnings[1];
  EXPECT_NE(w.warnings[1].find("no \"summary\""), std::string::npos) << w.warnings[1];
  EXPECT_NE(w.markdown.find("## Warnings"), std::string::npos);
}

// Rows no run can write (edited by hand, or another tool's) would skew
// every statistic: skipped with a warning that says why.
TEST_F(ReportTest, ImpossibleRowsAreSkippedWithAWarning) {
  json before_one = row("b", "add", "softmax", "adamw", 0);
  json after_cap = row("c", "add", "softmax", "adamw", 500);  // the fixtures' cap is 200
  json censored_yet_grokked = row("d", "add", "softmax", "adamw", 12);
  censored_yet_grokked["summary"]["censored"] = true;
  json bad_cap = row("e", "add", "softmax", "adamw", 12);
  bad_cap["summary"]["criterion"]["cap"] = "x";
  json negative_epochs = row("f", "add", "softmax", "adamw", -1);
  negative_epochs["summary"]["epochs_run"] = -3;  // was taken as censored at epoch -3
  json censored_text = row("g", "add", "softmax", "adamw", -1);
  censored_text["summary"]["censored"] = "no";
  json point_array = row("h", "add", "softmax", "adamw", 12);
  point_array["point"] = json::array({1, 2});
  json epochs_after_cap = row("i", "add", "softmax", "adamw", -1);
  epochs_after_cap["summary"]["epochs_run"] = 201;
  json epochs_before_grok = row("j", "add", "softmax", "adamw", 50);
  epochs_before_grok["summary"]["epochs_run"] = 40;
  const std::string path =
      write("results.jsonl", {row("a", "add", "softmax", "adamw", 10), before_one, after_cap, censored_yet_grokked,
                              bad_cap, negative_epochs, censored_text, point_array, epochs_after_cap, epochs_before_grok});
  rep::Written w = report({path});
  EXPECT_EQ(w.json["inputs"]["runs"], 1);
  ASSERT_EQ(w.warnings.size(), 9u);
  EXPECT_NE(w.warnings[0].find(path + ":2: skipped"), std::string::npos) << w.warnings[0];
  EXPECT_NE(w.warnings[0].find("\"summary.grokking_epoch\" is 0 (epochs count from 1)"), std::string::npos)
      << w.warnings[0];
  EXPECT_NE(w.warnings[1].find("\"summary.grokking_epoch\" 500 is after its epoch cap 200"), std::string::npos)
      << w.warnings[1];
  EXPECT_NE(w.warnings[2].find("\"summary.censored\" is true, yet it has a grokking epoch"), std::string::npos)
      << w.warnings[2];
  EXPECT_NE(w.warnings[3].find("its epoch cap \"x\" is not a whole number of epochs"), std::string::npos)
      << w.warnings[3];
  EXPECT_NE(w.warnings[4].find(path + ":6: skipped"), std::string::npos) << w.warnings[4];
  EXPECT_NE(w.warnings[4].find("\"summary.epochs_run\" is -3, not a whole number >= 1"), std::string::npos)
      << w.warnings[4];
  EXPECT_NE(w.warnings[5].find("\"summary.censored\" is \"no\", not true or false"), std::string::npos)
      << w.warnings[5];
  EXPECT_NE(w.warnings[6].find("\"point\" is [1,2], not an object of axis values"), std::string::npos)
      << w.warnings[6];
  EXPECT_NE(w.warnings[7].find("\"summary.epochs_run\" 201 is after its epoch cap 200"), std::string::npos)
      << w.warnings[7];
  EXPECT_NE(w.warnings[8].find("\"summary.epochs_run\" 40 is before its grokking epoch 50"), std::string::npos)
      << w.warnings[8];
}

// The same check, public for `grokjit sweep`: "" for every row the sweep
// writes (grokked, censored, diverged), the reason otherwise.
TEST_F(ReportTest, ResultsRowProblemIsThePublicRowCheck) {
  for (const json& good : fixture_rows()) EXPECT_EQ(rep::results_row_problem(good), "") << good.dump();
  json bad = row("a", "add", "softmax", "adamw", -1);
  bad["summary"]["censored"] = "no";
  EXPECT_EQ(rep::results_row_problem(bad), "\"summary.censored\" is \"no\", not true or false");
  EXPECT_EQ(rep::results_row_problem(json::array()), "not a JSON object");
  EXPECT_EQ(rep::results_row_problem(json{{"id", "x"}}), "no \"summary\"");
  json odd_dir = row("b", "add", "softmax", "adamw", 10);
  odd_dir["out_dir"] = 5;  // `grokjit experiment` failed on it with exit 1
  EXPECT_EQ(rep::results_row_problem(odd_dir), "\"out_dir\" is 5, not a path");
}

TEST_F(ReportTest, RunStoppedBeforeItsCapIsCensoredWhereItStopped) {
  // Grokked at 10 and 20, and one run that stopped un-grokked at epoch 5 of 200.
  // Censored at 5: at risk at 10 are 2 runs, S(10) = 1/2 -> KM median 10.
  // (Censored at the cap instead it would be S(10) = 2/3, S(20) = 1/3 -> 20.)
  json stopped = row("c", "add", "softmax", "adamw", -1);
  stopped["summary"]["epochs_run"] = 5;
  stopped["summary"]["interrupted"] = true;
  rep::Written w = report({write("results.jsonl", {row("a", "add", "softmax", "adamw", 10),
                                                   row("b", "add", "softmax", "adamw", 20), stopped})});
  auto groups = md_table(w.markdown, "## Groups");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].at("censored"), "1");
  EXPECT_EQ(groups[0].at("KM median"), "10");
  ASSERT_EQ(w.warnings.size(), 1u);
  EXPECT_NE(w.warnings[0].find(":3: run 'c' stopped at epoch 5 before its cap 200"), std::string::npos)
      << w.warnings[0];
}

TEST_F(ReportTest, BadInputErrors) {
  auto code_of = [&](auto fn) {
    try {
      fn();
    } catch (const grokjit::Error& e) {
      return e.code();
    }
    return grokjit::ExitCode::Ok;
  };
  EXPECT_EQ(code_of([&] { report({(dir_ / "missing.jsonl").string()}); }), grokjit::ExitCode::Io);
  std::string empty = write("empty.jsonl", {});
  EXPECT_EQ(code_of([&] { report({empty}); }), grokjit::ExitCode::Usage);
  std::string good = write("results.jsonl", fixture_rows());
  rep::Options o;
  o.results = {good};
  o.out = (dir_ / "r").string();
  o.plots = false;
  o.by = {"task.kind", "optimizer.kindd"};
  try {
    rep::write_report(o);
    FAIL() << "no error for --by optimizer.kindd";
  } catch (const grokjit::Error& e) {
    EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("--by optimizer.kindd: no run has this field"), std::string::npos) << e.what();
  }
  o.by = {"task.kind", "optimizer"};  // a whole object would group by its JSON text
  try {
    rep::write_report(o);
    FAIL() << "no error for --by optimizer";
  } catch (const grokjit::Error& e) {
    EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("--by optimizer: this field is a whole object in the config; group by one "
                                         "of its values instead (e.g. optimizer.kind)"),
              std::string::npos)
        << e.what();
  }
  o.by = {"optimizer.kind"};
  o.plots = true;
  o.curves = "r0,nope";
  try {
    rep::write_report(o);
    FAIL() << "no error for --curves nope";
  } catch (const grokjit::Error& e) {
    EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("--curves: no run with id 'nope'"), std::string::npos) << e.what();
  }
}

TEST_F(ReportTest, ByOtherFieldsAndPointAxes) {
  std::vector<json> rows;
  // Seeds 0 and 1 of lr 0.001 and 0.01, one optimizer: grouping by point.lr.
  rows.push_back(row("a", "add", "softmax", "adamw", 100, {{"lr", 0.001}}));
  rows.push_back(row("b", "add", "softmax", "adamw", 120, {{"lr", 0.001}}));
  rows.push_back(row("c", "add", "softmax", "adamw", 50, {{"lr", 0.01}}));
  rows.push_back(row("d", "add", "softmax", "adamw", -1, {{"lr", 0.01}}));
  rep::Options o;
  o.results = {write("results.jsonl", rows)};
  o.out = (dir_ / "r").string();
  o.plots = false;
  o.by = {"point.lr"};
  rep::Written w = rep::write_report(o);
  auto groups = md_table(w.markdown, "## Groups");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].at("point.lr"), "0.001");
  EXPECT_EQ(groups[0].at("median"), "110");
  EXPECT_EQ(groups[1].at("censored"), "1");
  auto cmp = md_table(w.markdown, "## Comparisons of point.lr");
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_EQ(cmp[0].at("A"), "0.001");
  EXPECT_EQ(cmp[0].at("B"), "0.01");
  // The default grouping pools the lr axis and says so.
  o.by = rep::Options{}.by;
  w = rep::write_report(o);
  EXPECT_NE(w.markdown.find("Groups pool runs that differ in the sweep axes lr"), std::string::npos) << w.markdown;
  // No adamw-vs-muon pair: the pooled section says why.
  EXPECT_NE(w.markdown.find("Not available: needs runs with optimizer.kind adamw and muon; these results have adamw"),
            std::string::npos);
}

// Plots of a fixture with accuracy curves (metrics.jsonl written here) and an lr x wd grid.
TEST_F(ReportTest, PlotsAreDrawnAndEmbedded) {
  if (!grokjit::runtime::plot::find_gnuplot().available) GTEST_SKIP() << "gnuplot is not installed";
  std::vector<json> rows;
  int i = 0;
  // AdamW grokked at 100 120 150 180 (median run: lower median 120), Muon 90 95 100 (median 95).
  for (auto [opt, epochs] : std::vector<std::pair<std::string, std::vector<int>>>{{"adamw", {150, 120, 180, 100}},
                                                                                   {"muon", {90, 100, 95}}}) {
    for (size_t k = 0; k < epochs.size(); ++k) {
      json pt{{"lr", k % 2 ? 0.01 : 0.001}, {"wd", k < 2 ? 0.1 : 1.0}, {"train.seed", 0}};
      json r = row(opt + std::to_string(epochs[k]), "add", "softmax", opt, epochs[k], pt);
      r["out_dir"] = "runs/" + r["id"].get<std::string>();  // relative to the results file's folder
      rows.push_back(r);
      fs::create_directories(dir_ / "runs" / r["id"].get<std::string>());
      std::ofstream m(dir_ / "runs" / r["id"].get<std::string>() / "metrics.jsonl");
      for (int e = 1; e <= epochs[k] + 5; e += 5)
        m << json{{"epoch", e}, {"train_acc", std::min(1.0, e / 20.0)}, {"val_acc", e >= epochs[k] ? 0.96 : 0.1}}.dump()
          << "\n";
    }
    ++i;
  }
  rep::Options o;
  o.results = {write("results.jsonl", rows)};  // report goes to dir_/report by default
  rep::Written w = rep::write_report(o);
  EXPECT_EQ(fs::path(w.dir), dir_ / "report");
  // Box plot (one panel: softmax), curves, one heat map per optimizer.
  for (const char* stem : {"box-softmax", "curves", "heat-add-softmax-adamw", "heat-add-softmax-muon"}) {
    for (const char* ext : {".svg", ".png", ".gp", ".dat"}) {
      fs::path p = dir_ / "report" / "plots" / (std::string(stem) + ext);
      EXPECT_TRUE(fs::exists(p) && fs::file_size(p) > 0) << p;
    }
    EXPECT_NE(w.markdown.find(std::string("](plots/") + stem + ".svg)"), std::string::npos) << stem;
  }
  EXPECT_EQ(w.plots.size(), 8u);
  ASSERT_EQ(w.json["curves"].size(), 2u);
  EXPECT_EQ(w.json["curves"][0]["id"], "adamw120");
  EXPECT_EQ(w.json["curves"][1]["id"], "muon95");
  // Heat map cells: adamw lr 0.001 wd 0.1 holds only the run of epoch 150 (k = 0).
  const json& cells = w.json["heat_maps"][0]["cells"];
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[0]["lr"], 0.001);
  EXPECT_EQ(cells[0]["wd"], 0.1);
  EXPECT_EQ(cells[0]["km_median"], 150);
  // Censored runs are marked in the box plot's data (none here: the block is absent).
  EXPECT_EQ(read(dir_ / "report" / "plots" / "box-softmax.dat").find("# censored"), std::string::npos);
}

// On an lr x wd grid each optimizer's best cell is picked (lowest KM median,
// then the larger grokked fraction) and the best cells are compared.
TEST_F(ReportTest, EachOptimizerAtItsBestCellOfTheGrid) {
  // Grokking epochs of 3 seeds per (lr, wd) cell; -1 = censored at 200.
  const std::map<std::string, std::map<std::pair<double, double>, std::vector<int>>> epochs{
      {"adamw",
       {{{0.001, 0.1}, {150, 160, -1}}, {{0.001, 1.0}, {100, 110, 120}}, {{0.01, 0.1}, {-1, -1, -1}},
        {{0.01, 1.0}, {100, 130, -1}}}},
      // (0.01, 0.1) ties the best KM median (70) with fewer grokked (and a lower mean): (0.001, 1) wins.
      {"muon",
       {{{0.001, 0.1}, {80, 90, 100}}, {{0.001, 1.0}, {60, 70, 90}}, {{0.01, 0.1}, {70, 70, -1}},
        {{0.01, 1.0}, {-1, -1, 50}}}}};
  std::vector<json> rows;
  for (const auto& [opt, cells] : epochs)
    for (const auto& [lr_wd, runs] : cells)
      for (size_t seed = 0; seed < runs.size(); ++seed) {
        json pt{{"lr", lr_wd.first}, {"wd", lr_wd.second}, {"train.seed", seed}};
        rows.push_back(row(opt + "-" + std::to_string(lr_wd.first) + "-" + std::to_string(lr_wd.second) + "-" +
                               std::to_string(seed),
                           "add", "softmax", opt, runs[seed], pt));
      }
  rep::Written w = report({write("results.jsonl", rows)});
  auto best = md_table(w.markdown, "## Each at its best lr x wd");
  ASSERT_EQ(best.size(), 2u) << w.markdown;
  const auto* adamw = find_row(best, {{"optimizer.kind", "adamw"}});
  const auto* muon = find_row(best, {{"optimizer.kind", "muon"}});
  ASSERT_TRUE(adamw && muon) << w.markdown;
  EXPECT_EQ(adamw->at("lr"), "0.001");
  EXPECT_EQ(adamw->at("wd"), "1");
  EXPECT_EQ(adamw->at("KM median"), "110");
  EXPECT_EQ(adamw->at("mean"), "110.0");
  EXPECT_EQ(muon->at("lr"), "0.001");
  EXPECT_EQ(muon->at("wd"), "1");
  EXPECT_EQ(muon->at("grokked"), "3");
  EXPECT_EQ(muon->at("KM median"), "70");
  // Welch on the best cells, {100, 110, 120} vs {60, 70, 90}, by hand.
  const double va = 100.0 / 3, vb = (std::pow(60 - 220.0 / 3, 2) + std::pow(70 - 220.0 / 3, 2) + std::pow(90 - 220.0 / 3, 2)) / 2 / 3;
  const json& c = w.json["tuned"]["comparisons"];
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["a"]["value"], "adamw");
  EXPECT_EQ(c[0]["b"]["lr"], 0.001);
  EXPECT_EQ(c[0]["b"]["wd"], 1.0);
  EXPECT_NEAR(c[0]["welch"]["t"].get<double>(), (110 - 220.0 / 3) / std::sqrt(va + vb), 1e-9);
  EXPECT_NEAR(c[0]["welch"]["df"].get<double>(), std::pow(va + vb, 2) / (va * va / 2 + vb * vb / 2), 1e-9);
  EXPECT_NE(w.markdown.find("winner's curse"), std::string::npos);
}

TEST_F(ReportTest, WithoutGnuplotTheReportIsStillWritten) {
  rep::Options o;
  o.results = {write("results.jsonl", fixture_rows())};
  o.out = (dir_ / "r").string();
  o.curves = "none";
  o.plot.gnuplot = (dir_ / "no-gnuplot").string();
  rep::Written w = rep::write_report(o);
  EXPECT_TRUE(w.plots.empty());
  ASSERT_FALSE(w.warnings.empty());
  EXPECT_NE(w.warnings[0].find("no plot images: gnuplot not found"), std::string::npos) << w.warnings[0];
  EXPECT_NE(w.markdown.find("No images: gnuplot not found"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "r" / "plots" / "box-softmax.gp"));
  EXPECT_TRUE(fs::exists(dir_ / "r" / "plots" / "box-stablemax.dat"));
  EXPECT_FALSE(fs::exists(dir_ / "r" / "plots" / "box-softmax.svg"));
  // The censored runs are in the box plot's data, apart from the grokked ones.
  std::string dat = read(dir_ / "r" / "plots" / "box-stablemax.dat");
  EXPECT_NE(dat.find("# censored"), std::string::npos) << dat;
}

// One of several files without rows (the wrong file, a shard not run yet)
// is said, naming it; no rows in any file is still an error.
TEST_F(ReportTest, AFileWithoutRowsAmongOthersIsAWarning) {
  const std::string good = write("results.jsonl", fixture_rows()), empty = write("empty.jsonl", {});
  const std::string junk = (dir_ / "junk.jsonl").string();
  std::ofstream(junk) << "not json\n";
  rep::Written w = report({good, empty, junk});
  EXPECT_EQ(w.json["inputs"]["runs"], fixture_rows().size());
  auto has = [&](const std::string& text) {
    return std::any_of(w.warnings.begin(), w.warnings.end(),
                       [&](const std::string& x) { return x.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has(empty + ": no results rows (empty); it adds no runs to the report")) << w.json["warnings"].dump(1);
  EXPECT_TRUE(has(junk + ": no results rows (1 lines, none a complete row)")) << w.json["warnings"].dump(1);
  EXPECT_FALSE(has(good + ": no results rows"));
}

// Every path the report writes is checked against the inputs, however the
// paths are spelled; a refusal names both and changes nothing.
TEST_F(ReportTest, RefusesToOverwriteItsInputs) {
  auto input_at = [&](const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p);
    for (const json& r : fixture_rows()) f << r.dump() << "\n";
    return p.string();
  };
  auto expect_refused = [&](const std::string& input, const std::string& out, bool plots, const std::string& what) {
    const std::string before = read(input);
    try {
      report({input}, out, plots);
      ADD_FAILURE() << "no error for " << input << " -> " << out;
    } catch (const grokjit::Error& e) {
      EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
      EXPECT_NE(std::string(e.what()).find("results file " + input + " is "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_EQ(read(input), before);
  };
  const std::string json_input = input_at(dir_ / "r" / "report.json");
  expect_refused(json_input, (dir_ / "r").string(), false, (dir_ / "r" / "report.json").string() + ", which the report would replace");
  expect_refused(json_input, (dir_ / "r" / "x" / "..").string() + "/", false, "which the report would replace");
  const std::string md_input = input_at(dir_ / "m" / "report.md");
  expect_refused(md_input, (dir_ / "m").string(), false, "report.md, which the report would replace");
  // A link to the input in the report's place is the input too.
  const std::string linked = input_at(dir_ / "linked.jsonl");
  fs::create_directories(dir_ / "l");
  fs::create_symlink(linked, dir_ / "l" / "report.md");
  expect_refused(linked, (dir_ / "l").string(), false, "report.md, which the report would replace");
  const std::string dat_input = input_at(dir_ / "p" / "plots" / "curves.dat");
  expect_refused(dat_input, (dir_ / "p").string(), true, "plots, where the report writes its plot files");
  report({dat_input}, (dir_ / "p").string(), false);  // --no-plots writes nothing there
  EXPECT_EQ(read(dat_input).empty(), false);
  // The command line: exit 2, the rows kept.
  const std::string before = read(json_input);
  EXPECT_EQ(run_cli({"report", json_input, "--out", (dir_ / "r").string(), "-q", "--no-plots"}), 2);
  EXPECT_EQ(read(json_input), before);
}

// A gnuplot that hangs (on a plot or on --version) is killed after its
// timeout: the report is written all the same, with a warning naming the
// plot and the timeout.
TEST_F(ReportTest, HungGnuplotStillLeavesTheReport) {
  const fs::path gp = dir_ / "gp";
  std::ofstream(gp) << "#!/bin/sh\nif [ \"$1\" = --version ]; then echo gnuplot 5.4 fake; exit 0; fi\nsleep 30\n";
  fs::permissions(gp, fs::perms::owner_all);
  rep::Options o;
  o.results = {write("results.jsonl", fixture_rows())};
  o.out = (dir_ / "r").string();
  o.curves = "none";
  o.plot.gnuplot = gp.string();
  o.plot.timeout_s = 0.5;
  rep::Written w = rep::write_report(o);
  EXPECT_TRUE(fs::exists(dir_ / "r" / "report.md"));
  EXPECT_TRUE(fs::exists(dir_ / "r" / "report.json"));
  ASSERT_FALSE(w.warnings.empty());
  EXPECT_NE(w.warnings[0].find("not drawn: gnuplot did not finish " + (dir_ / "r" / "plots").string() +
                               "/box-softmax.gp within 0.5 s and was killed"),
            std::string::npos)
      << w.warnings[0];
  const fs::path gp2 = dir_ / "gp2";  // --version hangs too
  std::ofstream(gp2) << "#!/bin/sh\nsleep 30\n";
  fs::permissions(gp2, fs::perms::owner_all);
  o.plot.gnuplot = gp2.string();
  o.plot.version_timeout_s = 0.5;
  w = rep::write_report(o);
  ASSERT_FALSE(w.warnings.empty());
  EXPECT_NE(w.warnings[0].find("no plot images: '" + o.plot.gnuplot + " --version' did not answer within 0.5 s"),
            std::string::npos)
      << w.warnings[0];
  EXPECT_NE(w.markdown.find("## Warnings"), std::string::npos);
}

// The command line, in-process: exit codes and what goes to stdout.
int run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "grokjit");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return grokjit::cli::run_main(static_cast<int>(argv.size()), argv.data());
}

TEST_F(ReportTest, CommandLine) {
  std::string results = write("results.jsonl", fixture_rows());
  std::string out = (dir_ / "cli").string();
  EXPECT_EQ(run_cli({"report", results, "--out", out, "--no-plots", "-q"}), 0);
  EXPECT_TRUE(fs::exists(fs::path(out) / "report.md"));
  json j = json::parse(read(fs::path(out) / "report.json"));
  EXPECT_EQ(j["inputs"]["runs"], 14);
  EXPECT_EQ(run_cli({"report", results, "--out", out, "--no-plots", "-q", "--by", "optimizer.kind"}), 0);
  j = json::parse(read(fs::path(out) / "report.json"));
  EXPECT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(run_cli({"report", (dir_ / "nope.jsonl").string(), "-q"}), 3);
  EXPECT_EQ(run_cli({"report", results, "--format", "yaml"}), 2);
  EXPECT_EQ(run_cli({"report", results, "--no-plots", "-q", "--by", "nope"}), 2);
  EXPECT_EQ(run_cli({"report"}), 2);
  // Empty values and empty or repeated fields are mistakes, not defaults.
  EXPECT_EQ(run_cli({"report", results, "--out", out, "--no-plots", "-q", "--curves", ""}), 2);
  for (const char* by : {"", "task.kind,,optimizer.kind", "optimizer.kind,", "optimizer.kind,optimizer.kind"})
    EXPECT_EQ(run_cli({"report", results, "--out", out, "--no-plots", "-q", "--by", by}), 2) << by;
  rep::Options o;
  o.results = {results};
  o.out = out;
  o.plots = false;
  auto usage_error = [&](const std::string& fragment) {
    try {
      rep::write_report(o);
      ADD_FAILURE() << "no error; expected " << fragment;
    } catch (const grokjit::Error& e) {
      EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  o.by = {"task.kind", "", "optimizer.kind"};
  usage_error("--by 'task.kind,,optimizer.kind': field 2 is empty");
  o.by = {"optimizer.kind", "optimizer.kind"};
  usage_error("--by 'optimizer.kind,optimizer.kind': optimizer.kind is given twice");
  o.by = {"optimizer.kind"};
  o.curves = "";
  usage_error("--curves: empty");
  o.curves = "r0,,r1";
  usage_error("--curves 'r0,,r1': an empty id");
  o.curves = "r0,r0";
  usage_error("'r0' is given twice");
}

// The warning for a run without metrics quotes its out_dir as written.
TEST_F(ReportTest, MissingCurvesWarningQuotesTheOutDirAsText) {
  json r = row("r0", "add", "softmax", "adamw", 10);
  r["out_dir"] = "p1/runs/r0";
  rep::Options o;
  o.results = {write("results.jsonl", {r})};
  o.out = (dir_ / "r").string();
  o.curves = "r0";
  o.plot.gnuplot = (dir_ / "no-gnuplot").string();
  rep::Written w = rep::write_report(o);
  const std::string all = w.json["warnings"].dump();
  EXPECT_NE(all.find("looked in its out_dir 'p1/runs/r0' and next to"), std::string::npos) << all;
}

// End to end: two real `grokjit train` runs (a tiny spec, AdamW and Muon),
// rows written from their summary.json as the sweep writes them.
TEST_F(ReportTest, RealRunsEndToEnd) {
  std::string spec = (dir_ / "tiny.json").string();
  std::ofstream(spec) << json{{"name", "tiny"},
                              {"task", {{"kind", "add"}, {"p", 7}, {"train_fraction", 0.7}}},
                              {"model", {{"transformer", {{"depth", 1}, {"d_model", 8}, {"heads", 2}}}}},
                              {"optimizer", {{"kind", "adamw"}}},
                              {"train", {{"batch_size", 16}, {"max_epochs", 3}, {"seed", 3}}}}
                             .dump();
  std::vector<json> rows;
  for (const char* opt : {"adamw", "muon"}) {
    std::string out = (dir_ / "runs" / opt).string();
    ASSERT_EQ(run_cli({"train", spec, "--set", std::string("optimizer.kind=\"") + opt + "\"", "--out", out, "-q"}), 0);
    json summary = json::parse(read(fs::path(out) / "summary.json"));
    rows.push_back({{"id", std::string("tiny-") + opt},
                    {"sweep", "e2e"},
                    {"point", {{"optimizer.kind", opt}}},
                    {"out_dir", out},
                    {"finished_at", "2026-11-23T15:00:00Z"},
                    {"grokjit_version", "0.1.0"},
                    {"summary", summary}});
  }
  rep::Options o;
  o.results = {write("results.jsonl", rows)};
  o.plots = grokjit::runtime::plot::find_gnuplot().available;
  rep::Written w = rep::write_report(o);
  auto groups = md_table(w.markdown, "## Groups");
  ASSERT_EQ(groups.size(), 2u);
  for (const auto& g : groups) {
    EXPECT_EQ(g.at("task.kind"), "add");
    EXPECT_EQ(g.at("model.output"), "softmax");
    EXPECT_EQ(g.at("runs"), "1");
    EXPECT_EQ(g.at("cap"), "3");
  }
  EXPECT_EQ(groups[0].at("optimizer.kind"), "adamw");
  EXPECT_EQ(groups[1].at("optimizer.kind"), "muon");
  if (o.plots) {
    // Three epochs in 3 epochs: the real metrics.jsonl feed the curves.
    EXPECT_TRUE(fs::exists(dir_ / "report" / "plots" / "curves.svg"));
    EXPECT_EQ(read(dir_ / "report" / "plots" / "curves.dat").find("tiny-adamw train") != std::string::npos, true);
  }
}

}  // namespace
