// `grokjit kernels` and `grokjit bench`, called in-process on a tiny spec
// (add mod 7, depth 1, d_model 8, batch 16): the shape of the tables and of
// the JSON, the dump files, the errors a user can cause. Never timings.
//
// Compiling through LLVM is what costs here (about 0.1 s a kernel on these
// machines), so only --dump (the eval program), --kernel (one kernel) and one
// bench run (fusion on and off, 1 + 2 steps) compile; listings only plan.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli/app.h"
#include "cli/bench.h"
#include "cli/commands.h"
#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/cuda_device.h"
#include "runtime/files.h"
#include "runtime/knobs.h"
#include "runtime/nvrtc_compiler.h"

namespace grokjit::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kThreads = 2;
constexpr double kFakeFma = 123.5, kFakeMemory = 45.25;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("grokjit_test_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cache");
    spec_ = (dir_ / "tiny.json").string();
    std::ofstream(spec_) << json{
        {"name", "tiny"},
        {"task", {{"kind", "add"}, {"p", 7}, {"train_fraction", 0.7}}},
        {"model", {{"transformer", {{"depth", 1}, {"d_model", 8}, {"heads", 2}, {"dropout", 0.1}}}}},
        {"optimizer", {{"kind", "adamw"}}},
        {"train", {{"batch_size", 16}, {"max_epochs", 4}, {"seed", 3}}}}.dump();
    // Everything cached goes to a private directory; the peak is "measured"
    // already (a measurement takes seconds and a GiB), so bench reads it.
    runtime::set_knob_override(runtime::knob::kCacheDir, (dir_ / "cache").string());
    runtime::set_knob_override(runtime::knob::kThreads, std::to_string(kThreads));
    json peak{{"format", 2},
              {"machines",
               {{machine_peak_key(kThreads),
                 {{"threads", kThreads}, {"fma_gflops", kFakeFma}, {"memory_gbs", kFakeMemory}, {"measured_at", "test"}}}}}};
    std::ofstream(machine_peak_cache_file()) << peak.dump(2);
  }
  static void TearDownTestSuite() {
    runtime::clear_knob_overrides();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static KernelsArgs kernels_args(const std::string& fusion = "on") {
    KernelsArgs a;
    a.spec.spec = spec_;
    a.spec.backend = "cpu";
    a.spec.fusion = fusion;
    return a;
  }
  static std::string run(const KernelsArgs& a) {
    std::ostringstream out;
    EXPECT_EQ(run_kernels(a, out), 0);
    return out.str();
  }
  static json listing(const std::string& fusion) {
    KernelsArgs a = kernels_args(fusion);
    a.json = true;
    return json::parse(run(a));
  }
  // The bench, run once per process.
  static const BenchReport& bench() {
    static BenchReport report = [] {
      BenchArgs a;
      a.spec.spec = spec_;
      a.spec.backend = "cpu";
      a.steps = 2;
      a.warmup = 1;
      a.threads = kThreads;
      a.profile = 3;
      return collect_bench(a);
    }();
    return report;
  }

  static inline fs::path dir_;
  static inline std::string spec_;
};

void expect_error(const std::function<void()>& f, ExitCode code, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an Error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- kernels

TEST_F(CliTest, KernelsJsonHasTheDocumentedFields) {
  json j = listing("on");
  EXPECT_EQ(j["schema"], "grokjit.kernels/1");
  EXPECT_EQ(j["spec"], "tiny");
  EXPECT_EQ(j["backend"], "cpu");
  EXPECT_EQ(j["fusion"], true);
  EXPECT_EQ(j["threads"], kThreads);
  for (const char* f : {"cpu", "description", "vector_bytes"}) EXPECT_TRUE(j["target"].contains(f)) << f;
  ASSERT_EQ(j["programs"].size(), 2u);
  EXPECT_EQ(j["programs"][0]["name"], "train");
  EXPECT_EQ(j["programs"][1]["name"], "eval");
  for (const json& p : j["programs"]) {
    ASSERT_GT(p["kernels"].size(), 0u);
    EXPECT_EQ(p["kernel_count"], p["kernels"].size());
    EXPECT_GT(p["arena_bytes"].get<double>(), 0);
    double flops = 0, rd = 0, wr = 0;
    std::set<std::string> ids;
    std::map<std::string, size_t> first_with_name;
    for (size_t i = 0; i < p["kernels"].size(); ++i) {
      const json& k = p["kernels"][i];
      for (const char* f : {"index", "id", "name", "kind", "ops_count", "ops", "op_kinds", "launch", "flops",
                            "bytes_read", "bytes_written", "same_code_as"})
        EXPECT_TRUE(k.contains(f)) << f;
      EXPECT_EQ(k["index"], i);
      EXPECT_TRUE(ids.insert(k["id"].get<std::string>()).second) << "duplicate id " << k["id"];
      EXPECT_EQ(k["id"].get<std::string>(), (i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i) + "_" +
                                                k["name"].get<std::string>());
      EXPECT_EQ(k["ops_count"], k["ops"].size());
      EXPECT_GT(k["ops"].size(), 0u);
      EXPECT_LE(k["op_kinds"].size(), k["ops"].size());
      // A name repeats only where the same code is launched again, and says so.
      std::string name = k["name"];
      if (auto it = first_with_name.find(name); it != first_with_name.end()) {
        EXPECT_EQ(k["same_code_as"], it->second) << name;
      } else {
        EXPECT_TRUE(k["same_code_as"].is_null()) << name;
        first_with_name[name] = i;
      }
      const json& l = k["launch"];
      EXPECT_GE(l["parallel_extent"].get<int64_t>(), 1);
      EXPECT_GE(l["threads"].get<int>(), 1);
      EXPECT_LE(l["threads"].get<int>(), kThreads);
      EXPECT_TRUE(l["loop_nest"].is_array());
      EXPECT_EQ(l["text"].get<std::string>().rfind("parallel " + std::to_string(l["parallel_extent"].get<int64_t>()), 0), 0u)
          << l["text"];
      flops += k["flops"].get<double>();
      rd += k["bytes_read"].get<double>();
      wr += k["bytes_written"].get<double>();
    }
    EXPECT_DOUBLE_EQ(p["flops"].get<double>(), flops);
    EXPECT_DOUBLE_EQ(p["bytes_read"].get<double>(), rd);
    EXPECT_DOUBLE_EQ(p["bytes_written"].get<double>(), wr);
    EXPECT_GT(flops, 0);
  }
}

TEST_F(CliTest, KernelsThreadsPlansTheMatmulTilesForThatCount) {
  auto matmul_extents = [&](int threads) {
    KernelsArgs a = kernels_args();
    a.json = true;
    a.threads = threads;
    json j = json::parse(run(a));
    EXPECT_EQ(j["threads"], threads);
    std::vector<int64_t> extents;
    for (const json& k : j["programs"][0]["kernels"])
      if (k["kind"] == "MM" || k["kind"] == "BMM") extents.push_back(k["launch"]["parallel_extent"].get<int64_t>());
    return extents;
  };
  std::vector<int64_t> one = matmul_extents(1), three = matmul_extents(3);
  ASSERT_EQ(one.size(), three.size());
  ASSERT_FALSE(one.empty());
  // One thread: every matmul as few tiles as the cache allows; three threads cut more of them.
  bool more = false;
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_LE(one[i], three[i]) << i;
    more = more || three[i] > one[i];
  }
  EXPECT_TRUE(more);
}

TEST_F(CliTest, KernelsFusionOffHasMoreKernelsThanFusionOn) {
  json on = listing("on"), off = listing("off");
  EXPECT_EQ(off["fusion"], false);
  for (size_t p = 0; p < 2; ++p) {
    EXPECT_GT(off["programs"][p]["kernel_count"].get<size_t>(), on["programs"][p]["kernel_count"].get<size_t>())
        << on["programs"][p]["name"];
  }
}

TEST_F(CliTest, KernelsTableHasOneRowPerKernel) {
  json j = listing("on");
  std::string table = run(kernels_args("on"));
  EXPECT_NE(table.find("kernels of 'tiny' on cpu"), std::string::npos) << table;
  std::regex header(R"(^(train|eval) program \(fusion on, \d+ threads\): (\d+) kernels, )");
  std::regex columns(R"(^\s+#\s+kernel\s+ops\s+launch\s+thr\s+FLOP\s+read\s+written$)");
  std::regex row(R"(^\s+(\d+)\s+([A-Z]+_\S+)( \(=#\d+\))?\s+(\d+): .*parallel \d+.*$)");
  std::istringstream in(table);
  std::string line;
  std::vector<size_t> counts, rows;
  size_t header_lines = 0;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, header)) {
      counts.push_back(std::stoul(m[2]));
      rows.push_back(0);
    } else if (std::regex_match(line, columns)) {
      ++header_lines;
    } else if (std::regex_match(line, m, row)) {
      ASSERT_FALSE(rows.empty());
      size_t program = rows.size() - 1;
      const json& k = j["programs"][program]["kernels"][rows.back()];
      EXPECT_EQ(std::stoul(m[1]), rows.back());
      EXPECT_EQ(m[2], k["name"].get<std::string>());
      EXPECT_EQ(std::stoul(m[4]), k["ops_count"].get<size_t>());
      ++rows.back();
    }
  }
  ASSERT_EQ(counts.size(), 2u) << table;
  EXPECT_EQ(header_lines, 2u);
  EXPECT_EQ(rows, counts);
  EXPECT_EQ(counts[0], j["programs"][0]["kernel_count"].get<size_t>());
}

TEST_F(CliTest, KernelsWhichSelectsOneProgram) {
  KernelsArgs a = kernels_args();
  a.json = true;
  a.which = "eval";
  json j = json::parse(run(a));
  ASSERT_EQ(j["programs"].size(), 1u);
  EXPECT_EQ(j["programs"][0]["name"], "eval");
}

TEST_F(CliTest, KernelsDumpWritesEveryArtifactAndAnIndex) {
  KernelsArgs a = kernels_args();
  a.which = "eval";
  a.json = true;
  a.dump = (dir_ / "dump").string();
  json printed = json::parse(run(a));
  fs::path index = dir_ / "dump" / "index.json";
  ASSERT_TRUE(fs::exists(index));
  json j = json::parse(std::ifstream(index));
  EXPECT_EQ(j["schema"], "grokjit.kernels/1");
  ASSERT_EQ(j["programs"].size(), 1u);
  const json& p = j["programs"][0];
  EXPECT_EQ(p["kernels"].size(), printed["programs"][0]["kernels"].size());
  EXPECT_GT(fs::file_size(dir_ / "dump" / p["plan_file"].get<std::string>()), 0u);
  for (const json& k : p["kernels"]) {
    for (const char* ext : {"kir", "ll", "s"}) {
      std::string rel = k["files"][ext];
      EXPECT_EQ(rel, "eval/" + k["id"].get<std::string>() + "." + ext);
      fs::path f = dir_ / "dump" / rel;
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_GT(fs::file_size(f), 0u) << f;
    }
    std::ifstream ll(dir_ / "dump" / k["files"]["ll"].get<std::string>());
    std::string text((std::istreambuf_iterator<char>(ll)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("define"), std::string::npos) << k["files"]["ll"];
  }
}

TEST_F(CliTest, KernelsKernelPrintsItsKernelIrAndLlvmIr) {
  json j = listing("on");
  const json& k = j["programs"][1]["kernels"][0];  // an eval kernel
  for (const std::string key : {"name", "id"}) {
    KernelsArgs a = kernels_args();
    a.which = "eval";
    a.kernel = k[key];
    std::string out = run(a);
    EXPECT_NE(out.find("eval/" + k["id"].get<std::string>() + ": kernel IR"), std::string::npos) << out.substr(0, 300);
    EXPECT_NE(out.find(k["name"].get<std::string>()), std::string::npos);
    EXPECT_NE(out.find(": LLVM IR after O3"), std::string::npos);
    EXPECT_NE(out.find("define"), std::string::npos);
  }
}

TEST_F(CliTest, KernelsUnknownKernelIsAUsageErrorWithCloseNames) {
  json j = listing("on");
  std::string real = j["programs"][0]["kernels"][0]["name"];
  KernelsArgs a = kernels_args();
  a.kernel = real.substr(0, real.size() - 1) + "x";  // a typo in the hash
  std::ostringstream out;
  expect_error([&] { run_kernels(a, out); }, ExitCode::Usage, "no kernel named '" + a.kernel + "'");
  expect_error([&] { run_kernels(a, out); }, ExitCode::Usage, "closest: " + real);
  EXPECT_TRUE(out.str().empty());
}

TEST_F(CliTest, KernelsReferenceBackendHasNoKernels) {
  KernelsArgs a = kernels_args();
  a.spec.backend = "reference";
  std::ostringstream out;
  expect_error([&] { run_kernels(a, out); }, ExitCode::Usage, "no kernels");
  EXPECT_TRUE(out.str().empty());
}

// --backend cuda needs NVRTC, not a GPU: every kernel of the eval program
// emitted and compiled for sm_90, with ptxas's figures.
TEST_F(CliTest, KernelsCudaJsonHasLaunchAndPtxasFigures) {
  if (!runtime::nvrtc_available()) GTEST_SKIP() << "grokjit was built without NVRTC";
  KernelsArgs a = kernels_args();
  a.spec.backend = "cuda";
  a.which = "eval";
  a.json = true;
  json j = json::parse(run(a));
  EXPECT_EQ(j["backend"], "cuda");
  EXPECT_EQ(j["target"]["arch"], "sm_90");
  ASSERT_EQ(j["programs"].size(), 1u);
  const json& p = j["programs"][0];
  ASSERT_GT(p["kernels"].size(), 0u);
  EXPECT_EQ(p["kernel_count"], p["kernels"].size());
  for (const json& k : p["kernels"]) {
    SCOPED_TRACE(k["name"].get<std::string>());
    ASSERT_EQ(k["launch"]["grid"].size(), 3u);
    ASSERT_EQ(k["launch"]["block"].size(), 3u);
    EXPECT_GE(k["launch"]["grid"][0].get<int64_t>(), 1);
    int64_t threads = k["launch"]["block"][0].get<int64_t>() * k["launch"]["block"][1].get<int64_t>() *
                      k["launch"]["block"][2].get<int64_t>();
    EXPECT_GE(threads, 1);
    EXPECT_LE(threads, 1024);
    EXPECT_TRUE(k["launch"]["dynamic_smem_bytes"].is_number_unsigned());
    EXPECT_NE(k["launch"]["text"].get<std::string>().find("grid"), std::string::npos);
    const json& c = k["cuda"];
    EXPECT_GT(c["registers"].get<int>(), 0);
    EXPECT_GT(c["cubin_bytes"].get<size_t>(), 0u);
    for (const char* f : {"static_smem_bytes", "spill_store_bytes", "spill_load_bytes", "stack_frame_bytes"})
      EXPECT_TRUE(c[f].is_number_unsigned()) << f;
    EXPECT_EQ(c["symbol"].get<std::string>().rfind(k["name"].get<std::string>(), 0), 0u);
  }
  // The table: one row per kernel under a header with the CUDA columns.
  a.json = false;
  std::string table = run(a);
  EXPECT_NE(table.find("on cuda (sm_90, NVRTC"), std::string::npos) << table;
  EXPECT_NE(table.find("regs"), std::string::npos) << table;
  EXPECT_NE(table.find("spills"), std::string::npos) << table;
  EXPECT_NE(table.find(p["kernels"][0]["name"].get<std::string>()), std::string::npos) << table;
}

TEST_F(CliTest, KernelsCudaDumpWritesEveryArtifact) {
  if (!runtime::nvrtc_available()) GTEST_SKIP() << "grokjit was built without NVRTC";
  KernelsArgs a = kernels_args();
  a.spec.backend = "cuda";
  a.which = "eval";
  a.dump = (dir_ / "cuda_dump").string();
  testing::internal::CaptureStderr();
  run(a);
  testing::internal::GetCapturedStderr();
  json index = json::parse(std::ifstream(fs::path(a.dump) / "index.json"));
  for (const json& k : index["programs"][0]["kernels"]) {
    for (const char* ext : {"kir", "cu", "ptx", "ptxas", "cubin"}) {
      fs::path f = fs::path(a.dump) / k["files"][ext].get<std::string>();
      EXPECT_TRUE(fs::exists(f)) << f;
      EXPECT_GT(fs::file_size(f), 0u) << f;
    }
    EXPECT_EQ(k["files"]["cu"].get<std::string>(), "eval/" + k["id"].get<std::string>() + ".cu");
  }
  // --kernel prints the CUDA source of that kernel (no NVRTC involved).
  KernelsArgs one = kernels_args();
  one.spec.backend = "cuda";
  one.kernel = index["programs"][0]["kernels"][0]["name"];
  std::string src = run(one);
  std::ifstream cu(fs::path(a.dump) / index["programs"][0]["kernels"][0]["files"]["cu"].get<std::string>());
  EXPECT_EQ(src, std::string((std::istreambuf_iterator<char>(cu)), std::istreambuf_iterator<char>()));
  EXPECT_NE(src.find("extern \"C\" __global__"), std::string::npos) << src;
}

// Without a usable GPU, --backend cuda (train, bench) is a usage error that
// says why; with one, this has nothing to check.
TEST_F(CliTest, CudaBackendWithoutAGpuSaysWhy) {
  std::string why = runtime::cuda_unusable_reason();
  if (why.empty()) GTEST_SKIP() << "a GPU is usable here";
  std::vector<std::string> args{"grokjit", "train", spec_, "--backend", "cuda", "--out", (dir_ / "cuda_run").string()};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  testing::internal::CaptureStderr();
  int rc = run_main(static_cast<int>(argv.size()), argv.data());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("--backend cuda: no usable GPU: " + why), std::string::npos) << err;
  EXPECT_NE(err.find("Use --backend cpu"), std::string::npos) << err;
  BenchArgs b;
  b.spec.spec = spec_;
  b.spec.backend = "cuda";
  expect_error([&] { collect_bench(b); }, ExitCode::Usage, "--backend cuda: no usable GPU: " + why);
  // auto falls back to the CPU and says why on stderr.
  testing::internal::CaptureStderr();
  auto device = make_device("auto", true);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(device->name().rfind("cpu", 0), 0u) << device->name();
  EXPECT_NE(err.find("backend auto -> cpu (no usable GPU: " + why + ")"), std::string::npos) << err;
}

TEST_F(CliTest, CommandLineMapsErrorsToExitCodes) {
  auto main_with = [](std::vector<std::string> args) {
    args.insert(args.begin(), "grokjit");
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    testing::internal::CaptureStderr();
    int rc = run_main(static_cast<int>(argv.size()), argv.data());
    std::string err = testing::internal::GetCapturedStderr();
    return std::make_pair(rc, err);
  };
  auto [rc, err] = main_with({"kernels", spec_, "--kernel", "no_such_kernel"});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("`grokjit kernels " + spec_ + " --backend cpu --fusion on` lists them all"), std::string::npos)
      << err;
  std::tie(rc, err) = main_with({"kernels", spec_, "--which", "neither"});
  EXPECT_EQ(rc, 2) << err;
  std::tie(rc, err) = main_with({"bench", spec_, "--fusion", "sometimes"});
  EXPECT_EQ(rc, 2) << err;
  std::tie(rc, err) = main_with({"bench", spec_, "--steps", "0"});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("--steps: Value 0 not in range 1 to 1000000"), std::string::npos) << err;
  std::tie(rc, err) = main_with({"bench", spec_, "--profile", "0"});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("--profile: Value 0 not in range 1 to "), std::string::npos) << err;
  std::tie(rc, err) = main_with({"experiment", "li2wd"});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("unknown experiment 'li2wd'; did you mean 'li2-wd'? (known: li2-wd, "), std::string::npos) << err;
  if (!runtime::cuda_unusable_reason().empty()) {  // with a GPU, this would run the bench
    std::tie(rc, err) = main_with({"bench", spec_, "--backend", "cuda"});
    EXPECT_EQ(rc, 2) << err;
    EXPECT_NE(err.find("--backend cuda: no usable GPU: "), std::string::npos) << err;
  }
  // graph and data compile nothing: --backend and --fusion would be ignored, so they are refused.
  for (const char* command : {"graph", "data"})
    for (const char* option : {"--backend", "--fusion"}) {
      std::tie(rc, err) = main_with({command, spec_, option, "cpu"});
      EXPECT_EQ(rc, 2) << command << " " << option << ": " << err;
      EXPECT_NE(err.find(option), std::string::npos) << err;
    }
  // data -o onto its own spec replaced the spec with CSV.
  {
    const std::string before = runtime::read_text_file(spec_, "spec");
    std::tie(rc, err) = main_with({"data", spec_, "-o", (fs::path(spec_).parent_path() / "." / fs::path(spec_).filename()).string()});
    EXPECT_EQ(rc, 2) << err;
    EXPECT_NE(err.find("is the spec file itself"), std::string::npos) << err;
    EXPECT_EQ(runtime::read_text_file(spec_, "spec"), before);
  }
  // A bad knob in the environment stops every command before it starts (kernels ignored GROKJIT_DEBUG=9).
  ::setenv("GROKJIT_DEBUG", "9", 1);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"kernels", spec_}, {"graph", spec_},
                                                {"train", spec_, "--out", (dir_ / "bad-knob").string()}}) {
    std::tie(rc, err) = main_with(args);
    EXPECT_EQ(rc, 2) << args[0] << ": " << err;
    EXPECT_NE(err.find("grokjit: error: GROKJIT_DEBUG='9': out of range"), std::string::npos) << err;
  }
  ::unsetenv("GROKJIT_DEBUG");
  EXPECT_FALSE(fs::exists(dir_ / "bad-knob"));
  // --resume into a directory that does not exist creates nothing (not even its lock file).
  const fs::path typo = dir_ / "no-such-run";
  std::tie(rc, err) = main_with({"train", spec_, "-q", "--resume", "--out", typo.string()});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_FALSE(fs::exists(typo));
  // An empty value would silently mean the default (an unset $SHARD would run every shard's points).
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"train", spec_, "--out", ""}, {"sweep", spec_, "--shard", ""},
        {"kernels", spec_, "--kernel", ""}, {"report", spec_, "--out", ""}, {"data", spec_, "-o", ""},
        {"--cache-dir", "", "graph", spec_}, {"--threads", "", "graph", spec_}}) {
    std::tie(rc, err) = main_with(args);
    EXPECT_EQ(rc, 2) << args[0] << ": " << err;
    EXPECT_NE(err.find("grokjit: error: "), std::string::npos) << err;
    EXPECT_NE(err.find("an empty value is not allowed"), std::string::npos) << err;
  }
  // Output that cannot be written (stdout on a full disk) is an I/O error, not a success.
  {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"graph", spec_}, {"--version"}, {"--help"}, {"train", "--help"}}) {
      std::cout.flush();
      std::fflush(stdout);
      const int saved = ::dup(1), full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
      ASSERT_GE(full, 0);
      ::dup2(full, 1);
      std::tie(rc, err) = main_with(args);
      ::dup2(saved, 1);
      ::close(saved);
      ::close(full);
      std::clearerr(stdout);
      std::cout.clear();
      EXPECT_EQ(rc, 3) << args[0] << ": " << err;
      EXPECT_NE(err.find("cannot write to standard output"), std::string::npos) << err;
    }
  }
  // CLI11 alone would wrap -1 into 2^64 - 1 and clamp 2^64: both are errors.
  for (const char* seed : {"-1", "18446744073709551616", "7x"}) {
    std::tie(rc, err) = main_with({"graph", spec_, "--seed", seed});
    EXPECT_EQ(rc, 2) << seed << ": " << err;
    EXPECT_NE(err.find("is not a whole number from 0 to 18446744073709551615"), std::string::npos) << err;
  }
  // A directory that cannot be made is the user's to fix (exit 3), not an internal error.
  const std::string a_file = (dir_ / "tiny.json").string();
  std::tie(rc, err) = main_with({"train", spec_, "-q", "--out", a_file + "/run"});
  EXPECT_EQ(rc, 3) << err;
  EXPECT_EQ(err.find("internal error"), std::string::npos) << err;
  // A directory given as the spec, a number beyond double range in it.
  std::tie(rc, err) = main_with({"graph", dir_.string()});
  EXPECT_EQ(rc, 3) << err;
  EXPECT_NE(err.find("it is a directory"), std::string::npos) << err;
  const std::string huge = (dir_ / "huge.json").string();
  std::ofstream(huge) << "{\n  \"task\": {\"p\": 1e400}\n}\n";
  std::tie(rc, err) = main_with({"graph", huge});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find(huge + ":2:17: invalid JSON: the number 1e400 is out of range"), std::string::npos) << err;
}

TEST_F(CliTest, TrainNeverReplacesARunWithoutOverwrite) {
  auto train = [](std::vector<std::string> extra) {
    std::vector<std::string> args{"grokjit", "train", spec_, "-q", "--set", "train.max_epochs=1", "--out",
                                  (dir_ / "replace").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    int rc = run_main(static_cast<int>(argv.size()), argv.data());
    testing::internal::GetCapturedStdout();
    return std::make_pair(rc, testing::internal::GetCapturedStderr());
  };
  fs::remove_all(dir_ / "replace");
  auto [rc, err] = train({});
  ASSERT_EQ(rc, 0) << err;
  const std::string metrics = (dir_ / "replace" / "metrics.jsonl").string();
  const auto first = fs::last_write_time(metrics);
  std::tie(rc, err) = train({});
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("already holds a run (summary.json, metrics.jsonl, checkpoint.safetensors): --resume continues it, "
                     "--overwrite replaces it"),
            std::string::npos)
      << err;
  EXPECT_EQ(fs::last_write_time(metrics), first);
  std::tie(rc, err) = train({"--overwrite"});
  EXPECT_EQ(rc, 0) << err;
  std::tie(rc, err) = train({"--overwrite", "--resume"});
  EXPECT_EQ(rc, 2) << err;
}

// ---------------------------------------------------------------- bench

TEST_F(CliTest, PercentilesAreNearestRank) {
  Percentiles p = percentiles({5, 1, 4, 2, 3});
  EXPECT_EQ(p.min, 1);
  EXPECT_EQ(p.p20, 2);
  EXPECT_EQ(p.median, 3);
  EXPECT_EQ(p.p80, 4);
  EXPECT_EQ(p.max, 5);
  EXPECT_EQ(percentiles({}).median, 0);
}

TEST_F(CliTest, MachinePeakIsReadFromItsCache) {
  MachinePeak p = machine_peak(kThreads, false);
  EXPECT_TRUE(p.from_cache);
  EXPECT_EQ(p.fma_gflops, kFakeFma);
  EXPECT_EQ(p.memory_gbs, kFakeMemory);
  EXPECT_EQ(p.cache_file, (dir_ / "cache" / "machine_peak.json").string());
  EXPECT_NE(p.key.find(std::to_string(kThreads) + " threads"), std::string::npos) << p.key;
}

// A bad entry is measured again; the other machines' entries stay (they were
// all dropped when one entry was bad).
TEST_F(CliTest, MachinePeakReplacesOnlyABadCacheEntry) {
  const std::string file = machine_peak_cache_file();
  const std::string good = runtime::read_text_file(file, "peak cache");
  const json other = {{"threads", 64}, {"fma_gflops", 4000.0}, {"memory_gbs", 300.0}, {"measured_at", "elsewhere"}};
  json cache = json::parse(good);
  cache["machines"]["another machine, 64 threads"] = other;
  // Not a number, then an edited value no machine measures.
  for (const json& fma : {json("fast"), json(1e308)}) {
    cache["machines"][machine_peak_key(1)] = {{"threads", 1}, {"fma_gflops", fma}, {"memory_gbs", 1.0}};
    runtime::write_file_atomically(file, cache.dump(2));
    testing::internal::CaptureStderr();
    MachinePeak p = machine_peak(1, false);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_FALSE(p.from_cache) << fma;
    EXPECT_GT(p.fma_gflops, 0);
    EXPECT_LT(p.fma_gflops, 1e6);
    EXPECT_NE(err.find("ignoring the bad entry \"" + machine_peak_key(1) + "\" of the peak cache " + file),
              std::string::npos)
        << err;
  }
  const MachinePeak p = machine_peak(1, false);  // the new entry, from the cache
  EXPECT_TRUE(p.from_cache);
  const json after = json::parse(runtime::read_text_file(file, "peak cache"));
  EXPECT_EQ(after["machines"]["another machine, 64 threads"], other);
  EXPECT_EQ(after["machines"][machine_peak_key(kThreads)]["fma_gflops"], kFakeFma);
  EXPECT_EQ(after["machines"][machine_peak_key(1)]["fma_gflops"], p.fma_gflops);
  runtime::write_file_atomically(file, good);  // for the tests after this one in the same process
}

// One test for both forms: ctest runs every test in a process of its own, and
// the bench compiles every kernel of the step twice (cold and warm).
TEST_F(CliTest, BenchJsonAndTableShowBothFusionModes) {
  json j = json::parse(bench_report_json(bench()).dump());
  EXPECT_EQ(j["schema"], "grokjit.bench/1");
  EXPECT_EQ(j["spec"], "tiny");
  EXPECT_EQ(j["threads"], kThreads);
  EXPECT_EQ(j["timed_steps"], 2);
  EXPECT_EQ(j["warmup_steps"], 1);
  EXPECT_EQ(j["peak"]["source"], "cache");
  EXPECT_EQ(j["peak"]["fma_gflops"], kFakeFma);
  EXPECT_EQ(j["peak"]["memory_gbs"], kFakeMemory);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["fusion"], true);
  EXPECT_EQ(j["runs"][1]["fusion"], false);
  for (const json& r : j["runs"]) {
    for (const char* f : {"device", "kernels_per_step", "step_ms", "step_ms_samples", "flops_per_step",
                          "bytes_read_per_step", "bytes_written_per_step", "bytes_per_step", "arena_bytes",
                          "gflops_per_s", "fraction_of_fma_peak", "gb_per_s", "fraction_of_memory_bandwidth",
                          "flop_floor_ms", "times_flop_floor", "compile"})
      EXPECT_TRUE(r.contains(f)) << f;
    EXPECT_EQ(r["step_ms_samples"].size(), 2u);
    // --profile: every kernel, in program order, with its time.
    ASSERT_EQ(r["kernel_profile"].size(), r["kernels_per_step"].get<size_t>());
    for (const json& k : r["kernel_profile"]) {
      EXPECT_GT(k["ms"].get<double>(), 0) << k.dump();
      for (const char* f : {"name", "flops", "bytes", "launch", "ops"}) EXPECT_TRUE(k.contains(f)) << f;
    }
    const json& ms = r["step_ms"];
    EXPECT_GT(ms["median"].get<double>(), 0);
    EXPECT_LE(ms["min"].get<double>(), ms["p20"].get<double>());
    EXPECT_LE(ms["p20"].get<double>(), ms["median"].get<double>());
    EXPECT_LE(ms["median"].get<double>(), ms["p80"].get<double>());
    EXPECT_LE(ms["p80"].get<double>(), ms["max"].get<double>());
    EXPECT_GT(r["flops_per_step"].get<double>(), 0);
    EXPECT_DOUBLE_EQ(r["bytes_per_step"].get<double>(),
                     r["bytes_read_per_step"].get<double>() + r["bytes_written_per_step"].get<double>());
    EXPECT_NEAR(r["fraction_of_fma_peak"].get<double>(), r["gflops_per_s"].get<double>() / kFakeFma, 1e-12);
    EXPECT_NEAR(r["fraction_of_memory_bandwidth"].get<double>(), r["gb_per_s"].get<double>() / kFakeMemory, 1e-12);
    const json& c = r["compile"];
    EXPECT_GT(c["cold_s"].get<double>(), 0);
    EXPECT_GT(c["warm_s"].get<double>(), 0);
    EXPECT_GT(c["cold_cache_misses"].get<size_t>(), 0u);  // cold: compiled, not read from the user's cache
    EXPECT_GT(c["warm_cache_hits"].get<size_t>(), 0u);    // warm: read back from the disk cache
  }
  EXPECT_GT(j["runs"][1]["kernels_per_step"].get<size_t>(), j["runs"][0]["kernels_per_step"].get<size_t>());
  // The same step as `grokjit kernels` lists.
  EXPECT_EQ(j["runs"][0]["kernels_per_step"], listing("on")["programs"][0]["kernel_count"]);
  ASSERT_TRUE(j.contains("fusion_gain"));
  EXPECT_GT(j["fusion_gain"]["kernel_ratio"].get<double>(), 1);

  std::string table = bench_report_table(bench());
  EXPECT_NE(table.find("bench 'tiny' on cpu"), std::string::npos) << table;
  EXPECT_NE(table.find("machine peak (2 threads): FMA 123.5 GFLOP/s, memory 45.2 GB/s"), std::string::npos) << table;
  std::regex columns(R"(^fusion\s+kernels\s+p20 ms\s+median ms\s+p80 ms\s+FLOP/step\s+bytes/step\s+GFLOP/s\s+of FMA peak\s+GB/s\s+of mem bw\s+compile cold s\s+warm s$)");
  std::regex row(R"(^(on|off)\s+(\d+)(\s+[0-9.]+){3}\s+[0-9.]+( [kMG])?\s+[0-9.]+ [kMG]?B\s+[0-9.]+\s+[0-9.]+%\s+[0-9.]+\s+[0-9.]+%\s+[0-9.]+\s+[0-9.]+$)");
  std::istringstream in(table);
  std::string line;
  std::vector<std::string> modes;
  bool saw_columns = false;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, columns)) saw_columns = true;
    if (std::regex_match(line, m, row)) modes.push_back(m[1]);
  }
  EXPECT_TRUE(saw_columns) << table;
  EXPECT_EQ(modes, (std::vector<std::string>{"on", "off"})) << table;
  EXPECT_NE(table.find("fusion on vs off: "), std::string::npos);
  EXPECT_NE(table.find("FLOP floor (FLOPs per step / FMA peak): "), std::string::npos);
  // --profile 3: the 3 slowest kernels of each program, slowest first.
  for (const StepBenchResult& r : bench().runs) {
    const std::string head = std::string("kernels, fusion ") + (r.fusion ? "on" : "off") + ": ";
    const size_t at = table.find(head);
    ASSERT_NE(at, std::string::npos) << table;
    std::istringstream lines(table.substr(at));
    std::getline(lines, line);
    EXPECT_NE(line.find(" in " + std::to_string(r.kernels) + " kernels timed alone"), std::string::npos) << line;
    std::getline(lines, line);
    EXPECT_TRUE(std::regex_search(line, std::regex(R"(^\s*ms\s+of sum\s+GFLOP/s\s+GB/s\s+kernel\s+launch$)"))) << line;
    std::vector<double> listed;
    while (std::getline(lines, line) && !line.empty() && listed.size() < 4) {
      if (!std::regex_search(line, m, std::regex(R"(^\s*([0-9.]+)\s+[0-9.]+%)"))) break;
      listed.push_back(std::stod(m[1]));
    }
    EXPECT_EQ(listed.size(), 3u) << table;
    EXPECT_TRUE(std::is_sorted(listed.rbegin(), listed.rend())) << table;
  }
}

// The shell scripts under scripts/ parse (bash -n): the GPU ones run only on a
// lent GPU machine, where a syntax error would cost the lease.
TEST(Scripts, EveryShippedScriptParses) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(GROKJIT_SOURCE_DIR) / "scripts")) {
    if (e.path().extension() != ".sh") continue;
    const std::string cmd = "bash -n '" + e.path().string() + "' 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr) << cmd;
    char buf[512];
    while (size_t got = std::fread(buf, 1, sizeof buf, p)) out.append(buf, got);
    EXPECT_EQ(::pclose(p), 0) << e.path() << ":\n" << out;
    ++n;
  }
  EXPECT_GE(n, 6u);  // setup, build, run-main, run-tests, gpu-bundle, gpu-check, ...
}

}  // namespace
}  // namespace grokjit::cli
