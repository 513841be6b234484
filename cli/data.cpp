// grokjit data SPEC: the rows a run trains and validates on, for inspection.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "ir/error.h"
#include "tasks/dataset.h"

namespace grokjit::cli {

void add_data_options(CLI::App& cmd, DataArgs& args) {
  add_spec_options(cmd, args.spec);
  cmd.add_option("--format", args.format, "csv | json")->check(CLI::IsMember({"csv", "json"}));
  cmd.add_option("--out,-o", args.out, "output file (default: stdout)");
}

int run_data(const DataArgs& args) {
  runtime::RunConfig config = load_run_config(args.spec);
  tasks::Dataset data = tasks::make_dataset(config.task);
  tasks::Split split = tasks::make_split(config.task);
  std::ofstream file;
  if (!args.out.empty()) {
    file.open(args.out, std::ios::trunc);
    if (!file) throw Error("cannot write " + args.out, ExitCode::Io);
  }
  std::ostream& out = args.out.empty() ? std::cout : file;
  if (args.format == "json") {
    out << tasks::dataset_to_json(data, split).dump() << "\n";
  } else {
    tasks::write_dataset_csv(out, data, split);
  }
  if (!out) throw Error("writing the dataset failed" + (args.out.empty() ? std::string() : " (" + args.out + ")"), ExitCode::Io);
  return 0;
}

}  // namespace grokjit::cli
