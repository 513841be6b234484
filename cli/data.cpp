// grokjit data SPEC: the rows a run trains and validates on, for inspection.
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "ir/error.h"
#include "runtime/files.h"
#include "tasks/dataset.h"

namespace grokjit::cli {

void add_data_options(CLI::App& cmd, DataArgs& args) {
  add_spec_options(cmd, args.spec);
  cmd.add_option("--format", args.format, "csv | json")->check(CLI::IsMember({"csv", "json"}));
  cmd.add_option("--out,-o", args.out, "output file (default: stdout)")->check(not_empty());
}

int run_data(const DataArgs& args) {
  if (!args.out.empty() && runtime::same_file(args.out, args.spec.spec))
    throw Error("-o '" + args.out + "' is the spec file itself: it would be replaced by the data", ExitCode::Usage);
  runtime::RunConfig config = load_run_config(args.spec);
  tasks::Dataset data = tasks::make_dataset(config.task);
  tasks::Split split = tasks::make_split(config.task);
  std::ostringstream text;
  if (args.format == "json") {
    text << tasks::dataset_to_json(data, split).dump() << "\n";
  } else {
    tasks::write_dataset_csv(text, data, split);
  }
  if (args.out.empty()) {
    std::cout << text.str();  // a failed write is caught when stdout is flushed (cli/app.cpp)
  } else {
    runtime::write_file_atomically(args.out, text.str());  // never half a file
  }
  return 0;
}

}  // namespace grokjit::cli
