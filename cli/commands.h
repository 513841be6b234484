// Subcommand options and entry points (one file per subcommand).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/train_config.h"

namespace grokjit::cli {

// Options every spec-driven command shares: the spec, overrides, backend.
struct SpecArgs {
  std::string spec;
  std::vector<std::string> sets;  // --set key=value
  std::optional<uint64_t> seed;
  std::string backend;  // cpu | cuda | auto | reference; "" = the GROKJIT_BACKEND knob
  std::string fusion;   // on | off; "" = the GROKJIT_FUSION knob
};
std::string effective_backend(const SpecArgs& args);
bool effective_fusion(const SpecArgs& args);
void add_spec_options(CLI::App& cmd, SpecArgs& args);
runtime::RunConfig load_run_config(const SpecArgs& args);
// The device for --backend; says on stderr why `auto` chose what it chose.
std::unique_ptr<runtime::Device> make_device(const std::string& backend, bool verbose);

struct TrainArgs {
  SpecArgs spec;
  std::string out;        // default: runs/<spec name>
  bool resume = false;
  bool quiet = false;
};
void add_train_options(CLI::App& cmd, TrainArgs& args);
int run_train(const TrainArgs& args);

struct GraphArgs {
  SpecArgs spec;
  std::string which = "train";   // train | eval
  std::string format = "text";   // text | dot | json
};
void add_graph_options(CLI::App& cmd, GraphArgs& args);
int run_graph(const GraphArgs& args);

int run_doctor(bool json);

}  // namespace grokjit::cli
