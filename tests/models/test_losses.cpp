// Output functions, losses and row metrics against plain C++ written from
// REFERENCE.md s.5 (sparsemax by sorting, as the paper states it), and their
// gradients against finite differences (issue 2's composite checks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "ir/builder.h"
#include "model_test_util.h"
#include "models/losses.h"
#include "models/two_layer.h"

namespace grokjit::models {
namespace {

using testing::evaluate;
using testing::expect_gradient_matches_fd;
using testing::Inputs;
using testing::random_values;
using testing::TestInput;
using Vec = std::vector<double>;

constexpr int64_t B = 4, C = 6;

std::vector<TestInput> logits_and_labels(const Vec& z, const Vec& y, ir::DType dtype = ir::DType::F64) {
  return {{"z", {static_cast<int64_t>(y.size()), static_cast<int64_t>(z.size() / y.size())}, z, dtype},
          {"y", {static_cast<int64_t>(y.size())}, y, ir::DType::I32}};
}

using RowFn = std::function<ir::Value(ir::Value, ir::Value)>;

ir::Tensor64 rows(const RowFn& fn, const Vec& z, const Vec& y, ir::DType dtype = ir::DType::F64) {
  return evaluate([&](ir::Graph&, const Inputs& in) { return fn(in.at("z"), in.at("y")); }, logits_and_labels(z, y, dtype));
}

Vec row_of(const Vec& z, int64_t b, int64_t c) { return Vec(z.begin() + b * c, z.begin() + (b + 1) * c); }

// ---- plain references

double ref_softmax_ce(const Vec& z, int y) {
  double mx = *std::max_element(z.begin(), z.end()), s = 0;
  for (double v : z) s += std::exp(v - mx);
  return mx + std::log(s) - z[y];
}

double ref_stablemax_ce(const Vec& z, int y) {
  auto s = [](double x) { return x >= 0 ? x + 1 : 1 / (1 - x); };
  double total = 0;
  for (double v : z) total += s(v);
  return -std::log(s(z[y]) / total);
}

// Sort descending; k* = max{k : 1 + k z_(k) > sum_{j<=k} z_(j)}.
struct RefSparsemax {
  Vec p;
  double tau;
};
RefSparsemax ref_sparsemax(const Vec& z) {
  Vec sorted = z;
  std::sort(sorted.rbegin(), sorted.rend());
  double cumsum = 0, support_sum = 0;
  int k_star = 0;
  for (size_t k = 1; k <= sorted.size(); ++k) {
    cumsum += sorted[k - 1];
    if (1 + static_cast<double>(k) * sorted[k - 1] > cumsum) {
      k_star = static_cast<int>(k);
      support_sum = cumsum;
    }
  }
  RefSparsemax r;
  r.tau = (support_sum - 1) / k_star;
  for (double v : z) r.p.push_back(std::max(v - r.tau, 0.0));
  return r;
}

double ref_sparsemax_loss(const Vec& z, int y) {
  RefSparsemax r = ref_sparsemax(z);
  double loss = -z[y] + 0.5;
  for (size_t j = 0; j < z.size(); ++j)
    if (r.p[j] > 0) loss += 0.5 * (z[j] * z[j] - r.tau * r.tau);
  return loss;
}

const Vec kLabels = {0, 3, 5, 2};

TEST(Losses, SoftmaxCrossEntropyMatchesReference) {
  Vec z = random_values(B * C, 1, -4, 4);
  ir::Tensor64 got = rows(softmax_cross_entropy_rows, z, kLabels);
  for (int64_t b = 0; b < B; ++b) EXPECT_NEAR(got[b], ref_softmax_ce(row_of(z, b, C), kLabels[b]), 1e-12);
}

TEST(Losses, StablemaxCrossEntropyMatchesReference) {
  Vec z = random_values(B * C, 2, -30, 30);
  z[1] = 0.0;  // the branch point
  for (bool f64 : {true, false}) {
    ir::Tensor64 got = rows([&](ir::Value a, ir::Value b) { return stablemax_cross_entropy_rows(a, b, f64); }, z, kLabels,
                            ir::DType::F32);
    for (int64_t b = 0; b < B; ++b) EXPECT_NEAR(got[b], ref_stablemax_ce(row_of(z, b, C), kLabels[b]), 1e-12);
  }
}

TEST(Losses, StablemaxCastsToFloat64InTheGraph) {
  ir::Graph g;
  ir::Value z = ir::input(g, "z", {B, C}, ir::DType::F32, ir::InputRole::Data);
  ir::Value y = ir::input(g, "y", {B}, ir::DType::I32, ir::InputRole::Data);
  ir::Value loss = stablemax_cross_entropy_rows(z, y, true);
  EXPECT_EQ(loss.dtype(), ir::DType::F32);
  bool saw_f64_log = false;
  for (const ir::Node& n : g.nodes()) saw_f64_log = saw_f64_log || (n.op == ir::Op::Log && n.dtype == ir::DType::F64);
  EXPECT_TRUE(saw_f64_log);
}

TEST(Sparsemax, MatchesSortingReference) {
  Vec z = random_values(B * C, 3, -2, 2);
  z[6] = z[7] = z[8] = 1.5;  // ties in row 1
  ir::Tensor64 p = evaluate([](ir::Graph&, const Inputs& in) { return sparsemax(in.at("z")).probs; },
                            {{"z", {B, C}, z}});
  for (int64_t b = 0; b < B; ++b) {
    RefSparsemax want = ref_sparsemax(row_of(z, b, C));
    double total = 0;
    for (int64_t c = 0; c < C; ++c) {
      EXPECT_NEAR(p[b * C + c], want.p[c], 1e-12) << b << "," << c;
      total += p[b * C + c];
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

TEST(Sparsemax, LossMatchesReferenceAndItsGradientIsPMinusOneHot) {
  Vec z = random_values(B * C, 4, -2, 2);
  ir::Tensor64 loss = rows(sparsemax_loss_rows, z, kLabels);
  for (int64_t b = 0; b < B; ++b) EXPECT_NEAR(loss[b], ref_sparsemax_loss(row_of(z, b, C), kLabels[b]), 1e-12);

  // d(sum of row losses)/dz = p - e_y, with p from the sorting reference.
  ir::Graph g;
  ir::Value zv = ir::input(g, "z", {B, C}, ir::DType::F64, ir::InputRole::Data);
  ir::Value yv = ir::input(g, "y", {B}, ir::DType::I32, ir::InputRole::Data);
  ir::Value grad = ir::grad(ir::sum_all(sparsemax_loss_rows(zv, yv)), std::vector<ir::Value>{zv})[0];
  ir::output(grad, "grad");
  ir::Tensor64 got = ir::interpret(g, {{"z", ir::Tensor64({B, C}, z)}, {"y", ir::Tensor64({B}, kLabels)}}).outputs.at("grad");
  for (int64_t b = 0; b < B; ++b) {
    RefSparsemax r = ref_sparsemax(row_of(z, b, C));
    for (int64_t c = 0; c < C; ++c)
      EXPECT_NEAR(got[b * C + c], r.p[c] - (c == kLabels[b] ? 1.0 : 0.0), 1e-12) << b << "," << c;
  }
}

TEST(Losses, GradientsMatchFiniteDifferences) {
  Vec z = random_values(B * C, 5, -3, 3);
  auto check = [&](const RowFn& fn) {
    expect_gradient_matches_fd([&](ir::Graph&, const Inputs& in) { return ir::sum_all(fn(in.at("z"), in.at("y"))); },
                               logits_and_labels(z, kLabels));
  };
  check(softmax_cross_entropy_rows);
  check([](ir::Value a, ir::Value b) { return stablemax_cross_entropy_rows(a, b, true); });
  check(sparsemax_loss_rows);
  check(centered_mse_rows);
}

// Cross-entropy written with a gather of the label's log-probability (the
// embedding-style indexing) instead of a one-hot: same values, same gradient.
TEST(Losses, CrossEntropyViaGatherMatchesOneHotAndFiniteDifferences) {
  Vec z = random_values(B * C, 6, -3, 3);
  auto via_gather = [](ir::Graph& g, const Inputs& in) {
    ir::Value logp = ir::reshape(ir::log_softmax(in.at("z"), 1), {B * C, 1});
    ir::Value flat_index = in.at("y") + ir::iota(g, {B}, 0) * static_cast<double>(C);
    return -ir::sum_all(ir::gather(logp, flat_index));
  };
  expect_gradient_matches_fd(via_gather, logits_and_labels(z, kLabels));
  double gathered = evaluate(via_gather, logits_and_labels(z, kLabels))[0];
  double one_hot = evaluate([](ir::Graph&, const Inputs& in) { return ir::sum_all(softmax_cross_entropy_rows(in.at("z"), in.at("y"))); },
                            logits_and_labels(z, kLabels))[0];
  EXPECT_NEAR(gathered, one_hot, 1e-12);
}

TEST(Metrics, CorrectUsesTheFirstMaximum) {
  Vec z = {1, 3, 3, 0,  5, 1, 1, 1,  0, 0, 0, 2};
  EXPECT_EQ(rows(correct_rows, z, {1, 1, 3}).data, (Vec{1, 0, 1}));
  EXPECT_EQ(rows(correct_rows, z, {2, 0, 0}).data, (Vec{0, 1, 0}));
}

TEST(Metrics, SoftmaxCollapseAndZeroLoss) {
  // exp(-800) underflows to 0 even in float64: that row's softmax collapsed.
  Vec z = {0, -800, -900,  0, -1, -2};
  ir::Tensor64 collapse = evaluate([](ir::Graph&, const Inputs& in) { return softmax_collapse_rows(in.at("z")); },
                                   {{"z", {2, 3}, z}});
  EXPECT_EQ(collapse.data, (Vec{1, 0}));
  // Sparsemax loss is exactly 0 once z_y leads the rest by >= 1.
  ir::Tensor64 zero = rows([](ir::Value a, ir::Value b) { return zero_loss_rows(sparsemax_loss_rows(a, b)); },
                           {2, 0, 0,  0.5, 0, 0}, {0, 0});
  EXPECT_EQ(zero.data, (Vec{1, 0}));
}

TEST(Metrics, LogitMarginIsLabelMinusBestOther) {
  Vec z = {1, 4, 2,  3, 3, 0,  -1, -2, -3};
  EXPECT_EQ(rows(logit_margin_rows, z, {1, 0, 2}).data, (Vec{2, 0, -2}));
}

TEST(TwoLayerLoss, CenteredMseMatchesDefinition) {
  Vec o = random_values(B * C, 7);
  ir::Tensor64 got = rows(centered_mse_rows, o, kLabels);
  for (int64_t b = 0; b < B; ++b) {
    Vec row = row_of(o, b, C);
    double mean = 0, want = 0;
    for (double v : row) mean += v / C;
    for (int64_t c = 0; c < C; ++c) {
      double target = (c == kLabels[b] ? 1.0 : 0.0) - 1.0 / C;
      want += (row[c] - mean - target) * (row[c] - mean - target);
    }
    EXPECT_NEAR(got[b], want, 1e-12);
  }
}

}  // namespace
}  // namespace grokjit::models
