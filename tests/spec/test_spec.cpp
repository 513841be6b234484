// runtime/spec: JSON spec -> RunConfig, errors that name path, value and
// what is allowed, --set overrides, round trips, and the shipped specs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <unistd.h>

#include "grokjit/build_config.h"
#include "ir/error.h"
#include "runtime/spec.h"

namespace grokjit::runtime {
namespace {

using nlohmann::json;

const std::filesystem::path kSourceDir = GROKJIT_SOURCE_DIR;

RunConfig parse(const std::string& text) { return parse_spec_text(text, "test.json"); }

// The message of the Error that `parse_text` throws; fails the test if none.
std::string usage_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_spec_text(text, "test.json", overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

TEST(Spec, EmptySpecIsTheDefaultsWithTheTrainFractionResolved) {
  const RunConfig config = parse("{}");
  const RunConfig defaults;
  EXPECT_EQ(config.task.kind, tasks::TaskKind::Add);
  EXPECT_EQ(config.task.train_fraction, 0.8);
  EXPECT_EQ(config.optimizer.kind, defaults.optimizer.kind);
  EXPECT_EQ(config.model.transformer.d_model, 128);
  EXPECT_EQ(config.train.batch_size, 512);
  EXPECT_EQ(config.name, "run");
}

TEST(Spec, DefaultTrainFractionFollowsTheTask) {
  const std::vector<std::pair<std::string, double>> expected = {
      {"add", 0.8}, {"sub", 0.5}, {"mul", 0.5}, {"div", 0.8}, {"exp", 0.7}, {"gcd", 0.5}, {"parity", 0.5}};
  for (const auto& [kind, fraction] : expected) {
    EXPECT_EQ(parse(R"({"task": {"kind": ")" + kind + R"("}})").task.train_fraction, fraction) << kind;
  }
  EXPECT_EQ(parse(R"({"task": {"kind": "div", "train_fraction": 0.3}})").task.train_fraction, 0.3);
}

TEST(Spec, ValuesLandInTheirFields) {
  const RunConfig c = parse(R"({
    "name": "x-1",
    "task": {"kind": "product", "factors": [4, 6], "split_seed": 18446744073709551615},
    "model": {"kind": "two_layer", "output": "stablemax", "two_layer": {"hidden": 48, "activation": "relu"}},
    "optimizer": {"kind": "muon", "muon": {"lr": 0.05, "muon_groups": ["hidden", "head"], "aux_adam": {"lr": 0.001}},
                  "grokfast": {"kind": "ema", "alpha": 0.9}},
    "train": {"batch_size": 0, "max_epochs": 1e4, "train_acc_source": "running"}})");
  EXPECT_EQ(c.name, "x-1");
  EXPECT_EQ(c.task.kind, tasks::TaskKind::GroupProduct);
  EXPECT_EQ(c.task.factors, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(c.task.split_seed, 18446744073709551615ULL);
  EXPECT_EQ(c.model.kind, models::ModelKind::TwoLayer);
  EXPECT_EQ(c.model.output, models::OutputFn::Stablemax);
  EXPECT_EQ(c.model.two_layer.hidden, 48);
  EXPECT_EQ(c.model.two_layer.activation, models::Activation::Relu);
  EXPECT_EQ(c.optimizer.kind, optimizers::OptimizerKind::Muon);
  EXPECT_EQ(c.optimizer.muon.lr, 0.05);
  EXPECT_EQ(c.optimizer.muon.muon_groups, (std::vector<std::string>{"hidden", "head"}));
  EXPECT_EQ(c.optimizer.muon.aux_adam.lr, 0.001);
  EXPECT_EQ(c.optimizer.muon.aux_adam.beta2, 0.95);  // the rest of aux_adam keeps its defaults
  EXPECT_EQ(c.optimizer.grokfast.kind, optimizers::GradFilter::GrokfastEma);
  EXPECT_EQ(c.optimizer.grokfast.alpha, 0.9);
  EXPECT_EQ(c.train.batch_size, 0);
  EXPECT_EQ(c.train.max_epochs, 10000);
  EXPECT_EQ(c.train.train_acc_source, TrainAccSource::Running);
}

TEST(Spec, UnknownKeysAreNamedWithASuggestion) {
  std::string message = usage_error(R"({"optimizer": {"muon": {"lrr": 0.05}}})");
  EXPECT_CONTAINS(message, "test.json: unknown key 'lrr' at /optimizer/muon; did you mean 'lr'?");
  EXPECT_CONTAINS(message, "allowed: variant, lr, momentum");
  message = usage_error(R"({"optimizer": {"lerning_rate": 0.01}})");
  EXPECT_CONTAINS(message, "unknown key 'lerning_rate' at /optimizer; did you mean 'adam.lr', 'sgd.lr', 'muon.lr' or "
                           "'muon.aux_adam.lr'?");
  message = usage_error(R"({"optimiser": {}})");
  EXPECT_CONTAINS(message, "unknown key 'optimiser' at the top level; did you mean 'optimizer'?");
  message = usage_error(R"({"train": {"epochs": 10}})");
  EXPECT_CONTAINS(message, "did you mean 'max_epochs'?");
  message = usage_error(R"({"zzzzzz": 1})");
  EXPECT_EQ(message.find("did you mean"), std::string::npos) << message;
  EXPECT_CONTAINS(message, "unknown key 'zzzzzz' at the top level; allowed: ");
}

TEST(Spec, WrongTypesNameThePathAndTheValue) {
  EXPECT_CONTAINS(usage_error(R"({"train": {"max_epochs": "1000"}})"),
                  "test.json: /train/max_epochs: expected an integer, got \"1000\" (string)");
  EXPECT_CONTAINS(usage_error(R"({"train": {"max_epochs": 10.5}})"), "/train/max_epochs: expected an integer");
  EXPECT_CONTAINS(usage_error(R"({"model": {"transformer": {"rope": 1}}})"),
                  "/model/transformer/rope: expected true or false, got 1 (number)");
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"muon": 5}})"), "/optimizer/muon: expected an object, got 5 (number)");
  EXPECT_CONTAINS(usage_error(R"({"task": {"factors": [4, "6"]}})"), "/task/factors/1: expected an integer");
  EXPECT_CONTAINS(usage_error(R"([1, 2])"), "a spec is a JSON object");
}

TEST(Spec, OutOfRangeValuesSayWhatIsAllowed) {
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"muon": {"lr": -0.1}}})"),
                  "/optimizer/muon/lr: -0.1 is out of range; allowed: > 0");
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"adam": {"beta1": 1.0}}})"),
                  "/optimizer/adam/beta1: 1.0 is out of range; allowed: [0, 1)");
  EXPECT_CONTAINS(usage_error(R"({"task": {"train_fraction": 0}})"),
                  "/task/train_fraction: 0 is out of range; allowed: -1 (the task's default) or (0, 1)");
  EXPECT_CONTAINS(usage_error(R"({"task": {"p": 1}})"), "/task/p: 1 is out of range; allowed: 2 .. 2048");
  EXPECT_CONTAINS(usage_error(R"({"train": {"seed": -1}})"), "/train/seed: -1 is out of range");
  EXPECT_CONTAINS(usage_error(R"({"task": {"factors": [1]}})"), "/task/factors/0: 1 is out of range");
  EXPECT_CONTAINS(usage_error(R"({"name": "a b"})"), "/name: \"a b\" is not allowed");
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"muon": {"muon_groups": ["hidden", "bias"]}}})"),
                  "/optimizer/muon/muon_groups/1: 'bias' is not allowed; allowed: hidden, embedding, head, norm");
}

TEST(Spec, EnumValuesAreLowercaseNamesWithSuggestions) {
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"kind": "adam_w"}})"),
                  "/optimizer/kind: 'adam_w' is not allowed; did you mean 'adamw'? allowed: adamw, adam, sgd, muon");
  EXPECT_CONTAINS(usage_error(R"({"model": {"output": "Softmax"}})"), "did you mean 'softmax'?");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": 3}})"), "/task/kind: expected one of add, sub, mul, div");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "addition"}})"), "'addition' is not allowed; did you mean 'add'?");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "zzz"}})"), "'zzz' is not allowed; allowed: add, sub");
}

TEST(Spec, CrossFieldProblemsNameTheField) {
  EXPECT_CONTAINS(usage_error(R"({"model": {"transformer": {"heads": 3}}})"),
                  "/model/transformer/heads: 3 does not divide d_model 128");
  EXPECT_CONTAINS(usage_error(R"({"model": {"transformer": {"heads": 128}}})"), "/model/transformer/d_model: RoPE");
  parse(R"({"model": {"transformer": {"heads": 128, "rope": false}}})");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "div", "p": 96}})"), "/task/p: 96 is not prime");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "product"}})"), "/task/factors: kind 'product' needs");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "parity"}, "model": {"kind": "two_layer"}})"),
                  "/model/kind: two_layer takes one-hot operands");
  EXPECT_CONTAINS(usage_error(R"({"task": {"kind": "symmetric", "symmetric_n": 2, "train_fraction": 0.1}})"),
                  "/task/train_fraction: a fraction of 0.1 of 4 rows leaves 0 training");
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"muon": {"variant": "li2", "ns_steps": 4}}})"),
                  "/optimizer/muon/ns_steps");
  EXPECT_CONTAINS(usage_error(R"({"optimizer": {"kind": "muon", "muon": {"muon_groups": []}}})"),
                  "/optimizer/muon/muon_groups: empty");
}

TEST(Spec, VariantsChangeTheirDefaultsButNotExplicitValues) {
  RunConfig c = parse(R"({"optimizer": {"muon": {"variant": "li2"}}})");
  EXPECT_EQ(spec_to_json(c), spec_to_json(parse_spec(json{{"optimizer", {{"muon", {{"variant", "li2"}, {"momentum", 0.99},
                                                                                    {"nesterov", false}, {"scale", "none"}}}}}})));
  EXPECT_EQ(c.optimizer.muon.momentum, 0.99);
  EXPECT_FALSE(c.optimizer.muon.nesterov);
  EXPECT_EQ(c.optimizer.muon.scale, optimizers::MuonScale::None);
  c = parse(R"({"optimizer": {"muon": {"momentum": 0.9, "variant": "li2"}}})");
  EXPECT_EQ(c.optimizer.muon.momentum, 0.9);
  EXPECT_EQ(parse(R"({"optimizer": {"grokfast": {"kind": "ma"}}})").optimizer.grokfast.lambda, 5.0);
  EXPECT_EQ(parse(R"({"optimizer": {"grokfast": {"kind": "ema"}}})").optimizer.grokfast.lambda, 2.0);
}

TEST(Spec, JsonSyntaxErrorsNameFileLineAndColumn) {
  try {
    parse_spec_text("{\n  \"task\": {\"p\": 97,}\n}", "broken.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_CONTAINS(e.what(), "broken.json:2:20: invalid JSON: syntax error while parsing object key");
  }
  EXPECT_CONTAINS(usage_error(""), "test.json:1:1: invalid JSON");
}

TEST(Spec, DuplicateKeysAreErrors) {
  EXPECT_CONTAINS(usage_error(R"({"task": {"p": 97, "p": 89}})"), "test.json: duplicate key 'p' at /task");
  EXPECT_CONTAINS(usage_error(R"({"name": "a", "name": "b"})"), "duplicate key 'name' at /");
}

TEST(Spec, OverridesUseDottedPathsAndJsonValues) {
  const RunConfig c = parse_spec_text(R"({"optimizer": {"kind": "muon"}})", "test.json",
                                      {"optimizer.muon.lr=0.05", "task.kind=div", "task.split_seed=7",
                                       "model.transformer.rope=false", "name=\"quoted\"", "task.factors=[4, 6]",
                                       "optimizer.muon.muon_groups=[\"hidden\",\"norm\"]"});
  EXPECT_EQ(c.optimizer.muon.lr, 0.05);
  EXPECT_EQ(c.task.kind, tasks::TaskKind::Div);
  EXPECT_EQ(c.task.split_seed, 7u);
  EXPECT_FALSE(c.model.transformer.rope);
  EXPECT_EQ(c.name, "quoted");
  EXPECT_EQ(c.task.factors, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(c.optimizer.muon.muon_groups, (std::vector<std::string>{"hidden", "norm"}));
}

TEST(Spec, OverridesOfWholeObjectsAndLaterWins) {
  const RunConfig c = parse_spec_text("{}", "t", {"model.transformer={\"depth\": 3}", "train.seed=1", "train.seed=2"});
  EXPECT_EQ(c.model.transformer.depth, 3);
  EXPECT_EQ(c.train.seed, 2u);
}

TEST(Spec, BadOverridesAreNamed) {
  EXPECT_CONTAINS(usage_error("{}", {"optimizer.muon.lrr=0.05"}),
                  "--set optimizer.muon.lrr=0.05: unknown key 'lrr' at /optimizer/muon; did you mean 'lr'?");
  EXPECT_CONTAINS(usage_error("{}", {"optimizer.lr=0.05"}), "did you mean 'adam.lr'");
  EXPECT_CONTAINS(usage_error("{}", {"task.kind"}), "--set task.kind: expected key=value");
  EXPECT_CONTAINS(usage_error("{}", {"train.seed.x=1"}), "'train.seed' is a value, not an object");
  EXPECT_CONTAINS(usage_error("{}", {"task..p=1"}), "empty key");
  EXPECT_CONTAINS(usage_error(R"({"task": 5})", {"task.p=89"}), "--set task.p=89: /task is 5 (number)");
  EXPECT_CONTAINS(usage_error("{}", {"train.max_epochs=lots"}),
                  "/train/max_epochs: expected an integer, got \"lots\" (string)");
  // A value meant as JSON (an object, an array, a number) is parsed strictly, not taken as a string.
  EXPECT_CONTAINS(usage_error("{}", {R"(task={"p":5,"p":7})"}), R"(--set task={"p":5,"p":7}: duplicate key 'p' at /)");
  EXPECT_CONTAINS(usage_error("{}", {"optimizer.adam.lr=1e999"}), "the number 1e999 is out of range");
  EXPECT_CONTAINS(usage_error("{}", {R"(task={"p":5)"}), "invalid JSON: syntax error while parsing object");
  // A check across fields that fails after an override names the overrides.
  EXPECT_CONTAINS(usage_error(R"({"model": {"transformer": {"heads": 2}}})", {"model.transformer.d_model=9"}),
                  "2 does not divide d_model 9; allowed: a divisor of d_model (in the spec as changed by --set "
                  "model.transformer.d_model=9)");
  // ... but not when the file alone fails the same way (--seed N arrives as --set train.seed=N).
  const std::string file_error = usage_error(R"({"model": {"transformer": {"heads": 3}}})", {"train.seed=1"});
  EXPECT_CONTAINS(file_error, "test.json: /model/transformer/heads: 3 does not divide d_model 128");
  EXPECT_EQ(file_error.find("changed by"), std::string::npos) << file_error;
  // Text that is not JSON stays a string, leading zeros included (JSON has no 007).
  EXPECT_EQ(parse_spec_text("{}", "t", {"name=007"}).name, "007");
  EXPECT_EQ(parse_spec_text("{}", "t", {"name=2024-01"}).name, "2024-01");
}

TEST(Spec, NamesThatWouldLeaveTheRunsFolderAreRefused) {
  for (const char* name : {"\".\"", "\"..\""})
    EXPECT_CONTAINS(usage_error(std::string(R"({"name": )") + name + "}"), "is not allowed; allowed: 1 to 128 letters");
  EXPECT_EQ(parse(R"({"name": "..a"})").name, "..a");
}

TEST(Spec, DeeplyNestedJsonIsAnErrorNotACrash) {
  const size_t depth = 200000;  // deep enough to overflow the stack of a recursive reader
  EXPECT_CONTAINS(usage_error(R"({"comment": )" + std::string(depth, '[') + std::string(depth, ']') + "}"),
                  "test.json: invalid JSON: nested deeper than 512 levels");
}

json::json_pointer pointer_of(const SpecField& field) {
  std::string path = "/" + field.path;
  std::replace(path.begin(), path.end(), '.', '/');
  return json::json_pointer(path);
}

// A valid value (as --set text) different from the field's default.
std::string different_value(const SpecField& field) {
  if (field.type == "boolean") return field.default_text == "true" ? "false" : "true";
  if (field.type == "integer") return field.default_text == "2" ? "4" : "2";
  if (field.type == "number") return "0.125";
  if (field.type == "enum") return field.allowed.substr(field.allowed.rfind(' ') + 1);  // the last choice
  if (field.type == "string") return "another-name";
  if (field.type == "integer list") return "[3, 5]";
  return "[\"" + field.allowed.substr(field.allowed.rfind(' ') + 1) + "\"]";  // string list: its last choice
}

// Each field set through --set comes back from spec_to_json: every field is
// both read and written.
TEST(Spec, EveryFieldIsReadAndWritten) {
  const json defaults = spec_to_json(parse("{}"));
  for (const SpecField& field : spec_fields()) {
    if (field.path == "comment") continue;  // not part of the config
    const std::string value = different_value(field);
    std::vector<std::string> overrides = {field.path + "=" + value};
    if (field.path == "task.factors") overrides.push_back("task.kind=product");
    SCOPED_TRACE(overrides.front());
    const json written = spec_to_json(parse_spec_text("{}", "t", overrides));
    const json expected = json::parse(value, nullptr, false);
    EXPECT_NE(written.at(pointer_of(field)), defaults.at(pointer_of(field)));
    EXPECT_EQ(written.at(pointer_of(field)), expected.is_discarded() ? json(value) : expected);
  }
}

size_t count_values(const json& node) {
  if (!node.is_object()) return 1;
  size_t count = 0;
  for (const auto& item : node.items()) count += count_values(item.value());
  return count;
}

TEST(Spec, ResolvedConfigRoundTripsThroughJson) {
  const RunConfig original = parse_spec_text("{}", "t",
                                             {"task.kind=symmetric", "task.symmetric_n=4", "optimizer.kind=muon",
                                              "optimizer.muon.variant=li2", "optimizer.muon.lr=0.0123456789012345",
                                              "train.seed=18446744073709551615", "model.output=sparsemax",
                                              "optimizer.grokfast.kind=ma", "model.transformer.norm_eps=1e-300"});
  const json once = spec_to_json(original);
  const RunConfig again = parse_spec(json::parse(once.dump()), "roundtrip");
  EXPECT_EQ(spec_to_json(again), once);
  EXPECT_EQ(again.optimizer.muon.lr, 0.0123456789012345);
  EXPECT_EQ(again.model.transformer.norm_eps, 1e-300);
  EXPECT_EQ(again.train.seed, 18446744073709551615ULL);
  EXPECT_EQ(again.task.train_fraction, 0.5);
  EXPECT_EQ(again.optimizer.muon.momentum, 0.99);
  // Every field is in the JSON, and nothing else (summary.json records the full config).
  size_t fields = 0;
  for (const SpecField& field : spec_fields()) {
    if (field.path == "comment") continue;
    EXPECT_TRUE(once.contains(pointer_of(field))) << field.path;
    ++fields;
  }
  EXPECT_EQ(count_values(once), fields);
}

// Counts the members of an aggregate: the largest N with T{x1, ..., xN}
// well-formed for x convertible to anything (GCC and Clang agree on it).
struct AnyField {
  template <class T>
  operator T() const;
};
template <class T, size_t... I>
constexpr bool brace_constructible(std::index_sequence<I...>) {
  return requires { T{(void(I), AnyField{})...}; };
}
template <class T, size_t N = 0>
constexpr size_t member_count() {
  if constexpr (brace_constructible<T>(std::make_index_sequence<N + 1>{})) return member_count<T, N + 1>();
  else return N;
}

size_t spec_keys_under(const std::string& prefix) {
  std::set<std::string> keys;
  for (const SpecField& field : spec_fields()) {
    if (field.path == "comment") continue;
    if (!prefix.empty() && field.path.rfind(prefix + ".", 0) != 0) continue;
    const std::string rest = prefix.empty() ? field.path : field.path.substr(prefix.size() + 1);
    keys.insert(rest.substr(0, rest.find('.')));
  }
  return keys.size();
}

// A member added to a config struct must be added to the spec too
// (runtime/spec.cpp, visit_fields), or it could never be set nor recorded.
TEST(Spec, EveryConfigMemberIsASpecField) {
  EXPECT_EQ(spec_keys_under(""), member_count<RunConfig>());
  EXPECT_EQ(spec_keys_under("task"), member_count<tasks::TaskConfig>());
  EXPECT_EQ(spec_keys_under("model"), member_count<models::ModelConfig>());
  EXPECT_EQ(spec_keys_under("model.transformer"), member_count<models::TransformerConfig>());
  EXPECT_EQ(spec_keys_under("model.two_layer"), member_count<models::TwoLayerConfig>());
  EXPECT_EQ(spec_keys_under("optimizer"), member_count<optimizers::OptimizerConfig>());
  EXPECT_EQ(spec_keys_under("optimizer.adam"), member_count<optimizers::AdamConfig>());
  EXPECT_EQ(spec_keys_under("optimizer.sgd"), member_count<optimizers::SgdConfig>());
  EXPECT_EQ(spec_keys_under("optimizer.muon"), member_count<optimizers::MuonConfig>());
  EXPECT_EQ(spec_keys_under("optimizer.muon.aux_adam"), member_count<optimizers::AdamConfig>());
  EXPECT_EQ(spec_keys_under("optimizer.grokfast"), member_count<optimizers::GrokfastConfig>());
  EXPECT_EQ(spec_keys_under("train"), member_count<TrainLoopConfig>());
}

TEST(Spec, EnumNames) {
  EXPECT_EQ(name_of(optimizers::OptimizerKind::Muon), "muon");
  EXPECT_EQ(name_of(models::OutputFn::Stablemax), "stablemax");
  EXPECT_EQ(name_of(tasks::TaskKind::GroupSymmetric), "symmetric");
  EXPECT_EQ(name_of(TrainAccSource::Eval), "eval");
}

TEST(Spec, LoadSpecNamesTheRunAfterTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("grokjit_spec_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "my-run.json";
  std::ofstream(path) << R"({"task": {"kind": "gcd"}})";
  const RunConfig c = load_spec(path.string(), {"train.seed=3"});
  EXPECT_EQ(c.name, "my-run");
  EXPECT_EQ(c.task.kind, tasks::TaskKind::Gcd);
  EXPECT_EQ(c.train.seed, 3u);
  // A file name a run name cannot be: its other characters become '-' (they silently named the run "run").
  const auto odd = dir / "my spec! (v2).json";
  std::ofstream(odd) << R"({"task": {"kind": "gcd"}})";
  EXPECT_EQ(load_spec(odd.string()).name, "my-spec-v2");
  const auto dotted = dir / "add-lr0.01_v2.json";  // '.', '_' and '-' stay
  std::ofstream(dotted) << R"({"task": {"kind": "gcd"}})";
  EXPECT_EQ(load_spec(dotted.string()).name, "add-lr0.01_v2");
  std::ofstream(path) << R"({"task": {"kind": "gcd"}, "train": {"batch_size": -1}})";
  try {
    load_spec(path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), path.string() + ": /train/batch_size: -1 is out of range; allowed: 0 .. 16777216");
  }
  // The same bad value from --set is the flag's: the file does not hold it.
  std::ofstream(path) << R"({"task": {"kind": "gcd"}})";
  for (const char* set : {"train.batch_size=-1", "optimizer.adam.lr=\"abc\""}) {
    try {
      load_spec(path.string(), {"train.seed=3", set});
      FAIL() << "no error for " << set;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      EXPECT_CONTAINS(e.what(), std::string("--set ") + set + ": /");
      EXPECT_EQ(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove_all(dir);
  try {
    load_spec(path.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Io);
    EXPECT_CONTAINS(e.what(), "cannot read spec '" + path.string() + "'");
  }
}

TEST(Spec, EveryShippedSpecParses) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir / "specs")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const RunConfig c = load_spec(entry.path().string());
    EXPECT_EQ(c.name, entry.path().stem().string()) << "a spec's name is its file name";
    ++count;
  }
  EXPECT_GE(count, 15);
}

TEST(Spec, ShippedSpecsCoverEveryTaskWithAdamwAndMuon) {
  for (const char* task : {"add", "sub", "mul", "div", "exp", "gcd", "parity"}) {
    for (const char* optimizer : {"adamw", "muon"}) {
      const std::string name = std::string(task) + "-" + optimizer;
      const RunConfig c = load_spec((kSourceDir / "specs" / (name + ".json")).string());
      EXPECT_EQ(name_of(c.task.kind), task) << name;
      EXPECT_EQ(name_of(c.optimizer.kind), optimizer) << name;
    }
  }
}

std::string generated_block(const std::string& doc) {
  const std::string begin = "<!-- BEGIN GENERATED: spec_fields_markdown() -->\n";
  const std::string end = "<!-- END GENERATED -->";
  const size_t from = doc.find(begin), to = doc.find(end);
  if (from == std::string::npos || to == std::string::npos) return "(markers missing)";
  return doc.substr(from + begin.size(), to - from - begin.size());
}

TEST(Spec, DocsTableMatchesTheFields) {
  std::ifstream in(kSourceDir / "docs" / "spec.md");
  ASSERT_TRUE(in) << "docs/spec.md is missing";
  std::stringstream doc;
  doc << in.rdbuf();
  EXPECT_EQ(generated_block(doc.str()), spec_fields_markdown())
      << "docs/spec.md is out of date: replace its generated table with the text above (spec_fields_markdown())";
}

}  // namespace
}  // namespace grokjit::runtime
