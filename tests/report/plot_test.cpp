// runtime/plot: the files each plot writes, with and without gnuplot, and the
// errors for bad input. Drawing tests skip when gnuplot is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/error.h"
#include "runtime/plot.h"

namespace plot = grokjit::runtime::plot;
namespace fs = std::filesystem;

namespace {

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("grokjit_test_plot_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void need_gnuplot() {
    plot::GnuplotStatus g = plot::find_gnuplot();
    if (!g.available) GTEST_SKIP() << g.reason;
  }
  static std::string read(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  static bool nonempty(const std::string& path) { return fs::exists(path) && fs::file_size(path) > 0; }
  fs::path dir_;
};

plot::BoxPlot sample_box() {
  plot::BoxPlot b;
  b.labels = {"grokking epoch", "group", "epoch"};
  b.groups = {{"add/adamw", {153, 120, 180, 99}, {300}, 0}, {"add/muon", {102, 88}, {}, 1}, {"div/muon", {}, {300, 300}, 1}};
  return b;
}

plot::HeatMap sample_heat() {
  plot::HeatMap h;
  h.labels = {"median grokking epoch", "lr", "wd"};
  h.x_ticks = {"0.001", "0.01"};
  h.y_ticks = {"0.1", "1"};
  h.value = {{120.0, std::nullopt}, {80.0, 300.0}};
  h.text = {{"120 (3/3)", ""}, {"80 (3/3)", ">300 (0/3)"}};
  return h;
}

TEST_F(PlotTest, DrawsAllThreeKinds) {
  need_gnuplot();
  plot::Result b = plot::box_plot(dir_.string(), "box", sample_box());
  plot::LinePlot lp;
  lp.labels = {"accuracy", "epoch", "acc"};
  lp.series = {{"train", {1, 2, 3}, {0.1, 0.9, 1.0}, 0, true}, {"val", {1, 2, 3}, {0.0, 0.2, 0.97}}, {"empty", {}, {}}};
  plot::Result l = plot::line_plot(dir_.string(), "lines", lp);
  plot::Result h = plot::heat_map(dir_.string(), "heat", sample_heat());
  for (const plot::Result& r : {b, l, h}) {
    EXPECT_TRUE(r.drawn) << r.not_drawn_reason;
    EXPECT_TRUE(nonempty(r.svg)) << r.svg;
    EXPECT_TRUE(nonempty(r.png)) << r.png;
    EXPECT_TRUE(nonempty(r.dat));
    EXPECT_TRUE(nonempty(r.gp));
    EXPECT_NE(read(r.svg).find("<svg"), std::string::npos);
    EXPECT_EQ(read(r.png).substr(1, 3), "PNG");
  }
  // The data file holds the box statistics (type-7 quartiles of 99, 120, 153, 180:
  // Q1 = 99 + 0.75 * 21 = 114.75, median 136.5, Q3 = 153 + 0.25 * 27 = 159.75).
  EXPECT_NE(read(b.dat).find("1 99 114.75 136.5 159.75 180"), std::string::npos) << read(b.dat);
  // A heat-map cell without data is '?', its label empty.
  EXPECT_NE(read(h.dat).find("1 0 ? \"\""), std::string::npos) << read(h.dat);
  EXPECT_NE(read(h.dat).find("1 1 300 \">300 (0/3)\""), std::string::npos) << read(h.dat);
}

TEST_F(PlotTest, ScriptRedrawsFromItsFolder) {
  need_gnuplot();
  plot::Result r = plot::box_plot(dir_.string(), "box", sample_box());
  fs::remove(r.svg);
  std::string cmd = "cd '" + dir_.string() + "' && gnuplot box.gp >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(nonempty(r.svg));
}

TEST_F(PlotTest, WithoutGnuplotWritesDataAndScriptAndSaysWhy) {
  plot::Options o;
  o.gnuplot = (dir_ / "no-such-gnuplot").string();
  EXPECT_FALSE(plot::find_gnuplot(o).available);
  plot::Result r = plot::heat_map(dir_.string(), "heat", sample_heat(), o);
  EXPECT_FALSE(r.drawn);
  EXPECT_NE(r.not_drawn_reason.find("gnuplot not found"), std::string::npos) << r.not_drawn_reason;
  EXPECT_TRUE(r.svg.empty());
  EXPECT_TRUE(nonempty(r.dat));
  EXPECT_TRUE(nonempty(r.gp));
  EXPECT_FALSE(fs::exists(dir_ / "heat.svg"));
  // Something that runs but is not gnuplot.
  o.gnuplot = "true";
  plot::GnuplotStatus s = plot::find_gnuplot(o);
  EXPECT_FALSE(s.available);
  EXPECT_NE(s.reason.find("did not answer as gnuplot"), std::string::npos) << s.reason;
}

// A stand-in gnuplot: a shell script in dir_ named `name`; `on_version` and
// `on_plot` are shell commands run for `--version` and for a script.
std::string fake_gnuplot(const fs::path& dir, const std::string& name, const std::string& on_version,
                         const std::string& on_plot) {
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path) << "#!/bin/sh\nif [ \"$1\" = --version ]; then " << on_version << "; exit 0; fi\n" << on_plot << "\n";
  fs::permissions(path, fs::perms::owner_all);
  return path.string();
}

// gnuplot runs in the plot's folder: a relative --gnuplot ./gp (found from
// here by the version check) must name the same file there.
TEST_F(PlotTest, RelativeGnuplotPathIsRunFromThePlotsFolder) {
  const std::string gp = fake_gnuplot(dir_ / "bin", "gp", "echo gnuplot 5.4 fake",
                                      "stem=$(basename \"$1\" .gp); echo x > $stem.svg; echo x > $stem.png");
  plot::Options o;
  o.gnuplot = fs::relative(gp, fs::current_path()).string();  // "../../tmp/.../bin/gp"
  ASSERT_NE(o.gnuplot.front(), '/');
  ASSERT_TRUE(plot::find_gnuplot(o).available) << plot::find_gnuplot(o).reason;
  plot::Result r = plot::box_plot((dir_ / "plots").string(), "box", sample_box(), o);
  EXPECT_TRUE(r.drawn);
  EXPECT_TRUE(nonempty((dir_ / "plots" / "box.svg").string()));
}

// A gnuplot that hangs (on a plot, or on --version) is killed after the
// timeout, with what was started; the caller is told, not left waiting.
TEST_F(PlotTest, HungGnuplotIsKilledAfterTheTimeout) {
  plot::Options o;
  o.gnuplot = fake_gnuplot(dir_ / "bin", "gp-hangs-on-plots", "echo gnuplot 5.4 fake", "sleep 30");
  o.timeout_s = 0.5;
  const auto start = std::chrono::steady_clock::now();
  // Not drawn, as without gnuplot, saying why; and the plots after it are not tried.
  const plot::Result r = plot::box_plot((dir_ / "plots").string(), "box", sample_box(), o);
  EXPECT_FALSE(r.drawn);
  EXPECT_NE(r.not_drawn_reason.find("box.gp within 0.5 s and was killed"), std::string::npos) << r.not_drawn_reason;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(nonempty((dir_ / "plots" / "box.dat").string()));  // the data stays for a re-run
  const plot::Result next = plot::box_plot((dir_ / "plots").string(), "box2", sample_box(), o);
  EXPECT_FALSE(next.drawn);
  EXPECT_NE(next.not_drawn_reason.find("an earlier plot ran past the 0.5 s timeout"), std::string::npos)
      << next.not_drawn_reason;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  plot::Options v;
  v.gnuplot = fake_gnuplot(dir_ / "bin", "gp-hangs-on-version", "sleep 30", "true");
  v.version_timeout_s = 0.5;
  plot::GnuplotStatus s = plot::find_gnuplot(v);
  EXPECT_FALSE(s.available);
  EXPECT_NE(s.reason.find("--version' did not answer within 0.5 s and was killed"), std::string::npos) << s.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST_F(PlotTest, BadInputIsAUsageError) {
  auto expect_usage = [](auto fn, const std::string& what) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one about " << what;
    } catch (const grokjit::Error& e) {
      EXPECT_EQ(e.code(), grokjit::ExitCode::Usage);
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  std::string d = dir_.string();
  expect_usage([&] { plot::box_plot(d, "a b", sample_box()); }, "bad file stem 'a b'");
  expect_usage([&] { plot::box_plot(d, "box", plot::BoxPlot{}); }, "has no groups");
  plot::LinePlot lp;
  lp.series = {{"s", {1, 2}, {1}}};
  expect_usage([&] { plot::line_plot(d, "l", lp); }, "has 2 x and 1 y values");
  lp.series = {{"s", {}, {}}};
  expect_usage([&] { plot::line_plot(d, "l", lp); }, "has no data");
  plot::HeatMap h = sample_heat();
  h.value[1].pop_back();
  expect_usage([&] { plot::heat_map(d, "h", h); }, "one value per x tick");
  h = sample_heat();
  h.text = {{"a"}};
  expect_usage([&] { plot::heat_map(d, "h", h); }, "shaped like `value`");
  h = sample_heat();
  h.x_ticks.clear();
  expect_usage([&] { plot::heat_map(d, "h", h); }, "empty axis");
}

}  // namespace
