// grokjit graph SPEC: the IR of a spec's train-step or eval program.
#include <iostream>

#include "cli/commands.h"
#include "ir/printer.h"
#include "runtime/trainer.h"

namespace grokjit::cli {

void add_graph_options(CLI::App& cmd, GraphArgs& args) {
  add_spec_options(cmd, args.spec);
  cmd.add_option("--which", args.which, "train | eval")->check(CLI::IsMember({"train", "eval"}));
  cmd.add_option("--format", args.format, "text | dot | json")->check(CLI::IsMember({"text", "dot", "json"}));
}

int run_graph(const GraphArgs& args) {
  runtime::RunConfig config = load_run_config(args.spec);
  tasks::Dataset data = tasks::make_dataset(config.task);
  runtime::StepGraphs graphs =
      runtime::build_step_graphs(config, runtime::data_shape(config, data, tasks::make_split(config.task)));
  const ir::Graph& g = args.which == "train" ? graphs.train : graphs.eval;
  if (args.format == "dot") {
    std::cout << ir::to_dot(g);
  } else if (args.format == "json") {
    std::cout << ir::to_json(g) << "\n";
  } else {
    std::cout << ir::to_text(g);
  }
  return 0;
}

}  // namespace grokjit::cli
