// The counter-based generator: determinism, sensitivity to every argument,
// and rough uniformity of values and bits (exact bit values are checked
// against an independent Python implementation in interpreter_test.cpp).
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "ir/random.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::eval;
using testing::tensor;

TEST(Random, SameArgumentsSameNumberDifferentArgumentsDiffer) {
  EXPECT_EQ(random_bits(1, 2, 3, 4), random_bits(1, 2, 3, 4));
  uint32_t base = random_bits(1, 2, 3, 4);
  EXPECT_NE(base, random_bits(2, 2, 3, 4));
  EXPECT_NE(base, random_bits(1, 3, 3, 4));
  EXPECT_NE(base, random_bits(1, 2, 4, 4));
  EXPECT_NE(base, random_bits(1, 2, 3, 5));
  static_assert(random_uniform(1, 2, 3, 4) >= 0.0 && random_uniform(1, 2, 3, 4) < 1.0);
}

TEST(Random, InterpreterIsDeterministicAcrossRunsAndStreamsDiffer) {
  Graph g;
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value a = random_uniform(seed, step, {64}, 0);
  Value b = random_uniform(seed, step, {64}, 1);
  TensorMap in{{"seed", tensor({}, {3})}, {"step", tensor({}, {9})}};
  EXPECT_EQ(eval(a, in).data, eval(a, in).data);
  EXPECT_NE(eval(a, in).data, eval(b, in).data);
  TensorMap next{{"seed", tensor({}, {3})}, {"step", tensor({}, {10})}};
  EXPECT_NE(eval(a, in).data, eval(a, next).data);
}

TEST(Random, ValuesAreRoughlyUniform) {
  constexpr uint32_t kN = 200000;
  double total = 0, total_sq = 0;
  std::array<uint32_t, 10> deciles{};
  for (uint32_t i = 0; i < kN; ++i) {
    double u = random_uniform(7, 1, 0, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    total += u;
    total_sq += u * u;
    ++deciles[static_cast<size_t>(u * 10)];
  }
  double mean = total / kN;
  EXPECT_NEAR(mean, 0.5, 0.005);                       // sd of the mean ~ 0.00065
  EXPECT_NEAR(total_sq / kN - mean * mean, 1.0 / 12, 0.002);
  for (uint32_t count : deciles) EXPECT_NEAR(count, kN / 10.0, 5 * std::sqrt(kN * 0.1 * 0.9));
}

TEST(Random, EveryBitIsSetAboutHalfTheTime) {
  constexpr uint32_t kN = 100000;
  std::array<uint32_t, 32> ones{};
  for (uint32_t i = 0; i < kN; ++i) {
    uint32_t bits = random_bits(123, i / 100, 2, i % 100);  // vary counter and index together
    for (int b = 0; b < 32; ++b) ones[static_cast<size_t>(b)] += (bits >> b) & 1u;
  }
  double tolerance = 5 * std::sqrt(kN * 0.25);  // 5 sigma
  for (int b = 0; b < 32; ++b) EXPECT_NEAR(ones[static_cast<size_t>(b)], kN / 2.0, tolerance) << "bit " << b;
}

TEST(Random, NeighbouringSeedsAreUncorrelated) {
  constexpr uint32_t kN = 50000;
  double sum_xy = 0, sum_x = 0, sum_y = 0, sum_xx = 0, sum_yy = 0;
  for (uint32_t i = 0; i < kN; ++i) {
    double x = random_uniform(1000, 0, 0, i), y = random_uniform(1001, 0, 0, i);
    sum_xy += x * y, sum_x += x, sum_y += y, sum_xx += x * x, sum_yy += y * y;
  }
  double cov = sum_xy / kN - (sum_x / kN) * (sum_y / kN);
  double corr = cov / std::sqrt((sum_xx / kN - std::pow(sum_x / kN, 2)) * (sum_yy / kN - std::pow(sum_y / kN, 2)));
  EXPECT_LT(std::fabs(corr), 0.02);  // sd ~ 1/sqrt(N) = 0.0045
}

}  // namespace
}  // namespace grokjit::ir
