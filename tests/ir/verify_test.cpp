// The verifier on graphs assembled node by node (as a file could describe
// them), bypassing the builders' checks.
#include <gtest/gtest.h>

#include "ir/verify.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::expect_error;

Node input_node(std::string name, Shape shape, DType dtype, InputRole role = InputRole::Data) {
  Node n{Op::Input, dtype, std::move(shape), {}, {}};
  n.attrs.name = std::move(name);
  n.attrs.role = role;
  return n;
}

// A graph with x: f32[2,3] (%0) and y: f32[3] (%1).
Graph two_inputs() {
  Graph g;
  g.add(input_node("x", {2, 3}, DType::F32));
  g.add(input_node("y", {3}, DType::F32));
  return g;
}

TEST(Verify, AcceptsBuilderGraphs) {
  Graph g;
  Value w = input(g, "w", {3, 4}, DType::F32, InputRole::Param);
  Value x = input(g, "x", {2, 3}, DType::F32, InputRole::Data);
  Value idx = input(g, "idx", {2}, DType::I32, InputRole::Data);
  Value h = softmax(matmul(x, w), -1) + gather(w, idx);
  output(sum_all(h), "loss");
  update(w, w * 0.9);
  EXPECT_NO_THROW(verify(g));
}

TEST(Verify, ShapeMismatchNamesNodeOpAndShapes) {
  Graph g = two_inputs();
  g.add({Op::Add, DType::F32, {2, 3}, {0, 1}, {}});
  expect_error([&] { verify(g); }, {"node %2", "add(%0: f32[2,3], %1: f32[3])", "equal shapes"});
}

TEST(Verify, WrongDtypeNamesNodeOpAndDtypes) {
  Graph g = two_inputs();
  g.add(input_node("i", {2, 3}, DType::I32));
  g.add({Op::Mul, DType::F32, {2, 3}, {0, 2}, {}});
  expect_error([&] { verify(g); }, {"node %3", "mul(%0: f32[2,3], %2: i32[2,3])", "dtypes", "f32", "i32"});
}

TEST(Verify, DeclaredTypeMustMatchTheOp) {
  Graph g = two_inputs();
  g.add({Op::Exp, DType::F64, {2, 3}, {0}, {}});
  expect_error([&] { verify(g); }, {"node %2", "exp(%0: f32[2,3])", "node says f64[2,3]", "op gives f32[2,3]"});
}

TEST(Verify, ArityAndTopologicalOrder) {
  Graph g = two_inputs();
  g.add({Op::Neg, DType::F32, {2, 3}, {0, 0}, {}});
  expect_error([&] { verify(g); }, {"node %2", "neg(", "expects 1 inputs, got 2"});
  Graph h = two_inputs();
  h.add({Op::Neg, DType::F32, {2, 3}, {3}, {}});
  h.add({Op::Neg, DType::F32, {2, 3}, {0}, {}});
  expect_error([&] { verify(h); }, {"node %2", "input %3", "topological"});
}

TEST(Verify, AttributesAreChecked) {
  Graph g = two_inputs();
  Node r{Op::ReduceSum, DType::F32, {2, 1}, {0}, {}};
  r.attrs.axes = {1, 1};
  g.add(r);
  expect_error([&] { verify(g); }, {"reduce_sum(%0: f32[2,3])", "sorted and unique"});

  Graph p = two_inputs();
  Node perm{Op::Permute, DType::F32, {3, 2}, {0}, {}};
  perm.attrs.perm = {0, 0};
  p.add(perm);
  expect_error([&] { verify(p); }, {"permute(", "not a permutation"});

  Graph s = two_inputs();
  Node sl{Op::Slice, DType::F32, {2, 2}, {0}, {}};
  sl.attrs.starts = {0, 2};
  sl.attrs.steps = {1, 1};
  s.add(sl);
  expect_error([&] { verify(s); }, {"slice(%0: f32[2,3]) -> f32[2,2]", "does not fit"});

  Graph b = two_inputs();
  b.add({Op::Broadcast, DType::F32, {-1, 3}, {1}, {}});
  expect_error([&] { verify(b); }, {"broadcast(%1: f32[3]) -> f32[-1,3]", "negative dim"});

  Graph c;
  Node bad_const{Op::Constant, DType::I32, {2}, {}, {}};
  bad_const.attrs.data = {1, 2.5};
  c.add(bad_const);
  expect_error([&] { verify(c); }, {"constant() -> i32[2]", "data[1]", "not a i32"});
}

TEST(Verify, MatmulAndGatherRules) {
  Graph g = two_inputs();
  g.add({Op::MatMul, DType::F32, {2, 2}, {0, 0}, {}});
  expect_error([&] { verify(g); }, {"mat_mul(%0: f32[2,3], %0: f32[2,3])", "contracted dims differ (3 vs 2)"});
  Graph h = two_inputs();
  h.add({Op::Gather, DType::F32, {3, 3}, {0, 1}, {}});
  expect_error([&] { verify(h); }, {"gather(%0: f32[2,3], %1: f32[3])", "indices must be i32, got f32"});
}

TEST(Verify, InputNamesUnique) {
  Graph g = two_inputs();
  g.add(input_node("x", {1}, DType::F32));
  expect_error([&] { verify(g); }, {"node %2", "'x'", "used twice"});
}

TEST(Verify, OutputsAndUpdates) {
  Graph g = two_inputs();
  g.add_output("out", 9);
  expect_error([&] { verify(g); }, {"output 'out'", "%9 does not exist"});

  Graph data_target = two_inputs();
  data_target.add_update(0, 0);
  expect_error([&] { verify(data_target); }, {"update %0 <- %0", "param or state"});

  Graph shape = two_inputs();
  shape.add(input_node("w", {3}, DType::F32, InputRole::Param));
  shape.add_update(2, 0);
  expect_error([&] { verify(shape); }, {"update %2 <- %0", "'w' is f32[3]", "value is f32[2,3]"});

  Graph twice = two_inputs();
  twice.add(input_node("w", {3}, DType::F32, InputRole::State));
  twice.add_update(2, 1);
  twice.add_update(2, 1);
  expect_error([&] { verify(twice); }, {"'w' is updated twice"});
}

}  // namespace
}  // namespace grokjit::ir
