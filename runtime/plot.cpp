#include "runtime/plot.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "ir/error.h"
#include "runtime/stats.h"

namespace grokjit::runtime::plot {

namespace fs = std::filesystem;

namespace {

// Colours for series and groups, in order (colour-blind-safe Tableau 10).
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* color(int i) { return kPalette[static_cast<size_t>(i) % std::size(kPalette)]; }
// The same colour as a number, for gnuplot's `lc rgb variable`.
long color_number(int i) { return std::strtol(color(i) + 1, nullptr, 16); }

// A gnuplot single-quoted string: no escapes but '' for '.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A string column in a .dat file: double-quoted, inner quotes dropped.
std::string dat_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s)
    if (c != '"' && c != '\n') out += c;
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A program given as a path (it has a '/') made absolute, so that it still
// names the same file when run from the plot's folder; a bare name stays a
// PATH lookup.
std::string executable(const std::string& program) {
  if (program.find('/') == std::string::npos) return program;
  std::error_code ec;
  const fs::path absolute = fs::absolute(program, ec);
  return ec ? program : absolute.lexically_normal().string();
}

// What a program's output may add to an error message (the rest is read and dropped).
constexpr size_t kMaxCapturedBytes = size_t{64} << 10;

// Runs argv in `cwd`, stdout and stderr (the first 64 KiB) into `output`; returns the exit
// status, or 127 when the program could not be started. Past `timeout_s`
// the program and everything it started (its process group) is killed and
// `timed_out` set.
int run_captured(const std::vector<std::string>& argv, const std::string& cwd, std::string& output, double timeout_s,
                 bool& timed_out) {
  timed_out = false;
  int fds[2];
  if (pipe(fds) != 0) throw Error("plot: cannot create a pipe to run " + argv[0], ExitCode::Failure);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw Error("plot: cannot fork to run " + argv[0], ExitCode::Failure);
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group: a timeout kills what it started too
    // Out of the terminal's group, Ctrl-C no longer reaches it: it dies with grokjit instead.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0) dup2(null_in, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here: whichever runs first, the group exists before a kill
  close(fds[1]);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  auto ms_left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  };
  // Read until end of output (or the deadline), then wait for the exit (or the deadline).
  for (bool open = true; open;) {
    const long long left = ms_left();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t got = read(fds[0], buf, sizeof buf);
    if (got > 0)
      output.append(buf, std::min(static_cast<size_t>(got), kMaxCapturedBytes - std::min(kMaxCapturedBytes, output.size())));
    else if (got == 0 || errno != EINTR)
      open = false;
  }
  close(fds[0]);
  int status = 0;
  while (!timed_out) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (ms_left() <= 0) timed_out = true;
    else usleep(10000);
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str() + " s";
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw Error("plot: cannot write " + path.string(), ExitCode::Io);
}

void check_stem(const std::string& stem) {
  bool ok = !stem.empty() && std::all_of(stem.begin(), stem.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!ok) throw Error("plot: bad file stem '" + stem + "' (use letters, digits, '-', '_', '.')", ExitCode::Usage);
}

// The script's preamble: comments, title, labels.
std::string preamble(const std::string& stem, const Labels& labels) {
  std::ostringstream gp;
  gp << "# " << (labels.title.empty() ? stem : labels.title) << "\n"
     << "# Written by grokjit (runtime/plot.cpp); data in " << stem << ".dat.\n"
     << "# Re-draw after editing: cd to this folder, then: gnuplot " << stem << ".gp\n"
     << "set encoding utf8\n"
     << "set datafile missing '?'\n";
  if (!labels.title.empty()) gp << "set title " << quote(labels.title) << " noenhanced\n";
  if (!labels.x.empty()) gp << "set xlabel " << quote(labels.x) << " noenhanced\n";
  if (!labels.y.empty()) gp << "set ylabel " << quote(labels.y) << " noenhanced\n";
  gp << "set grid ytics lc rgb '#dddddd'\n";
  return gp.str();
}

// Draws `plot_command` once as SVG and once as PNG (pngcairo when this
// gnuplot has it, else the libgd png terminal).
std::string outputs(const std::string& stem, const std::string& plot_command, const Options& o) {
  std::ostringstream gp;
  gp << "\nset terminal svg size " << o.width << "," << o.height << " dynamic font 'sans,11' background rgb 'white'\n"
     << "set termoption noenhanced\n"
     << "set output " << quote(stem + ".svg") << "\n"
     << plot_command << "\n"
     << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
     << "  set terminal pngcairo size " << o.width << "," << o.height << " font 'sans,10' background rgb 'white'\n"
     << "} else {\n"
     << "  set terminal png size " << o.width << "," << o.height << " background rgb 'white'\n"
     << "}\n"
     << "set termoption noenhanced\n"
     << "set output " << quote(stem + ".png") << "\n"
     << plot_command << "\n"
     << "set output\n";
  return gp.str();
}

// What find_gnuplot found, per program; a program that hung on a plot is
// marked unusable here, so that the plots after it are not tried.
std::mutex gnuplot_mutex;
std::map<std::string, GnuplotStatus>& gnuplot_cache() {
  static std::map<std::string, GnuplotStatus> cache;
  return cache;
}

void give_up_on_gnuplot(const Options& options, const std::string& why) {
  std::lock_guard<std::mutex> lock(gnuplot_mutex);
  GnuplotStatus& s = gnuplot_cache()[executable(options.gnuplot)];
  s.available = false;
  s.reason = why;
}

// Writes the files and, when gnuplot is there, draws them.
Result finish(const std::string& dir, const std::string& stem, const std::string& dat, const std::string& gp,
              const Options& options) {
  fs::path d(dir);
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw Error("plot: cannot create directory " + dir + ": " + ec.message(), ExitCode::Io);
  Result r;
  r.dat = (d / (stem + ".dat")).string();
  r.gp = (d / (stem + ".gp")).string();
  write_text(r.dat, dat);
  write_text(r.gp, gp);
  GnuplotStatus g = find_gnuplot(options);
  if (!g.available) {
    r.not_drawn_reason = g.reason;
    return r;
  }
  fs::path svg = d / (stem + ".svg"), png = d / (stem + ".png");
  fs::remove(svg, ec);
  fs::remove(png, ec);
  std::string log;
  bool timed_out = false;
  int rc = run_captured({executable(options.gnuplot), stem + ".gp"}, dir, log, options.timeout_s, timed_out);
  auto nonempty = [](const fs::path& p) {
    std::error_code e;
    return fs::exists(p, e) && fs::file_size(p, e) > 0;
  };
  const std::string rerun = "re-run it with: cd " + dir + " && " + executable(options.gnuplot) + " " + stem + ".gp";
  if (timed_out) {
    // Not drawn, as without gnuplot; and the plots after it are not tried (each would wait as long).
    r.not_drawn_reason = "gnuplot did not finish " + r.gp + " within " + seconds_text(options.timeout_s) +
                         " and was killed" + (log.empty() ? "" : "; its output:\n" + log) + "; " + rerun;
    give_up_on_gnuplot(options, "an earlier plot ran past the " + seconds_text(options.timeout_s) +
                                    " timeout (" + r.gp + "); the later plots were not tried");
    return r;
  }
  if (rc != 0 || !nonempty(svg) || !nonempty(png))
    throw Error("plot: gnuplot failed on " + r.gp + " (exit " + std::to_string(rc) + "):\n" + log + rerun,
                ExitCode::Failure);
  r.svg = svg.string();
  r.png = png.string();
  r.drawn = true;
  return r;
}

}  // namespace

GnuplotStatus find_gnuplot(const Options& options) {
  std::lock_guard<std::mutex> lock(gnuplot_mutex);
  std::map<std::string, GnuplotStatus>& cache = gnuplot_cache();
  const std::string program = executable(options.gnuplot);  // ./gp from here is not ./gp from elsewhere
  auto it = cache.find(program);
  if (it != cache.end()) return it->second;
  GnuplotStatus s;
  std::string out;
  bool timed_out = false;
  int rc = run_captured({program, "--version"}, "", out, options.version_timeout_s, timed_out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (timed_out) {
    s.reason = "'" + options.gnuplot + " --version' did not answer within " + seconds_text(options.version_timeout_s) +
               " and was killed";
  } else if (rc == 0 && out.rfind("gnuplot", 0) == 0) {
    s.available = true;
    s.version = out;
  } else if (rc == 127) {
    s.reason = "gnuplot not found ('" + options.gnuplot + "'); install it with scripts/setup.sh (gnuplot-nox)";
  } else {
    s.reason = "'" + options.gnuplot + " --version' did not answer as gnuplot (exit " + std::to_string(rc) + ": " +
               out.substr(0, 200) + ")";
  }
  cache[program] = s;
  return s;
}

Result box_plot(const std::string& dir, const std::string& stem, const BoxPlot& plot, const Options& options) {
  check_stem(stem);
  if (plot.groups.empty()) throw Error("plot: box plot '" + stem + "' has no groups", ExitCode::Usage);
  std::ostringstream boxes, points, marked;
  size_t n_boxes = 0, n_points = 0, n_marked = 0;
  std::string xtics;
  // A fixed small horizontal spread so equal values do not hide each other.
  auto jitter = [](size_t k) { return (static_cast<double>(k % 7) - 3) * 0.04; };
  for (size_t g = 0; g < plot.groups.size(); ++g) {
    const BoxGroup& grp = plot.groups[g];
    double x = static_cast<double>(g + 1);
    xtics += (g ? ", " : "") + quote(grp.label) + " " + num(x);
    if (!grp.values.empty()) {
      stats::Summary s = stats::summarize(grp.values);
      boxes << num(x) << " " << num(s.min) << " " << num(s.q1) << " " << num(s.median) << " " << num(s.q3) << " "
            << num(s.max) << " " << color_number(std::max(grp.color, 0)) << " " << dat_string(grp.label) << "\n";
      ++n_boxes;
    }
    for (size_t k = 0; k < grp.values.size(); ++k, ++n_points)
      points << num(x + jitter(k)) << " " << num(grp.values[k]) << "\n";
    for (size_t k = 0; k < grp.marked.size(); ++k, ++n_marked)
      marked << num(x + jitter(k)) << " " << num(grp.marked[k]) << "\n";
  }
  // Blocks (gnuplot `index`), only the non-empty ones, in this order.
  std::string dat = "# " + stem + ": box statistics (x min q1 median q3 max rgb label), then points (x y), then " +
                    plot.marked_label + " points (x y); blocks separated by two blank lines\n";
  std::vector<std::string> clauses;
  int index = 0;
  if (n_boxes) {
    dat += "# boxes\n" + boxes.str() + "\n\n";
    clauses.push_back("'" + stem + ".dat' index " + std::to_string(index) +
                       " using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc rgb variable lw 1.5 fs solid 0.25 "
                      "notitle");
    clauses.push_back("'" + stem + ".dat' index " + std::to_string(index) +
                       " using 1:4:4:4:4:7 with candlesticks lc rgb variable lw 2.5 notitle");
    ++index;
  }
  if (n_points) {
    dat += "# " + plot.values_label + "\n" + points.str() + "\n\n";
    clauses.push_back("'" + stem + ".dat' index " + std::to_string(index) + " using 1:2 with points pt 7 ps 0.6 " +
                      "lc rgb '#333333' title " + quote(plot.values_label));
    ++index;
  }
  if (n_marked) {
    dat += "# " + plot.marked_label + "\n" + marked.str() + "\n\n";
    clauses.push_back("'" + stem + ".dat' index " + std::to_string(index) + " using 1:2 with points pt 9 ps 1.1 " +
                      "lc rgb '#d62728' title " + quote(plot.marked_label));
    ++index;
  }
  if (clauses.size() == 0) throw Error("plot: box plot '" + stem + "' has no values", ExitCode::Usage);
  size_t longest = 0;
  for (const BoxGroup& grp : plot.groups) longest = std::max(longest, grp.label.size());

  std::string gp = preamble(stem, plot.labels);
  gp += "set boxwidth 0.5 absolute\n";
  gp += "set xrange [0.4:" + num(static_cast<double>(plot.groups.size()) + 0.6) + "]\n";
  gp += "set xtics (" + xtics + ")" + (longest > 8 || plot.groups.size() > 6 ? " rotate by -35" : "") + "\n";
  gp += "set key outside top center horizontal\n";
  gp += "set offsets 0, 0, graph 0.06, graph 0.06  # keep points at the cap off the frame\n";
  if (plot.log_y) gp += "set logscale y\n";
  std::string cmd = "plot ";
  for (size_t i = 0; i < clauses.size(); ++i) cmd += (i ? ", \\\n     " : "") + clauses[i];
  gp += outputs(stem, cmd, options);
  return finish(dir, stem, dat, gp, options);
}

Result line_plot(const std::string& dir, const std::string& stem, const LinePlot& plot, const Options& options) {
  check_stem(stem);
  std::string dat = "# " + stem + ": one block (x y) per series, separated by two blank lines\n";
  std::vector<std::string> clauses;
  int index = 0;
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Series& s = plot.series[i];
    if (s.x.size() != s.y.size())
      throw Error("plot: series '" + s.label + "' of '" + stem + "' has " + std::to_string(s.x.size()) + " x and " +
                      std::to_string(s.y.size()) + " y values",
                  ExitCode::Usage);
    if (s.x.empty()) continue;  // gnuplot rejects an empty block
    dat += "# " + s.label + "\n";
    for (size_t k = 0; k < s.x.size(); ++k) dat += num(s.x[k]) + " " + num(s.y[k]) + "\n";
    dat += "\n\n";
    std::string c = "'" + stem + ".dat' index " + std::to_string(index++) + " using 1:2 with " +
                    (s.points ? "linespoints pt 7 ps 0.5" : "lines") + " lw 2 lc rgb '" +
                    color(s.color >= 0 ? s.color : static_cast<int>(i)) + "'" + (s.dashed ? " dt 2" : "") +
                    " title " + quote(s.label);
    clauses.push_back(c);
  }
  if (clauses.empty()) throw Error("plot: line plot '" + stem + "' has no data", ExitCode::Usage);
  std::string gp = preamble(stem, plot.labels);
  gp += "set key " + plot.key + "\n";
  if (plot.log_x) gp += "set logscale x\n";
  if (plot.log_y) gp += "set logscale y\n";
  if (plot.y_min || plot.y_max)
    gp += "set yrange [" + (plot.y_min ? num(*plot.y_min) : "*") + ":" + (plot.y_max ? num(*plot.y_max) : "*") + "]\n";
  std::string cmd = "plot ";
  for (size_t i = 0; i < clauses.size(); ++i) cmd += (i ? ", \\\n     " : "") + clauses[i];
  gp += outputs(stem, cmd, options);
  return finish(dir, stem, dat, gp, options);
}

Result heat_map(const std::string& dir, const std::string& stem, const HeatMap& plot, const Options& options) {
  check_stem(stem);
  size_t nx = plot.x_ticks.size(), ny = plot.y_ticks.size();
  if (nx == 0 || ny == 0) throw Error("plot: heat map '" + stem + "' has an empty axis", ExitCode::Usage);
  if (plot.value.size() != ny) throw Error("plot: heat map '" + stem + "' needs one value row per y tick", ExitCode::Usage);
  for (const auto& row : plot.value)
    if (row.size() != nx) throw Error("plot: heat map '" + stem + "' needs one value per x tick in every row", ExitCode::Usage);
  if (!plot.text.empty()) {
    bool same = plot.text.size() == ny;
    for (size_t y = 0; same && y < ny; ++y) same = plot.text[y].size() == nx;
    if (!same) throw Error("plot: heat map '" + stem + "': `text` must be empty or shaped like `value`", ExitCode::Usage);
  }
  std::string dat = "# " + stem + ": x_index y_index value label ('?' = no data)\n";
  bool any = false;
  for (size_t y = 0; y < ny; ++y) {
    for (size_t x = 0; x < nx; ++x) {
      const auto& v = plot.value[y][x];
      any = any || v.has_value();
      std::string text = plot.text.empty() ? "" : plot.text[y][x];
      if (text.empty()) text = v ? num(*v) : "";
      dat += std::to_string(x) + " " + std::to_string(y) + " " + (v ? num(*v) : "?") + " " + dat_string(text) + "\n";
    }
    dat += "\n";
  }
  std::string xtics, ytics;
  for (size_t x = 0; x < nx; ++x) xtics += (x ? ", " : "") + quote(plot.x_ticks[x]) + " " + std::to_string(x);
  for (size_t y = 0; y < ny; ++y) ytics += (y ? ", " : "") + quote(plot.y_ticks[y]) + " " + std::to_string(y);

  std::string gp = preamble(stem, plot.labels);
  gp += "unset grid\n";
  gp += "set xrange [-0.5:" + num(static_cast<double>(nx) - 0.5) + "]\n";
  gp += "set yrange [-0.5:" + num(static_cast<double>(ny) - 0.5) + "]\n";
  gp += "set xtics (" + xtics + ") scale 0\n";
  gp += "set ytics (" + ytics + ") scale 0\n";
  gp += "set palette defined (0 '#ffffcc', 1 '#a1dab4', 2 '#41b6c4', 3 '#2c7fb8')\n";
  if (!plot.value_label.empty()) gp += "set cblabel " + quote(plot.value_label) + " noenhanced\n";
  gp += "# grey where there is no data\n";
  gp += "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#cccccc' fillstyle solid\n";
  gp += "set key off\n";
  std::string cmd;
  if (any)
    cmd = "plot '" + stem + ".dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid fillcolor palette, \\\n" +
          "     '" + stem + ".dat' using 1:2:4 with labels font ',10'";
  else
    cmd = "unset colorbox\nplot '" + stem + ".dat' using 1:2:4 with labels font ',10'";
  gp += outputs(stem, cmd, options);
  return finish(dir, stem, dat, gp, options);
}

std::string markdown_image(const Result& r, const std::string& title) {
  if (r.drawn) return "![" + title + "](plots/" + fs::path(r.svg).filename().string() + ")\n\n";
  return "(plot '" + title + "' not drawn: " + r.not_drawn_reason + "; data in plots/" + fs::path(r.dat).filename().string() +
         ")\n\n";
}

}  // namespace grokjit::runtime::plot
