// Reverse-mode gradients against central finite differences in float64, for
// every differentiable op (several shapes, broadcasting included) and for the
// composites the models use; plus the documented tie and non-float rules.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ir/autodiff.h"
#include "ir/verify.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::eval;
using testing::expect_error;
using testing::random_values;
using testing::tensor;
using Vec = std::vector<double>;
using Generator = std::function<Vec(int64_t n, uint64_t seed)>;

Generator uniform(double lo, double hi) {
  return [=](int64_t n, uint64_t seed) { return random_values(n, seed, lo, hi); };
}

// |x| in [lo, hi] with a random sign: keeps clear of kinks at 0 (abs, relu).
Generator away_from_zero(double lo, double hi) {
  return [=](int64_t n, uint64_t seed) {
    Vec v = random_values(n, seed, lo, hi);
    Vec signs = random_values(n, seed + 1000);
    for (size_t i = 0; i < v.size(); ++i) v[i] = signs[i] < 0 ? -v[i] : v[i];
    return v;
  };
}

// Values k/4 + offset, k in [-6, 6]: two generators with offsets 0.05 and
// 0.17 never come closer than 0.08, so max/min never meet a tie.
Generator quarter_grid(double offset) {
  return [=](int64_t n, uint64_t seed) {
    Vec v = random_values(n, seed, -6.5, 6.5);
    for (double& x : v) x = std::round(x) / 4 + offset;
    return v;
  };
}

Generator indices(int64_t rows) {
  return [=](int64_t n, uint64_t seed) {
    Vec v = random_values(n, seed, 0, static_cast<double>(rows));
    for (double& x : v) x = std::floor(x);
    return v;
  };
}

struct GradInput {
  std::string name;
  Shape shape;
  Generator values;
  DType dtype = DType::F64;
  bool differentiable = true;  // false: i32 indices and other data
};

using Build = std::function<Value(const std::vector<Value>&)>;

struct GradCase {
  std::string name;
  std::vector<GradInput> inputs;
  Build build;
};

void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

constexpr double kStep = 1e-5;
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-9;

// loss = sum(build(inputs) * fixed random weights); compares grad() with
// central differences of the same loss for every element of every
// differentiable input.
void check_gradients(const GradCase& c, uint64_t seed = 1) {
  Graph forward;
  std::vector<Value> ins;
  TensorMap values;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const GradInput& in = c.inputs[i];
    ins.push_back(input(forward, in.name, in.shape, in.dtype, in.differentiable ? InputRole::Param : InputRole::Data));
    values[in.name] = tensor(in.shape, in.values(num_elements(in.shape), seed * 100 + i));
  }
  Value y = c.build(ins);
  ASSERT_TRUE(is_float(y.dtype()));
  Value weights = constant_data(forward, random_values(y.numel(), seed + 99, 0.5, 1.5), y.shape(), y.dtype());
  output(sum_all(y * weights), "loss");

  Graph full = forward;
  std::vector<Value> wrt;
  for (size_t i = 0; i < ins.size(); ++i)
    if (c.inputs[i].differentiable) wrt.push_back(Value(&full, ins[i].id()));
  std::vector<Value> grads = grad(Value(&full, full.outputs()[0].node), wrt);
  for (size_t k = 0; k < grads.size(); ++k) output(grads[k], "grad_" + std::to_string(k));
  ASSERT_NO_THROW(verify(full));

  InterpretResult analytic = interpret(full, values);
  auto loss_at = [&](const TensorMap& at) { return interpret(forward, at).outputs.at("loss")[0]; };
  size_t k = 0;
  for (const GradInput& in : c.inputs) {
    if (!in.differentiable) continue;
    const Tensor64& g = analytic.outputs.at("grad_" + std::to_string(k++));
    ASSERT_EQ(g.shape, in.shape) << in.name;
    for (size_t j = 0; j < g.data.size(); ++j) {
      TensorMap plus = values, minus = values;
      plus[in.name][j] += kStep;
      minus[in.name][j] -= kStep;
      double fd = (loss_at(plus) - loss_at(minus)) / (2 * kStep);
      EXPECT_NEAR(g[j], fd, kRelTol * std::max(std::fabs(g[j]), std::fabs(fd)) + kAbsTol)
          << c.name << ": d loss / d " << in.name << "[" << j << "]";
    }
  }
}

// ---- the cases

GradInput x_in(Shape s, Generator gen = uniform(-2, 2)) { return {"x", std::move(s), std::move(gen)}; }

void add_unary_cases(std::vector<GradCase>& cases) {
  struct U { Op op; Generator gen; };
  std::vector<U> ops = {
      {Op::Neg, uniform(-2, 2)},   {Op::Exp, uniform(-2, 2)},    {Op::Log, uniform(0.5, 2)},
      {Op::Sqrt, uniform(0.5, 2)}, {Op::Rsqrt, uniform(0.5, 2)}, {Op::Recip, away_from_zero(0.5, 2)},
      {Op::Sin, uniform(-3, 3)},   {Op::Cos, uniform(-3, 3)},    {Op::Abs, away_from_zero(0.1, 2)},
      {Op::Sign, away_from_zero(0.1, 2)}, {Op::Relu, away_from_zero(0.1, 2)}, {Op::Silu, uniform(-3, 3)},
      {Op::Sigmoid, uniform(-3, 3)}, {Op::Tanh, uniform(-2, 2)}, {Op::Square, uniform(-2, 2)},
  };
  for (const U& u : ops)
    for (Shape s : {Shape{7}, Shape{2, 3, 2}})
      cases.push_back({std::string(op_name(u.op)) + "_rank" + std::to_string(s.size()), {x_in(s, u.gen)},
                       [op = u.op](const std::vector<Value>& v) { return unary(op, v[0]); }});
  cases.push_back({"cast_f32_to_f64", {{"x", {2, 3}, uniform(-2, 2), DType::F32}},
                   [](const std::vector<Value>& v) { return square(cast(v[0], DType::F64)); }});
  cases.push_back({"cast_f64_to_f32", {x_in({4})}, [](const std::vector<Value>& v) { return exp(cast(v[0], DType::F32)); }});
}

void add_binary_cases(std::vector<GradCase>& cases) {
  struct B { Op op; Generator a, b; };
  std::vector<B> ops = {
      {Op::Add, uniform(-2, 2), uniform(-2, 2)},
      {Op::Sub, uniform(-2, 2), uniform(-2, 2)},
      {Op::Mul, uniform(-2, 2), uniform(-2, 2)},
      {Op::Div, uniform(-2, 2), away_from_zero(0.5, 2)},
      {Op::Max, quarter_grid(0.05), quarter_grid(0.17)},
      {Op::Min, quarter_grid(0.05), quarter_grid(0.17)},
      {Op::Pow, uniform(0.5, 2), uniform(-2, 2)},
  };
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{6}, {6}}, {{2, 3}, {3}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 2}}};
  for (const B& b : ops)
    for (size_t k = 0; k < shapes.size(); ++k)
      cases.push_back({std::string(op_name(b.op)) + "_shapes" + std::to_string(k),
                       {{"a", shapes[k].first, b.a}, {"b", shapes[k].second, b.b}},
                       [op = b.op](const std::vector<Value>& v) { return binary(op, v[0], v[1]); }});
  cases.push_back({"where_broadcast",
                   {{"a", {3}, uniform(-2, 2)}, {"b", {2, 1}, uniform(-2, 2)}},
                   [](const std::vector<Value>& v) {
                     Value cond = constant_data(*v[0].graph(), {1, 0, 0, 1, 1, 0}, {2, 3}, DType::Bool);
                     return where(cond, v[0], v[1]);
                   }});
}

void add_reduce_and_movement_cases(std::vector<GradCase>& cases) {
  using V = const std::vector<Value>&;
  cases.push_back({"reduce_sum_middle", {x_in({2, 3, 4})}, [](V v) { return sum(v[0], {1}); }});
  cases.push_back({"reduce_sum_outer_axes_keepdims", {x_in({2, 3, 4})}, [](V v) { return sum(v[0], {0, 2}, true); }});
  cases.push_back({"reduce_sum_all", {x_in({3, 2})}, [](V v) { return sum_all(square(v[0])); }});
  // Continuous random values: no ties, and the top two differ by far more than the step.
  cases.push_back({"reduce_max_last", {x_in({3, 4})}, [](V v) { return max(v[0], {1}); }});
  cases.push_back({"reduce_max_outer_axes", {x_in({2, 3, 4})}, [](V v) { return max(v[0], {0, 2}, true); }});
  cases.push_back({"broadcast", {x_in({3, 1})}, [](V v) { return square(broadcast_to(v[0], {2, 3, 4})); }});
  cases.push_back({"reshape", {x_in({2, 6})}, [](V v) { return square(reshape(v[0], {3, 4})); }});
  cases.push_back({"permute", {x_in({2, 3, 4})}, [](V v) { return square(permute(v[0], {2, 0, 1})); }});
  cases.push_back({"slice_strided", {x_in({4, 5})},
                   [](V v) { return square(slice(v[0], {1, 0}, {2, 3}, {2, 2})); }});
  cases.push_back({"pad_strided", {x_in({2, 3})},
                   [](V v) { return exp(pad(v[0], {1, 2}, {5, 7}, {2, 2})); }});
  cases.push_back({"concat", {{"a", {2, 1}, uniform(-2, 2)}, {"b", {2, 3}, uniform(-2, 2)}, {"c", {2, 2}, uniform(-2, 2)}},
                   [](V v) { return square(concat({v[0], v[1], v[2]}, 1)); }});
}

void add_contract_and_index_cases(std::vector<GradCase>& cases) {
  using V = const std::vector<Value>&;
  std::vector<std::pair<Shape, Shape>> shapes = {{{3, 4}, {4, 2}}, {{2, 3, 4}, {4, 5}}, {{2, 1, 3, 4}, {3, 4, 2}}};
  for (size_t k = 0; k < shapes.size(); ++k)
    cases.push_back({"mat_mul_shapes" + std::to_string(k),
                     {{"a", shapes[k].first, uniform(-1, 1)}, {"b", shapes[k].second, uniform(-1, 1)}},
                     [](V v) { return matmul(v[0], v[1]); }});
  cases.push_back({"gather_repeated_rows",
                   {{"table", {6, 3}, uniform(-2, 2)}, {"idx", {2, 4}, indices(6), DType::I32, false}},
                   [](V v) { return square(gather(v[0], v[1])); }});
  cases.push_back({"scatter_add_duplicates",
                   {{"idx", {5}, indices(4), DType::I32, false}, {"upd", {5, 3}, uniform(-2, 2)}},
                   [](V v) { return square(scatter_add(v[0], v[1], 4)); }});
}

// Composites the models and losses use (REFERENCE.md sections 2 and 5).
Value rms_norm(Value x, Value gain) { return x * rsqrt(mean(square(x), {-1}, true) + 1e-5) * gain; }

// RoPE on the last axis of x [T, d]: rotate pairs (x_2i, x_2i+1) by pos * base^(-2i/d).
Value rope(Value x, double base) {
  Graph& g = *x.graph();
  int64_t t = x.dim(0), d = x.dim(1);
  Vec cos_v, sin_v;
  for (int64_t pos = 0; pos < t; ++pos)
    for (int64_t i = 0; i < d / 2; ++i) {
      double angle = static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(d));
      cos_v.push_back(std::cos(angle));
      sin_v.push_back(std::sin(angle));
    }
  Value c = constant_data(g, cos_v, {t, d / 2}, x.dtype()), s = constant_data(g, sin_v, {t, d / 2}, x.dtype());
  Value even = slice(x, 1, 0, d, 2), odd = slice(x, 1, 1, d, 2);
  Value re = reshape(even * c - odd * s, {t, d / 2, 1}), ro = reshape(even * s + odd * c, {t, d / 2, 1});
  return reshape(concat({re, ro}, 2), {t, d});
}

Value causal_attention(Value x, Value wq, Value wk, Value wv) {
  Graph& g = *x.graph();
  int64_t t = x.dim(0), d = x.dim(1);
  Value q = rope(matmul(x, wq), 1e6), k = rope(matmul(x, wk), 1e6), v = matmul(x, wv);
  Value scores = matmul(q, transpose(k)) * (1.0 / std::sqrt(static_cast<double>(d)));
  Value causal = ge(iota(g, {t, t}, 0), iota(g, {t, t}, 1));
  Value masked = where(causal, scores, constant(g, -1e9, {}, x.dtype()));
  return matmul(softmax(masked, -1), v);
}

// -log p_y via gather on the flattened log-probabilities.
Value cross_entropy_gather(Value logits, Value labels) {
  Graph& g = *logits.graph();
  int64_t b = logits.dim(0), c = logits.dim(1);
  Value flat = reshape(log_softmax(logits, -1), {b * c, 1});
  Value rows = iota(g, {b}, 0) * static_cast<double>(c) + labels;
  return -mean(gather(flat, rows), {0, 1});
}

Value stablemax_loss(Value logits, Value labels) {
  Value s = where(ge(logits, scalar_like(logits, 0)), logits + 1.0, 1.0 / (1.0 - logits));
  Value p = s / sum(s, {-1}, true);
  return -sum(log(p) * one_hot(labels, logits.dim(-1), logits.dtype()), {-1});
}

// Sparsemax loss without sorting: j is in the support S iff
// 1 + k_j z_j > sum_{l: z_l >= z_j} z_l with k_j = #{l: z_l >= z_j}.
struct Sparsemax {
  Value p, loss;
};
Sparsemax sparsemax(Value z, Value labels) {
  int64_t n = z.dim(-1);
  Shape row = z.shape(), col = z.shape();
  row.insert(row.end() - 1, 1);  // [B, 1, n]: z_l
  col.push_back(1);              // [B, n, 1]: z_j
  Value zl = reshape(z, row), zj = reshape(z, col);
  Value above = cast(ge(zl, zj), z.dtype());  // [B, j, l]
  Value k = sum(above, {-1}), c = sum(above * zl, {-1});
  Value in_support = cast(gt(1.0 + k * z, c), z.dtype());
  Value tau = (sum(in_support * z, {-1}, true) - 1.0) / sum(in_support, {-1}, true);
  Value p = relu(z - tau);
  Value zy = sum(z * one_hot(labels, n, z.dtype()), {-1});
  Value loss = -zy + 0.5 * sum(in_support * (square(z) - square(tau)), {-1}) + 0.5;
  return {p, loss};
}

void add_composite_cases(std::vector<GradCase>& cases) {
  using V = const std::vector<Value>&;
  cases.push_back({"softmax", {x_in({3, 5})}, [](V v) { return softmax(v[0], -1); }});
  cases.push_back({"log_softmax", {x_in({3, 5})}, [](V v) { return log_softmax(v[0], 0); }});
  cases.push_back({"mean_and_min", {x_in({3, 4})}, [](V v) { return mean(v[0], {1}) + min(v[0], {1}); }});
  cases.push_back({"rms_norm", {x_in({3, 8}), {"gain", {8}, uniform(0.5, 1.5)}}, [](V v) { return rms_norm(v[0], v[1]); }});
  cases.push_back({"causal_attention_rope",
                   {x_in({4, 4}), {"wq", {4, 4}, uniform(-1, 1)}, {"wk", {4, 4}, uniform(-1, 1)}, {"wv", {4, 4}, uniform(-1, 1)}},
                   [](V v) { return causal_attention(v[0], v[1], v[2], v[3]); }});
  cases.push_back({"cross_entropy_gather", {x_in({4, 5}), {"y", {4}, indices(5), DType::I32, false}},
                   [](V v) { return cross_entropy_gather(v[0], v[1]); }});
  cases.push_back({"cross_entropy_one_hot", {x_in({4, 5}), {"y", {4}, indices(5), DType::I32, false}},
                   [](V v) { return -sum(log_softmax(v[0], -1) * one_hot(v[1], 5, DType::F64), {-1}); }});
  cases.push_back({"stablemax_loss", {x_in({4, 5}, away_from_zero(0.1, 3)), {"y", {4}, indices(5), DType::I32, false}},
                   [](V v) { return stablemax_loss(v[0], v[1]); }});
  cases.push_back({"sparsemax_loss", {x_in({3, 6}), {"y", {3}, indices(6), DType::I32, false}},
                   [](V v) { return sparsemax(v[0], v[1]).loss; }});
}

std::vector<GradCase> all_cases() {
  std::vector<GradCase> cases;
  add_unary_cases(cases);
  add_binary_cases(cases);
  add_reduce_and_movement_cases(cases);
  add_contract_and_index_cases(cases);
  add_composite_cases(cases);
  return cases;
}

class GradCheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradCheck, MatchesFiniteDifferences) { check_gradients(GetParam()); }

INSTANTIATE_TEST_SUITE_P(AllOps, GradCheck, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return info.param.name; });

// ---- documented rules, checked by hand

Vec grad_values(Graph& g, Value loss, Value wrt, const TensorMap& in = {}) {
  std::vector<Value> gs = grad(loss, std::span<const Value>(&wrt, 1));
  return eval(gs[0], in).data;
}

TEST(Autodiff, FanOutGradientsAdd) {
  Graph g;
  Value x = input(g, "x", {3}, DType::F64, InputRole::Param);
  Value loss = sum_all(x * x + x);
  EXPECT_EQ(grad_values(g, loss, x, {{"x", tensor({3}, {1, -2, 0.5})}}), (Vec{3, -3, 2}));  // 2x + 1
}

TEST(Autodiff, ReduceMaxSplitsTiesEqually) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F64, InputRole::Param);
  Value loss = sum_all(max(x, {1}));
  EXPECT_EQ(grad_values(g, loss, x, {{"x", tensor({2, 3}, {1, 3, 3, 5, 5, 5})}}),
            (Vec{0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}));
}

TEST(Autodiff, BinaryMaxMinTiesGoToFirstOperand) {
  Graph g;
  Value a = input(g, "a", {2}, DType::F64, InputRole::Param);
  Value b = input(g, "b", {2}, DType::F64, InputRole::Param);
  TensorMap in{{"a", tensor({2}, {1, 2})}, {"b", tensor({2}, {1, 5})}};
  Value hi = sum_all(maximum(a, b)), lo = sum_all(minimum(a, b));
  EXPECT_EQ(grad_values(g, hi, a, in), (Vec{1, 0}));
  EXPECT_EQ(grad_values(g, hi, b, in), (Vec{0, 1}));
  EXPECT_EQ(grad_values(g, lo, a, in), (Vec{1, 1}));
  EXPECT_EQ(grad_values(g, lo, b, in), (Vec{0, 0}));
}

TEST(Autodiff, KinksFollowTheDocumentedConvention) {
  Graph g;
  Value x = input(g, "x", {3}, DType::F64, InputRole::Param);
  TensorMap in{{"x", tensor({3}, {-1, 0, 2})}};
  EXPECT_EQ(grad_values(g, sum_all(relu(x)), x, in), (Vec{0, 0, 1}));
  EXPECT_EQ(grad_values(g, sum_all(abs(x)), x, in), (Vec{-1, 0, 1}));
}

TEST(Autodiff, PowExponentGradientIsZeroForNonPositiveBase) {
  Graph g;
  Value b = input(g, "b", {2}, DType::F64, InputRole::Param);
  // d/db a^b = a^b log(a) for a > 0; 0 where a <= 0 (documented).
  Value q = sum_all(pow(constant_data(g, {-2, 3}, {2}, DType::F64), b));
  Vec gq = grad_values(g, q, b, {{"b", tensor({2}, {2, 2})}});
  EXPECT_EQ(gq[0], 0.0);
  EXPECT_NEAR(gq[1], 9 * std::log(3.0), 1e-14);
}

TEST(Autodiff, NonFloatPathsCarryNoGradient) {
  Graph g;
  Value x = input(g, "x", {4}, DType::F64, InputRole::Param);
  // argmax, compare and casts to i32 cut the path: only the direct x term counts.
  Value picked = cast(one_hot(argmax(reshape(x, {1, 4}), 1), 4, DType::F64), DType::F64);
  Value rounded = cast(cast(x, DType::I32), DType::F64);
  Value loss = sum_all(reshape(picked, {4}) * 3.0 + rounded + x * 2.0);
  EXPECT_EQ(grad_values(g, loss, x, {{"x", tensor({4}, {0.5, 2.5, 1, -1})}}), (Vec{2, 2, 2, 2}));
}

TEST(Autodiff, UnrelatedWrtGetsZerosAndVjpTakesASeed) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F64, InputRole::Param);
  Value unused = input(g, "unused", {3}, DType::F64, InputRole::Param);
  Value y = square(x);
  std::vector<Value> wrt{x, unused};
  Value seed = constant_data(g, {10, 100}, {2}, DType::F64);
  std::vector<Value> gs = vjp(y, seed, wrt);
  TensorMap in{{"x", tensor({2}, {3, 4})}, {"unused", tensor({3}, {0, 0, 0})}};
  EXPECT_EQ(eval(gs[0], in).data, (Vec{60, 800}));
  EXPECT_EQ(eval(gs[1], in).data, (Vec{0, 0, 0}));
}

TEST(Autodiff, MisuseIsReported) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F64, InputRole::Param);
  Value i = input(g, "i", {2}, DType::I32, InputRole::Data);
  std::vector<Value> wrt{x};
  expect_error([&] { grad(square(x), wrt); }, {"grad", "f64[2]", "not a scalar"});
  std::vector<Value> int_wrt{i};
  expect_error([&] { grad(sum_all(x), int_wrt); }, {"wrt", "i32[2]", "not float"});
}

TEST(Autodiff, SparsemaxGradientIsPMinusOneHot) {
  Graph g;
  Value z = input(g, "z", {3, 6}, DType::F64, InputRole::Param);
  Value y = input(g, "y", {3}, DType::I32, InputRole::Data);
  Sparsemax s = sparsemax(z, y);
  std::vector<Value> wrt{z};
  Value dz = grad(sum_all(s.loss), wrt)[0];
  Value expected = s.p - one_hot(y, 6, DType::F64);
  TensorMap in{{"z", tensor({3, 6}, random_values(18, 5, -2, 2))}, {"y", tensor({3}, {0, 5, 2})}};
  Tensor64 got = eval(dz, in), want = eval(expected, in), p = eval(s.p, in);
  for (size_t i = 0; i < got.data.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  for (size_t row = 0; row < 3; ++row) {  // p is a distribution
    double total = 0;
    for (size_t j = 0; j < 6; ++j) total += p[row * 6 + j];
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

}  // namespace
}  // namespace grokjit::ir
