#include "runtime/knobs.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "ir/error.h"

extern char** environ;  // POSIX: the process environment

namespace grokjit::runtime {
namespace {

std::string default_cache_dir() {
  // XDG base directories: $XDG_CACHE_HOME only counts when absolute.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/grokjit";
  const char* home = std::getenv("HOME");
  if (home && home[0] != '\0') return std::string(home) + "/.cache/grokjit";
  return "/tmp/grokjit-cache";
}

// The one table. Keep it sorted by theme; names come from knob:: in knobs.h.
const Knob kKnobs[] = {
    {knob::kDebug, KnobType::Int, "0",
     "Diagnostics on stderr: 1 = the kernels and their ops, 2 = + fusion decisions and memory plan, 3 = + kernel IR", "--debug", 0, 3},
    {knob::kBackend, KnobType::Enum, "cpu",
     "Where kernels run: cpu (LLVM JIT), cuda (NVRTC + driver), auto (cuda when a GPU is usable, else cpu), "
     "reference (the float64 interpreter: slow, for checking)",
     "--backend", 0, 0, "cpu|cuda|auto|reference"},
    {knob::kFusion, KnobType::Enum, "on", "Kernel fusion; off = one kernel per op (same numbers, slower)", "--fusion",
     0, 0, "on|off"},
    {knob::kRecompute, KnobType::Enum, "off",
     "Kernels that read a cheap elementwise value (sigmoid(g) for silu') compute it again from what they read "
     "anyway instead of loading a stored copy; off until measured faster (no gain on a Zen 3 or a Zen 4 "
     "with AVX-512; not yet measured on an Intel core or a GPU)",
     {}, 0, 0, "on|off"},
    {knob::kSplitLoops, KnobType::Enum, "on",
     "CPU loops that cross a pad or concat boundary (RoPE's rotate-half) are split there, so that each piece "
     "vectorizes with contiguous loads; off = one loop with selects (same numbers, slower)",
     {}, 0, 0, "on|off"},
    {knob::kThreads, KnobType::Int, "0", "CPU worker threads; 0 = all cores", "--threads", 0, 4096},
    {knob::kCacheDir, KnobType::String, "",
     "Compiled-kernel cache; default $XDG_CACHE_HOME/grokjit, else ~/.cache/grokjit", "--cache-dir", 0, 0, {},
     default_cache_dir},
    {knob::kNoCache, KnobType::Bool, "0", "Neither read nor write the kernel cache (always compile)", "--no-cache"},
};

std::mutex overrides_mutex;
std::map<std::string, std::string, std::less<>>& overrides() {
  static std::map<std::string, std::string, std::less<>> values;
  return values;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string shortest(double value) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

std::vector<std::string> split_choices(std::string_view choices) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= choices.size()) {
    const size_t bar = std::min(choices.find('|', start), choices.size());
    out.emplace_back(choices.substr(start, bar - start));
    start = bar + 1;
  }
  return out;
}

const char* type_name(KnobType type) {
  switch (type) {
    case KnobType::Bool: return "bool";
    case KnobType::Int: return "int";
    case KnobType::Double: return "double";
    case KnobType::String: return "string";
    case KnobType::Enum: return "enum";
  }
  return "?";
}

std::string allowed_values(const Knob& k) {
  switch (k.type) {
    case KnobType::Bool: return "1/0, true/false, on/off, yes/no";
    case KnobType::Int: return "an integer in " + shortest(k.min) + " .. " + shortest(k.max);
    case KnobType::Double: return "a number in " + shortest(k.min) + " .. " + shortest(k.max);
    case KnobType::String: return "any text";
    case KnobType::Enum: return "one of " + std::string(k.choices);
  }
  return "?";
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string t = lowercase(text);
  if (t == "1" || t == "true" || t == "on" || t == "yes") return true;
  if (t == "0" || t == "false" || t == "off" || t == "no") return false;
  return std::nullopt;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Where a raw value came from, for messages: "GROKJIT_X=v" or "--flag v (GROKJIT_X)".
struct RawValue {
  std::string text;
  std::string source;  // "default", "environment", "flag"
};

std::string where(const Knob& k, const RawValue& raw) {
  if (raw.source == "flag") {
    const std::string flag = k.flag.empty() ? std::string(k.name) : std::string(k.flag);
    return flag + " '" + raw.text + "' (" + std::string(k.name) + ")";
  }
  return std::string(k.name) + "='" + raw.text + "'" + (raw.source == "default" ? " (the default)" : "");
}

[[noreturn]] void reject(const Knob& k, const RawValue& raw, const std::string& problem) {
  throw Error(where(k, raw) + ": " + problem + "; allowed: " + allowed_values(k), ExitCode::Usage);
}

// The value in canonical text form (bools "1"/"0", enums lowercase), or throws.
std::string canonical(const Knob& k, const RawValue& raw) {
  switch (k.type) {
    case KnobType::Bool: {
      const auto value = parse_bool(raw.text);
      if (!value) reject(k, raw, "not a boolean");
      return *value ? "1" : "0";
    }
    case KnobType::Int: {
      const auto value = parse_number<int64_t>(raw.text);
      if (!value) reject(k, raw, "not an integer");
      if (*value < k.min || *value > k.max) reject(k, raw, "out of range");
      return std::to_string(*value);
    }
    case KnobType::Double: {
      const auto value = parse_number<double>(raw.text);
      if (!value || !std::isfinite(*value)) reject(k, raw, "not a finite number");
      if (*value < k.min || *value > k.max) reject(k, raw, "out of range");
      return shortest(*value);
    }
    case KnobType::String:
      return raw.text;
    case KnobType::Enum: {
      const std::string value = lowercase(raw.text);
      const auto choices = split_choices(k.choices);
      if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        const std::string guess = closest_name(value, choices);
        reject(k, raw, guess.empty() ? "not a known value" : "not a known value (did you mean '" + guess + "'?)");
      }
      return value;
    }
  }
  return raw.text;
}

RawValue raw_value(const Knob& k) {
  {
    std::lock_guard lock(overrides_mutex);
    const auto it = overrides().find(k.name);
    if (it != overrides().end()) return {it->second, "flag"};
  }
  const char* env = std::getenv(std::string(k.name).c_str());
  if (env && env[0] != '\0') return {env, "environment"};
  if (k.computed_default) return {k.computed_default(), "default"};
  return {std::string(k.default_value), "default"};
}

const Knob& typed_knob(std::string_view name, KnobType type) {
  const Knob& k = find_knob(name);
  if (k.type != type) {
    throw Error("knob " + std::string(name) + " is of type " + type_name(k.type) + ", read as " + type_name(type),
                ExitCode::Failure);
  }
  return k;
}

std::string effective(std::string_view name, KnobType type) {
  const Knob& k = typed_knob(name, type);
  return canonical(k, raw_value(k));
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

// Case and '-' vs '_' are not typos worth distance.
std::string normalized_name(std::string_view name) {
  std::string out = lowercase(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

}  // namespace

std::span<const Knob> all_knobs() { return kKnobs; }

const Knob& find_knob(std::string_view name) {
  for (const Knob& k : kKnobs) {
    if (k.name == name) return k;
  }
  throw Error("knob " + std::string(name) + " is not declared in runtime/knobs.cpp", ExitCode::Failure);
}

bool knob_bool(std::string_view name) { return effective(name, KnobType::Bool) == "1"; }
int64_t knob_int(std::string_view name) { return *parse_number<int64_t>(effective(name, KnobType::Int)); }
double knob_double(std::string_view name) { return *parse_number<double>(effective(name, KnobType::Double)); }
std::string knob_string(std::string_view name) { return effective(name, KnobType::String); }
std::string knob_enum(std::string_view name) { return effective(name, KnobType::Enum); }

void set_knob_override(std::string_view name, std::string_view value) {
  const Knob& k = find_knob(name);
  const std::string text = canonical(k, {std::string(value), "flag"});
  std::lock_guard lock(overrides_mutex);
  overrides()[std::string(name)] = text;
}

void clear_knob_overrides() {
  std::lock_guard lock(overrides_mutex);
  overrides().clear();
}

std::vector<KnobValue> knob_values() {
  std::vector<KnobValue> values;
  for (const Knob& k : kKnobs) {
    const RawValue raw = raw_value(k);
    try {
      values.push_back({&k, canonical(k, raw), raw.source, {}});
    } catch (const Error& e) {
      values.push_back({&k, raw.text, raw.source, e.what()});
    }
  }
  return values;
}

void check_knobs() {
  for (const KnobValue& k : knob_values())
    if (!k.error.empty()) throw Error(k.error, ExitCode::Usage);
}

std::string format_knob_help() {
  std::ostringstream out;
  for (const Knob& k : kKnobs) {
    out << k.name << " (" << type_name(k.type) << ": " << allowed_values(k) << ")";
    if (!k.flag.empty()) out << ", flag " << k.flag;
    out << "\n    " << k.help << "\n    default: ";
    out << (k.computed_default ? k.computed_default() : std::string(k.default_value)) << "\n";
  }
  return out.str();
}

std::vector<std::string> undeclared_knob_warnings() {
  std::vector<std::string> names;
  for (const Knob& k : kKnobs) names.emplace_back(k.name);
  std::vector<std::string> warnings;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view assignment(*entry);
    const std::string_view name = assignment.substr(0, assignment.find('='));
    if (name.rfind("GROKJIT_", 0) != 0) continue;
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    std::string warning = std::string(name) + " is not a grokjit setting and is ignored";
    if (const std::string guess = closest_name(name, names); !guess.empty()) warning += "; did you mean " + guess + "?";
    warnings.push_back(warning);
  }
  std::sort(warnings.begin(), warnings.end());
  return warnings;
}

std::string closest_name(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string target = normalized_name(word);
  const size_t tolerance = std::max<size_t>(1, target.size() / 3);
  std::string best;
  size_t best_distance = tolerance + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = edit_distance(target, normalized_name(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (!best.empty()) return best;
  // An abbreviation or a longer spelling ("addition" for "add"): one name of
  // at least 3 characters that starts the other.
  for (const std::string& candidate : candidates) {
    const std::string name = normalized_name(candidate);
    const bool abbreviates = name.size() >= 3 && target.size() >= 3 &&
                             (target.starts_with(name) || name.starts_with(target));
    if (abbreviates) return candidate;
  }
  return "";
}

int debug_level() { return static_cast<int>(knob_int(knob::kDebug)); }
std::string cache_dir() { return knob_string(knob::kCacheDir); }
bool cache_disabled() { return knob_bool(knob::kNoCache); }
int thread_count_setting() { return static_cast<int>(knob_int(knob::kThreads)); }
bool fusion_enabled() { return knob_enum(knob::kFusion) == "on"; }
std::string backend_setting() { return knob_enum(knob::kBackend); }
bool recompute_enabled() { return knob_enum(knob::kRecompute) == "on"; }
bool split_loops_enabled() { return knob_enum(knob::kSplitLoops) == "on"; }

}  // namespace grokjit::runtime
