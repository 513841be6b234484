// The one exception type grokjit throws for errors a user (or a caller) can
// cause. `what()` says what went wrong and where; `exit_code()` is what the CLI
// exits with (documented in README.md, "Exit codes").
#pragma once

#include <stdexcept>
#include <string>

namespace grokjit {

enum class ExitCode : int {
  Ok = 0,
  Failure = 1,       // anything else (a bug: please report it)
  Usage = 2,         // bad flag, bad spec, bad JSON
  Io = 3,            // file missing, unreadable or corrupt (checkpoint, cache, graph)
  Diverged = 4,      // NaN/Inf loss: the run stopped, last good checkpoint kept
  Compile = 5,       // kernel compilation failed (log and repro saved)
  Interrupted = 130, // SIGINT/SIGTERM: checkpoint saved, exited cleanly
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::Failure)
      : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

// Graph construction and verification errors: name the op, shapes, dtypes.
class GraphError : public Error {
 public:
  explicit GraphError(const std::string& what) : Error(what, ExitCode::Usage) {}
};

}  // namespace grokjit
