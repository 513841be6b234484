// Sweeps (runtime/sweep.h) with a tiny Transformer (add mod 7, depth 1,
// d_model 8, 4 epochs): expansion order and ids, errors naming the JSON path
// and the point, resume after a stop and after a torn results line, shards
// and --jobs giving the same rows as one plain run, the SLURM variables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "runtime/files.h"
#include "runtime/knobs.h"
#include "runtime/spec.h"
#include "runtime/sweep.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json tiny_spec() {
  return {{"task", {{"kind", "add"}, {"p", 7}, {"train_fraction", 0.7}}},
          {"model", {{"transformer", {{"depth", 1}, {"d_model", 8}, {"heads", 2}, {"dropout", 0.1}}}}},
          {"optimizer", {{"kind", "adamw"}, {"adam", {{"lr", 0.01}}}}},
          {"train", {{"batch_size", 16}, {"max_epochs", 4}, {"seed", 3}, {"checkpoint_every", 1}}}};
}

// 2 outputs x 2 seeds.
json tiny_sweep() {
  return {{"name", "tiny"},
          {"base", tiny_spec()},
          {"set", {{"train.max_epochs", 4}}},
          {"grid", {{"train.seed", {1, 2}}, {"model.output", {"softmax", "stablemax"}}}}};
}

class SweepTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("grokjit_test_sweep_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "cache");
    set_knob_override(knob::kCacheDir, (root_ / "cache").string());
  }
  static void TearDownTestSuite() {
    clear_knob_overrides();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static std::string dir(const std::string& name) {
    fs::path d = root_ / name;
    fs::remove_all(d);
    return d.string();
  }

  static SweepOptions options(const std::string& out, bool cpu = false) {
    SweepOptions o;
    o.out_dir = out;
    o.handle_signals = false;
    o.total_threads = 2;
    o.make_device = [cpu](int threads) { return cpu ? make_cpu_device(threads) : make_reference_device(); };
    return o;
  }

  // Rows by id, with the wall-clock fields taken out of the summaries.
  static std::map<std::string, json> rows(const std::string& out) {
    std::map<std::string, json> by_id;
    for (const auto& [id, r] : scan_results(out).rows) {
      json s = r.row.at("summary");
      for (const char* key : {"wall_seconds", "step_ms_median", "compile_seconds", "device", "grokjit_source"}) s.erase(key);
      s["final"].erase("step_ms");
      s["final"].erase("epoch_s");
      by_id[id] = {{"point", r.row.at("point")}, {"summary", s}};
    }
    return by_id;
  }

  // The rows of `packed` (packs of `runs`) are those of `alone` plus the summaries' "pack" field.
  static void expect_rows_of_packs(const std::string& packed, const std::string& alone, int runs) {
    std::map<std::string, json> want = rows(alone), got = rows(packed);
    ASSERT_EQ(got.size(), want.size());
    for (auto& [id, row] : got) {
      EXPECT_EQ(row["summary"]["pack"]["runs"], runs) << id;
      row["summary"].erase("pack");
    }
    EXPECT_EQ(got, want);
  }

  static size_t line_count(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) n += !line.empty();
    return n;
  }

  static fs::path root_;
};
fs::path SweepTest::root_;

template <typename F>
void expect_error(F&& run, ExitCode code, const std::vector<std::string>& needles) {
  try {
    run();
    ADD_FAILURE() << "expected an error containing '" << needles.front() << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "missing '" << needle << "' in: " << e.what();
  }
}

TEST_F(SweepTest, ExpandsAxesInNameOrderWithTheLastFastest) {
  Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.default_out, "runs/sweeps/tiny");
  const std::vector<std::pair<std::string, int>> want = {{"softmax", 1}, {"softmax", 2}, {"stablemax", 1}, {"stablemax", 2}};
  const std::regex id_form(R"(^(softmax|stablemax)\.seed[12]-[0-9a-f]{8}$)");
  for (size_t i = 0; i < 4; ++i) {
    const SweepPoint& p = s.points[i];
    EXPECT_EQ(p.index, i);
    EXPECT_EQ(p.point, (json{{"model.output", want[i].first}, {"train.seed", want[i].second}}));
    EXPECT_EQ(name_of(p.config.model.output), want[i].first);
    EXPECT_EQ(p.config.train.seed, static_cast<uint64_t>(want[i].second));
    EXPECT_EQ(p.config.train.max_epochs, 4);
    EXPECT_EQ(p.config.name, p.id);
    EXPECT_TRUE(std::regex_match(p.id, id_form)) << p.id;
    EXPECT_EQ(p.id.substr(0, p.id.size() - 9), want[i].first + ".seed" + std::to_string(want[i].second));
  }
}

TEST_F(SweepTest, AnIdDependsOnlyOnItsPointsConfig) {
  const Sweep full = parse_sweep(tiny_sweep(), "a.json", "");
  // Another grid holding one of the same points, with the axes written the other way round.
  json other = tiny_sweep();
  other["name"] = "other";
  other["grid"] = {{"model.output", {"stablemax"}}, {"train.seed", {2, 9}}};
  const Sweep part = parse_sweep(other, "b.json", "");
  EXPECT_EQ(part.points[0].id, full.points[3].id);
  EXPECT_EQ(identity_config(part.points[0].config_json), identity_config(full.points[3].config_json));
  // A different resolved config (here the epoch cap) gives another hash.
  other["set"]["train.max_epochs"] = 5;
  EXPECT_NE(parse_sweep(other, "b.json", "").points[0].id, full.points[3].id);
  std::set<std::string> ids;
  for (const SweepPoint& p : full.points) ids.insert(p.id);
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(SweepTest, SpecAxisAndVariantsResolveFilesRelativeToTheSweep) {
  const fs::path d = dir("spec_axis");
  fs::create_directories(d / "specs");
  json muon = tiny_spec();
  muon["optimizer"] = {{"kind", "muon"}, {"muon", {{"lr", 0.02}}}};
  std::ofstream(d / "specs" / "tiny-adamw.json") << tiny_spec().dump();
  std::ofstream(d / "specs" / "tiny-muon.json") << muon.dump();
  fs::create_directories(d / "sweeps");
  std::ofstream(d / "sweeps" / "s.json") << json{
      {"grid",
       {{"spec", {"../specs/tiny-adamw.json", "../specs/tiny-muon.json"}},
        {"wd", {{{"label", "wd0.5"}, {"value", 0.5}, {"set", {{"optimizer.adam.weight_decay", 0.5}}}},
                {{"label", "wd2"}, {"set", {{"optimizer.adam.weight_decay", 2}}}}}}}}}.dump();
  const Sweep s = load_sweep((d / "sweeps" / "s.json").string());
  EXPECT_EQ(s.name, "s");
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(s.points[0].id.substr(0, 16), "tiny-adamw.wd0.5");
  EXPECT_EQ(s.points[0].point, (json{{"spec", "../specs/tiny-adamw.json"}, {"wd", 0.5}}));
  EXPECT_EQ(s.points[1].point["wd"], "wd2");  // no "value": the label
  EXPECT_DOUBLE_EQ(s.points[1].config.optimizer.adam.weight_decay, 2.0);
  EXPECT_EQ(name_of(s.points[2].config.optimizer.kind), "muon");
  EXPECT_EQ(s.points[3].id.substr(0, 13), "tiny-muon.wd2");
}

// Every sweep under specs/sweeps/ resolves: its specs exist, its paths and
// values pass the spec checks, its points are distinct (run from the
// repository root, as ctest does).
TEST_F(SweepTest, EveryShippedSweepResolves) {
  size_t sweeps = 0;
  for (const auto& entry : fs::directory_iterator("specs/sweeps")) {
    if (entry.path().extension() != ".json") continue;
    const Sweep s = load_sweep(entry.path().string());
    EXPECT_FALSE(s.points.empty()) << entry.path();
    std::set<std::string> ids;
    for (const SweepPoint& p : s.points) EXPECT_TRUE(ids.insert(p.id).second) << entry.path() << ": " << p.id;
    ++sweeps;
  }
  EXPECT_GE(sweeps, 9u);
}

TEST_F(SweepTest, GridsAreJoinedInListOrder) {
  json j = tiny_sweep();
  j.erase("grid");
  j["grids"] = {{{"optimizer.adam.lr", {0.001, 0.01}}}, {{"optimizer.kind", {"sgd"}}, {"optimizer.sgd.lr", {0.1}}}};
  const Sweep s = parse_sweep(j, "g.json", "");
  ASSERT_EQ(s.points.size(), 3u);
  auto labels = [](const SweepPoint& p) { return p.id.substr(0, p.id.size() - 9); };
  EXPECT_EQ(labels(s.points[0]), "lr0.001");
  EXPECT_EQ(labels(s.points[1]), "lr0.01");
  EXPECT_EQ(labels(s.points[2]), "sgd.lr0.1");
  EXPECT_EQ(name_of(s.points[2].config.optimizer.kind), "sgd");
}

TEST_F(SweepTest, BadSweepsNameTheJsonPath) {
  auto bad = [](auto edit, const std::vector<std::string>& needles, ExitCode code = ExitCode::Usage) {
    json j = tiny_sweep();
    edit(j);
    expect_error([&] { parse_sweep(j, "bad.json", ""); }, code, needles);
  };
  bad([](json& j) { j["grid"]["train.sed"] = {1}; },
      {"bad.json: /grid/train.sed", "neither a spec field", "did you mean 'train.seed'"});
  bad([](json& j) { j["grid"]["train.seed"] = json::array(); }, {"bad.json: /grid/train.seed: empty list"});
  bad([](json& j) { j["grid"]["train.seed"] = 3; }, {"/grid/train.seed: expected a list of values"});
  bad([](json& j) { j["grid"]["train.seed"] = {1, -1}; },
      {"bad.json point 1 (model.output=softmax, train.seed=-1)", "/train/seed"});
  bad([](json& j) { j["grid"]["model.output"] = {"softmax", "softmaks"}; },
      {"point 2 (model.output=softmaks, train.seed=1)", "/model/output", "did you mean 'softmax'"});
  bad([](json& j) { j["set"]["train.max_epoch"] = 3; }, {"bad.json: /set/train.max_epoch", "unknown key 'max_epoch'"});
  bad([](json& j) { j["set"]["train.seed"] = 3; }, {"/grid/train.seed: sets 'train.seed', which \"set\" fixes too"});
  bad([](json& j) { j["grd"] = json::object(); }, {"unknown key 'grd' at the top level; did you mean 'grid'? allowed: name"});
  bad([](json& j) { j["colour"] = 1; }, {"unknown key 'colour' at the top level; allowed: name, comment"});
  bad([](json& j) { j["grids"] = json::array(); }, {"either \"grid\"", "not both"});
  bad([](json& j) { j["grid"]["v"] = json::array({json{{"label", "x"}}}); }, {"/grid/v", "variants"});
  bad([](json& j) { j["grid"]["v"] = json::array({json{{"label", "x y"}, {"set", json::object()}}}); },
      {"/grid/v/0/label"});
  bad([](json& j) { j["grid"]["train.seed"] = {1, 1}; }, {"/grid/train.seed/1: repeats the value 1"});
  bad([](json& j) { j["grid"]["spec"] = {"nowhere.json"}; }, {"/grid/spec", "a \"spec\" axis replaces \"base\""});
  bad([](json& j) {
        j.erase("base");
        j["grid"]["spec"] = {"nowhere.json"};
      },
      {"bad.json: /grid/spec/0", "cannot read spec 'nowhere.json'"}, ExitCode::Io);
  bad([](json& j) { j.erase("base"); }, {"no spec: give \"base\""});
  {  // A spec file that is not JSON: the error says which sweep named it, and where.
    const fs::path broken = fs::temp_directory_path() / ("grokjit_sweep_broken_" + std::to_string(::getpid()) + ".json");
    std::ofstream(broken) << "{\"task\": ";
    bad([&](json& j) {
          j.erase("base");
          j["grid"]["spec"] = {broken.string()};
        },
        {broken.string() + ":1:", "(the spec at bad.json: /grid/spec/0)"});
    fs::remove(broken);
  }
  // Two axes (or "set" and an axis) that set one field: the later one silently won, and the
  // row's point recorded a value its run did not use.
  bad([](json& j) { j["grid"]["v"] = {{{"label", "a"}, {"set", {{"train.seed", 7}}}}}; },
      {"bad.json: /grid/train.seed: sets 'train.seed', which axis 'v' sets too ('train.seed')"});
  bad([](json& j) {
        j["grid"]["w"] = {{{"label", "wide"}, {"set", {{"model.transformer", {{"d_model", 32}}}}}}};
        j["grid"]["x"] = {{{"label", "narrow"}, {"set", {{"model.transformer.d_model", 16}}}}};
      },
      {"/grid/w: sets 'model.transformer', which axis 'x' sets too ('model.transformer.d_model')"});
  bad([](json& j) { j["set"]["model.transformer.d_model"] = 32; j["grid"]["model.transformer"] = {{{"d_model", 16}}}; },
      {"/grid/model.transformer: sets 'model.transformer', which \"set\" fixes too ('model.transformer.d_model')"});
  {  // The other way round is fine: the axis refines the object "set" gives, after it.
    json j = tiny_sweep();
    j["set"]["model.transformer"] = {{"d_model", 32}, {"heads", 1}};
    j["grid"]["model.transformer.d_model"] = {16};
    EXPECT_EQ(parse_sweep(j, "ok.json", "").points[0].config.model.transformer.d_model, 16);
  }
  // 10^6 points: refused before expanding them, naming the shape.
  bad([](json& j) {
        json ten = json::array();
        for (int i = 0; i < 10; ++i) ten.push_back({{"label", "v" + std::to_string(i)}, {"set", json::object()}});
        j["grid"] = json::object();
        for (const char* axis : {"a", "b", "c", "d", "e", "f"}) j["grid"][axis] = ten;
      },
      {"bad.json: /grid: the grid has 1000000 points (10 (a) x 10 (b) x 10 (c) x 10 (d) x 10 (e) x 10 (f)); a sweep "
       "holds at most 100000"});
  bad([](json& j) { j["name"] = "a b"; }, {"/name", "not a sweep name"});
  // Two axes that end in the same config: the grid would run it twice.
  bad([](json& j) {
        j["grid"] = {{"v", {{{"label", "a"}, {"set", {{"train.seed", 5}}}}, {{"label", "b"}, {"set", {{"train.seed", 5}}}}}}};
      },
      {"points 0 (v=a) and 1 (v=b) resolve to the same config"});
  expect_error([] { load_sweep("/nonexistent/sweep.json"); }, ExitCode::Io, {"cannot read sweep '/nonexistent/sweep.json'"});
}

TEST_F(SweepTest, ShardsParseAndSplitRoundRobin) {
  EXPECT_EQ(parse_shard("1/3", "--shard"), std::make_pair(1, 3));
  for (const char* text : {"3/3", "-1/2", "1", "a/2", "0/0", "1/2/3"})
    expect_error([&] { parse_shard(text, "--shard"); }, ExitCode::Usage, {"--shard '" + std::string(text) + "'", "0 <= i < N"});
  const Sweep s = parse_sweep(tiny_sweep(), "t.json", "");
  auto a = shard_points(s, 0, 3), b = shard_points(s, 1, 3), c = shard_points(s, 2, 3);
  ASSERT_EQ(a.size() + b.size() + c.size(), 4u);
  EXPECT_EQ(a[0]->index, 0u);
  EXPECT_EQ(a[1]->index, 3u);
  EXPECT_EQ(b[0]->index, 1u);
  EXPECT_EQ(c[0]->index, 2u);
}

TEST_F(SweepTest, SlurmArrayVariablesGiveTheShard) {
  ::unsetenv("SLURM_ARRAY_TASK_STEP");
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  ::unsetenv("SLURM_ARRAY_TASK_MIN");
  std::string note;
  EXPECT_FALSE(shard_from_slurm(&note).has_value());
  ::setenv("SLURM_ARRAY_TASK_ID", "2", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  EXPECT_EQ(shard_from_slurm(&note), std::make_optional(std::make_pair(2, 4)));
  EXPECT_NE(note.find("shard 2/4 from SLURM_ARRAY_TASK_ID=2"), std::string::npos) << note;
  ::setenv("SLURM_ARRAY_TASK_MIN", "1", 1);  // --array=1-4
  EXPECT_EQ(shard_from_slurm(&note), std::make_optional(std::make_pair(1, 4)));
  ::setenv("SLURM_ARRAY_TASK_ID", "5", 1);
  expect_error([&] { shard_from_slurm(&note); }, ExitCode::Usage, {"SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_COUNT=4"});
  ::setenv("SLURM_ARRAY_TASK_ID", "x", 1);
  expect_error([&] { shard_from_slurm(&note); }, ExitCode::Usage, {"SLURM_ARRAY_TASK_ID=x", "--array=0-3;"});
  ::setenv("SLURM_ARRAY_TASK_ID", "3", 1);
  ::setenv("SLURM_ARRAY_TASK_STEP", "1", 1);  // SLURM sets it for every array
  EXPECT_EQ(shard_from_slurm(&note), std::make_optional(std::make_pair(2, 4)));
  ::setenv("SLURM_ARRAY_TASK_STEP", "2", 1);  // --array=1-7:2 would skip shards
  expect_error([&] { shard_from_slurm(&note); }, ExitCode::Usage, {"stepped SLURM job array", "STEP=2", "--shard"});
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  ::unsetenv("SLURM_ARRAY_TASK_MIN");
  ::unsetenv("SLURM_ARRAY_TASK_STEP");
}

// Points run seeds last (points 0 and 2 have seed 1, points 1 and 3 seed 2).
// A sweep stopped during its third run (point 1) resumes that run from its
// checkpoint and ends with one row per point, the same rows as a sweep never
// stopped.
TEST_F(SweepTest, AStoppedSweepResumesAndLosesNothing) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string plain = dir("plain"), stopped = dir("stopped");
  SweepOptions first = options(plain);
  std::vector<std::string> started;
  first.log = [&](const std::string& line) {
    if (size_t at = line.find("] start "); at != std::string::npos) started.push_back(line.substr(at + 8));
  };
  SweepOutcome o = run_sweep(s, first);
  EXPECT_EQ(o.trained, 4u);
  EXPECT_FALSE(o.interrupted);
  EXPECT_EQ(line_count(plain + "/results.jsonl"), 4u);
  EXPECT_EQ(started, (std::vector<std::string>{s.points[0].id, s.points[2].id, s.points[1].id, s.points[3].id}));

  SweepOptions stop = options(stopped);
  stop.after_epoch = [](const SweepPoint& p, int64_t epoch) { return !(p.index == 1 && epoch == 2); };
  o = run_sweep(s, stop);
  EXPECT_TRUE(o.interrupted);
  EXPECT_EQ(o.trained, 2u);
  EXPECT_EQ(line_count(stopped + "/results.jsonl"), 2u);
  EXPECT_TRUE(fs::exists(fs::path(stopped) / "runs" / s.points[1].id / "checkpoint.safetensors"));
  EXPECT_NE(describe_points(s, shard_points(s, 0, 1), stopped).find("partial"), std::string::npos);

  o = run_sweep(s, options(stopped));
  EXPECT_FALSE(o.interrupted);
  EXPECT_EQ(o.already, 2u);
  EXPECT_EQ(o.trained, 2u);
  EXPECT_EQ(line_count(stopped + "/results.jsonl"), 4u);
  EXPECT_EQ(rows(stopped), rows(plain));

  // Again: nothing left to run.
  o = run_sweep(s, options(stopped));
  EXPECT_EQ(o.already, 4u);
  EXPECT_EQ(o.trained, 0u);
  EXPECT_EQ(line_count(stopped + "/results.jsonl"), 4u);
}

// A stopped run whose checkpoint was damaged since: the sweep stops with
// the file's name and says how to rerun that point.
TEST_F(SweepTest, ADamagedCheckpointSaysHowToRerunItsPoint) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("damaged");
  SweepOptions stop = options(out);
  stop.after_epoch = [](const SweepPoint& p, int64_t epoch) { return !(p.index == 1 && epoch == 2); };
  run_sweep(s, stop);
  const fs::path run_dir = fs::path(out) / "runs" / s.points[1].id;
  fs::resize_file(run_dir / "checkpoint.safetensors", fs::file_size(run_dir / "checkpoint.safetensors") / 2);
  expect_error([&] { run_sweep(s, options(out)); }, ExitCode::Io,
               {(run_dir / "checkpoint.safetensors").string(),
                "(to rerun point " + s.points[1].id + " from the start, delete " + run_dir.string() + ")"});
}

// Stopped after its last epoch, a run's checkpoint has nothing left to run
// and no final metrics: the resumed sweep runs it again from the start.
TEST_F(SweepTest, AStopAfterTheLastEpochStillGivesTheFinalMetrics) {
  json j = tiny_sweep();
  j["grid"] = {{"train.seed", {1}}};
  const Sweep s = parse_sweep(j, "one.json", "");
  const std::string plain = dir("last_plain"), stopped = dir("last_stopped");
  run_sweep(s, options(plain));
  SweepOptions stop = options(stopped);
  stop.after_epoch = [](const SweepPoint&, int64_t epoch) { return epoch != 4; };
  EXPECT_TRUE(run_sweep(s, stop).interrupted);
  EXPECT_EQ(run_sweep(s, options(stopped)).trained, 1u);
  EXPECT_EQ(rows(stopped), rows(plain));
  EXPECT_EQ(rows(plain).begin()->second["summary"]["final"]["epoch"], 4);
}

// A finished run's summary.json that no run writes (edited: grokking epoch -5)
// is not taken over as a row: the next scan would skip that row and take the
// summary over again, on every run. It is an error naming the file.
TEST_F(SweepTest, AnImpossibleSummaryIsNotTakenOver) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("impossible_summary");
  run_sweep(s, options(out));
  const std::string summary_file = out + "/runs/" + s.points[0].id + "/summary.json";
  json summary = json::parse(read_text_file(summary_file, "summary"));
  summary["grokking_epoch"] = -5;
  write_file_atomically(summary_file, summary.dump());
  fs::remove(out + "/results.jsonl");
  expect_error([&] { run_sweep(s, options(out)); }, ExitCode::Usage,
               {summary_file + " is not a summary a finished run writes (\"summary.grokking_epoch\" is -5"});
}

// A results file whose last line a kill cut short: a warning naming file and
// line, that run again, and the next row starts on a line of its own.
TEST_F(SweepTest, ATornResultsLineIsReportedAndItsRunRedone) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("torn");
  run_sweep(s, options(out));
  const std::string file = out + "/results.jsonl";
  std::vector<std::string> lines;
  {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 4u);
  const std::string torn_id = json::parse(lines[3])["id"];
  {
    std::ofstream f(file, std::ios::trunc);
    for (size_t i = 0; i < 3; ++i) f << lines[i] << "\n";
    f << lines[3].substr(0, lines[3].size() / 2);  // no newline: cut mid-row
  }
  ResultsScan scan = scan_results(out);
  ASSERT_EQ(scan.warnings.size(), 1u);
  EXPECT_NE(scan.warnings[0].find(file + ":4: ignoring"), std::string::npos) << scan.warnings[0];
  EXPECT_EQ(scan.rows.size(), 3u);

  std::vector<std::string> logged;
  SweepOptions o = options(out);
  o.log = [&](const std::string& line) { logged.push_back(line); };
  // Its run finished before the kill: the row comes from its summary.json.
  SweepOutcome outcome = run_sweep(s, o);
  EXPECT_EQ(outcome.adopted, 1u);
  EXPECT_EQ(outcome.trained, 0u);
  scan = scan_results(out);
  EXPECT_EQ(scan.rows.size(), 4u);
  EXPECT_TRUE(scan.rows.count(torn_id));
  EXPECT_EQ(scan.rows.at(torn_id).line, 5u);  // after the torn line, not glued to it
  bool warned = false;
  for (const std::string& l : logged) warned |= l.find("warning: " + file + ":4:") != std::string::npos;
  EXPECT_TRUE(warned);

  // Merging writes a clean file: 4 rows, grid order; the torn line is kept aside, not lost.
  std::vector<std::string> messages;
  EXPECT_EQ(merge_results(s, out, &messages), 0u);
  EXPECT_EQ(line_count(file), 4u);
  EXPECT_EQ(read_text_file(out + "/results.damaged.jsonl", "damaged lines"),
            lines[3].substr(0, lines[3].size() / 2) + "\n");
  bool said = false;
  for (const std::string& m : messages) said |= m.find("moved 1 line(s) of " + file) != std::string::npos;
  EXPECT_TRUE(said);
  EXPECT_TRUE(scan_results(out).warnings.empty());
  EXPECT_EQ(scan_results(out).rows.begin()->second.row["sweep"], "tiny");
}

TEST_F(SweepTest, ARowOfAnotherConfigIsAnErrorNamingBoth) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("mismatch");
  fs::create_directories(out);
  json config = s.points[2].config_json;
  config["train"]["seed"] = 99;
  std::ofstream(out + "/results.jsonl")
      << json{{"id", s.points[2].id}, {"summary", {{"config", config}, {"grokking_epoch", 3}}}}.dump() << "\n";
  expect_error([&] { run_sweep(s, options(out)); }, ExitCode::Usage,
               {out + "/results.jsonl:1", s.points[2].id, "point 2 of tiny.json", "/train/seed: 99 vs 1"});
  // --dry-run says so too, instead of listing the point as done.
  expect_error([&] { describe_points(s, shard_points(s, 0, 1), out); }, ExitCode::Usage,
               {out + "/results.jsonl:1", "/train/seed: 99 vs 1"});
}

// A row the report would skip (a grokking epoch no run has) is not "done" to
// the sweep either: it ran it never, and the report would never show it.
TEST_F(SweepTest, ARowTheReportSkipsIsRedone) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("impossible_row");
  fs::create_directories(out);
  std::ofstream(out + "/results.jsonl")
      << json{{"id", s.points[2].id}, {"summary", {{"config", s.points[2].config_json}, {"grokking_epoch", -5}}}}.dump()
      << "\n";
  std::vector<std::string> warnings;
  const std::string listing = describe_points(s, shard_points(s, 0, 1), out, 1, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(out + "/results.jsonl:1: ignoring a line that is not a complete results row "
                                   "(\"summary.grokking_epoch\" is -5"),
            std::string::npos)
      << warnings[0];
  EXPECT_EQ(listing.find("done"), std::string::npos) << listing;
}

// A row whose config is the point's but whose "point" was edited: the run is
// kept, with a warning (a report groups by the row's point); --dry-run warns too.
TEST_F(SweepTest, ARowWithAnEditedPointIsWarnedAbout) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("edited_point");
  fs::create_directories(out);
  json point = s.points[2].point;
  point["train.seed"] = 99;
  std::ofstream(out + "/results.jsonl")
      << json{{"id", s.points[2].id}, {"point", point}, {"summary", {{"config", s.points[2].config_json}, {"grokking_epoch", 3}}}}.dump()
      << "\n";
  std::vector<std::string> warnings;
  const std::string listing = describe_points(s, shard_points(s, 0, 1), out, 1, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(out + "/results.jsonl:1: the row of run " + s.points[2].id + " records the point"),
            std::string::npos)
      << warnings[0];
  EXPECT_NE(warnings[0].find("\"train.seed\":99"), std::string::npos) << warnings[0];
  EXPECT_NE(listing.find("done"), std::string::npos) << listing;
}

// A directory in the results file's place is an I/O error before anything
// runs, for --dry-run too (it would list every point as not done).
TEST_F(SweepTest, AResultsPathThatIsADirectoryIsAnError) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("results_dir");
  fs::create_directories(out + "/results.jsonl");
  expect_error([&] { describe_points(s, shard_points(s, 0, 1), out); }, ExitCode::Io,
               {out + "/results.jsonl is a directory, not a results file"});
  expect_error([&] { run_sweep(s, options(out)); }, ExitCode::Io, {"is a directory, not a results file"});
}

// Shards 0/2 and 1/2 (each with its own results file) merge to the rows of one unsharded run.
TEST_F(SweepTest, ShardsMergeToTheUnshardedRows) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string plain = dir("shard_plain"), sharded = dir("sharded");
  run_sweep(s, options(plain));
  for (int i = 0; i < 2; ++i) {
    SweepOptions o = options(sharded);
    o.shard = i;
    o.shards = 2;
    o.per_shard_results = true;
    EXPECT_EQ(run_sweep(s, o).trained, 2u);
  }
  EXPECT_EQ(line_count(sharded + "/results.shard-0-of-2.jsonl"), 2u);
  EXPECT_EQ(line_count(sharded + "/results.shard-1-of-2.jsonl"), 2u);
  EXPECT_EQ(rows(sharded), rows(plain));
  std::vector<std::string> messages;
  EXPECT_EQ(merge_results(s, sharded, &messages), 0u);
  EXPECT_EQ(line_count(sharded + "/results.jsonl"), 4u);
}

// Two files that record different results for one id: merging refuses (as
// `report` does) and leaves results.jsonl as it was; --dry-run never writes.
TEST_F(SweepTest, MergeRefusesRowsThatDisagreeAndDryRunWritesNothing) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("merge_conflict");
  run_sweep(s, options(out));
  const std::string file = out + "/results.jsonl";
  const std::string before = read_text_file(file, "results");
  std::vector<std::string> messages;
  // A shard file with the same rows merges; dry run writes nothing.
  std::ofstream(out + "/results.shard-0-of-2.jsonl") << before;
  fs::remove(file);
  EXPECT_EQ(merge_results(s, out, &messages, /*dry_run=*/true), 0u);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(merge_results(s, out, &messages), 0u);
  const std::string merged = read_text_file(file, "results");  // grid order: the run appended seeds last
  auto sorted_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    return lines;
  };
  EXPECT_EQ(sorted_lines(merged), sorted_lines(before));
  // One row changed in the shard file: an error naming the run and the field.
  json row = json::parse(before.substr(0, before.find('\n')));
  row["summary"]["final"]["val_loss"] = 12.5;
  std::ofstream(out + "/results.shard-0-of-2.jsonl") << row.dump() << "\n";
  expect_error([&] { merge_results(s, out, &messages); }, ExitCode::Usage,
               {"results disagree for run '" + row["id"].get<std::string>() + "'", "/summary/final/val_loss", "12.5"});
  EXPECT_EQ(read_text_file(file, "results"), merged);
  // Nothing to merge in a mistyped --out: an error, no directory made.
  expect_error([&] { merge_results(s, out + "-typo", &messages); }, ExitCode::Usage, {"no results files in"});
  EXPECT_FALSE(fs::exists(out + "-typo"));
}

// Every row names the commit grokjit was built from, in the row and in the run's summary, so results merged from
// several builds can be told apart (grokjit report lists them).
TEST_F(SweepTest, RowsNameTheBuildTheyCameFrom) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string out = dir("builds");
  run_sweep(s, options(out));
  const std::regex commit("[0-9a-f]{7,40}(\\+changes)?|unknown");
  size_t n = 0;
  for (const auto& [id, r] : scan_results(out).rows) {
    ASSERT_TRUE(r.row.contains("grokjit_source")) << id;
    const std::string source = r.row["grokjit_source"];
    EXPECT_TRUE(std::regex_match(source, commit)) << source;
    EXPECT_EQ(r.row["summary"]["grokjit_source"], source) << id;
    ++n;
  }
  EXPECT_EQ(n, 4u);
}

// Two runs at once, one thread each, on the CPU: the rows of one at a time on two threads.
TEST_F(SweepTest, JobsGiveTheSameRowsAsOneAtATime) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string one = dir("jobs1"), two = dir("jobs2");
  SweepOptions o = options(one, /*cpu=*/true);
  o.jobs = 1;
  run_sweep(s, o);
  o = options(two, true);
  o.jobs = 2;
  std::vector<std::string> logged;
  o.log = [&](const std::string& line) { logged.push_back(line); };
  run_sweep(s, o);
  EXPECT_EQ(rows(two), rows(one));
  EXPECT_EQ(rows(one).size(), 4u);
  size_t etas = 0;
  for (const std::string& l : logged) etas += l.find(" left, ETA ") != std::string::npos;
  EXPECT_EQ(etas, 4u);
}

// Packs of the points that differ only in their seeds (2 outputs x 2 seeds: 2
// packs of 2) give the rows and ids of the runs alone (bitwise on the
// reference device), plus each summary's "pack" field.
TEST_F(SweepTest, PacksGiveTheSameRowsAsRunsAlone) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string alone = dir("alone"), packed = dir("packed");
  run_sweep(s, options(alone));
  SweepOptions o = options(packed);
  o.pack = 4;
  // The dry run's listing shows the same packs.
  const std::string listing = describe_points(s, shard_points(s, 0, 1), packed, o.pack);
  for (const char* want : {"[pack 1 (2 runs)]", "[pack 2 (2 runs)]"}) {
    const size_t first = listing.find(want);
    EXPECT_NE(first, std::string::npos) << want << " in\n" << listing;
    EXPECT_NE(listing.find(want, first + 1), std::string::npos) << want << " twice in\n" << listing;
  }
  EXPECT_NE(listing.find("--pack 4: the 4 points to run train as 2 pack(s) and 0 run(s) alone"), std::string::npos) << listing;
  EXPECT_EQ(describe_points(s, shard_points(s, 0, 1), packed).find("pack"), std::string::npos);
  std::vector<std::string> logged;
  o.log = [&](const std::string& line) { logged.push_back(line); };
  const SweepOutcome outcome = run_sweep(s, o);
  EXPECT_EQ(outcome.trained, 4u);
  size_t packs = 0;
  for (const std::string& l : logged) packs += l.find("start a pack of 2") != std::string::npos;
  EXPECT_EQ(packs, 2u);
  expect_rows_of_packs(packed, alone, 2);
  EXPECT_EQ(line_count(packed + "/results.jsonl"), 4u);
  // Run again: nothing left to do.
  EXPECT_EQ(run_sweep(s, o).already, 4u);
}

// A pack stopped in its second epoch writes no rows and no checkpoints; the
// next invocation trains its runs again from the start, to the same rows.
TEST_F(SweepTest, AnInterruptedPackStartsAgainFromScratch) {
  const Sweep s = parse_sweep(tiny_sweep(), "tiny.json", "");
  const std::string alone = dir("alone_for_stop"), packed = dir("packed_stopped");
  run_sweep(s, options(alone));
  SweepOptions o = options(packed);
  o.pack = 2;
  o.after_epoch = [](const SweepPoint&, int64_t epoch) { return epoch < 2; };
  const SweepOutcome first = run_sweep(s, o);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.trained, 0u);
  EXPECT_EQ(line_count(packed + "/results.jsonl"), 0u);
  for (const SweepPoint& p : s.points) EXPECT_FALSE(fs::exists(fs::path(packed) / "runs" / p.id / "checkpoint.safetensors"));
  o.after_epoch = nullptr;
  EXPECT_EQ(run_sweep(s, o).trained, 4u);
  expect_rows_of_packs(packed, alone, 2);
}

}  // namespace
}  // namespace grokjit::runtime
