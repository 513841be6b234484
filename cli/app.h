#pragma once

namespace grokjit::cli {
// Parses argv, runs the subcommand, maps grokjit::Error to its exit code.
int run_main(int argc, char** argv);
}  // namespace grokjit::cli
