#include "runtime/spec.h"


#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <regex>
#include <span>
#include <sstream>
#include <type_traits>

#include "runtime/files.h"
#include "runtime/knobs.h"  // closest_name
#include "tasks/task_checks.h"

namespace grokjit::runtime {
namespace {

using nlohmann::json;
using models::Activation;
using models::ModelKind;
using models::OutputFn;
using models::RopeStyle;
using models::TwoLayerLoss;
using optimizers::GradFilter;
using optimizers::MuonScale;
using optimizers::MuonVariant;
using optimizers::OptimizerKind;
using tasks::TaskKind;

// ---------------------------------------------------------------- enum names

template <class E>
struct EnumEntry {
  E value;
  const char* name;
};

template <class E>
std::span<const EnumEntry<E>> enum_entries();

#define GROKJIT_ENUM_NAMES(Type, ...)                                \
  template <>                                                        \
  std::span<const EnumEntry<Type>> enum_entries<Type>() {            \
    static constexpr EnumEntry<Type> entries[] = {__VA_ARGS__};      \
    return entries;                                                  \
  }

GROKJIT_ENUM_NAMES(ModelKind, {ModelKind::Transformer, "transformer"}, {ModelKind::TwoLayer, "two_layer"})
GROKJIT_ENUM_NAMES(OutputFn, {OutputFn::Softmax, "softmax"}, {OutputFn::Stablemax, "stablemax"},
                   {OutputFn::Sparsemax, "sparsemax"})
GROKJIT_ENUM_NAMES(RopeStyle, {RopeStyle::RotateHalf, "rotate_half"}, {RopeStyle::Interleaved, "interleaved"})
GROKJIT_ENUM_NAMES(Activation, {Activation::Square, "square"}, {Activation::Relu, "relu"})
GROKJIT_ENUM_NAMES(TwoLayerLoss, {TwoLayerLoss::CenteredMse, "centered_mse"},
                   {TwoLayerLoss::CrossEntropy, "cross_entropy"})
GROKJIT_ENUM_NAMES(OptimizerKind, {OptimizerKind::AdamW, "adamw"}, {OptimizerKind::Adam, "adam"},
                   {OptimizerKind::Sgd, "sgd"}, {OptimizerKind::Muon, "muon"})
GROKJIT_ENUM_NAMES(MuonVariant, {MuonVariant::Reference, "reference"}, {MuonVariant::Li2, "li2"})
GROKJIT_ENUM_NAMES(MuonScale, {MuonScale::ShapeRatio, "shape_ratio"}, {MuonScale::MatchRmsAdamw, "match_rms_adamw"},
                   {MuonScale::None, "none"})
GROKJIT_ENUM_NAMES(GradFilter, {GradFilter::None, "none"}, {GradFilter::GrokfastEma, "ema"},
                   {GradFilter::GrokfastMa, "ma"})
GROKJIT_ENUM_NAMES(TrainAccSource, {TrainAccSource::Eval, "eval"}, {TrainAccSource::Running, "running"})
#undef GROKJIT_ENUM_NAMES

// Task names live with the tasks (tasks/config.h), shared with the datasets.
template <>
std::span<const EnumEntry<TaskKind>> enum_entries<TaskKind>() {
  static const std::vector<EnumEntry<TaskKind>> entries = [] {
    std::vector<EnumEntry<TaskKind>> out;
    for (const tasks::TaskKindInfo& info : tasks::kTaskKinds) out.push_back({info.kind, info.name});
    return out;
  }();
  return entries;
}

template <class E>
const char* enum_name(E value) {
  for (const auto& entry : enum_entries<E>()) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& entry : enum_entries<E>()) names.emplace_back(entry.name);
  return names;
}

template <class E>
std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& entry : enum_entries<E>()) {
    if (name == entry.name) return entry.value;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- text helpers

std::string shortest(double value) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

// "a", "a or b", "a, b or c", each quoted.
std::string quoted_alternatives(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += "'" + items[i] + "'";
  }
  return out;
}

using Path = std::vector<std::string>;

std::string pointer(const Path& path) {
  if (path.empty()) return "/";
  std::string out;
  for (const std::string& key : path) out += "/" + key;
  return out;
}

std::string dotted(const Path& path) { return join(path, "."); }

Path child(Path path, std::string key) {
  path.push_back(std::move(key));
  return path;
}

std::string describe_json(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + std::string(value.type_name()) + ")";
}

[[noreturn]] void fail(std::string_view source, const Path& path, const std::string& message) {
  throw Error(std::string(source) + ": " + pointer(path) + ": " + message, ExitCode::Usage);
}

// ---------------------------------------------------------------- rules

constexpr double kInf = std::numeric_limits<double>::infinity();

// What values a field allows; also printed in errors and in docs/spec.md.
struct Rule {
  double lo = -kInf, hi = kInf;
  bool lo_open = false, hi_open = false;
  std::optional<double> special;      // also allowed, with its meaning
  const char* special_meaning = "";
  std::vector<std::string> choices;   // string lists: the allowed entries
  bool name_chars = false;            // strings: letters, digits, '.', '_', '-'
};

Rule any_value() { return {}; }

Rule between(double lo, double hi) {
  Rule rule;
  rule.lo = lo;
  rule.hi = hi;
  return rule;
}

Rule at_least(double lo) { return between(lo, kInf); }

Rule positive() {
  Rule rule = at_least(0);
  rule.lo_open = true;
  return rule;
}

Rule below_one() {  // [0, 1): betas, momentum, dropout
  Rule rule = between(0, 1);
  rule.hi_open = true;
  return rule;
}

Rule share() {  // (0, 1]: accuracy thresholds
  Rule rule = between(0, 1);
  rule.lo_open = true;
  return rule;
}

Rule open_unit_or(double special, const char* meaning) {  // (0, 1) or a marker value
  Rule rule = share();
  rule.hi_open = true;
  rule.special = special;
  rule.special_meaning = meaning;
  return rule;
}

Rule one_of(std::vector<std::string> choices) {
  Rule rule;
  rule.choices = std::move(choices);
  return rule;
}

Rule name_characters() {
  Rule rule;
  rule.name_chars = true;
  return rule;
}

bool allows(const Rule& rule, double x) {
  if (rule.special && x == *rule.special) return true;
  const bool above = rule.lo_open ? x > rule.lo : x >= rule.lo;
  const bool below = rule.hi_open ? x < rule.hi : x <= rule.hi;
  return above && below;
}

std::string describe_bounds(const Rule& rule, bool integer) {
  std::string text;
  const bool has_lo = rule.lo > -kInf, has_hi = rule.hi < kInf;
  // Integer bounds print as integers (100000, not 1e+05).
  auto number = [&](double x) { return integer ? std::to_string(static_cast<int64_t>(x)) : shortest(x); };
  if (has_lo && has_hi) {
    if (integer) {
      text = number(rule.lo) + " .. " + number(rule.hi);
    } else {
      text = std::string(rule.lo_open ? "(" : "[") + shortest(rule.lo) + ", " + shortest(rule.hi) +
             (rule.hi_open ? ")" : "]");
    }
  } else if (has_lo) {
    text = std::string(rule.lo_open ? "> " : ">= ") + number(rule.lo);
  } else if (has_hi) {
    text = std::string(rule.hi_open ? "< " : "<= ") + number(rule.hi);
  } else {
    text = "any";
  }
  if (rule.special) text = shortest(*rule.special) + " (" + rule.special_meaning + ") or " + text;
  return text;
}

// ---------------------------------------------------------------- field types

// Run names become folder names (runs/<name>): portable characters, and
// not "." or "..", which would put a run elsewhere.
bool is_run_name(std::string_view text) {
  return !text.empty() && text.size() <= 128 && text != "." && text != ".." &&
         std::all_of(text.begin(), text.end(), is_name_char);
}

template <class T>
constexpr bool is_string_list = std::is_same_v<T, std::vector<std::string>>;
template <class T>
constexpr bool is_integer_list = std::is_same_v<T, std::vector<int64_t>>;
template <class T>
constexpr bool is_integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (is_integer<T>) return "integer";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_enum_v<T>) return "enum";
  else if constexpr (is_integer_list<T>) return "integer list";
  else return "string list";
}

template <class T>
std::string allowed_text(const Rule& rule) {
  if constexpr (std::is_same_v<T, bool>) return "true | false";
  else if constexpr (std::is_enum_v<T>) return join(enum_names<T>(), " | ");
  else if constexpr (is_string_list<T>) return "subset of " + join(rule.choices, " | ");
  else if constexpr (std::is_same_v<T, std::string>) return rule.name_chars ? "letters, digits, '.', '_', '-'" : "any";
  else if constexpr (is_integer_list<T>) return "entries " + describe_bounds(rule, true);
  else if constexpr (std::is_unsigned_v<T>) return "0 .. 2^64 - 1";  // seeds
  else return describe_bounds(rule, is_integer<T>);
}

template <class T>
json to_json_value(const T& value) {
  if constexpr (std::is_enum_v<T>) return enum_name(value);
  else return value;
}

// An integer from a JSON integer, or from a float with an integral value
// (1e6 is a fine way to write a million).
template <class T>
std::optional<T> json_integer(const json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t x = value.get<uint64_t>();
    if (x > static_cast<uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
    return static_cast<T>(x);
  }
  if (value.is_number_integer()) {
    const int64_t x = value.get<int64_t>();
    if (std::is_unsigned_v<T> && x < 0) return std::nullopt;
    if (!std::is_unsigned_v<T> && (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                                   x > static_cast<int64_t>(std::numeric_limits<T>::max())))
      return std::nullopt;
    return static_cast<T>(x);
  }
  if (value.is_number_float()) {
    const double x = value.get<double>();
    if (x != std::floor(x) || x < static_cast<double>(std::numeric_limits<T>::min()) ||
        x >= std::ldexp(1.0, std::numeric_limits<T>::digits))
      return std::nullopt;
    return static_cast<T>(x);
  }
  return std::nullopt;
}

template <class T>
T read_value(const json& value, const Path& path, const Rule& rule, std::string_view source) {
  auto expected = [&](const std::string& what) {
    fail(source, path, "expected " + what + ", got " + describe_json(value));
  };
  auto out_of_range = [&]() {
    fail(source, path, value.dump() + " is out of range; allowed: " + allowed_text<T>(rule));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) expected("true or false");
    return value.get<bool>();
  } else if constexpr (is_integer<T>) {
    if (!value.is_number()) expected("an integer");
    const std::optional<T> x = json_integer<T>(value);
    if (!x) {
      if (value.is_number_float() && value.get<double>() != std::floor(value.get<double>())) expected("an integer");
      out_of_range();
    }
    if (!allows(rule, static_cast<double>(*x))) out_of_range();
    return *x;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) expected("a number");
    const double x = value.get<double>();
    if (!allows(rule, x)) out_of_range();
    return x;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!value.is_string()) expected("a string");
    const std::string text = value.get<std::string>();
    if (rule.name_chars && !is_run_name(text)) {
      fail(source, path, value.dump() + " is not allowed; allowed: 1 to 128 letters, digits, '.', '_', '-' (not . or ..)");
    }
    return text;
  } else if constexpr (std::is_enum_v<T>) {
    const std::string allowed = join(enum_names<T>(), ", ");
    if (!value.is_string()) expected("one of " + allowed);
    const std::string text = value.get<std::string>();
    if (const auto parsed = enum_from_name<T>(text)) return *parsed;
    const std::string guess = closest_name(text, enum_names<T>());
    fail(source, path, "'" + text + "' is not allowed" + (guess.empty() ? ";" : "; did you mean '" + guess + "'?") +
                           " allowed: " + allowed);
  } else if constexpr (is_integer_list<T>) {
    if (!value.is_array()) expected("a list of integers");
    T items;
    for (size_t i = 0; i < value.size(); ++i) {
      items.push_back(read_value<int64_t>(value[i], child(path, std::to_string(i)), rule, source));
    }
    return items;
  } else {
    static_assert(is_string_list<T>);
    if (!value.is_array()) expected("a list of strings");
    T items;
    for (size_t i = 0; i < value.size(); ++i) {
      const Path item_path = child(path, std::to_string(i));
      if (!value[i].is_string()) fail(source, item_path, "expected a string, got " + describe_json(value[i]));
      const std::string item = value[i].get<std::string>();
      if (std::find(rule.choices.begin(), rule.choices.end(), item) == rule.choices.end()) {
        fail(source, item_path, "'" + item + "' is not allowed; allowed: " + join(rule.choices, ", "));
      }
      if (std::find(items.begin(), items.end(), item) != items.end()) {
        fail(source, item_path, "'" + item + "' is listed twice");
      }
      items.push_back(item);
    }
    return items;
  }
}

// ---------------------------------------------------------------- the fields
//
// One visit function per config struct lists its fields once; the visitors
// below read them from JSON, write them to JSON and document them.

template <class V> void visit_fields(V& v, tasks::TaskConfig& c);
template <class V> void visit_fields(V& v, models::TransformerConfig& c);
template <class V> void visit_fields(V& v, models::TwoLayerConfig& c);
template <class V> void visit_fields(V& v, models::ModelConfig& c);
template <class V> void visit_fields(V& v, optimizers::AdamConfig& c);
template <class V> void visit_fields(V& v, optimizers::SgdConfig& c);
template <class V> void visit_fields(V& v, optimizers::MuonConfig& c);
template <class V> void visit_fields(V& v, optimizers::GrokfastConfig& c);
template <class V> void visit_fields(V& v, optimizers::OptimizerConfig& c);
template <class V> void visit_fields(V& v, TrainLoopConfig& c);
template <class V> void visit_fields(V& v, RunConfig& c);

const std::vector<std::string> kParameterGroups = {"hidden", "embedding", "head", "norm"};

template <class V>
void visit_fields(V& v, tasks::TaskConfig& c) {
  v.value("kind", c.kind, any_value(), "The dataset (REFERENCE.md s.1; group tasks s.7)");
  v.value("p", c.p, between(2, tasks::kMaxModulus),
          "Modulus of the modular tasks (prime for div); the order M of Z_M for cyclic");
  v.value("parity_bits", c.parity_bits, between(1, tasks::kMaxParityBits), "parity: bits per number");
  v.value("factors", c.factors, between(2, tasks::kMaxModulus),
          "product: orders of the cyclic factors, first most significant (order at most 2048)");
  v.value("symmetric_n", c.symmetric_n, between(2, tasks::kMaxSymmetricN), "symmetric: n of S_n (n! elements)");
  v.value("train_fraction", c.train_fraction,
          open_unit_or(-1, "the task's default"),
          "Share of rows that train: floor(fraction * rows); resolved in summaries");
  v.value("split_seed", c.split_seed, any_value(), "Seed of the split permutation");
}

template <class V>
void visit_fields(V& v, models::TransformerConfig& c) {
  v.value("depth", c.depth, between(1, 64), "Transformer blocks");
  v.value("d_model", c.d_model, between(1, 8192), "Width of the residual stream");
  v.value("heads", c.heads, between(1, 1024), "Attention heads; must divide d_model (OPEN: 1 or 4)");
  v.value("mlp_ratio", c.mlp_ratio, between(1, 64), "FFN hidden width = mlp_ratio * d_model");
  v.value("dropout", c.dropout, below_one(), "Dropout on the FFN hidden, training only");
  v.value("rope", c.rope, any_value(), "Rotary position embedding on q and k (OPEN: default on)");
  v.value("rope_base", c.rope_base, positive(), "RoPE base");
  v.value("rope_style", c.rope_style, any_value(),
          "RoPE pairs: i with i + head_dim/2 (rotate_half: GPT-NeoX, Llama-HF) or 2i with 2i+1 (interleaved: RoFormer)");
  v.value("norm_eps", c.norm_eps, positive(), "RMSNorm epsilon");
  v.value("causal", c.causal, any_value(), "Causal attention mask");
}

template <class V>
void visit_fields(V& v, models::TwoLayerConfig& c) {
  v.value("hidden", c.hidden, between(1, 1 << 20), "Hidden nodes K");
  v.value("activation", c.activation, any_value(), "sigma: x^2 (square) or relu");
  v.value("loss", c.loss, any_value(), "Class-centred MSE (REFERENCE.md s.7) or cross-entropy through `output`");
  v.value("init_scale", c.init_scale, positive(), "Multiplies the PyTorch-default uniform init");
}

template <class V>
void visit_fields(V& v, models::ModelConfig& c) {
  v.value("kind", c.kind, any_value(), "transformer (s.2) or the 2-layer network (s.7)");
  v.value("output", c.output, any_value(), "Output function and its loss (REFERENCE.md s.5)");
  v.value("stablemax_f64", c.stablemax_f64, any_value(), "Compute the stablemax loss in float64");
  v.object("transformer", c.transformer, "Used when kind is transformer");
  v.object("two_layer", c.two_layer, "Used when kind is two_layer");
}

template <class V>
void visit_fields(V& v, optimizers::AdamConfig& c) {
  v.value("lr", c.lr, positive(), "Learning rate");
  v.value("beta1", c.beta1, below_one(), "First-moment decay");
  v.value("beta2", c.beta2, below_one(), "Second-moment decay");
  v.value("eps", c.eps, positive(), "Denominator epsilon");
  v.value("weight_decay", c.weight_decay, at_least(0), "AdamW: decoupled; Adam: coupled L2 added to the gradient");
}

template <class V>
void visit_fields(V& v, optimizers::SgdConfig& c) {
  v.value("lr", c.lr, positive(), "Learning rate");
  v.value("momentum", c.momentum, below_one(), "Heavy-ball momentum");
  v.value("nesterov", c.nesterov, any_value(), "Nesterov momentum");
  v.value("weight_decay", c.weight_decay, at_least(0), "Weight decay");
  v.value("decoupled_decay", c.decoupled_decay, any_value(), "true: W *= 1 - lr * wd; false: L2 added to the gradient");
}

template <class V>
void visit_fields(V& v, optimizers::MuonConfig& c) {
  v.value("variant", c.variant, any_value(),
          "reference (Keller Jordan) or li2; li2 changes the defaults of momentum (0.99), nesterov (false) and "
          "scale (none)");
  v.defaults([&] {
    if (c.variant == MuonVariant::Li2) c = optimizers::muon_li2_preset(c);
  });
  v.value("lr", c.lr, positive(), "Learning rate of the Muon-routed weights");
  v.value("momentum", c.momentum, below_one(), "Momentum beta (li2 default 0.99)");
  v.value("nesterov", c.nesterov, any_value(), "Nesterov momentum (li2 default false)");
  v.value("weight_decay", c.weight_decay, at_least(0), "W *= 1 - lr * wd (decay uses the unscaled lr)");
  v.value("scale", c.scale, any_value(),
          "Update scale: sqrt(max(1, rows/cols)), 0.2 * sqrt(max(rows, cols)), or 1 (li2 default none)");
  v.value("ns_steps", c.ns_steps, between(1, 20), "Newton-Schulz iterations (li2: exactly 5)");
  v.value("ns_eps", c.ns_eps, positive(), "X /= (||X||_F + ns_eps) before Newton-Schulz");
  v.value("muon_groups", c.muon_groups, one_of(kParameterGroups),
          "Parameter groups Muon updates; the rest use aux_adam (AdamW)");
  v.object("aux_adam", c.aux_adam, "Adam(W) for the parameters Muon does not update");
  v.value("aux_decoupled_decay", c.aux_decoupled_decay, any_value(),
          "true: the auxiliary optimizer is AdamW (decoupled decay); false: Adam with coupled L2");
}

template <class V>
void visit_fields(V& v, optimizers::GrokfastConfig& c) {
  v.value("kind", c.kind, any_value(), "Gradient filter: none, ema or ma (Grokfast); ma changes the lambda default to 5");
  v.defaults([&] {
    if (c.kind == GradFilter::GrokfastMa) c.lambda = 5.0;
  });
  v.value("alpha", c.alpha, below_one(), "ema: mu = alpha * mu + (1 - alpha) * g");
  v.value("lambda", c.lambda, at_least(0), "g' = g + lambda * filtered (ema default 2, ma default 5)");
  v.value("window", c.window, between(1, 100000), "ma: gradients averaged");
}

template <class V>
void visit_fields(V& v, optimizers::OptimizerConfig& c) {
  v.value("kind", c.kind, any_value(), "adamw, adam (coupled L2), sgd, or muon (+ aux AdamW)");
  v.value("orthogonal_grad", c.orthogonal_grad, any_value(),
          "Project each gradient orthogonal to its weight, rescaled to ||g|| (Prieto et al. 2025)");
  v.value("grad_clip", c.grad_clip, at_least(0), "Global L2 norm clip; 0 = off");
  v.object("adam", c.adam, "Used when kind is adamw or adam");
  v.object("sgd", c.sgd, "Used when kind is sgd");
  v.object("muon", c.muon, "Used when kind is muon");
  v.object("grokfast", c.grokfast, "Gradient filter before any optimizer");
}

template <class V>
void visit_fields(V& v, TrainLoopConfig& c) {
  v.value("batch_size", c.batch_size, between(0, 1 << 24), "Rows per step; 0 or more than the training rows = full batch (an epoch is one step)");
  v.value("max_epochs", c.max_epochs, between(1, 1e9), "Epoch cap; a run that never groks is censored here (OPEN)");
  v.value("seed", c.seed, any_value(), "Seed of init, shuffling and dropout");
  v.value("memorize_threshold", c.memorize_threshold, share(), "Training accuracy that counts as memorized");
  v.value("grok_threshold", c.grok_threshold, share(), "Validation accuracy that counts as grokked");
  v.value("train_acc_source", c.train_acc_source, any_value(),
          "Training accuracy for the criterion: eval-mode pass (eval) or the epoch's running figure (OPEN)");
  v.value("stop_after_grok", c.stop_after_grok, at_least(-1), "Extra epochs after grokking; -1 = run to max_epochs");
  v.value("checkpoint_every", c.checkpoint_every, at_least(0), "Epochs between checkpoints; 0 = only at the end");
  v.value("eval_every", c.eval_every, at_least(1), "Epochs between evaluations");
  v.value("metrics", c.metrics, one_of({"li2", "li2_nodes", "representation"}),
          "Extra metrics per evaluation in metrics.jsonl (docs/experiments.md): li2 (2-layer net only), li2_nodes "
          "(li2 + per-node vectors), representation");
}

template <class V>
void visit_fields(V& v, RunConfig& c) {
  v.value("name", c.name, name_characters(), "Run name (output folder); default: the spec file's name, other characters as '-'");
  v.comment("comment", "Free text for readers of the spec; not part of the config");
  v.object("task", c.task, "The dataset and its split");
  v.object("model", c.model, "The network and its output function");
  v.object("optimizer", c.optimizer, "The optimizer and gradient filters");
  v.object("train", c.train, "The training loop and the grokking criterion");
}

// ---------------------------------------------------------------- visitors

// Lists the fields (documentation, --set path checks, suggestions).
class Collector {
 public:
  explicit Collector(Path prefix = {}) : path_(std::move(prefix)) {}

  template <class T>
  void value(const char* key, T& member, const Rule& rule, const char* help) {
    fields.push_back({dotted(child(path_, key)), type_name<T>(), to_json_value(member).dump(), allowed_text<T>(rule),
                      help});
  }
  void comment(const char* key, const char* help) {
    fields.push_back({dotted(child(path_, key)), "string", "\"\"", "any", help});
  }
  template <class S>
  void object(const char* key, S& sub, const char*) {
    path_.push_back(key);
    visit_fields(*this, sub);
    path_.pop_back();
  }
  template <class F>
  void defaults(F&&) {}

  std::vector<SpecField> fields;

 private:
  Path path_;
};

template <class S>
std::vector<SpecField> fields_of(S sample = S{}) {
  Collector collector;
  visit_fields(collector, sample);
  return collector.fields;
}

class Writer {
 public:
  template <class T>
  void value(const char* key, T& member, const Rule&, const char*) {
    out[key] = to_json_value(member);
  }
  void comment(const char*, const char*) {}
  template <class S>
  void object(const char* key, S& sub, const char*) {
    Writer inner;
    visit_fields(inner, sub);
    out[key] = std::move(inner.out);
  }
  template <class F>
  void defaults(F&&) {}

  json out = json::object();
};

// Common misnamings, mapped to the spec's key.
const std::vector<std::pair<std::string, std::string>> kAliases = {
    {"learning_rate", "lr"},   {"wd", "weight_decay"},     {"epochs", "max_epochs"},  {"batch", "batch_size"},
    {"optimiser", "optimizer"}, {"modulus", "p"},           {"prime", "p"},            {"beta_1", "beta1"},
    {"beta_2", "beta2"},       {"epsilon", "eps"},         {"num_heads", "heads"},    {"n_heads", "heads"},
    {"n_layers", "depth"},     {"num_layers", "depth"},    {"layers", "depth"},       {"hidden_dim", "hidden"},
    {"width", "d_model"},      {"dim", "d_model"},         {"train_frac", "train_fraction"},
    {"frac", "train_fraction"}, {"task_name", "kind"},     {"type", "kind"},          {"steps", "max_epochs"},
};

// "; did you mean ...?" for an unknown `key` among the `level` keys of an
// object whose nested fields are `nested` (dotted, relative), or ";".
std::string suggestion(const std::string& key, const std::vector<std::string>& level,
                       const std::vector<std::string>& nested) {
  std::vector<std::string> candidates = level;
  for (const auto& [alias, target] : kAliases) candidates.push_back(alias);
  std::string target = closest_name(key, candidates);
  for (const auto& [alias, aliased] : kAliases) {
    if (target == alias) target = aliased;
  }
  if (target.empty()) target = key;
  if (std::find(level.begin(), level.end(), target) != level.end()) return "; did you mean '" + target + "'?";
  // Perhaps a field one level down ('lr' at /optimizer is 'adam.lr', ...).
  std::vector<std::string> leaf_names;
  for (const std::string& path : nested) leaf_names.push_back(path.substr(path.rfind('.') + 1));
  const std::string leaf = closest_name(target, leaf_names);
  if (leaf.empty()) return ";";
  std::vector<std::string> matches;
  for (const std::string& path : nested) {
    if (path.substr(path.rfind('.') + 1) == leaf && path.find('.') != std::string::npos) matches.push_back(path);
  }
  return matches.empty() ? ";" : "; did you mean " + quoted_alternatives(matches) + "?";
}

class Reader {
 public:
  Reader(const json& node, Path path, std::string_view source) : node_(node), path_(std::move(path)), source_(source) {}

  template <class T>
  void value(const char* key, T& member, const Rule& rule, const char*) {
    known_.push_back(key);
    if (const auto it = node_.find(key); it != node_.end()) member = read_value<T>(*it, child(path_, key), rule, source_);
  }
  void comment(const char* key, const char*) {
    known_.push_back(key);
    if (const auto it = node_.find(key); it != node_.end() && !it->is_string()) {
      fail(source_, child(path_, key), "expected a string, got " + describe_json(*it));
    }
  }
  template <class S>
  void object(const char* key, S& sub, const char*) {
    known_.push_back(key);
    const auto it = node_.find(key);
    if (it == node_.end()) return;
    read_object(*it, child(path_, key), source_, sub);
  }
  template <class F>
  void defaults(F&& apply) {
    apply();
  }

  template <class S>
  static void read_object(const json& node, const Path& path, std::string_view source, S& out) {
    if (!node.is_object()) fail(source, path, "expected an object, got " + describe_json(node));
    Reader reader(node, path, source);
    reader.reject_unknown_keys(fields_of<S>());
    visit_fields(reader, out);
  }

 private:
  // Unknown keys first: a typo is likelier than a bad value, and it explains one.
  void reject_unknown_keys(const std::vector<SpecField>& fields) {
    std::vector<std::string> level, nested;
    for (const SpecField& field : fields) {
      const std::string top = field.path.substr(0, field.path.find('.'));
      if (std::find(level.begin(), level.end(), top) == level.end()) level.push_back(top);
      nested.push_back(field.path);
    }
    for (const auto& [key, unused] : node_.items()) {
      if (std::find(level.begin(), level.end(), key) != level.end()) continue;
      const std::string where = path_.empty() ? "at the top level" : "at " + pointer(path_);
      throw Error(std::string(source_) + ": unknown key '" + key + "' " + where + suggestion(key, level, nested) +
                      " allowed: " + join(level, ", "),
                  ExitCode::Usage);
    }
  }

  const json& node_;
  Path path_;
  std::string_view source_;
  std::vector<std::string> known_;
};

// ---------------------------------------------------------------- whole-config checks

void check_consistency(const RunConfig& c, std::string_view source) {
  if (const auto problem = tasks::find_task_config_problem(c.task)) fail(source, {"task", problem->field}, problem->message);

  const auto& t = c.model.transformer;
  if (c.model.kind == ModelKind::Transformer) {
    if (t.d_model % t.heads != 0) {
      fail(source, {"model", "transformer", "heads"}, std::to_string(t.heads) + " does not divide d_model " +
                                                          std::to_string(t.d_model) + "; allowed: a divisor of d_model");
    }
    if (t.rope && (t.d_model / t.heads) % 2 != 0) {
      fail(source, {"model", "transformer", "d_model"},
           "RoPE rotates pairs of features, so the head dim d_model / heads = " + std::to_string(t.d_model / t.heads) +
               " must be even (or set rope to false)");
    }
  }
  if (c.model.kind == ModelKind::TwoLayer && !tasks::task_kind_info(c.task.kind).binary_operation) {
    fail(source, {"model", "kind"}, std::string("two_layer takes one-hot operands (a, b); task '") +
                                        tasks::task_kind_name(c.task.kind) + "' has none; allowed: any other task");
  }
  for (size_t i = 0; i < c.train.metrics.size(); ++i) {
    const std::string& m = c.train.metrics[i];
    if ((m == "li2" || m == "li2_nodes") && c.model.kind != ModelKind::TwoLayer)
      fail(source, {"train", "metrics", std::to_string(i)},
           "'" + m + "' reads the 2-layer network's W and V; the model is a transformer; allowed: representation");
  }
  const auto& muon = c.optimizer.muon;
  if (muon.variant == MuonVariant::Li2 && muon.ns_steps != 5) {
    fail(source, {"optimizer", "muon", "ns_steps"},
         std::to_string(muon.ns_steps) + ": the li2 variant has one coefficient triple per iteration for exactly 5");
  }
  if (c.optimizer.kind == OptimizerKind::Muon && muon.muon_groups.empty()) {
    fail(source, {"optimizer", "muon", "muon_groups"},
         "empty: Muon would update no parameter; allowed: a non-empty subset of " + join(kParameterGroups, ", ") +
             " (or kind 'adamw')");
  }
}

// ---------------------------------------------------------------- --set

// The spec's keys one level below `prefix` (dotted paths of the fields).
std::vector<std::string> keys_below(const std::vector<SpecField>& fields, const std::string& prefix) {
  std::vector<std::string> keys;
  for (const SpecField& field : fields) {
    if (!prefix.empty() && field.path.rfind(prefix + ".", 0) != 0) continue;
    const std::string rest = prefix.empty() ? field.path : field.path.substr(prefix.size() + 1);
    const std::string key = rest.substr(0, rest.find('.'));
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  return keys;
}

std::vector<std::string> fields_below(const std::vector<SpecField>& fields, const std::string& prefix) {
  std::vector<std::string> paths;
  for (const SpecField& field : fields) {
    if (prefix.empty()) paths.push_back(field.path);
    else if (field.path.rfind(prefix + ".", 0) == 0) paths.push_back(field.path.substr(prefix.size() + 1));
  }
  return paths;
}

Path split_dotted(std::string_view key, std::string_view assignment) {
  Path path;
  size_t start = 0;
  while (true) {
    const size_t dot = std::min(key.find('.', start), key.size());
    if (dot == start) {
      throw Error("--set " + std::string(assignment) + ": empty key in '" + std::string(key) +
                      "'; expected a dotted path like optimizer.muon.lr",
                  ExitCode::Usage);
    }
    path.emplace_back(key.substr(start, dot - start));
    if (dot == key.size()) return path;
    start = dot + 1;
  }
}

void check_override_path(const Path& path, std::string_view assignment) {
  static const std::vector<SpecField> fields = fields_of<RunConfig>();
  std::string prefix;
  for (const std::string& key : path) {
    const std::vector<std::string> level = keys_below(fields, prefix);
    if (level.empty()) {
      throw Error("--set " + std::string(assignment) + ": '" + prefix + "' is a value, not an object", ExitCode::Usage);
    }
    if (std::find(level.begin(), level.end(), key) == level.end()) {
      const std::string where = prefix.empty() ? "at the top level" : "at " + pointer(split_dotted(prefix, assignment));
      throw Error("--set " + std::string(assignment) + ": unknown key '" + key + "' " + where +
                      suggestion(key, level, fields_below(fields, prefix)) + " allowed: " + join(level, ", "),
                  ExitCode::Usage);
    }
    prefix += (prefix.empty() ? "" : ".") + key;
  }
}

// A --set value: JSON when it parses ("0.05", "true", "[4, 6]", "\"x\""), else
// a bare string (--set task.kind=mul). Text that means to be JSON (an
// object, an array, a number) is parsed strictly: duplicate keys and syntax
// errors are errors, not strings.
json override_value(std::string_view text, std::string_view assignment) {
  static const std::regex number(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");  // JSON's grammar: 007 is a name
  const bool means_json = !text.empty() && (text.front() == '{' || text.front() == '[' ||
                                            std::regex_match(text.begin(), text.end(), number));
  const json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() && !means_json) return json(std::string(text));
  return parse_json_text(text, "--set " + std::string(assignment));
}

// ---------------------------------------------------------------- JSON text

struct Position {
  size_t line, column;
};

// 1-based line and column of byte `offset` (0-based) of `text`.
Position position_of(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t last_newline = before.rfind('\n');
  const size_t column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
  return {line, column};
}

// nlohmann's message without its "[json.exception...] parse error at line L, column C: " prefix.
std::string parse_error_reason(const std::string& what) {
  const size_t column = what.find("column ");
  const size_t colon = column == std::string::npos ? std::string::npos : what.find(": ", column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

// Rejects duplicate keys while parsing, naming the object's path, and
// nesting beyond kMaxJsonDepth.
constexpr size_t kMaxJsonDepth = 512;
class DuplicateKeyCheck {
 public:
  DuplicateKeyCheck(std::string_view source, ExitCode code) : source_(source), code_(code) {}

  bool operator()(int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        // Far deeper than any spec, sweep or row; much deeper JSON overflows the stack.
        if (scopes_.size() >= kMaxJsonDepth)
          throw Error(std::string(source_) + ": invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) +
                          " levels",
                      code_);
        scopes_.push_back({event == json::parse_event_t::array_start, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        scopes_.pop_back();
        break;
      case json::parse_event_t::key: {
        Scope& scope = scopes_.back();
        const std::string key = parsed.get<std::string>();
        if (std::find(scope.keys.begin(), scope.keys.end(), key) != scope.keys.end()) {
          throw Error(std::string(source_) + ": duplicate key '" + key + "' at " + current_path() +
                          " (the second would silently replace the first)",
                      code_);
        }
        scope.keys.push_back(key);
        scope.current = key;
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  }

 private:
  struct Scope {
    bool array;
    std::vector<std::string> keys;
    std::string current;
  };

  std::string current_path() const {
    Path path;
    for (size_t i = 0; i + 1 < scopes_.size(); ++i) path.push_back(scopes_[i].array ? "*" : scopes_[i].current);
    return pointer(path);
  }

  std::string_view source_;
  ExitCode code_;
  std::vector<Scope> scopes_;
};


// "specs/add-muon.json" -> "add-muon".
std::string file_stem(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (const size_t dot = name.rfind('.'); dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

// The run name a spec without "name" gets from its file: the file's stem,
// each run of characters a name may not hold as one '-' ("my spec!.json" ->
// "my-spec"); "" where nothing usable is left (the field's default holds).
std::string run_name_from_file(const std::string& path) {
  std::string name;
  for (const char c : file_stem(path)) {
    if (is_name_char(c)) name += c;
    else if (!name.empty() && name.back() != '-') name += '-';
  }
  while (!name.empty() && name.back() == '-') name.pop_back();
  if (name.size() > 128) name.resize(128);
  return is_run_name(name) ? name : "";
}

}  // namespace

// ---------------------------------------------------------------- public API

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }

nlohmann::json parse_json_text(std::string_view text, std::string_view source, ExitCode code) {
  try {
    return json::parse(text.begin(), text.end(), DuplicateKeyCheck(source, code));
  } catch (const json::parse_error& e) {
    const Position at = position_of(text, e.byte == 0 ? 0 : e.byte - 1);
    throw Error(std::string(source) + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                    ": invalid JSON: " + parse_error_reason(e.what()),
                code);
  } catch (const json::out_of_range& e) {
    // "number overflow parsing '1e400'": nlohmann gives no offset; find the number.
    const std::string what = e.what();
    const size_t open = what.find('\''), close = open == std::string::npos ? open : what.find('\'', open + 1);
    const std::string number = close == std::string::npos ? std::string() : what.substr(open + 1, close - open - 1);
    const size_t offset = number.empty() ? std::string_view::npos : text.find(number);
    std::string where(source);
    if (offset != std::string_view::npos) {
      const Position at = position_of(text, offset);
      where += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
    }
    throw Error(where + ": invalid JSON: " + (number.empty() ? what : "the number " + number + " is out of range"), code);
  }
}

std::string first_difference(const json& a, const json& b) {
  const json patch = json::diff(a, b);
  if (patch.empty()) return "";
  std::string path = patch[0].value("path", "");
  if (path.size() >= 2 && path.compare(path.size() - 2, 2, "/-") == 0) path.resize(path.size() - 2);  // an append
  if (path.empty()) return "the whole value: " + a.dump() + " vs " + b.dump();
  const json::json_pointer at(path);
  auto value = [&](const json& j) { return j.contains(at) ? j.at(at).dump() : std::string("(absent)"); };
  return path + ": " + value(a) + " vs " + value(b);
}

RunConfig parse_spec(const nlohmann::json& spec, std::string_view source) {
  RunConfig config;
  if (!spec.is_object()) fail(source, {}, "a spec is a JSON object, got " + describe_json(spec));
  Reader::read_object(spec, {}, source, config);
  check_consistency(config, source);
  config.task.train_fraction = tasks::resolved_train_fraction(config.task);
  return config;
}

void apply_override(nlohmann::json& spec, std::string_view assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string_view::npos) {
    throw Error("--set " + std::string(assignment) + ": expected key=value, e.g. optimizer.muon.lr=0.05",
                ExitCode::Usage);
  }
  const Path path = split_dotted(assignment.substr(0, equals), assignment);
  check_override_path(path, assignment);
  json* node = &spec;
  Path walked;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    walked.push_back(path[i]);
    json& next = (*node)[path[i]];  // creates a null member when absent
    if (next.is_null()) next = json::object();
    if (!next.is_object()) {
      throw Error("--set " + std::string(assignment) + ": " + pointer(walked) + " is " + describe_json(next) +
                      " in the spec, not an object",
                  ExitCode::Usage);
    }
    node = &next;
  }
  (*node)[path.back()] = override_value(assignment.substr(equals + 1), assignment);
}

namespace {
// Applies the overrides and parses. An error about a value that came from
// --set is the flag's, not the file's: "--set optimizer.adam.lr=abc: ...".
RunConfig parse_overridden(const json& file_spec, std::string_view source, const std::vector<std::string>& overrides) {
  json spec = file_spec;
  for (const std::string& assignment : overrides) apply_override(spec, assignment);
  try {
    return parse_spec(spec, source);
  } catch (const Error& e) {
    const std::string what = e.what(), in_file = std::string(source) + ": ";
    if (overrides.empty() || what.rfind(in_file, 0) != 0) throw;
    const std::string rest = what.substr(in_file.size());
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
      std::string pointer = "/" + it->substr(0, it->find('='));
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      if (rest.rfind(pointer + ":", 0) == 0 || rest.rfind(pointer + "/", 0) == 0)
        throw Error("--set " + *it + ": " + rest, e.code());
    }
    // A check across fields (heads must divide d_model) may fail because of one. If the file alone
    // fails the same way, the error is the file's; else name the overrides.
    try {
      parse_spec(file_spec, source);
    } catch (const Error& file_error) {
      if (std::string(file_error.what()) == what) throw;
    }
    std::string sets;
    for (const std::string& assignment : overrides) sets += (sets.empty() ? "--set " : ", --set ") + assignment;
    throw Error(what + " (in the spec as changed by " + sets + ")", e.code());
  }
}
}  // namespace

RunConfig parse_spec_text(std::string_view text, std::string_view source, const std::vector<std::string>& overrides) {
  json spec = parse_json_text(text, source);
  if (!spec.is_object()) fail(source, {}, "a spec is a JSON object, got " + describe_json(spec));
  return parse_overridden(spec, source, overrides);
}

RunConfig load_spec(const std::string& path, const std::vector<std::string>& overrides) {
  json spec = parse_json_text(read_text_file(path, "spec"), path);
  if (!spec.is_object()) fail(path, {}, "a spec is a JSON object, got " + describe_json(spec));
  if (const std::string name = run_name_from_file(path); !spec.contains("name") && !name.empty()) spec["name"] = name;
  return parse_overridden(spec, path, overrides);
}

nlohmann::json spec_to_json(const RunConfig& config) {
  RunConfig copy = config;
  Writer writer;
  visit_fields(writer, copy);
  return writer.out;
}

std::vector<SpecField> spec_fields() { return fields_of<RunConfig>(); }

std::string spec_fields_markdown() {
  std::ostringstream out;
  out << "| key | type | default | allowed | meaning |\n";
  out << "|---|---|---|---|---|\n";
  // A bare '|' would end a table cell.
  auto cell = [](const std::string& text) {
    std::string out;
    for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  for (const SpecField& field : spec_fields()) {
    std::string allowed = field.allowed;
    std::replace(allowed.begin(), allowed.end(), '|', '/');  // choices read better as a / b
    out << "| `" << field.path << "` | " << field.type << " | `" << field.default_text << "` | " << allowed << " | "
        << cell(field.help) << " |\n";
  }
  return out.str();
}

std::string_view name_of(tasks::TaskKind value) { return enum_name(value); }
std::string_view name_of(models::ModelKind value) { return enum_name(value); }
std::string_view name_of(models::OutputFn value) { return enum_name(value); }
std::string_view name_of(models::RopeStyle value) { return enum_name(value); }
std::string_view name_of(models::Activation value) { return enum_name(value); }
std::string_view name_of(models::TwoLayerLoss value) { return enum_name(value); }
std::string_view name_of(optimizers::OptimizerKind value) { return enum_name(value); }
std::string_view name_of(optimizers::MuonVariant value) { return enum_name(value); }
std::string_view name_of(optimizers::MuonScale value) { return enum_name(value); }
std::string_view name_of(optimizers::GradFilter value) { return enum_name(value); }
std::string_view name_of(TrainAccSource value) { return enum_name(value); }

}  // namespace grokjit::runtime
