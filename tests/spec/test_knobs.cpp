// runtime/knobs: the registry of GROKJIT_* settings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <set>

#include "ir/error.h"
#include "runtime/knobs.h"

namespace grokjit::runtime {
namespace {

// Sets (or unsets) an environment variable for one test, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_.c_str(), old_->c_str(), 1) : ::unsetenv(name_.c_str()); }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class Knobs : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_knob_overrides();
    for (const Knob& k : all_knobs()) clean_.emplace_back(std::string(k.name).c_str(), nullptr);
  }
  void TearDown() override { clear_knob_overrides(); }

 private:
  std::vector<ScopedEnv> clean_;
};

std::string usage_message(auto read) {
  try {
    read();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

TEST_F(Knobs, DeclaredOnceWithThePrefixAndValidDefaults) {
  std::set<std::string_view> names;
  for (const Knob& k : all_knobs()) {
    EXPECT_TRUE(k.name.starts_with("GROKJIT_")) << k.name;
    EXPECT_TRUE(names.insert(k.name).second) << k.name << " declared twice";
    EXPECT_FALSE(k.help.empty()) << k.name;
  }
  for (std::string_view required : {knob::kDebug, knob::kCacheDir, knob::kThreads, knob::kFusion, knob::kBackend,
                                    knob::kNoCache}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
  for (const KnobValue& value : knob_values()) EXPECT_EQ(value.source, "default") << value.knob->name;
}

TEST_F(Knobs, Defaults) {
  EXPECT_EQ(debug_level(), 0);
  EXPECT_EQ(thread_count_setting(), 0);
  EXPECT_TRUE(fusion_enabled());
  EXPECT_EQ(backend_setting(), "cpu");
  EXPECT_FALSE(cache_disabled());
}

TEST_F(Knobs, CacheDirFollowsXdgThenHome) {
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg/cache");
    EXPECT_EQ(cache_dir(), "/xdg/cache/grokjit");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(cache_dir(), "/home/someone/.cache/grokjit");
  }
  ScopedEnv set(std::string(knob::kCacheDir).c_str(), "/somewhere");
  EXPECT_EQ(cache_dir(), "/somewhere");
}

TEST_F(Knobs, EnvironmentValuesAreParsedAndChecked) {
  {
    ScopedEnv threads("GROKJIT_THREADS", "4");
    EXPECT_EQ(thread_count_setting(), 4);
  }
  {
    ScopedEnv threads("GROKJIT_THREADS", "abc");
    EXPECT_CONTAINS(usage_message([] { thread_count_setting(); }),
                    "GROKJIT_THREADS='abc': not an integer; allowed: an integer in 0 .. 4096");
  }
  {
    ScopedEnv debug("GROKJIT_DEBUG", "4");
    EXPECT_CONTAINS(usage_message([] { debug_level(); }), "GROKJIT_DEBUG='4': out of range; allowed: an integer in 0 .. 3");
  }
  {
    ScopedEnv debug("GROKJIT_DEBUG", "2x");
    EXPECT_CONTAINS(usage_message([] { debug_level(); }), "not an integer");
  }
  {
    ScopedEnv empty("GROKJIT_DEBUG", "");  // empty = unset
    EXPECT_EQ(debug_level(), 0);
  }
}

// Every command checks every knob first: `GROKJIT_DEBUG=9 grokjit kernels` ran as if it were unset.
TEST_F(Knobs, CheckKnobsNamesTheFirstBadOne) {
  check_knobs();
  ScopedEnv fusion("GROKJIT_FUSION", "maybe");
  EXPECT_CONTAINS(usage_message([] { check_knobs(); }), "GROKJIT_FUSION='maybe': not a known value");
}

TEST_F(Knobs, BooleansAcceptTheUsualSpellings) {
  for (const char* yes : {"1", "true", "TRUE", "on", "yes"}) {
    ScopedEnv env("GROKJIT_NO_CACHE", yes);
    EXPECT_TRUE(cache_disabled()) << yes;
  }
  for (const char* no : {"0", "false", "Off", "no"}) {
    ScopedEnv env("GROKJIT_NO_CACHE", no);
    EXPECT_FALSE(cache_disabled()) << no;
  }
  ScopedEnv env("GROKJIT_NO_CACHE", "maybe");
  EXPECT_CONTAINS(usage_message([] { cache_disabled(); }),
                  "GROKJIT_NO_CACHE='maybe': not a boolean; allowed: 1/0, true/false, on/off, yes/no");
}

TEST_F(Knobs, EnumsAreCaseInsensitiveAndSuggest) {
  {
    ScopedEnv env("GROKJIT_BACKEND", "CUDA");
    EXPECT_EQ(backend_setting(), "cuda");
  }
  {
    ScopedEnv env("GROKJIT_BACKEND", "gpu");
    EXPECT_CONTAINS(usage_message([] { backend_setting(); }),
                    "GROKJIT_BACKEND='gpu': not a known value (did you mean 'cpu'?); allowed: one of "
                    "cpu|cuda|auto|reference");
  }
  ScopedEnv env("GROKJIT_FUSION", "offf");
  EXPECT_CONTAINS(usage_message([] { fusion_enabled(); }), "did you mean 'off'?");
}

TEST_F(Knobs, FlagsOverrideTheEnvironmentAndAreCheckedWhenSet) {
  ScopedEnv env("GROKJIT_FUSION", "on");
  set_knob_override(knob::kFusion, "off");
  EXPECT_FALSE(fusion_enabled());
  for (const KnobValue& value : knob_values()) {
    if (value.knob->name == knob::kFusion) {
      EXPECT_EQ(value.source, "flag");
      EXPECT_EQ(value.value, "off");
    }
  }
  EXPECT_CONTAINS(usage_message([] { set_knob_override(knob::kBackend, "gpu"); }),
                  "--backend 'gpu' (GROKJIT_BACKEND): not a known value");
  clear_knob_overrides();
  EXPECT_TRUE(fusion_enabled());
}

TEST_F(Knobs, MisuseIsABug) {
  try {
    knob_int("GROKJIT_NOT_DECLARED");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Failure);
  }
  try {
    knob_bool(knob::kThreads);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Failure);
    EXPECT_CONTAINS(e.what(), "knob GROKJIT_THREADS is of type int, read as bool");
  }
}

TEST_F(Knobs, UndeclaredVariablesAreReportedWithASuggestion) {
  ScopedEnv typo("GROKJIT_THREAD", "2");
  const auto warnings = undeclared_knob_warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "GROKJIT_THREAD is not a grokjit setting and is ignored; did you mean GROKJIT_THREADS?");
}

TEST_F(Knobs, HelpListsEveryKnob) {
  const std::string help = format_knob_help();
  for (const Knob& k : all_knobs()) EXPECT_CONTAINS(help, std::string(k.name));
  EXPECT_CONTAINS(help, "cpu|cuda|auto|reference");
}

TEST(ClosestName, FindsLikelyTypos) {
  EXPECT_EQ(closest_name("lrr", {"lr", "momentum"}), "lr");
  EXPECT_EQ(closest_name("Weight-Decay", {"weight_decay", "eps"}), "weight_decay");
  EXPECT_EQ(closest_name("xyz", {"lr", "momentum"}), "");
  EXPECT_EQ(closest_name("division", {"add", "div"}), "div");  // a longer spelling
  EXPECT_EQ(closest_name("ref", {"cpu", "reference"}), "reference");  // an abbreviation
}

}  // namespace
}  // namespace grokjit::runtime
