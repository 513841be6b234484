// bench/peer_bench.py, the PyTorch eager peer of `grokjit bench` (issue 6),
// run as a user runs it on a small model (d_model 32, add mod 23, batch 64,
// a few steps): the shape of its JSON and of its table, and its errors.
// Never timings. Needs Debian's python3-torch (scripts/setup.sh --bench) and
// the grokjit binary of this build; skips without torch.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli/bench.h"
#include "runtime/knobs.h"

namespace grokjit::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kThreads = 1;
const char* const kSmall =
    " --set model.transformer.d_model=32 --set task.p=23 --set train.batch_size=64"
    " --threads 1 --steps 2 --warmup 1";

fs::path source_root() { return fs::path(GROKJIT_TEST_DATA_DIR).parent_path().parent_path(); }

std::string python() {
  const char* env = std::getenv("GROKJIT_TORCH_PYTHON");  // as scripts/regen-crosscheck.sh
  return env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
}

struct PeerResult {
  int rc = -1;
  std::string out, err;
};

class PeerBenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("grokjit_test_peer_bench_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cache");
    // grokjit bench reads the machine peak from the cache (measuring it takes
    // seconds): a made-up one in a private cache, as tests/cli does.
    runtime::set_knob_override(runtime::knob::kCacheDir, (dir_ / "cache").string());
    json peak{{"format", 1},
              {"machines",
               {{machine_peak_key(kThreads),
                 {{"threads", kThreads}, {"fma_gflops", 100.0}, {"memory_gbs", 10.0}, {"measured_at", "test"}}}}}};
    std::ofstream(machine_peak_cache_file()) << peak.dump(2);
    runtime::clear_knob_overrides();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static fs::path grokjit() {  // <build>/tests/test_bench -> <build>/grokjit
    return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "grokjit";
  }

  static PeerResult run_peer_bench(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = "GROKJIT_CACHE_DIR='" + (dir_ / "cache").string() + "' '" + python() + "' '" +
                            (source_root() / "bench" / "peer_bench.py").string() + "' --grokjit '" +
                            grokjit().string() + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    PeerResult r;
    const int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    auto slurp = [](const fs::path& p) {
      std::ifstream in(p);
      std::stringstream s;
      s << in.rdbuf();
      return s.str();
    };
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  void SetUp() override {
    if (std::system(("'" + python() + "' -c 'import sys' >/dev/null 2>&1").c_str()) != 0)
      GTEST_SKIP() << python() << " not found (set GROKJIT_TORCH_PYTHON)";
  }

  // Why the benchmark cannot run here, or "".
  static std::string torch_missing() {
    if (std::system(("'" + python() + "' -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0) return "";
    return python() + " cannot import torch and numpy: install Debian's python3-torch (scripts/setup.sh --bench) "
                      "to run the PyTorch peer benchmark";
  }

  static fs::path dir_;
};

fs::path PeerBenchTest::dir_;

std::string spec(const char* name) { return " '" + (source_root() / "specs" / name).string() + "'"; }

void expect_percentiles(const json& ms, const std::string& what) {
  SCOPED_TRACE(what);
  for (const char* k : {"p20", "median", "p80", "min", "max"}) ASSERT_TRUE(ms.contains(k)) << k;
  EXPECT_GT(ms["min"].get<double>(), 0);
  EXPECT_LE(ms["min"].get<double>(), ms["p20"].get<double>());
  EXPECT_LE(ms["p20"].get<double>(), ms["median"].get<double>());
  EXPECT_LE(ms["median"].get<double>(), ms["p80"].get<double>());
  EXPECT_LE(ms["p80"].get<double>(), ms["max"].get<double>());
}

TEST_F(PeerBenchTest, JsonHasBothSidesForAdamwAndMuon) {
  if (std::string why = torch_missing(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(fs::exists(grokjit())) << "no grokjit binary at " << grokjit() << ": build the grokjit target";
  PeerResult r = run_peer_bench(std::string("--json --rounds 2") + kSmall + spec("add-adamw.json") + spec("add-muon.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out;
  EXPECT_EQ(j.value("schema", ""), "grokjit.peer_bench/1");
  EXPECT_EQ(j.value("device", ""), "cpu");
  EXPECT_EQ(j.value("threads", 0), 1);
  EXPECT_EQ(j.value("torch_threads", 0), 1);
  EXPECT_EQ(j.value("rounds", 0), 2);
  EXPECT_EQ(j.value("steps", 0), 2);
  EXPECT_EQ(j.value("warmup", -1), 1);
  EXPECT_TRUE(j.contains("torch_version"));
  ASSERT_TRUE(j.contains("grokjit"));
  for (const char* k : {"version", "binary", "binary_mtime_utc"}) EXPECT_TRUE(j["grokjit"].contains(k)) << k;
  ASSERT_EQ(j["results"].size(), 2u);
  const char* names[] = {"add-adamw", "add-muon"};
  const char* optimizers[] = {"adamw", "muon"};
  for (size_t i = 0; i < 2; ++i) {
    const json& res = j["results"][i];
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(res.value("spec", ""), names[i]);
    EXPECT_EQ(res.value("optimizer", ""), optimizers[i]);
    EXPECT_EQ(res.value("batch_size", 0), 64);
    const size_t samples = 2 * 2;  // rounds x steps, pooled
    EXPECT_EQ(res["grokjit"]["step_ms_samples"].size(), samples);
    expect_percentiles(res["grokjit"]["step_ms"], "grokjit");
    EXPECT_GT(res["grokjit"].value("kernels_per_step", 0), 0);
    // The last-position model was checked to compute the full model's loss.
    ASSERT_EQ(res["last_position_check_losses"].size(), 2u);
    const double full = res["last_position_check_losses"][0], pruned = res["last_position_check_losses"][1];
    EXPECT_NEAR(pruned, full, 1e-5 * full);
    EXPECT_GT(full, 0);
    ASSERT_EQ(res["torch"].size(), 2u);
    EXPECT_EQ(res["torch"][0].value("model", ""), "full");
    EXPECT_EQ(res["torch"][1].value("model", ""), "last-position");
    for (const json& t : res["torch"]) {
      EXPECT_EQ(t["step_ms_samples"].size(), samples);
      expect_percentiles(t["step_ms"], "torch " + t.value("model", ""));
      const double ratio = t["step_ms"]["median"].get<double>() / res["grokjit"]["step_ms"]["median"].get<double>();
      EXPECT_NEAR(t.value("ratio_torch_over_grokjit", 0.0), ratio, 1e-12 * ratio);
    }
  }
}

TEST_F(PeerBenchTest, TableHasOneRowPerSpecAndTorchModel) {
  if (std::string why = torch_missing(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(fs::exists(grokjit())) << "no grokjit binary at " << grokjit() << ": build the grokjit target";
  PeerResult r = run_peer_bench(std::string("--rounds 1 --torch-models full") + kSmall + spec("add-muon.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << r.out;  // title, build, blank, header, one row
  EXPECT_NE(lines[0].find(", 1 thread;"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("grokjit"), std::string::npos) << lines[1];
  EXPECT_TRUE(std::regex_search(lines[3], std::regex(R"(^spec +optimizer +batch +grokjit ms +\[p20, p80\] +torch model )"
                                                      R"(+torch ms +\[p20, p80\] +torch/grokjit$)")))
      << lines[3];
  const std::string num = R"(\d+\.\d\d)", range = R"(\[\d+\.\d\d, \d+\.\d\d\])";
  EXPECT_TRUE(std::regex_match(lines[4], std::regex("add-muon +muon +64 +" + num + " +" + range + " +full +" + num +
                                                    " +" + range + " +" + num)))
      << lines[4];
}

TEST_F(PeerBenchTest, BadArgumentsNameWhatIsWrong) {
  // Checked before torch is imported: no torch needed.
  PeerResult r = run_peer_bench("'/nonexistent/spec.json'");
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("spec file '/nonexistent/spec.json' not found"), std::string::npos) << r.err;

  r = run_peer_bench("--torch-models full,compiled" + spec("add-adamw.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--torch-models: unknown model(s) ['compiled']"), std::string::npos) << r.err;

  r = run_peer_bench("--steps 0" + spec("add-adamw.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--steps must be at least 1"), std::string::npos) << r.err;

  r = run_peer_bench("--grokjit /nonexistent/grokjit" + spec("add-adamw.json"));  // the later --grokjit wins
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("--grokjit: '/nonexistent/grokjit' is not an executable file"), std::string::npos) << r.err;
}

// --device cuda: both sides on the GPU where torch and grokjit see one; else
// exit 2 naming why.
TEST_F(PeerBenchTest, CudaDeviceRunsOnTheGpuOrSaysWhyNot) {
  if (std::string why = torch_missing(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(fs::exists(grokjit())) << "no grokjit binary at " << grokjit() << ": build the grokjit target";
  PeerResult r = run_peer_bench(std::string("--device cuda --json --rounds 1 --torch-models full") + kSmall +
                                spec("add-adamw.json"));
  if (r.rc == 0) {
    json j = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out;
    EXPECT_EQ(j.value("device", ""), "cuda");
    EXPECT_FALSE(j.value("cuda_device", "").empty());
    ASSERT_EQ(j["results"].size(), 1u);
    EXPECT_EQ(j["results"][0]["grokjit"].value("device", "").rfind("cuda (", 0), 0u) << j["results"][0]["grokjit"];
  } else {
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_NE(r.err.find("--device cuda: this torch"), std::string::npos) << r.err;
  }
}

TEST_F(PeerBenchTest, GrokjitErrorsPassThrough) {
  if (std::string why = torch_missing(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(fs::exists(grokjit())) << "no grokjit binary at " << grokjit() << ": build the grokjit target";
  PeerResult r = run_peer_bench("--set model.transformer.no_such_key=1 --threads 1" + spec("add-adamw.json"));
  EXPECT_EQ(r.rc, 2) << r.err;  // grokjit's usage error
  EXPECT_NE(r.err.find("no_such_key"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace grokjit::cli
