// The 2-layer network against a plain C++ forward, and its gradient.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/builder.h"
#include "model_test_util.h"
#include "models/two_layer.h"

namespace grokjit::models {
namespace {

using testing::evaluate;
using testing::expect_gradient_matches_fd;
using testing::Inputs;
using testing::random_values;
using testing::TestInput;
using Vec = std::vector<double>;

constexpr int64_t M = 5, K = 3, B = 4;
const Vec kA = {0, 4, 2, 2}, kB = {1, 3, 0, 4}, kLabels = {1, 2, 2, 1};

std::vector<TestInput> inputs() {
  return {{"W", {K, 2 * M}, random_values(K * 2 * M, 1)}, {"V", {M, K}, random_values(M * K, 2)},
          {"a", {B}, kA, ir::DType::I32}, {"b", {B}, kB, ir::DType::I32}, {"y", {B}, kLabels, ir::DType::I32}};
}

ir::Value outputs(const TwoLayerConfig& cfg, const Inputs& in) {
  return two_layer_outputs(cfg, {{"W", in.at("W")}, {"V", in.at("V")}}, in.at("a"), in.at("b"), M);
}

TEST(TwoLayer, MatchesPlainForward) {
  for (Activation act : {Activation::Square, Activation::Relu}) {
    TwoLayerConfig cfg;
    cfg.activation = act;
    std::vector<TestInput> in = inputs();
    const Vec &W = in[0].values, &V = in[1].values;
    ir::Tensor64 got = evaluate([&](ir::Graph&, const Inputs& v) { return outputs(cfg, v); }, in);
    ASSERT_EQ(got.shape, (ir::Shape{B, M}));
    for (int64_t r = 0; r < B; ++r) {
      // X W^T with one-hot X: node k sees W[k][a] + W[k][M + b].
      Vec h(K);
      for (int64_t k = 0; k < K; ++k) {
        double pre = W[k * 2 * M + static_cast<int64_t>(kA[r])] + W[k * 2 * M + M + static_cast<int64_t>(kB[r])];
        h[k] = act == Activation::Square ? pre * pre : std::max(pre, 0.0);
      }
      for (int64_t c = 0; c < M; ++c) {
        double want = 0;
        for (int64_t k = 0; k < K; ++k) want += h[k] * V[c * K + k];
        EXPECT_NEAR(got[r * M + c], want, 1e-12);
      }
    }
  }
}

// X W^T of one-hot rows is two gathered columns of W per example: the only
// matmul left is the head's (K inputs), none contracts over the 2M one-hot
// positions.
TEST(TwoLayer, GathersColumnsOfWInsteadOfMultiplyingOneHotRows) {
  ir::Graph g;
  ir::Value out = outputs(TwoLayerConfig{}, testing::add_inputs(g, inputs()));
  ir::output(out, "out");
  int matmuls = 0, gathers = 0;
  for (const ir::Node& n : g.nodes()) {
    if (n.op == ir::Op::Gather) ++gathers;
    if (n.op != ir::Op::MatMul) continue;
    ++matmuls;
    EXPECT_EQ(g.node(n.inputs[0]).shape.back(), K) << "a matmul contracts over " << g.node(n.inputs[0]).shape.back();
  }
  EXPECT_EQ(matmuls, 1);
  EXPECT_EQ(gathers, 2);
}

TEST(TwoLayer, CenteredMseGradientMatchesFiniteDifferences) {
  TwoLayerConfig cfg;
  expect_gradient_matches_fd(
      [&](ir::Graph&, const Inputs& in) { return ir::sum_all(centered_mse_rows(outputs(cfg, in), in.at("y"))); },
      inputs());
}

}  // namespace
}  // namespace grokjit::models
