// The interpreter against values computed independently: by hand for small
// cases, or by std:: math (often a different formula) on the same inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/random.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::eval;
using testing::expect_error;
using testing::random_values;
using testing::tensor;
using Vec = std::vector<double>;

// ---- leaves

TEST(InterpreterLeaves, InputIsPassedThroughAndChecked) {
  Graph g;
  Value x = input(g, "x", {2, 2}, DType::F32, InputRole::Data);
  output(x, "y");
  EXPECT_EQ(interpret(g, {{"x", tensor({2, 2}, {1, 2, 3, 4})}}).outputs.at("y").data, (Vec{1, 2, 3, 4}));
  expect_error([&] { interpret(g, {}); }, {"input 'x'", "f32[2,2]", "missing"});
  expect_error([&] { interpret(g, {{"x", tensor({4}, {1, 2, 3, 4})}}); }, {"input 'x'", "f32[2,2]", "given shape [4]"});
  expect_error([&] { interpret(g, {{"x", tensor({2, 2}, {1, 2, 3})}}); }, {"input 'x'", "given 3 values"});
}

TEST(InterpreterLeaves, InterpretEvaluatesOnlyWhatResultsNeed) {
  Graph g;
  Value x = input(g, "x", {1}, DType::F64, InputRole::Data);
  input(g, "unused", {1}, DType::F64, InputRole::Data);
  output(x * 3.0, "y");
  EXPECT_EQ(interpret(g, {{"x", tensor({1}, {2})}}).outputs.at("y").data, (Vec{6}));
}

TEST(InterpreterLeaves, ConstantFillAndData) {
  Graph g;
  EXPECT_EQ(eval(constant(g, 2.5, {3})).data, (Vec{2.5, 2.5, 2.5}));
  EXPECT_EQ(eval(constant_data(g, {1, 2, 3, 4, 5, 6}, {2, 3})).data, (Vec{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(eval(constant(g, 7, {})).data, (Vec{7}));
}

TEST(InterpreterLeaves, IotaAlongEachAxis) {
  Graph g;
  EXPECT_EQ(eval(iota(g, {2, 3}, 0)).data, (Vec{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(eval(iota(g, {2, 3}, 1)).data, (Vec{0, 1, 2, 0, 1, 2}));
}

// Values from an independent Python implementation of random.h's recipe.
TEST(InterpreterLeaves, RandomUniformMatchesReferenceBits) {
  EXPECT_EQ(mix32(1), 0x688990c0u);
  EXPECT_EQ(mix32(0x12345678), 0xf5e71c96u);
  EXPECT_EQ(random_bits(0, 0, 0, 0), 0x41f39e5eu);
  EXPECT_EQ(random_bits(1, 2, 3, 4), 0x091ca680u);
  EXPECT_EQ(random_bits(42, 7, 1, 100), 0x5befc610u);
  EXPECT_EQ(random_bits(0xffffffffu, 5, 0, 9), 0x1b361e7cu);
  EXPECT_DOUBLE_EQ(random_uniform(1, 2, 3, 4), 0.035593390464782715);
}

TEST(InterpreterLeaves, RandomUniformReadsSeedCounterStreamAndIndex) {
  Graph g;
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value r = random_uniform(seed, step, {2, 60}, 1);
  TensorMap in{{"seed", tensor({}, {42})}, {"step", tensor({}, {7})}};
  Tensor64 t = eval(r, in);
  EXPECT_DOUBLE_EQ(t[100], 0.359127402305603);  // (42, 7, 1, 100) from the Python reference
  // A negative seed is its two's complement bit pattern: -1 -> 0xffffffff.
  Value r0 = random_uniform(seed, step, {10}, 0);
  Tensor64 neg = eval(r0, {{"seed", tensor({}, {-1})}, {"step", tensor({}, {5})}});
  EXPECT_DOUBLE_EQ(neg[9], 0.10629451274871826);
}

// A packed graph's dropout (ir/pack_runs.h): seed and counter one per index of
// the leading axis, the element number counted within that index's slice.
TEST(InterpreterLeaves, RandomUniformPerRunSeedAndCounter) {
  Graph g;
  Value seed = input(g, "seed", {2}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {2}, DType::I32, InputRole::Scalar);
  Value shared = input(g, "shared", {}, DType::I32, InputRole::Scalar);
  TensorMap in{{"seed", tensor({2}, {42, -1})}, {"step", tensor({2}, {7, 5})}, {"shared", tensor({}, {7})}};
  Tensor64 t = eval(random_uniform(seed, step, {2, 3, 40}, 1), in);
  EXPECT_DOUBLE_EQ(t[100], 0.359127402305603);  // (42, 7, 1, 100), as in the unpacked test above
  EXPECT_EQ(t[120 + 100], random_uniform(0xffffffffu, 5, 1, 100));
  Tensor64 u = eval(random_uniform(seed, shared, {2, 60}, 1), in);
  EXPECT_EQ(u[10], random_uniform(42, 7, 1, 10));
  EXPECT_EQ(u[60 + 9], random_uniform(0xffffffffu, 7, 1, 9));
  expect_error([&] { random_uniform(seed, step, {3, 40}, 1); }, {"seed", "i32[3]"});
  expect_error([&] { random_uniform(seed, step, {}, 1); }, {"seed"});
}

// ---- unary elementwise against std:: math

struct UnaryCase {
  Op op;
  double (*reference)(double);
  double lo, hi;
};

std::string unary_case_name(const ::testing::TestParamInfo<UnaryCase>& info) {
  return std::string(op_name(info.param.op));
}

class InterpreterUnary : public ::testing::TestWithParam<UnaryCase> {};

TEST_P(InterpreterUnary, MatchesStdMath) {
  const UnaryCase& c = GetParam();
  Graph g;
  Value x = input(g, "x", {4, 5}, DType::F64, InputRole::Data);
  Vec xs = random_values(20, 11, c.lo, c.hi);
  xs[0] = c.lo;  // include the edge of the domain
  Tensor64 y = eval(unary(c.op, x), {{"x", tensor({4, 5}, xs)}});
  for (size_t i = 0; i < xs.size(); ++i) {
    double want = c.reference(xs[i]);
    EXPECT_NEAR(y[i], want, 1e-14 * std::max(1.0, std::fabs(want))) << op_name(c.op) << "(" << xs[i] << ")";
  }
}

// Deliberately different formulas where the op has one (sigmoid via tanh, ...).
INSTANTIATE_TEST_SUITE_P(
    AllUnary, InterpreterUnary,
    ::testing::Values(
        UnaryCase{Op::Neg, [](double x) { return 0.0 - x; }, -3, 3},
        UnaryCase{Op::Exp, [](double x) { return std::exp(x); }, -3, 3},
        UnaryCase{Op::Log, [](double x) { return std::log(x); }, 0.01, 10},
        UnaryCase{Op::Sqrt, [](double x) { return std::pow(x, 0.5); }, 0, 10},
        UnaryCase{Op::Rsqrt, [](double x) { return std::pow(x, -0.5); }, 0.01, 10},
        UnaryCase{Op::Recip, [](double x) { return std::pow(x, -1.0); }, 0.1, 10},
        UnaryCase{Op::Sin, [](double x) { return std::sin(x); }, -4, 4},
        UnaryCase{Op::Cos, [](double x) { return std::cos(x); }, -4, 4},
        UnaryCase{Op::Abs, [](double x) { return std::hypot(x, 0.0); }, -3, 3},
        UnaryCase{Op::Sign, [](double x) { return x == 0 ? 0.0 : std::copysign(1.0, x); }, -3, 3},
        UnaryCase{Op::Relu, [](double x) { return std::fmax(x, 0.0); }, -3, 3},
        UnaryCase{Op::Silu, [](double x) { return x * 0.5 * (1 + std::tanh(x / 2)); }, -6, 6},
        UnaryCase{Op::Sigmoid, [](double x) { return 0.5 * (1 + std::tanh(x / 2)); }, -6, 6},
        UnaryCase{Op::Tanh, [](double x) { return (std::exp(2 * x) - 1) / (std::exp(2 * x) + 1); }, -3, 3},
        UnaryCase{Op::Square, [](double x) { return std::pow(x, 2.0); }, -3, 3}),
    unary_case_name);

TEST(InterpreterElementwise, EdgeCasesByHand) {
  Graph g;
  Value x = constant_data(g, {-2, 0, 3}, {3}, DType::F64);
  EXPECT_EQ(eval(sign(x)).data, (Vec{-1, 0, 1}));
  EXPECT_EQ(eval(relu(x)).data, (Vec{0, 0, 3}));
  EXPECT_EQ(eval(abs(x)).data, (Vec{2, 0, 3}));
  Value i = constant_data(g, {-5, 0, 7}, {3}, DType::I32);
  EXPECT_EQ(eval(neg(i)).data, (Vec{5, 0, -7}));
  EXPECT_EQ(eval(square(i)).data, (Vec{25, 0, 49}));
}

TEST(InterpreterElementwise, NotAndLogic) {
  Graph g;
  Value a = constant_data(g, {0, 0, 1, 1}, {4}, DType::Bool);
  Value b = constant_data(g, {0, 1, 0, 1}, {4}, DType::Bool);
  EXPECT_EQ(eval(logical_not(a)).data, (Vec{1, 1, 0, 0}));
  EXPECT_EQ(eval(logical_and(a, b)).data, (Vec{0, 0, 0, 1}));
  EXPECT_EQ(eval(logical_or(a, b)).data, (Vec{0, 1, 1, 1}));
}

TEST(InterpreterElementwise, CastTruncatesToI32AndTestsNonzeroForBool) {
  Graph g;
  Value x = constant_data(g, {2.7, -2.7, 0.0, 0.5}, {4}, DType::F64);
  EXPECT_EQ(eval(cast(x, DType::I32)).data, (Vec{2, -2, 0, 0}));
  EXPECT_EQ(eval(cast(x, DType::Bool)).data, (Vec{1, 1, 0, 1}));
  Value b = constant_data(g, {1, 0}, {2}, DType::Bool);
  EXPECT_EQ(eval(cast(b, DType::F32)).data, (Vec{1, 0}));
  // f64 -> f32 keeps the double (documented: the oracle never rounds).
  Value third = constant(g, 1.0 / 3.0, {1}, DType::F64);
  EXPECT_EQ(eval(cast(third, DType::F32))[0], 1.0 / 3.0);
  Value huge = constant(g, 3e9, {1}, DType::F64);
  expect_error<Error>([&] { eval(cast(huge, DType::I32)); }, {"cast(", "does not fit in i32"});
}

TEST(InterpreterElementwise, I32ArithmeticWrapsLikeTwosComplement) {
  Graph g;
  Value big = constant(g, 2147483647, {1}, DType::I32);
  EXPECT_EQ(eval(big + 1.0)[0], -2147483648.0);
  EXPECT_EQ(eval(big * 2.0)[0], -2.0);
}

// ---- binary and compare ops, hand-computed

TEST(InterpreterBinary, ArithmeticByHand) {
  Graph g;
  Value a = constant_data(g, {1, -2, 3, 4}, {4}, DType::F64);
  Value b = constant_data(g, {2, 5, -1, 0.5}, {4}, DType::F64);
  EXPECT_EQ(eval(a + b).data, (Vec{3, 3, 2, 4.5}));
  EXPECT_EQ(eval(a - b).data, (Vec{-1, -7, 4, 3.5}));
  EXPECT_EQ(eval(a * b).data, (Vec{2, -10, -3, 2}));
  EXPECT_EQ(eval(a / b).data, (Vec{0.5, -0.4, -3, 8}));
  EXPECT_EQ(eval(maximum(a, b)).data, (Vec{2, 5, 3, 4}));
  EXPECT_EQ(eval(minimum(a, b)).data, (Vec{1, -2, -1, 0.5}));
  Value base = constant_data(g, {2, 9, 4, 10}, {4}, DType::F64);
  Value expo = constant_data(g, {3, 0.5, -1, 0}, {4}, DType::F64);
  EXPECT_EQ(eval(pow(base, expo)).data, (Vec{8, 3, 0.25, 1}));
}

TEST(InterpreterBinary, CompareByHand) {
  Graph g;
  Value a = constant_data(g, {1, 2, 3}, {3}, DType::I32);
  Value b = constant_data(g, {2, 2, 2}, {3}, DType::I32);
  EXPECT_EQ(eval(lt(a, b)).data, (Vec{1, 0, 0}));
  EXPECT_EQ(eval(le(a, b)).data, (Vec{1, 1, 0}));
  EXPECT_EQ(eval(gt(a, b)).data, (Vec{0, 0, 1}));
  EXPECT_EQ(eval(ge(a, b)).data, (Vec{0, 1, 1}));
  EXPECT_EQ(eval(eq(a, b)).data, (Vec{0, 1, 0}));
  EXPECT_EQ(eval(ne(a, b)).data, (Vec{1, 0, 1}));
}

TEST(InterpreterBinary, BroadcastingByHand) {
  Graph g;
  Value col = constant_data(g, {10, 20}, {2, 1}, DType::F64);
  Value row = constant_data(g, {1, 2, 3}, {3}, DType::F64);
  Tensor64 s = eval(col + row);
  EXPECT_EQ(s.shape, (Shape{2, 3}));
  EXPECT_EQ(s.data, (Vec{11, 12, 13, 21, 22, 23}));
  EXPECT_EQ(eval(2.0 - row).data, (Vec{1, 0, -1}));
}

TEST(InterpreterBinary, WhereSelectsElementwise) {
  Graph g;
  Value c = constant_data(g, {1, 0, 0, 1}, {4}, DType::Bool);
  Value a = constant_data(g, {1, 2, 3, 4}, {4}, DType::F64);
  Value b = constant_data(g, {-1, -2, -3, -4}, {4}, DType::F64);
  EXPECT_EQ(eval(where(c, a, b)).data, (Vec{1, -2, -3, 4}));
  EXPECT_EQ(eval(where(c, a, constant(g, 0, {}, DType::F64))).data, (Vec{1, 0, 0, 4}));
}

// ---- reductions

TEST(InterpreterReduce, SumAndMaxByHand) {
  Graph g;
  Value x = constant_data(g, {1, 5, 3, -4, 2, 6}, {2, 3}, DType::F64);
  EXPECT_EQ(eval(sum(x, {0})).data, (Vec{-3, 7, 9}));
  EXPECT_EQ(eval(sum(x, {1})).data, (Vec{9, 4}));
  EXPECT_EQ(eval(sum_all(x)).data, (Vec{13}));
  EXPECT_EQ(eval(max(x, {0})).data, (Vec{1, 5, 6}));
  EXPECT_EQ(eval(max(x, {1}, true)).data, (Vec{5, 6}));
  EXPECT_EQ(eval(max(x, {1}, true)).shape, (Shape{2, 1}));
  EXPECT_EQ(eval(min(x, {1})).data, (Vec{1, -4}));
  EXPECT_EQ(eval(mean(x, {0, 1})).data, (Vec{13.0 / 6.0}));
}

TEST(InterpreterReduce, MiddleAxisOfRank3) {
  Graph g;
  Vec xs(24);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<double>(i);
  Value x = constant_data(g, xs, {2, 3, 4}, DType::F64);
  Tensor64 s = eval(sum(x, {1}));
  // out[i][k] = sum_j (12 i + 4 j + k) = 36 i + 12 + 3 k
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(s[static_cast<size_t>(i * 4 + k)], 36 * i + 12 + 3 * k);
}

// ---- movement

TEST(InterpreterMovement, BroadcastReshapePermute) {
  Graph g;
  Value x = constant_data(g, {1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64);
  EXPECT_EQ(eval(broadcast_to(constant_data(g, {7, 8}, {2, 1}, DType::F64), {2, 3})).data, (Vec{7, 7, 7, 8, 8, 8}));
  EXPECT_EQ(eval(reshape(x, {3, 2})).data, (Vec{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(eval(transpose(x)).data, (Vec{1, 4, 2, 5, 3, 6}));
  Vec xs(24);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<double>(i);
  Tensor64 p = eval(permute(constant_data(g, xs, {2, 3, 4}, DType::F64), {2, 0, 1}));
  ASSERT_EQ(p.shape, (Shape{4, 2, 3}));
  // p[k][i][j] = x[i][j][k] = 12 i + 4 j + k
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(p[static_cast<size_t>(k * 6 + i * 3 + j)], 12 * i + 4 * j + k);
}

TEST(InterpreterMovement, SlicePadConcat) {
  Graph g;
  Value x = constant_data(g, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5}, DType::F64);
  EXPECT_EQ(eval(slice(x, 1, 1, 5, 2)).data, (Vec{1, 3, 6, 8}));
  EXPECT_EQ(eval(slice(x, 0, 1, 2)).data, (Vec{5, 6, 7, 8, 9}));
  Value small = constant_data(g, {1, 2, 3, 4}, {2, 2}, DType::F64);
  Tensor64 padded = eval(pad(small, {1, 0}, {3, 4}, {1, 2}));
  EXPECT_EQ(padded.data, (Vec{0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0}));
  Value a = constant_data(g, {1, 2}, {2, 1}, DType::F64);
  EXPECT_EQ(eval(concat({a, small}, 1)).data, (Vec{1, 1, 2, 2, 3, 4}));
  EXPECT_EQ(eval(concat({small, small}, 0)).data, (Vec{1, 2, 3, 4, 1, 2, 3, 4}));
}

// ---- contraction and indexing

TEST(InterpreterMatMul, ByHandAndBatchedAgainstNaiveLoops) {
  Graph g;
  Value a = constant_data(g, {1, 2, 3, 4}, {2, 2}, DType::F64);
  Value b = constant_data(g, {5, 6, 7, 8}, {2, 2}, DType::F64);
  EXPECT_EQ(eval(matmul(a, b)).data, (Vec{19, 22, 43, 50}));

  Vec av = random_values(2 * 3 * 4, 1), bv = random_values(4 * 5, 2);
  Value ba = constant_data(g, av, {2, 3, 4}, DType::F64);
  Value bb = constant_data(g, bv, {4, 5}, DType::F64);  // batch dims broadcast
  Tensor64 c = eval(matmul(ba, bb));
  ASSERT_EQ(c.shape, (Shape{2, 3, 5}));
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double want = 0;
        for (int k = 0; k < 4; ++k) want += av[static_cast<size_t>(n * 12 + i * 4 + k)] * bv[static_cast<size_t>(k * 5 + j)];
        EXPECT_NEAR(c[static_cast<size_t>(n * 15 + i * 5 + j)], want, 1e-14);
      }
}

TEST(InterpreterIndex, GatherRowsAndOutOfRangeIndex) {
  Graph g;
  Value table = constant_data(g, {0, 1, 10, 11, 20, 21}, {3, 2}, DType::F64);
  Value idx = constant_data(g, {2, 0, 2}, {3}, DType::I32);
  Tensor64 r = eval(gather(table, idx));
  EXPECT_EQ(r.shape, (Shape{3, 2}));
  EXPECT_EQ(r.data, (Vec{20, 21, 0, 1, 20, 21}));
  Value bad = constant_data(g, {1, 3}, {2}, DType::I32);
  Value gathered = gather(table, bad);
  expect_error<Error>([&] { eval(gathered); },
                      {"node %" + std::to_string(gathered.id()), "gather(", "index 3 at position 1", "[0, 3)"});
}

TEST(InterpreterIndex, ScatterAddAccumulatesDuplicates) {
  Graph g;
  Value idx = constant_data(g, {1, 0, 1}, {3}, DType::I32);
  Value upd = constant_data(g, {1, 2, 3, 4, 5, 6}, {3, 2}, DType::F64);
  Tensor64 r = eval(scatter_add(idx, upd, 3));
  EXPECT_EQ(r.shape, (Shape{3, 2}));
  EXPECT_EQ(r.data, (Vec{3, 4, 6, 8, 0, 0}));
  Value bad = constant_data(g, {-1}, {1}, DType::I32);
  expect_error<Error>([&] { eval(scatter_add(bad, constant(g, 1, {1}, DType::F64), 3)); },
                      {"scatter_add(", "index -1 at position 0"});
}

// ---- composites

TEST(InterpreterComposites, ArgmaxTakesFirstAmongTies) {
  Graph g;
  Value x = constant_data(g, {1, 3, 3, 0, 7, 2, 7, 7}, {2, 4}, DType::F64);
  EXPECT_EQ(eval(argmax(x, 1)).data, (Vec{1, 0}));
  EXPECT_EQ(eval(argmax(x, 0)).data, (Vec{1, 0, 1, 1}));
}

TEST(InterpreterComposites, OneHot) {
  Graph g;
  Value labels = constant_data(g, {2, 0}, {2}, DType::I32);
  Tensor64 t = eval(one_hot(labels, 3));
  EXPECT_EQ(t.shape, (Shape{2, 3}));
  EXPECT_EQ(t.data, (Vec{0, 0, 1, 1, 0, 0}));
}

TEST(InterpreterComposites, SoftmaxAndLogSoftmaxAreStableAndCorrect) {
  Graph g;
  Vec xs{1, 2, 3, 1000, 1001, 1002};  // the second row overflows a naive exp
  Value x = constant_data(g, xs, {2, 3}, DType::F64);
  Tensor64 p = eval(softmax(x, -1));
  Tensor64 lp = eval(log_softmax(x, 1));
  double z = 1 + std::exp(1.0) + std::exp(2.0);
  Vec want{1 / z, std::exp(1.0) / z, std::exp(2.0) / z};
  for (size_t row = 0; row < 2; ++row)
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(p[row * 3 + j], want[j], 1e-15);
      EXPECT_NEAR(lp[row * 3 + j], std::log(want[j]), 1e-14);
    }
}

}  // namespace
}  // namespace grokjit::ir
