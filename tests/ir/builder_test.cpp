// Builder shape/dtype inference, broadcasting and error messages.
#include <gtest/gtest.h>

#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::expect_error;

TEST(Builder, ElementwiseKeepsShapeAndDtype) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F32, InputRole::Data);
  Value y = exp(x) + x;
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(y.node().op, Op::Add);
  EXPECT_EQ(lt(x, x).dtype(), DType::Bool);
}

TEST(Builder, BinaryBroadcastsNumpyStyleWithReshapeAndBroadcast) {
  Graph g;
  Value a = input(g, "a", {4, 1, 3}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {5, 1}, DType::F32, InputRole::Data);
  Value c = a * b;
  EXPECT_EQ(c.shape(), (Shape{4, 5, 3}));
  // The primitive Mul sees equal shapes; b went through Reshape [1,5,1] then Broadcast.
  const Node& mul_node = c.node();
  ASSERT_EQ(mul_node.op, Op::Mul);
  const Node& rhs = g.node(mul_node.inputs[1]);
  EXPECT_EQ(rhs.op, Op::Broadcast);
  EXPECT_EQ(rhs.shape, (Shape{4, 5, 3}));
  const Node& rhs_in = g.node(rhs.inputs[0]);
  EXPECT_EQ(rhs_in.op, Op::Reshape);
  EXPECT_EQ(rhs_in.shape, (Shape{1, 5, 1}));
  EXPECT_EQ(g.node(mul_node.inputs[0]).shape, (Shape{4, 5, 3}));
}

TEST(Builder, EqualShapesAddNoMovementNodes) {
  Graph g;
  Value a = input(g, "a", {2, 2}, DType::F64, InputRole::Data);
  size_t before = g.size();
  add(a, a);
  EXPECT_EQ(g.size(), before + 1);
}

TEST(Builder, ScalarOperandsTakeTheTensorDtype) {
  Graph g;
  Value i = input(g, "i", {3}, DType::I32, InputRole::Data);
  Value d = input(g, "d", {3}, DType::F64, InputRole::Data);
  EXPECT_EQ((i + 1.0).dtype(), DType::I32);
  EXPECT_EQ((2.0 * d).dtype(), DType::F64);
  EXPECT_EQ((1.0 / d).shape(), (Shape{3}));
}

TEST(Builder, ReductionsKeepRankInIrAndDropWithoutKeepdims) {
  Graph g;
  Value x = input(g, "x", {2, 3, 4}, DType::F32, InputRole::Data);
  Value s = sum(x, {-1, 0});
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_EQ(s.node().op, Op::Reshape);
  const Node& red = g.node(s.node().inputs[0]);
  EXPECT_EQ(red.op, Op::ReduceSum);
  EXPECT_EQ(red.shape, (Shape{1, 3, 1}));
  EXPECT_EQ(red.attrs.axes, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(max(x, {1}, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(mean(x, {1}).shape(), (Shape{2, 4}));
  EXPECT_EQ(min(x, {2}).shape(), (Shape{2, 3}));
  EXPECT_EQ(sum_all(x).shape(), (Shape{}));
}

TEST(Builder, MovementShapes) {
  Graph g;
  Value x = input(g, "x", {2, 3, 4}, DType::F32, InputRole::Data);
  EXPECT_EQ(reshape(x, {6, -1}).shape(), (Shape{6, 4}));
  EXPECT_EQ(permute(x, {2, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(transpose(x).shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(slice(x, 2, 1, 4, 2).shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(slice(x, -1, 0, -1).shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(pad(x, {0, 1, 0}, {2, 5, 4}, {1, 1, 1}).shape(), (Shape{2, 5, 4}));
  EXPECT_EQ(concat({x, x, slice(x, 1, 0, 1)}, 1).shape(), (Shape{2, 7, 4}));
  EXPECT_EQ(broadcast_to(x, {5, 2, 3, 4}).shape(), (Shape{5, 2, 3, 4}));
}

TEST(Builder, MatmulBroadcastsBatchDims) {
  Graph g;
  Value a = input(g, "a", {2, 1, 3, 4}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {5, 4, 6}, DType::F32, InputRole::Data);
  Value c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 5, 3, 6}));
  EXPECT_EQ(g.node(c.node().inputs[0]).shape, (Shape{2, 5, 3, 4}));
  EXPECT_EQ(g.node(c.node().inputs[1]).shape, (Shape{2, 5, 4, 6}));
}

TEST(Builder, IndexingAndComposites) {
  Graph g;
  Value table = input(g, "table", {10, 4}, DType::F32, InputRole::Param);
  Value idx = input(g, "idx", {2, 3}, DType::I32, InputRole::Data);
  EXPECT_EQ(gather(table, idx).shape(), (Shape{2, 3, 4}));
  Value upd = input(g, "upd", {2, 3, 4}, DType::F32, InputRole::Data);
  EXPECT_EQ(scatter_add(idx, upd, 10).shape(), (Shape{10, 4}));
  EXPECT_EQ(one_hot(idx, 7).shape(), (Shape{2, 3, 7}));
  EXPECT_EQ(one_hot(idx, 7).dtype(), DType::F32);
  Value x = input(g, "x", {2, 5}, DType::F32, InputRole::Data);
  EXPECT_EQ(argmax(x, 1).shape(), (Shape{2}));
  EXPECT_EQ(argmax(x, 1).dtype(), DType::I32);
  EXPECT_EQ(softmax(x, -1).shape(), (Shape{2, 5}));
  EXPECT_EQ(log_softmax(x, 0).shape(), (Shape{2, 5}));
}

TEST(Builder, LeavesAndRandom) {
  Graph g;
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value r = random_uniform(seed, step, {3, 4}, 7);
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.node().attrs.stream, 7u);
  EXPECT_EQ(iota(g, {2, 3}, -1).node().attrs.axis, 1);
  EXPECT_EQ(g.input_value("seed").id(), seed.id());
  EXPECT_EQ(g.find_input("nope"), -1);
  EXPECT_EQ(g.inputs(), (std::vector<NodeId>{seed.id(), step.id()}));
}

// ---- errors name the op, the shapes and the dtypes

TEST(BuilderErrors, ShapeMismatchNamesOpAndShapes) {
  Graph g;
  Value a = input(g, "a", {2, 3}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {4}, DType::F32, InputRole::Data);
  expect_error([&] { add(a, b); }, {"add(", "f32[2,3]", "f32[4]", "broadcast"});
  expect_error([&] { matmul(a, a); }, {"matmul(", "f32[2,3]", "contracted dims differ (3 vs 2)"});
  expect_error([&] { reshape(a, {4, 2}); }, {"reshape(", "f32[2,3]", "[4,2]", "element counts differ"});
  expect_error([&] { concat({a, b}, 0); }, {"concat(", "f32[2,3]", "f32[4]"});
  expect_error([&] { broadcast_to(a, {3, 3}); }, {"broadcast_to(", "f32[2,3]", "[3,3]"});
  expect_error([&] { sum(a, {2}); }, {"sum(", "f32[2,3]", "axis 2 out of range"});
  expect_error([&] { slice(a, 1, 1, 5); }, {"slice(", "f32[2,3]", "axis 1 of size 3"});
}

TEST(BuilderErrors, WrongDtypeNamesOpAndDtypes) {
  Graph g;
  Value f = input(g, "f", {2}, DType::F32, InputRole::Data);
  Value d = input(g, "d", {2}, DType::F64, InputRole::Data);
  Value i = input(g, "i", {2}, DType::I32, InputRole::Data);
  expect_error([&] { mul(f, d); }, {"mul(", "f32[2]", "f64[2]", "dtypes"});
  expect_error([&] { exp(i); }, {"exp(", "i32[2]", "float"});
  expect_error([&] { logical_and(f, f); }, {"and(", "f32[2]", "bool"});
  expect_error([&] { where(f, f, f); }, {"where(", "condition must be bool"});
  expect_error([&] { gather(f, f); }, {"gather(", "indices must be i32"});
  expect_error([&] { div(i, i); }, {"div(", "i32[2]", "float"});
}

TEST(BuilderErrors, InputsOutputsAndUpdates) {
  Graph g;
  Value w = input(g, "w", {2}, DType::F32, InputRole::Param);
  Value x = input(g, "x", {2}, DType::F32, InputRole::Data);
  expect_error([&] { input(g, "w", {3}, DType::F32, InputRole::Data); }, {"'w'", "already used"});
  expect_error([&] { update(x, w); }, {"update(", "param or state"});
  expect_error([&] { update(w, sum_all(w)); }, {"update(", "f32[]", "f32[2]", "shape and dtype"});
  update(w, w * 0.5);
  expect_error([&] { update(w, w); }, {"already updated"});
  output(x, "x");
  expect_error([&] { output(w, "x"); }, {"'x'", "already used"});
  Graph other;
  Value y = input(other, "y", {2}, DType::F32, InputRole::Data);
  expect_error([&] { add(x, y); }, {"add(", "different graphs"});
}

}  // namespace
}  // namespace grokjit::ir
