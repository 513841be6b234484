// Text and DOT output, and the JSON form's exact round trip and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "ir/printer.h"
#include "ir/verify.h"
#include "tests/ir/test_util.h"

namespace grokjit::ir {
namespace {

using testing::expect_error;

// One graph using every op and every attribute.
Graph every_op_graph() {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {3, 3}, DType::F32, InputRole::Param);
  Value m = input(g, "m", {3, 3}, DType::F32, InputRole::State);
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value idx = input(g, "idx", {4}, DType::I32, InputRole::Data);
  Value dense = constant_data(g, {0.1, -0.0, std::numeric_limits<double>::infinity(), -1e300, 1.0 / 3.0, 5e-324},
                              {2, 3}, DType::F64);
  Value mask = constant(g, -std::numeric_limits<double>::infinity(), {2, 3});
  Value r = random_uniform(seed, step, {2, 3}, 5);
  Value h = x;
  for (Op op : {Op::Neg, Op::Exp, Op::Log, Op::Sqrt, Op::Rsqrt, Op::Recip, Op::Sin, Op::Cos, Op::Abs, Op::Sign,
                Op::Relu, Op::Silu, Op::Sigmoid, Op::Tanh, Op::Square})
    h = unary(op, h);
  Value cond = lt(h, r);
  Value logic = logical_or(logical_and(cond, le(h, r)), logical_not(logical_or(gt(h, r), ge(h, r))));
  logic = logical_and(logic, logical_and(eq(h, r), ne(h, r)));
  Value f = where(logic, h, maximum(minimum(h, r), mask));
  f = pow(f / (f - r), f * f) + cast(dense, DType::F32) + cast(iota(g, {2, 3}, 1), DType::F32);
  Value s = sum(f, {1}, true) + max(f, {0}, true);
  Value mm = matmul(s, w);
  Value moved = concat({slice(mm, 1, 0, 3, 2), pad(permute(slice(mm, 1, 0, 2), {1, 0}), {0, 1}, {2, 4}, {1, 2})}, 1);
  Value gathered = gather(w, idx);
  Value scattered = scatter_add(idx, gathered, 3);
  output(sum_all(moved), "loss");
  output(scattered, "scattered");
  update(m, m * 0.5 + scattered);
  update(w, w - 0.1 * m);
  return g;
}

TEST(Printer, EveryOpGraphUsesEveryOp) {
  Graph g = every_op_graph();
  std::vector<bool> used(all_ops().size(), false);
  for (const Node& n : g.nodes()) used[static_cast<size_t>(n.op)] = true;
  for (Op op : all_ops()) EXPECT_TRUE(used[static_cast<size_t>(op)]) << op_name(op) << " not covered";
  EXPECT_NO_THROW(verify(g));
}

TEST(Printer, TextHasOneLinePerNodeWithTypes) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F32, InputRole::Param);
  Value y = input(g, "y", {2, 3}, DType::F32, InputRole::Data);
  Value z = add(x, y);
  Value s = sum(z, {1}, true);
  output(s, "s");
  update(x, z);
  std::string text = to_text(g);
  EXPECT_EQ(text,
            "%0 = input 'x' param : f32[2,3]\n"
            "%1 = input 'y' data : f32[2,3]\n"
            "%2 = add(%0, %1) : f32[2,3]\n"
            "%3 = reduce_sum(%2) axes=[1] : f32[2,1]\n"
            "output s = %3\n"
            "update x (%0) <- %2\n");
  (void)s;
}

TEST(Printer, DotHasNodesEdgesAndOutputs) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F32, InputRole::Data);
  output(exp(x), "e\"q");
  std::string dot = to_dot(g);
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("n0 -> n1;"), std::string::npos);
  EXPECT_NE(dot.find("%1 exp\\nf32[2]"), std::string::npos);
  EXPECT_NE(dot.find("output e\\\"q"), std::string::npos);  // quotes escaped
}

TEST(PrinterJson, RoundTripsExactly) {
  Graph g = every_op_graph();
  std::string json = to_json(g);
  Graph back = from_json(json, "every_op.json");
  ASSERT_EQ(back.size(), g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& a = g.nodes()[i];
    const Node& b = back.nodes()[i];
    EXPECT_EQ(a.op, b.op) << i;
    EXPECT_EQ(a.dtype, b.dtype) << i;
    EXPECT_EQ(a.shape, b.shape) << i;
    EXPECT_EQ(a.inputs, b.inputs) << i;
    EXPECT_EQ(a.attrs, b.attrs) << i;
    for (size_t k = 0; k < a.attrs.data.size(); ++k)  // -0.0 == 0.0, so compare signs too
      EXPECT_EQ(std::signbit(a.attrs.data[k]), std::signbit(b.attrs.data[k]));
  }
  ASSERT_EQ(back.outputs().size(), g.outputs().size());
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    EXPECT_EQ(back.outputs()[i].name, g.outputs()[i].name);
    EXPECT_EQ(back.outputs()[i].node, g.outputs()[i].node);
  }
  ASSERT_EQ(back.updates().size(), g.updates().size());
  for (size_t i = 0; i < g.updates().size(); ++i) {
    EXPECT_EQ(back.updates()[i].target, g.updates()[i].target);
    EXPECT_EQ(back.updates()[i].value, g.updates()[i].value);
  }
  EXPECT_EQ(to_json(back), json);
  EXPECT_EQ(to_text(back), to_text(g));
}

std::string with_node_field(const Graph& g, size_t node, const std::string& key, nlohmann::json value) {
  nlohmann::json j = nlohmann::json::parse(to_json(g));
  j["nodes"][node][key] = std::move(value);
  return j.dump();
}

TEST(PrinterJson, UnknownOpNamesTheOpFileAndNode) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F32, InputRole::Data);
  output(exp(x), "y");
  std::string text = with_node_field(g, 1, "op", "frobnicate");
  expect_error([&] { from_json(text, "graphs/bad.json"); }, {"graphs/bad.json", "node 1", "unknown op 'frobnicate'"});
}

TEST(PrinterJson, BadGraphInFileFailsVerifyNamingFileNodeAndShapes) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F32, InputRole::Data);
  output(exp(x), "y");
  std::string text = with_node_field(g, 1, "shape", {3});
  expect_error([&] { from_json(text, "m.json"); }, {"m.json", "node %1", "exp(%0: f32[2])", "f32[3]"});
  std::string bad_dtype = with_node_field(g, 1, "dtype", "f16");
  expect_error([&] { from_json(bad_dtype, "m.json"); }, {"m.json", "node 1", "unknown dtype 'f16'"});
  std::string bad_field = with_node_field(g, 1, "inputs", "zero");
  expect_error([&] { from_json(bad_field, "m.json"); }, {"m.json", "node 1"});
}

TEST(PrinterJson, FractionalIntegersAreRejectedNotTruncated) {
  Graph g;
  Value x = input(g, "x", {2, 3}, DType::F32, InputRole::Data);
  output(sum(x, {1}), "y");
  expect_error([&] { from_json(with_node_field(g, 1, "shape", {2.5}), "m.json"); },
               {"m.json", "node 1", "expected an integer, got 2.5"});
  expect_error([&] { from_json(with_node_field(g, 1, "inputs", {0.5}), "m.json"); },
               {"m.json", "node 1", "expected an integer, got 0.5"});
  nlohmann::json attrs = nlohmann::json::parse(to_json(g))["nodes"][1]["attrs"];
  ASSERT_TRUE(attrs.contains("axes")) << attrs.dump();
  attrs["axes"] = {1.5};
  expect_error([&] { from_json(with_node_field(g, 1, "attrs", attrs), "m.json"); },
               {"m.json", "node 1", "expected an integer, got 1.5"});
}

TEST(PrinterJson, AnAttributeTheOpDoesNotReadIsAnError) {
  Graph g;
  Value x = input(g, "x", {2}, DType::F32, InputRole::Data);
  output(exp(x), "y");
  expect_error([&] { from_json(with_node_field(g, 1, "attrs", {{"perm", {0}}}), "m.json"); },
               {"m.json", "node %1", "attribute 'perm' is not used by exp"});
  expect_error([&] { from_json(with_node_field(g, 1, "attrs", {{"scalar", -0.0}}), "m.json"); },
               {"m.json", "node %1", "attribute 'scalar' is not used by exp"});
}

TEST(PrinterJson, MalformedJsonAndHeader) {
  expect_error([&] { from_json("{nope", "a.json"); }, {"a.json", "invalid JSON"});
  expect_error([&] { from_json(R"({"format":"other","version":1,"nodes":[]})", "b.json"); }, {"b.json", "not a grokjit-graph"});
  expect_error([&] { from_json(R"({"format":"grokjit-graph","version":99,"nodes":[]})", "c.json"); }, {"c.json", "version 99"});
}

TEST(PrinterJson, RoundTripPreservesInterpreterResults) {
  Graph g;
  Value x = input(g, "x", {2, 2}, DType::F64, InputRole::Data);
  output(softmax(x, 1) * constant_data(g, {1.0 / 3.0, 2, 3, 4}, {2, 2}, DType::F64), "y");
  Graph back = from_json(to_json(g), "mem");
  TensorMap in{{"x", testing::tensor({2, 2}, {0.1, 0.7, -3, 2})}};
  EXPECT_EQ(interpret(back, in).outputs.at("y").data, interpret(g, in).outputs.at("y").data);
}

}  // namespace
}  // namespace grokjit::ir
