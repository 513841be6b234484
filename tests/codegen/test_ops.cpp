// Every IR op through the CPU backend against the float64 interpreter, on
// random inputs, with fusion on and off. Integer, bool and random results
// must match bit for bit; floats within a tolerance (the backend computes in
// the node's precision, the interpreter in float64).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "ir/builder.h"
#include "tests/codegen/harness.h"

namespace grokjit {
namespace {

using namespace ir;
using testing::InputRange;
using testing::Tolerance;

Tolerance tol_for(DType t, double rtol32 = 3e-6) {
  if (t == DType::F64) return {1e-12, 1e-14};
  if (t == DType::F32) return {rtol32, 1e-6};
  return {0, 0};
}

// Builds a graph with `build`, runs it fused and unfused, compares.
void check(const std::function<void(Graph&)>& build, std::map<std::string, InputRange> ranges, Tolerance tol,
           InputRange fallback = {}, uint32_t seed = 7) {
  Graph g;
  build(g);
  auto inputs = testing::random_inputs(g, seed, ranges, fallback);
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    testing::check_against_interpreter(g, inputs, tol, fusion);
  }
}

void check_values(const std::function<void(Graph&)>& build, const TensorMap& inputs, Tolerance tol) {
  Graph g;
  build(g);
  testing::check_against_interpreter(g, inputs, tol, true);
}

const Op kFloatUnary[] = {Op::Neg, Op::Exp,  Op::Log,     Op::Sqrt, Op::Rsqrt,  Op::Recip, Op::Sin, Op::Cos,
                          Op::Abs, Op::Sign, Op::Relu,    Op::Silu, Op::Sigmoid, Op::Tanh, Op::Square};

InputRange unary_range(Op op) {
  switch (op) {
    case Op::Log: case Op::Sqrt: case Op::Rsqrt: return {0.01, 50.0};
    case Op::Recip: return {0.25, 4.0};
    case Op::Exp: return {-80.0, 80.0};
    case Op::Sin: case Op::Cos: return {-40.0, 40.0};
    case Op::Tanh: case Op::Sigmoid: case Op::Silu: return {-12.0, 12.0};
    default: return {-3.0, 3.0};
  }
}

TEST(Ops, FloatUnary) {
  for (DType t : {DType::F32, DType::F64})
    for (Op op : kFloatUnary) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(t)));
      check([&](Graph& g) { output(unary(op, input(g, "x", {7, 33}, t, InputRole::Data)), "y"); }, {{"x", unary_range(op)}},
            tol_for(t, op == Op::Sin || op == Op::Cos ? 1e-6 : 4e-6));
    }
}

TEST(Ops, FloatUnarySpecialValues) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e-40, 100.0, -100.0, 88.0, -88.0, 89.0, -104.0,
                           700.0, -740.0, 1e6, -1e6, inf, -inf, nan, 0.5, 2.0, 20.0, -20.0, 1e-7, 3.0e38, 1.5e-45};
  for (DType t : {DType::F32, DType::F64})
    for (Op op : kFloatUnary) {
      if (op == Op::Sin || op == Op::Cos) continue;  // huge arguments: no exact reduction (documented)
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(t)));
      std::vector<double> vals = v;
      if (t == DType::F32)
        for (double& x : vals) x = static_cast<float>(x);
      Tolerance tol = tol_for(t, 4e-6);
      // Kernels flush subnormal results, intermediate ones too (FTZ):
      // silu(-88) = -88 sigmoid(-88) comes out 0, not -5.3e-37.
      tol.atol = t == DType::F32 ? 1e-36 : 1e-300;
      if (t == DType::F32) {  // the interpreter never rounds: f32 overflow/underflow differ
        TensorMap in{{"x", Tensor64({static_cast<int64_t>(vals.size())}, vals)}};
        Graph g;
        Value y = unary(op, input(g, "x", {static_cast<int64_t>(vals.size())}, t, InputRole::Data));
        output(y, "y");
        auto want = interpret(g, in).outputs.at("y");
        for (double& w : want.data)
          if (!std::isnan(w)) w = static_cast<float>(w);
        auto got = testing::run_on(testing::cpu_device(), g, in).outputs.at("y");
        testing::expect_close(got, want, "y", tol);
        continue;
      }
      check_values([&](Graph& g) { output(unary(op, input(g, "x", {static_cast<int64_t>(vals.size())}, t, InputRole::Data)), "y"); },
                   {{"x", Tensor64({static_cast<int64_t>(vals.size())}, vals)}}, tol);
    }
}

TEST(Ops, IntUnary) {
  for (Op op : {Op::Neg, Op::Abs, Op::Sign, Op::Relu, Op::Square}) {
    SCOPED_TRACE(op_name(op));
    check([&](Graph& g) { output(unary(op, input(g, "x", {5, 17}, DType::I32, InputRole::Data)), "y"); }, {{"x", {-60000, 60000}}},
          {0, 0});
  }
}

TEST(Ops, Not) {
  check([&](Graph& g) { output(logical_not(input(g, "x", {9, 10}, DType::Bool, InputRole::Data)), "y"); }, {}, {0, 0});
}

TEST(Ops, Cast) {
  for (DType from : {DType::F32, DType::F64, DType::I32, DType::Bool})
    for (DType to : {DType::F32, DType::F64, DType::I32, DType::Bool}) {
      if (from == to) continue;
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + std::string(dtype_name(to)));
      check([&](Graph& g) { output(cast(input(g, "x", {6, 11}, from, InputRole::Data), to), "y"); }, {{"x", {-1000, 1000}}},
            to == DType::F32 ? Tolerance{1e-7, 0} : Tolerance{0, 0});
    }
}

TEST(Ops, FloatBinary) {
  for (DType t : {DType::F32, DType::F64})
    for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Max, Op::Min, Op::Pow}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(t)));
      std::map<std::string, InputRange> r;
      if (op == Op::Pow) r = {{"a", {0.1, 5.0}}, {"b", {-3.0, 3.0}}};
      if (op == Op::Div) r = {{"a", {-3, 3}}, {"b", {0.5, 3.0}}};
      check([&](Graph& g) {
        Value a = input(g, "a", {8, 24}, t, InputRole::Data);
        Value b = input(g, "b", {8, 24}, t, InputRole::Data);
        output(binary(op, a, b), "y");
      }, r, tol_for(t, op == Op::Pow ? 1e-6 : 1e-7));
    }
}

TEST(Ops, PowNegativeBaseAndZero) {
  std::vector<double> a = {-2.0, -2.0, -3.0, 0.0, 0.0, 0.0, -0.5, 4.0, 1.0, -1.0};
  std::vector<double> b = {3.0, 2.0, 0.5, 2.0, -1.0, 0.0, -3.0, 0.5, 1e9, 7.0};
  for (DType t : {DType::F32, DType::F64})
    check_values([&](Graph& g) {
      output(pow(input(g, "a", {10}, t, InputRole::Data), input(g, "b", {10}, t, InputRole::Data)), "y");
    }, {{"a", Tensor64({10}, a)}, {"b", Tensor64({10}, b)}}, tol_for(t, 1e-6));
}

TEST(Ops, IntBinaryWraps) {
  for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Max, Op::Min}) {
    SCOPED_TRACE(op_name(op));
    // The interpreter multiplies in float64: keep products exact (< 2^53).
    InputRange r = op == Op::Mul ? InputRange{-5e7, 5e7} : InputRange{-2147483648.0, 2147483647.0};
    check([&](Graph& g) {
      output(binary(op, input(g, "a", {4, 19}, DType::I32, InputRole::Data), input(g, "b", {4, 19}, DType::I32, InputRole::Data)), "y");
    }, {}, {0, 0}, r);
  }
}

TEST(Ops, Logic) {
  for (Op op : {Op::And, Op::Or, Op::Eq, Op::Ne}) {
    SCOPED_TRACE(op_name(op));
    check([&](Graph& g) {
      output(binary(op, input(g, "a", {3, 21}, DType::Bool, InputRole::Data), input(g, "b", {3, 21}, DType::Bool, InputRole::Data)), "y");
    }, {}, {0, 0});
  }
}

TEST(Ops, Compare) {
  for (DType t : {DType::F32, DType::F64, DType::I32})
    for (Op op : {Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(t)));
      // Few distinct values, so equality happens.
      check([&](Graph& g) {
        Value a = input(g, "a", {5, 20}, DType::I32, InputRole::Data), b = input(g, "b", {5, 20}, DType::I32, InputRole::Data);
        output(binary(op, cast(a, t), cast(b, t)), "y");
      }, {}, {0, 0}, {-3, 3});
    }
}

TEST(Ops, Where) {
  for (DType t : {DType::F32, DType::I32}) {
    check([&](Graph& g) {
      Value c = input(g, "c", {6, 13}, DType::Bool, InputRole::Data);
      output(where(c, input(g, "a", {6, 13}, t, InputRole::Data), input(g, "b", {6, 13}, t, InputRole::Data)), "y");
    }, {}, {0, 0}, {-100, 100});
  }
}

TEST(Ops, LeavesAndRandom) {
  check([&](Graph& g) {
    Value x = input(g, "x", {3, 4}, DType::F32, InputRole::Data);
    output(x, "same");  // an input returned as is (a copy kernel)
    output(x + constant(g, 2.5, {3, 4}), "fill");
    output(x * constant_data(g, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4}), "dense");
    output(iota(g, {3, 4, 5}, 1, DType::I32), "iota_i32");
    output(iota(g, {3, 4, 5}, 2, DType::F32), "iota_f32");
  }, {}, {1e-7, 0});
  for (DType t : {DType::F32, DType::F64})
    check([&](Graph& g) {
      Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
      Value counter = input(g, "counter", {}, DType::I32, InputRole::Scalar);
      output(random_uniform(seed, counter, {7, 129}, 3, t), "u");
      output(random_uniform(seed, counter, {7, 129}, 4, t), "v");
    }, {}, {0, 0}, {-2147483648.0, 2147483647.0});
}

TEST(Ops, Reductions) {
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
  };
  std::vector<Case> cases = {{{6, 37}, {1}}, {{6, 37}, {0}}, {{4, 5, 6}, {1}}, {{4, 5, 6}, {0, 2}}, {{4, 5, 6}, {1, 2}},
                             {{4, 5, 6}, {0, 1, 2}}, {{130}, {0}}, {{3, 1, 7}, {1}}};
  for (DType t : {DType::F32, DType::F64, DType::I32})
    for (const Case& c : cases)
      for (bool is_sum : {true, false}) {
        SCOPED_TRACE(shape_str(c.shape) + " axes " + std::to_string(c.axes.size()) + (is_sum ? " sum " : " max ") +
                     std::string(dtype_name(t)));
        check([&](Graph& g) {
          Value x = input(g, "x", c.shape, t, InputRole::Data);
          output(is_sum ? sum(x, c.axes, true) : max(x, c.axes, true), "y");
        }, {}, t == DType::F32 ? Tolerance{1e-5, 1e-5} : tol_for(t), {-50, 50});
      }
}

TEST(Ops, Movement) {
  check([&](Graph& g) {
    Value x = input(g, "x", {2, 3, 4}, DType::F32, InputRole::Data);
    output(broadcast_to(reshape(x, {2, 3, 1, 4}), {2, 3, 5, 4}), "broadcast");
    output(reshape(x, {4, 6}), "reshape");
    output(reshape(permute(x, {2, 0, 1}), {8, 3}), "permute_reshape");
    output(permute(x, {1, 2, 0}), "permute");
    output(slice(x, {1, 0, 1}, {1, 2, 2}, {1, 2, 2}), "slice");
    output(pad(x, {1, 0, 2}, {4, 5, 12}, {1, 2, 3}), "pad");
    Value y = input(g, "y", {2, 2, 4}, DType::F32, InputRole::Data);
    output(concat({x, y, x}, 1), "concat");
    output(transpose(reshape(x, {6, 4})), "transpose");
  }, {}, {0, 0});
}

TEST(Ops, MatMul) {
  struct Case {
    Shape a, b;
  };
  std::vector<Case> cases = {{{1, 1}, {1, 1}},     {{5, 3}, {3, 7}},      {{37, 20}, {20, 45}},   {{64, 128}, {128, 96}},
                             {{7, 600}, {600, 9}}, {{3, 4, 8}, {3, 8, 5}}, {{2, 2, 3, 6}, {2, 2, 6, 4}}};
  for (DType t : {DType::F32, DType::F64})
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_str(c.a) + " x " + shape_str(c.b) + " " + std::string(dtype_name(t)));
      double k = static_cast<double>(c.a.back());
      check([&](Graph& g) {
        output(matmul(input(g, "a", c.a, t, InputRole::Data), input(g, "b", c.b, t, InputRole::Data)), "y");
      }, {}, t == DType::F32 ? Tolerance{1e-5, 1e-6 * k} : tol_for(t));
    }
}

TEST(Ops, MatMulTransposedOperands) {
  // The backward pass needs A^T B and A B^T: operands are permuted views.
  check([&](Graph& g) {
    Value x = input(g, "x", {40, 24}, DType::F32, InputRole::Data);
    Value dy = input(g, "dy", {40, 18}, DType::F32, InputRole::Data);
    Value w = input(g, "w", {24, 18}, DType::F32, InputRole::Data);
    output(matmul(transpose(x), dy), "xT_dy");
    output(matmul(dy, transpose(w)), "dy_wT");
    output(matmul(transpose(dy), transpose(transpose(dy))), "dyT_dy");
  }, {}, {1e-5, 5e-5});
}

TEST(Ops, MatMulTransposedOperandsAtPanelAndBlockEdges) {
  // B stored transposed is packed in lanes x lanes blocks transposed in
  // registers, A stored transposed in row blocks; f64 has half the lanes.
  for (DType t : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(t));
    check([&](Graph& g) { testing::add_transposed_matmuls(g, t); }, {}, t == DType::F32 ? Tolerance{1e-5, 2e-4} : tol_for(t));
  }
}

TEST(Ops, GatherScatterAdd) {
  check([&](Graph& g) {
    Value table = input(g, "table", {11, 6}, DType::F32, InputRole::Param);
    Value idx = input(g, "idx", {4, 5}, DType::I32, InputRole::Data);
    output(gather(table, idx), "rows");
    Value upd = input(g, "upd", {4, 5, 6}, DType::F32, InputRole::Data);
    output(scatter_add(idx, upd, 11), "scattered");
  }, {{"idx", {0, 10}}}, {1e-6, 1e-6});
  check([&](Graph& g) {  // integer scatter is exact
    Value idx = input(g, "idx", {50}, DType::I32, InputRole::Data);
    Value upd = input(g, "upd", {50, 3}, DType::I32, InputRole::Data);
    output(scatter_add(idx, upd, 4), "scattered");
  }, {{"idx", {0, 3}}, {"upd", {-100, 100}}}, {0, 0});
}

}  // namespace
}  // namespace grokjit
