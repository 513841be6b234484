// Layers: RMSNorm, RoPE, causal attention, the FFN; values from closed forms
// and properties, gradients against finite differences (issue 2's composite
// checks: RMSNorm, causal attention with RoPE).
#include <gtest/gtest.h>

#include <cmath>

#include "ir/builder.h"
#include "ir/error.h"
#include "model_test_util.h"
#include "models/layers.h"

namespace grokjit::models {
namespace {

using testing::evaluate;
using testing::expect_gradient_matches_fd;
using testing::Inputs;
using testing::random_values;
using testing::TestInput;

// A fixed random projection so that a vector-valued layer gives a scalar loss
// whose gradient exercises every output element.
ir::Value project(ir::Graph& g, ir::Value y, uint64_t seed) {
  return ir::sum_all(y * ir::constant_data(g, random_values(y.numel(), seed), y.shape(), y.dtype()));
}

TEST(RmsNorm, MatchesClosedForm) {
  std::vector<double> x = {1, -2, 3, 0.5, 0.25, -1, 2, 4}, g = {1, 2, 0.5, -1};
  ir::Tensor64 y = evaluate([&](ir::Graph&, const Inputs& in) { return rmsnorm(in.at("x"), in.at("g"), 1e-5); },
                            {{"x", {2, 4}, x}, {"g", {4}, g}});
  for (int r = 0; r < 2; ++r) {
    double ms = 0;
    for (int i = 0; i < 4; ++i) ms += x[r * 4 + i] * x[r * 4 + i] / 4;
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[r * 4 + i], x[r * 4 + i] / std::sqrt(ms + 1e-5) * g[i], 1e-12);
  }
}

TEST(RmsNorm, GradientMatchesFiniteDifferences) {
  expect_gradient_matches_fd(
      [](ir::Graph& g, const Inputs& in) { return project(g, rmsnorm(in.at("x"), in.at("g"), 1e-5), 5); },
      {{"x", {3, 5}, random_values(15, 1)}, {"g", {5}, random_values(5, 2, 0.5, 1.5)}});
}

// RoPE rotates each pair by an angle proportional to the position, so the dot
// product of rope(q at t) and rope(k at s) depends only on t - s.
TEST(Rope, DotProductsDependOnlyOnRelativePosition) {
  for (RopeStyle style : {RopeStyle::RotateHalf, RopeStyle::Interleaved}) {
    const int64_t T = 6, hd = 8;
    std::vector<double> q = random_values(hd, 3), k = random_values(hd, 4), qs, ks;
    for (int64_t t = 0; t < T; ++t) {  // the same q and k at every position
      qs.insert(qs.end(), q.begin(), q.end());
      ks.insert(ks.end(), k.begin(), k.end());
    }
    ir::Tensor64 dots = evaluate(
        [&](ir::Graph&, const Inputs& in) {
          return ir::matmul(rope(in.at("q"), 100.0, style), ir::transpose(rope(in.at("k"), 100.0, style)));
        },
        {{"q", {T, hd}, qs}, {"k", {T, hd}, ks}});
    for (int64_t t = 1; t < T; ++t)
      for (int64_t s = 1; s < T; ++s)
        EXPECT_NEAR(dots[t * T + s], dots[(t - 1) * T + (s - 1)], 1e-12) << "t " << t << " s " << s;
    double unrotated = 0;
    for (int64_t j = 0; j < hd; ++j) unrotated += q[j] * k[j];
    EXPECT_NEAR(dots[0], unrotated, 1e-12);  // position 0 is not rotated
  }
}

TEST(Rope, PreservesNormsAndPairsAsDocumented) {
  // Rotate-half pairs j with j + hd/2; interleaved pairs 2j with 2j + 1. Put
  // a unit vector on dim 0 at position 1: it rotates into dim hd/2 or dim 1.
  const int64_t hd = 4;
  std::vector<double> x(2 * hd, 0.0);
  x[hd + 0] = 1.0;  // position 1, dim 0
  for (RopeStyle style : {RopeStyle::RotateHalf, RopeStyle::Interleaved}) {
    ir::Tensor64 y = evaluate([&](ir::Graph&, const Inputs& in) { return rope(in.at("x"), 1e6, style); },
                              {{"x", {2, hd}, x}});
    const int64_t partner = style == RopeStyle::RotateHalf ? hd / 2 : 1;
    EXPECT_NEAR(y[hd + 0], std::cos(1.0), 1e-12);  // frequency of pair 0 is 1
    EXPECT_NEAR(y[hd + partner], std::sin(1.0), 1e-12);
  }
}

struct AttentionCase {
  TransformerConfig cfg;
  int64_t B = 2, T = 4;
  std::vector<TestInput> inputs;
  AttentionCase(int64_t heads, RopeStyle style) {
    cfg.d_model = 8;
    cfg.heads = heads;
    cfg.rope_base = 10.0;
    cfg.rope_style = style;
    const int64_t d = cfg.d_model;
    inputs = {{"x", {B, T, d}, random_values(B * T * d, 10)}, {"wq", {d, d}, random_values(d * d, 11, -0.5, 0.5)},
              {"wk", {d, d}, random_values(d * d, 12, -0.5, 0.5)}, {"wv", {d, d}, random_values(d * d, 13, -0.5, 0.5)},
              {"wo", {d, d}, random_values(d * d, 14, -0.5, 0.5)}};
  }
  ir::Value build(const Inputs& in) const {
    return self_attention(in.at("x"), {in.at("wq"), in.at("wk"), in.at("wv"), in.at("wo")}, cfg);
  }
};

TEST(Attention, CausalWithRopeGradientMatchesFiniteDifferences) {
  for (auto [heads, style] : {std::pair{1, RopeStyle::RotateHalf}, std::pair{2, RopeStyle::Interleaved}}) {
    AttentionCase c(heads, style);
    expect_gradient_matches_fd([&](ir::Graph& g, const Inputs& in) { return project(g, c.build(in), 20); }, c.inputs);
  }
}

TEST(Attention, OutputAtTIgnoresLaterPositions) {
  AttentionCase c(2, RopeStyle::RotateHalf);
  auto run = [&](const std::vector<TestInput>& inputs) {
    return evaluate([&](ir::Graph&, const Inputs& in) { return c.build(in); }, inputs);
  };
  ir::Tensor64 before = run(c.inputs);
  std::vector<TestInput> changed = c.inputs;
  const int64_t d = c.cfg.d_model;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = 0; i < d; ++i) changed[0].values[(b * c.T + c.T - 1) * d + i] += 1.0;  // perturb the last position
  ir::Tensor64 after = run(changed);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t i = 0; i < d; ++i) {
        size_t j = static_cast<size_t>((b * c.T + t) * d + i);
        if (t < c.T - 1)
          EXPECT_EQ(before[j], after[j]) << "position " << t << " saw the future";
        else
          EXPECT_NE(before[j], after[j]);
      }
}

TEST(Ffn, GradientMatchesFiniteDifferences) {
  const int64_t d = 4, h = 6;
  expect_gradient_matches_fd(
      [](ir::Graph& g, const Inputs& in) {
        return project(g, swiglu_ffn(in.at("x"), {in.at("w1"), in.at("w2"), in.at("w3")}, 0.0, nullptr, 0), 30);
      },
      {{"x", {2, 3, d}, random_values(2 * 3 * d, 31)}, {"w1", {h, d}, random_values(h * d, 32)},
       {"w2", {d, h}, random_values(d * h, 33)}, {"w3", {h, d}, random_values(h * d, 34)}});
}

TEST(Linear, ComputesXTimesWTransposed) {
  // W [out=3, in=2] applied to x [2]: y_o = sum_i W[o][i] x_i.
  ir::Tensor64 y = evaluate([](ir::Graph&, const Inputs& in) { return linear(in.at("x"), in.at("w")); },
                            {{"x", {1, 2}, {1, 10}}, {"w", {3, 2}, {1, 2, 3, 4, 5, 6}}});
  EXPECT_EQ(y.data, (std::vector<double>{21, 43, 65}));
  EXPECT_THROW(evaluate([](ir::Graph&, const Inputs& in) { return linear(in.at("x"), in.at("w")); },
                        {{"x", {1, 3}, {1, 2, 3}}, {"w", {3, 2}, {1, 2, 3, 4, 5, 6}}}),
               Error);
}

}  // namespace
}  // namespace grokjit::models

namespace grokjit::models {
namespace {

// The last block's shortcut: queries from the last position only give the
// last row of the full attention output (RoPE at the right position, mask
// offset), for both pairings.
TEST(Attention, LastQueryOnlyEqualsTheLastRow) {
  for (RopeStyle style : {RopeStyle::RotateHalf, RopeStyle::Interleaved}) {
    AttentionCase c(2, style);
    const int64_t d = c.cfg.d_model;
    ir::Tensor64 full = evaluate([&](ir::Graph&, const Inputs& in) { return c.build(in); }, c.inputs);
    ir::Tensor64 last = evaluate(
        [&](ir::Graph&, const Inputs& in) {
          return self_attention(in.at("x"), {in.at("wq"), in.at("wk"), in.at("wv"), in.at("wo")}, c.cfg, 1);
        },
        c.inputs);
    ASSERT_EQ(last.shape, (ir::Shape{c.B, 1, d}));
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(last[b * d + i], full[(b * c.T + c.T - 1) * d + i], 1e-12);
  }
}

}  // namespace
}  // namespace grokjit::models
