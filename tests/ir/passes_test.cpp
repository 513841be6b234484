// DCE, CSE and trivial folding remove what they should and keep results.
#include <gtest/gtest.h>

#include "ir/autodiff.h"
#include "ir/passes.h"
#include "ir/verify.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::random_values;
using testing::tensor;

size_t count_op(const Graph& g, Op op) {
  size_t n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

void expect_same_results(const Graph& a, const Graph& b, const TensorMap& in) {
  InterpretResult ra = interpret(a, in), rb = interpret(b, in);
  ASSERT_EQ(ra.outputs.size(), rb.outputs.size());
  for (const auto& [name, t] : ra.outputs) {
    EXPECT_EQ(rb.outputs.at(name).shape, t.shape) << name;
    EXPECT_EQ(rb.outputs.at(name).data, t.data) << name;
  }
  ASSERT_EQ(ra.updated.size(), rb.updated.size());
  for (const auto& [name, t] : ra.updated) EXPECT_EQ(rb.updated.at(name).data, t.data) << name;
}

TEST(Passes, DeadCodeEliminationKeepsInputsOutputsAndUpdates) {
  Graph g;
  Value x = input(g, "x", {3}, DType::F64, InputRole::Data);
  Value w = input(g, "w", {3}, DType::F64, InputRole::Param);
  input(g, "unused", {2}, DType::F64, InputRole::Data);
  Value dead = exp(x) * 3.0;
  Value live = x * w;
  output(sum_all(live), "loss");
  update(w, w - live);
  PassResult r = eliminate_dead_code(g);
  EXPECT_NO_THROW(verify(r.graph));
  EXPECT_EQ(r.remap[static_cast<size_t>(dead.id())], -1);
  EXPECT_EQ(count_op(r.graph, Op::Exp), 0u);
  EXPECT_EQ(r.graph.inputs().size(), 3u);
  EXPECT_EQ(r.graph.node(r.remap[static_cast<size_t>(live.id())]).op, Op::Mul);
  expect_same_results(g, r.graph, {{"x", tensor({3}, {1, 2, 3})}, {"w", tensor({3}, {4, 5, 6})}, {"unused", tensor({2}, {0, 0})}});
}

TEST(Passes, CommonSubexpressionsAreMerged) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F64, InputRole::Data);
  Value a = exp(x) + sum(x, {1}, true);
  Value b = exp(x) + sum(x, {1}, true);
  Value c = exp(x) + max(x, {1}, true);  // different op: stays
  output(a * b + c, "y");
  PassResult r = eliminate_common_subexpressions(g);
  EXPECT_NO_THROW(verify(r.graph));
  EXPECT_EQ(r.remap[static_cast<size_t>(a.id())], r.remap[static_cast<size_t>(b.id())]);
  EXPECT_NE(r.remap[static_cast<size_t>(a.id())], r.remap[static_cast<size_t>(c.id())]);
  EXPECT_EQ(count_op(r.graph, Op::Exp), 1u);
  EXPECT_EQ(count_op(r.graph, Op::ReduceSum), 1u);
  expect_same_results(g, r.graph, {{"x", tensor({2, 3}, random_values(6, 3))}});
}

TEST(Passes, CseNeverMergesInputsAndRespectsAttrs) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F64, InputRole::Data);
  Value y = input(g, "y", {2, 3}, DType::F64, InputRole::Data);
  output(sum(x, {0}, true) + sum(y, {0}, true), "a");
  output(sum(x, {1}, true), "b");
  PassResult r = eliminate_common_subexpressions(g);
  EXPECT_EQ(r.graph.inputs().size(), 2u);
  EXPECT_EQ(count_op(r.graph, Op::ReduceSum), 3u);
}

TEST(Passes, TrivialAlgebraFolds) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F64, InputRole::Data);
  Value one = constant(g, 1, {}, DType::F64);  // broadcast to x's shape by mul
  Value zero = constant(g, 0, {2, 3}, DType::F64);
  Value y = (x * one + zero) - zero;
  Value same_reshape = Value(&g, g.add({Op::Reshape, DType::F64, {2, 3}, {y.id()}, {}}));
  Value same_broadcast = Value(&g, g.add({Op::Broadcast, DType::F64, {2, 3}, {same_reshape.id()}, {}}));
  Value z = same_broadcast / scalar_like(x, 1.0);
  output(z, "z");
  ASSERT_NO_THROW(verify(g));
  PassResult r = fold_trivial(g);
  EXPECT_NO_THROW(verify(r.graph));
  EXPECT_EQ(r.remap[static_cast<size_t>(z.id())], r.remap[static_cast<size_t>(x.id())]);
  PassResult s = simplify(g);
  EXPECT_EQ(s.graph.size(), 1u);  // just the input
  EXPECT_EQ(s.graph.outputs()[0].node, 0);
  expect_same_results(g, s.graph, {{"x", tensor({2, 3}, random_values(6, 4))}});
}

TEST(Passes, FoldKeepsNonTrivialOperations) {
  Graph g;
  Value x = input(g, "x", {2, 2}, DType::F64, InputRole::Data);
  output(x * 2.0 + 1.0, "a");
  output(transpose(x), "t");
  output(0.0 - x, "n");  // 0 - x is not x
  PassResult r = fold_trivial(g);
  EXPECT_EQ(count_op(r.graph, Op::Mul), 1u);
  EXPECT_EQ(count_op(r.graph, Op::Add), 1u);
  EXPECT_EQ(count_op(r.graph, Op::Permute), 1u);
  EXPECT_EQ(count_op(r.graph, Op::Sub), 1u);
  expect_same_results(g, r.graph, {{"x", tensor({2, 2}, {1, 2, 3, 4})}});
}

// A training-step-like graph: the backward pass leaves plenty to simplify.
TEST(Passes, SimplifyPreservesATrainingStep) {
  Graph g;
  Value x = input(g, "x", {4, 3}, DType::F64, InputRole::Data);
  Value y = input(g, "y", {4}, DType::I32, InputRole::Data);
  Value w = input(g, "w", {3, 5}, DType::F64, InputRole::Param);
  Value m = input(g, "m", {3, 5}, DType::F64, InputRole::State);
  Value logits = matmul(x, w) * 1.0;
  Value loss = -mean(sum(log_softmax(logits, -1) * one_hot(y, 5, DType::F64), {-1}), {0});
  std::vector<Value> wrt{w};
  Value gw = grad(loss, wrt)[0];
  Value m_new = m * 0.9 + gw;
  output(loss, "loss");
  update(m, m_new);
  update(w, w - m_new * 0.1);
  PassResult r = simplify(g);
  EXPECT_NO_THROW(verify(r.graph));
  EXPECT_LT(r.graph.size(), g.size());
  TensorMap in{{"x", tensor({4, 3}, random_values(12, 1))},
               {"y", tensor({4}, {0, 4, 2, 2})},
               {"w", tensor({3, 5}, random_values(15, 2))},
               {"m", tensor({3, 5}, random_values(15, 3))}};
  expect_same_results(g, r.graph, in);
}

}  // namespace
}  // namespace grokjit::ir
