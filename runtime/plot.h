// Plots through gnuplot: a box plot, a line plot with several series and a
// heat map. Each plot writes <dir>/<stem>.dat (the data) and <dir>/<stem>.gp
// (a script that reads it), then runs gnuplot in <dir> to draw <stem>.svg and
// <stem>.png. The .dat and .gp files stay, so a person can edit the script and
// re-run it (`cd DIR && gnuplot STEM.gp`).
//
// Without gnuplot the .dat and .gp files are still written and the result
// says why nothing was drawn (callers warn and go on); a gnuplot that runs and
// fails, or runs past Options::timeout_s, is an Error (ExitCode::Failure)
// carrying its log.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace grokjit::runtime::plot {

struct Options {
  std::string gnuplot = "gnuplot";  // executable: a path (made absolute first), or a name looked up on PATH
  int width = 800, height = 500;    // pixels (SVG and PNG)
  // gnuplot (with whatever it started: its process group) is killed after
  // this long drawing one plot, or answering --version; a hung gnuplot
  // must not hang the report.
  double timeout_s = 60, version_timeout_s = 10;
};

// Whether `gnuplot` can be run, its version line, or why not.
struct GnuplotStatus {
  bool available = false;
  std::string version;  // "gnuplot 5.4 patchlevel 4"
  std::string reason;   // why not available
};
GnuplotStatus find_gnuplot(const Options& options = {});

struct Labels {
  std::string title, x, y;
};

// One box per group: quartiles (type 7, stats::quantile) of `values`, whiskers
// at their min and max, every value drawn as a dot, and `marked` values (e.g.
// runs censored at the epoch cap) drawn with a distinct symbol, not in the box.
struct BoxGroup {
  std::string label;
  std::vector<double> values;
  std::vector<double> marked;
  int color = -1;  // box colour: index into a fixed palette; -1 = the first colour
};
struct BoxPlot {
  Labels labels;
  std::vector<BoxGroup> groups;
  std::string values_label = "observed";
  std::string marked_label = "censored";
  bool log_y = false;
};

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length
  int color = -1;            // index into a fixed palette; -1 = the series' position
  bool dashed = false;
  bool points = false;       // linespoints instead of lines
};
struct LinePlot {
  Labels labels;
  std::vector<Series> series;
  std::optional<double> y_min, y_max;
  bool log_x = false, log_y = false;
  std::string key = "bottom right";  // gnuplot `set key` position
};

// Cells on a grid of x_ticks x y_ticks (categorical axes, labelled with the
// tick text). value[yi][xi]: the colour; nullopt = no data (drawn grey).
// text[yi][xi]: printed in the cell ("" = the value with %g).
struct HeatMap {
  Labels labels;
  std::string value_label;  // colour-bar title
  std::vector<std::string> x_ticks, y_ticks;
  std::vector<std::vector<std::optional<double>>> value;
  std::vector<std::vector<std::string>> text;  // empty, or the shape of `value`
};

struct Result {
  std::string dat, gp;        // always written
  std::string svg, png;       // "" when not drawn
  bool drawn = false;
  std::string not_drawn_reason;
};

// `stem` is a file name without extension (letters, digits, '-', '_', '.').
// Bad input (empty plot, ragged heat map, x/y length mismatch, bad stem) is
// an Error (ExitCode::Usage); unwritable files are ExitCode::Io.
Result box_plot(const std::string& dir, const std::string& stem, const BoxPlot& plot, const Options& options = {});
Result line_plot(const std::string& dir, const std::string& stem, const LinePlot& plot, const Options& options = {});
Result heat_map(const std::string& dir, const std::string& stem, const HeatMap& plot, const Options& options = {});

// A Markdown image line for a report next to the plots directory
// ("![title](plots/<stem>.svg)"), or, when nothing was drawn, a line saying
// why and where the data is.
std::string markdown_image(const Result& r, const std::string& title);

}  // namespace grokjit::runtime::plot
