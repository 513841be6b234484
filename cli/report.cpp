// grokjit report RESULTS.jsonl...: statistics, tables and plots of a sweep's
// results (runtime/report.h; docs/report.md).
#include <cstdio>
#include <ostream>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/report.h"

namespace grokjit::cli {

void add_report_options(CLI::App& cmd, ReportArgs& args) {
  cmd.add_option("results", args.results, "results files (JSON lines from grokjit sweep); shards merge")->required();
  cmd.add_option("--out,-o", args.out, "report directory (default: report/ next to the first results file)")
      ->check(not_empty());
  cmd.add_option("--by", args.by,
                 "grouping fields, comma-separated dotted config paths or point.AXIS; the last is compared "
                 "pairwise (default task.kind,model.output,optimizer.kind)");
  cmd.add_option("--curves", args.curves,
                 "runs whose accuracy curves to plot: comma-separated ids, auto (each optimizer's median run) or none")
      ->check(not_empty());
  cmd.add_option("--format", args.format, "what to print on stdout: md | json (both files are always written)")
      ->check(CLI::IsMember({"md", "json"}));
  cmd.add_flag("--no-plots", args.no_plots, "write no plots");
  cmd.add_option("--gnuplot", args.gnuplot, "the gnuplot executable (default: gnuplot on PATH)")->check(not_empty());
  cmd.add_flag("--quiet,-q", args.quiet, "print nothing on stdout");
}

int run_report(const ReportArgs& args, std::ostream& out) {
  runtime::report::Options o;
  o.results = args.results;
  o.out = args.out;
  if (args.by) o.by = runtime::report::split_commas(*args.by);  // "--by ''" or "a,,b": write_report names the mistake
  o.curves = args.curves;
  o.plots = !args.no_plots;
  o.plot.gnuplot = args.gnuplot;
  runtime::report::Written w = runtime::report::write_report(o);
  for (const std::string& warning : w.warnings) std::fprintf(stderr, "grokjit report: warning: %s\n", warning.c_str());
  if (!args.quiet) out << (args.format == "json" ? w.json.dump(2) + "\n" : w.markdown);
  std::fprintf(stderr, "grokjit report: wrote %s, %s and %zu plot files\n", w.markdown_path.c_str(),
               w.json_path.c_str(), w.plots.size());
  return 0;
}

}  // namespace grokjit::cli
