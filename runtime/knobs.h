// The knob registry: every GROKJIT_* environment variable (and the command-
// line flag that sets the same thing) is declared once, in the table in
// knobs.cpp, with its type, default and help. Code reads knobs only through
// the typed getters below, which reject a bad value by name.
//
// To add a knob: add a name constant below and a row to kKnobs in knobs.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace grokjit::runtime {

// Names of the declared knobs (use these, not string literals).
namespace knob {
inline constexpr std::string_view kDebug = "GROKJIT_DEBUG";
inline constexpr std::string_view kCacheDir = "GROKJIT_CACHE_DIR";
inline constexpr std::string_view kNoCache = "GROKJIT_NO_CACHE";
inline constexpr std::string_view kThreads = "GROKJIT_THREADS";
inline constexpr std::string_view kFusion = "GROKJIT_FUSION";
inline constexpr std::string_view kBackend = "GROKJIT_BACKEND";
inline constexpr std::string_view kRecompute = "GROKJIT_RECOMPUTE";
inline constexpr std::string_view kSplitLoops = "GROKJIT_SPLIT_LOOPS";
}  // namespace knob

enum class KnobType { Bool, Int, Double, String, Enum };

struct Knob {
  std::string_view name;           // GROKJIT_...
  KnobType type;
  std::string_view default_value;  // as text; "" for a string knob with a computed default
  std::string_view help;
  std::string_view flag = {};      // the CLI flag that sets it ("--backend"), if any
  double min = 0, max = 0;         // Int and Double: allowed range (inclusive)
  std::string_view choices = {};   // Enum: allowed values separated by '|' ("on|off")
  std::string (*computed_default)() = nullptr;  // String: default computed at run time
};

// Every declared knob, in declaration order.
std::span<const Knob> all_knobs();
// The knob called `name`; an undeclared name is a bug (Error, ExitCode::Failure).
const Knob& find_knob(std::string_view name);

// Typed getters: a flag override wins over the environment, which wins over
// the default. An empty environment variable counts as unset. A value that
// does not parse or is out of range throws Error (ExitCode::Usage) naming the
// knob, the value and what is allowed. Asking for the wrong type is a bug
// (ExitCode::Failure).
bool knob_bool(std::string_view name);           // 1/0, true/false, on/off, yes/no (any case)
int64_t knob_int(std::string_view name);
double knob_double(std::string_view name);
std::string knob_string(std::string_view name);
std::string knob_enum(std::string_view name);   // one of the choices, lowercase

// Command-line flags set knobs through here: the value is validated now
// (Error, ExitCode::Usage, naming the flag) and overrides the environment
// for the rest of the process.
void set_knob_override(std::string_view name, std::string_view value);
void clear_knob_overrides();

struct KnobValue {
  const Knob* knob;
  std::string value;   // the effective value, as text
  std::string source;  // "default", "environment" or "flag"
  std::string error;   // not empty: the value is invalid (why; `value` is then as given)
};
// The effective value of every knob (for `grokjit doctor`); a bad one is
// listed with its `error`, not thrown.
std::vector<KnobValue> knob_values();

// Throws the first invalid knob's error (Usage), so that a bad setting stops
// a command before it starts, not where (or whether) the command reads it.
void check_knobs();

// A text table of every knob: name, type and allowed values, default, flag, help.
std::string format_knob_help();

// One warning per GROKJIT_* variable in `environ` that is not a declared knob
// (a typo would otherwise be ignored silently), with a suggestion.
std::vector<std::string> undeclared_knob_warnings();

// The candidate closest to `word` by edit distance when it is close enough to
// be a likely typo, else "". Shared with the spec parser's "did you mean".
std::string closest_name(std::string_view word, const std::vector<std::string>& candidates);

// Convenience accessors for the knobs above.
int debug_level();             // GROKJIT_DEBUG, 0..3
std::string cache_dir();       // GROKJIT_CACHE_DIR
bool cache_disabled();         // GROKJIT_NO_CACHE
int thread_count_setting();    // GROKJIT_THREADS, 0 = all cores
bool fusion_enabled();         // GROKJIT_FUSION == "on"
std::string backend_setting(); // GROKJIT_BACKEND: cpu|cuda|auto|reference
bool recompute_enabled();      // GROKJIT_RECOMPUTE == "on"
bool split_loops_enabled();    // GROKJIT_SPLIT_LOOPS == "on"

}  // namespace grokjit::runtime
