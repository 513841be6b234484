// Parameter specs and host-side initialization.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "ir/error.h"
#include "models/params.h"
#include "models/transformer.h"
#include "models/two_layer.h"

namespace grokjit::models {
namespace {

// REFERENCE.md s.2, counted by hand: embedding and head V*d; per layer
// 4 d^2 (q, k, v, o) + 3 d (r d) (w1, w2, w3) + 2 d (two norms); final norm d.
int64_t transformer_param_formula(int64_t V, int64_t C, int64_t d, int64_t depth, int64_t r) {
  return V * d + depth * (4 * d * d + 3 * d * r * d + 2 * d) + d + C * d;
}

TEST(TransformerParams, DefaultCountIs550272) {
  EXPECT_EQ(transformer_param_formula(99, 99, 128, 2, 4), 550272);
  EXPECT_EQ(count_params(transformer_param_specs(TransformerConfig{}, 99, 99)), 550272);
}

TEST(TransformerParams, CountFollowsTheFormulaForOtherSizes) {
  TransformerConfig cfg;
  cfg.depth = 3;
  cfg.d_model = 24;
  cfg.heads = 4;
  cfg.mlp_ratio = 2;
  EXPECT_EQ(count_params(transformer_param_specs(cfg, 13, 11)), transformer_param_formula(13, 11, 24, 3, 2));
}

TEST(TransformerParams, NamesGroupsAndLayouts) {
  std::vector<ParamSpec> specs = transformer_param_specs(TransformerConfig{}, 99, 99);
  std::set<std::string> names;
  for (const ParamSpec& s : specs) EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
  auto find = [&](const std::string& n) -> const ParamSpec& {
    for (const ParamSpec& s : specs)
      if (s.name == n) return s;
    throw std::runtime_error("no parameter " + n);
  };
  EXPECT_EQ(find("embedding").shape, (ir::Shape{99, 128}));
  EXPECT_EQ(find("embedding").group, "embedding");
  EXPECT_EQ(find("embedding").init, Init::Normal01);
  EXPECT_EQ(find("layers.1.attn.wq").shape, (ir::Shape{128, 128}));
  EXPECT_EQ(find("layers.1.attn.wq").group, "hidden");
  EXPECT_EQ(find("layers.0.ffn.w1").shape, (ir::Shape{512, 128}));  // [out, in]
  EXPECT_EQ(find("layers.0.ffn.w1").fan_in, 128);
  EXPECT_EQ(find("layers.0.ffn.w2").shape, (ir::Shape{128, 512}));
  EXPECT_EQ(find("layers.0.ffn.w2").fan_in, 512);
  EXPECT_EQ(find("layers.0.attn_norm").group, "norm");
  EXPECT_EQ(find("layers.0.attn_norm").init, Init::Ones);
  EXPECT_EQ(find("final_norm").shape, (ir::Shape{128}));
  EXPECT_EQ(find("head").shape, (ir::Shape{99, 128}));
  EXPECT_EQ(find("head").group, "head");
}

TEST(TransformerParams, BadConfigsThrow) {
  TransformerConfig cfg;
  cfg.heads = 3;  // 128 % 3 != 0
  EXPECT_THROW(transformer_param_specs(cfg, 99, 99), Error);
  cfg.heads = 1;
  cfg.d_model = 7;  // odd head dim with RoPE
  EXPECT_THROW(transformer_param_specs(cfg, 99, 99), Error);
  cfg.d_model = 8;
  cfg.depth = 0;
  EXPECT_THROW(transformer_param_specs(cfg, 99, 99), Error);
}

TEST(TwoLayerParams, ShapesAndGroups) {
  TwoLayerConfig cfg;
  cfg.hidden = 24;
  cfg.init_scale = 0.5;
  std::vector<ParamSpec> specs = two_layer_param_specs(cfg, 7, 7);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "W");
  EXPECT_EQ(specs[0].shape, (ir::Shape{24, 14}));
  EXPECT_EQ(specs[0].group, "hidden");
  EXPECT_EQ(specs[0].fan_in, 14);
  EXPECT_EQ(specs[1].name, "V");
  EXPECT_EQ(specs[1].shape, (ir::Shape{7, 24}));
  EXPECT_EQ(specs[1].group, "head");
  EXPECT_EQ(specs[1].scale, 0.5);
}

struct Moments {
  double mean = 0, var = 0, min = 1e300, max = -1e300;
};
Moments moments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) {
    m.mean += x;
    m.min = std::min<double>(m.min, x);
    m.max = std::max<double>(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (float x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size());
  return m;
}

TEST(InitParams, DistributionsMatchTheirRules) {
  std::vector<ParamSpec> specs = {
      {"emb", {200, 100}, "embedding", Init::Normal01, 100},
      {"w", {200, 64}, "hidden", Init::UniformFanIn, 64},
      {"g", {50}, "norm", Init::Ones, 50},
  };
  auto values = init_params(specs, 7);
  ASSERT_EQ(values.size(), 3u);
  ASSERT_EQ(values[0].size(), 20000u);
  Moments n = moments(values[0]);
  EXPECT_NEAR(n.mean, 0.0, 5.0 / std::sqrt(20000.0));
  EXPECT_NEAR(n.var, 1.0, 0.05);
  Moments u = moments(values[1]);
  const double bound = 1.0 / 8.0;
  EXPECT_GE(u.min, -bound);
  EXPECT_LT(u.max, bound);
  EXPECT_GT(u.max, 0.99 * bound);
  EXPECT_NEAR(u.mean, 0.0, 5.0 * bound / std::sqrt(3.0 * 12800.0));
  EXPECT_NEAR(u.var, bound * bound / 3.0, 0.05 * bound * bound / 3.0);
  for (float x : values[2]) EXPECT_EQ(x, 1.0f);
}

TEST(InitParams, DeterministicPerNameAndSeed) {
  std::vector<ParamSpec> a = {{"x", {10, 10}, "hidden", Init::UniformFanIn, 10}, {"y", {10}, "embedding", Init::Normal01, 10}};
  std::vector<ParamSpec> reversed = {a[1], a[0]};
  auto v1 = init_params(a, 3), v2 = init_params(a, 3), v3 = init_params(a, 4), vr = init_params(reversed, 3);
  EXPECT_EQ(v1, v2);
  EXPECT_NE(v1[0], v3[0]);
  EXPECT_EQ(v1[0], vr[1]);  // values follow the name, not the position
  EXPECT_EQ(v1[1], vr[0]);
}

TEST(InitParams, ScaleMultipliesTheDraw) {
  ParamSpec s{"W", {8, 8}, "hidden", Init::UniformFanIn, 8};
  ParamSpec half = s;
  half.scale = 0.5;
  auto one = init_params({s}, 1)[0], scaled = init_params({half}, 1)[0];
  for (size_t i = 0; i < one.size(); ++i) EXPECT_FLOAT_EQ(scaled[i], 0.5f * one[i]);
}

TEST(InitParams, NonPositiveFanInThrows) {
  EXPECT_THROW(init_params({{"w", {2, 2}, "hidden", Init::UniformFanIn, 0}}, 0), Error);
}

}  // namespace
}  // namespace grokjit::models
