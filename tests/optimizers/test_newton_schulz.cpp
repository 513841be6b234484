// Newton-Schulz against the SVD polar factor (Eigen): the output keeps the
// input's singular vectors (U^T O V is diagonal), and each singular value is
// the scalar iteration x <- a x + b x^3 + c x^5 applied to sigma / ||X||_F.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <map>
#include <string>

#include "ir/builder.h"
#include "ir/interpreter.h"
#include "optimizer_test_util.h"
#include "optimizers/rules.h"

namespace grokjit::optimizers {
namespace {

using Matrix = Eigen::MatrixXd;

Matrix random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
  testing::Vec v = testing::random_values(rows * cols, seed);
  Matrix m(rows, cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m(i, j) = v[static_cast<size_t>(i * cols + j)];
  return m;
}

Matrix run_newton_schulz(const Matrix& x, const std::vector<NsCoefficients>& schedule) {
  ir::Graph g;
  ir::Value in = ir::input(g, "x", {x.rows(), x.cols()}, ir::DType::F32, ir::InputRole::Data);
  ir::output(newton_schulz(in, schedule, 1e-7), "o");
  std::vector<double> data;
  for (int64_t i = 0; i < x.rows(); ++i)
    for (int64_t j = 0; j < x.cols(); ++j) data.push_back(x(i, j));
  ir::Tensor64 o = ir::interpret(g, {{"x", ir::Tensor64({x.rows(), x.cols()}, data)}}).outputs.at("o");
  Matrix out(x.rows(), x.cols());
  for (int64_t i = 0; i < x.rows(); ++i)
    for (int64_t j = 0; j < x.cols(); ++j) out(i, j) = o[static_cast<size_t>(i * x.cols() + j)];
  return out;
}

double scalar_iteration(double s, const std::vector<NsCoefficients>& schedule) {
  for (const NsCoefficients& k : schedule) s = k.a * s + k.b * s * s * s + k.c * s * s * s * s * s;
  return s;
}

void check_against_svd(const Matrix& x, const std::vector<NsCoefficients>& schedule, double lo, double hi) {
  Eigen::JacobiSVD<Matrix> svd(x, Eigen::ComputeThinU | Eigen::ComputeThinV);
  Matrix o = run_newton_schulz(x, schedule);
  Matrix in_basis = svd.matrixU().transpose() * o * svd.matrixV();  // diag(sigma') if orientation is kept
  const double frob = x.norm() + 1e-7;
  const Eigen::Index k = in_basis.rows();
  for (Eigen::Index i = 0; i < k; ++i)
    for (Eigen::Index j = 0; j < k; ++j) {
      if (i != j) {
        EXPECT_NEAR(in_basis(i, j), 0.0, 1e-9) << "off-diagonal (" << i << "," << j << ")";
        continue;
      }
      double sigma = in_basis(i, i);
      EXPECT_NEAR(sigma, scalar_iteration(svd.singularValues()(i) / frob, schedule), 1e-9);
      EXPECT_GE(sigma, lo) << "singular value " << i << " of a " << x.rows() << "x" << x.cols();
      EXPECT_LE(sigma, hi) << "singular value " << i << " of a " << x.rows() << "x" << x.cols();
    }
  // Close to the polar factor U V^T in the orientation sense.
  Matrix polar = svd.matrixU() * svd.matrixV().transpose();
  EXPECT_GT((o.array() * polar.array()).sum() / polar.squaredNorm(), 0.6);
}

const int64_t kShapes[][2] = {{4, 4}, {3, 7}, {7, 3}, {8, 16}, {16, 8}, {10, 10}};

TEST(NewtonSchulz, ReferenceCoefficientsApproximateThePolarFactor) {
  std::vector<NsCoefficients> schedule = ns_schedule(MuonConfig{});
  uint64_t seed = 1;
  for (const auto& s : kShapes) check_against_svd(random_matrix(s[0], s[1], seed++), schedule, 0.6, 1.25);
}

// The Li2 schedule maps [0.003, 1] into about [0.895, 1.157] (scalar iteration).
TEST(NewtonSchulz, Li2ScheduleKeepsOrientationWithATighterRange) {
  std::vector<NsCoefficients> schedule = ns_schedule(muon_li2_preset());
  uint64_t seed = 50;
  for (const auto& s : kShapes) check_against_svd(random_matrix(s[0], s[1], seed++), schedule, 0.85, 1.2);
}

TEST(NewtonSchulz, TallInputUsesTheSmallGramMatrix) {
  ir::Graph g;
  ir::Value in = ir::input(g, "x", {7, 3}, ir::DType::F32, ir::InputRole::Data);
  ir::Value o = newton_schulz(in, ns_schedule(MuonConfig{}), 1e-7);
  EXPECT_EQ(o.shape(), (ir::Shape{7, 3}));
  // The Gram matrices are 3x3 (the small side), never 7x7.
  for (const ir::Node& n : g.nodes()) {
    if (n.op == ir::Op::MatMul) {
      EXPECT_NE(n.shape, (ir::Shape{7, 7}));
    }
  }
}

// Stacking same-shape matrices into one batch changes
// nothing per matrix: each output equals newton_schulz of that matrix alone
// (the SVD tests above check newton_schulz itself), and the batch runs one
// chain of matmuls per shape instead of one per matrix.
TEST(NewtonSchulz, StackedEqualsOneMatrixAtATime) {
  const int64_t shapes[][2] = {{4, 6}, {6, 4}, {3, 5}, {4, 6}, {5, 5}, {4, 6}};
  const std::vector<NsCoefficients> schedule = ns_schedule(MuonConfig{});
  ir::Graph g;
  std::vector<ir::Value> ins;
  std::map<std::string, ir::Tensor64> feeds;
  std::vector<Matrix> xs;
  uint64_t seed = 90;
  for (const auto& s : shapes) {
    const std::string name = "x" + std::to_string(ins.size());
    ins.push_back(ir::input(g, name, {s[0], s[1]}, ir::DType::F32, ir::InputRole::Data));
    xs.push_back(random_matrix(s[0], s[1], seed++));
    std::vector<double> data;
    for (int64_t i = 0; i < s[0]; ++i)
      for (int64_t j = 0; j < s[1]; ++j) data.push_back(xs.back()(i, j));
    feeds.emplace(name, ir::Tensor64({s[0], s[1]}, data));
  }
  std::vector<ir::Value> outs = newton_schulz_stacked(ins, schedule, 1e-7);
  ASSERT_EQ(outs.size(), ins.size());
  for (size_t i = 0; i < outs.size(); ++i) ir::output(outs[i], "o" + std::to_string(i));
  // {4,6} x3 stack into one batch; {6,4}, {3,5} and {5,5} stay alone:
  // 4 chains x 5 iterations x 3 matmuls.
  size_t matmuls = 0;
  for (const ir::Node& n : g.nodes()) matmuls += n.op == ir::Op::MatMul;
  EXPECT_EQ(matmuls, 4u * 5u * 3u);
  const auto results = ir::interpret(g, feeds).outputs;
  for (size_t i = 0; i < outs.size(); ++i) {
    Matrix alone = run_newton_schulz(xs[i], schedule);
    const ir::Tensor64& o = results.at("o" + std::to_string(i));
    ASSERT_EQ(o.shape, (ir::Shape{alone.rows(), alone.cols()}));
    for (int64_t r = 0; r < alone.rows(); ++r)
      for (int64_t c = 0; c < alone.cols(); ++c)
        EXPECT_NEAR(o[static_cast<size_t>(r * alone.cols() + c)], alone(r, c), 1e-12) << "matrix " << i << " (" << r << "," << c << ")";
  }
}

}  // namespace
}  // namespace grokjit::optimizers
