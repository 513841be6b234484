// Fused patterns: each must be one kernel (or as few as stated) and match
// the float64 interpreter; fusion on must equal fusion off.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "codegen/plan.h"
#include "ir/autodiff.h"
#include "ir/builder.h"
#include "ir/pack_runs.h"
#include "models/two_layer.h"
#include "runtime/cpu_device.h"
#include "runtime/cuda_device.h"
#include "tests/codegen/harness.h"
#include "tests/codegen/tiny_model.h"

namespace grokjit {
namespace {

using namespace ir;
using testing::InputRange;
using testing::Tolerance;

size_t kernel_count(const Graph& g, bool fusion) {
  runtime::CompileOptions o;
  o.fusion = fusion;
  return runtime::cpu_plan(g, o).kernels.size();
}

std::string kernel_names(const Graph& g) {
  std::string s;
  for (const auto& k : runtime::cpu_plan(g, {}).kernels) s += k.kernel.name + " ";
  return s;
}

void check_both(const Graph& g, const TensorMap& in, Tolerance tol) {
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    testing::check_against_interpreter(g, in, tol, fusion);
  }
}

Value rmsnorm(Value x, Value gain) { return x * rsqrt(mean(square(x), {-1}, true) + 1e-5) * gain; }

TEST(Fusion, ElementwiseChainIsOneKernel) {
  Graph g;
  Value a = input(g, "a", {64, 48}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {48}, DType::F32, InputRole::Data);
  Value y = silu(a * 2.0 + b) * tanh(a) - exp(-square(a));  // b is broadcast
  output(y, "y");
  EXPECT_EQ(kernel_count(g, true), 1u) << kernel_names(g);
  EXPECT_GT(kernel_count(g, false), 5u);
  check_both(g, testing::random_inputs(g, 1), {});
}

TEST(Fusion, SoftmaxIsOneRowKernel) {
  Graph g;
  Value a = input(g, "a", {96, 99}, DType::F32, InputRole::Data);
  output(softmax(a, -1), "y");
  EXPECT_EQ(kernel_count(g, true), 1u) << kernel_names(g);
  EXPECT_EQ(runtime::cpu_plan(g, {}).kernels[0].kernel.kind, "R");
  check_both(g, testing::random_inputs(g, 2, {}, {-10, 10}), {});
}

TEST(Fusion, RmsNormForwardAndBackwardAreOneKernelEach) {
  Graph g;
  Value x = input(g, "x", {40, 64}, DType::F32, InputRole::Data);
  Value gain = input(g, "g", {64}, DType::F32, InputRole::Param);
  Value dy = input(g, "dy", {40, 64}, DType::F32, InputRole::Data);
  Value y = rmsnorm(x, gain);
  output(y, "y");
  {
    Graph fwd = g;
    EXPECT_EQ(kernel_count(fwd, true), 1u) << kernel_names(fwd);
  }
  auto grads = vjp(y, dy, std::vector<Value>{x, gain});
  output(grads[0], "dx");
  output(grads[1], "dg");
  // forward+dx: one row kernel; dg: a column reduction over the rows.
  EXPECT_LE(kernel_count(g, true), 3u) << kernel_names(g);
  check_both(g, testing::random_inputs(g, 3), {2e-5, 1e-5});
}

TEST(Fusion, CrossEntropyForwardAndBackward) {
  Graph g;
  Value logits = input(g, "logits", {64, 99}, DType::F32, InputRole::Data);
  Value labels = input(g, "labels", {64}, DType::I32, InputRole::Data);
  Value loss = mean(-sum(one_hot(labels, 99) * log_softmax(logits, -1), {-1}), {0});
  output(loss, "loss");
  output(grad(loss, std::vector<Value>{logits})[0], "dlogits");
  // One row kernel (log-softmax, CE and the gradient) plus the batch mean.
  EXPECT_LE(kernel_count(g, true), 2u) << kernel_names(g);
  check_both(g, testing::random_inputs(g, 4, {{"labels", {0, 98}}}, {-5, 5}), {1e-5, 1e-7});
}

TEST(Fusion, MatMulWithPrologueAndEpilogue) {
  Graph g;
  Value x = input(g, "x", {50, 40}, DType::F32, InputRole::Data);
  Value s = input(g, "s", {40}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {16, 40}, DType::F32, InputRole::Param);
  Value r = input(g, "r", {50, 16}, DType::F32, InputRole::Data);
  // Prologue on A (packed once: one column tile), transposed B, epilogue.
  Value y = silu(matmul(relu(x) * s, transpose(w))) + r;
  output(y, "y");
  EXPECT_EQ(kernel_count(g, true), 1u) << kernel_names(g);
  EXPECT_EQ(runtime::cpu_plan(g, {}).kernels[0].kernel.kind, "MM");
  check_both(g, testing::random_inputs(g, 5), {2e-5, 1e-5});
}

TEST(Fusion, MatMulProloguesEveryPackingPath) {
  // Long K (blocked), ragged M and N, operands computed contiguously, computed
  // through a transpose (strided: scalar packing) and plain transposed loads.
  Graph g;
  Value x = input(g, "x", {70, 700}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {700, 45}, DType::F32, InputRole::Param);
  Value v = input(g, "v", {45, 700}, DType::F32, InputRole::Param);
  Value s = input(g, "s", {45}, DType::F32, InputRole::Data);
  output(matmul(x * 0.5, w * s), "contiguous");              // A and B computed, rows contiguous
  output(matmul(x, transpose(v * 2.0)), "strided");           // B computed through a transpose
  output(matmul(transpose(transpose(x)), transpose(v)), "plain_t");
  output(matmul(transpose(w), transpose(x)) + 1.0, "both_t");  // A^T B^T with an epilogue
  check_both(g, testing::random_inputs(g, 15), {3e-5, 3e-4});  // K = 700 terms of size ~1
}

// Names of the values some kernel of the plan stores ("%12 sigmoid").
// The CPU plan for one thread (the thread count shapes matmul tiles, and
// with them which operands are materialized).
codegen::ProgramPlan one_thread_plan(const Graph& g) {
  runtime::CompileOptions options;
  options.threads = 1;
  return runtime::cpu_plan(g, options);
}

std::vector<std::string> stored_values(const Graph& g) {
  std::vector<std::string> r;
  for (const auto& k : one_thread_plan(g).kernels)
    for (const auto& b : k.kernel.buffers)
      if (b.written) r.push_back(b.name);
  return r;
}

bool stores_op(const Graph& g, const std::string& op) {
  for (const auto& name : stored_values(g))
    if (name.size() > op.size() && name.compare(name.size() - op.size() - 1, std::string::npos, " " + op) == 0) return true;
  return false;
}

// GROKJIT_RECOMPUTE for one scope.
struct ScopedRecompute : testing::ScopedEnv {
  explicit ScopedRecompute(const char* value) : ScopedEnv("GROKJIT_RECOMPUTE", value) {}
};

// A gated MLP and its backward pass; *gate is set to the gate's matmul.
Graph gated_mlp_with_backward(NodeId* gate) {
  Graph g;
  Value x = input(g, "x", {96, 32}, DType::F32, InputRole::Data);
  Value wg = input(g, "wg", {48, 32}, DType::F32, InputRole::Param);
  Value wu = input(g, "wu", {48, 32}, DType::F32, InputRole::Param);
  Value wd = input(g, "wd", {32, 48}, DType::F32, InputRole::Param);
  Value dy = input(g, "dy", {96, 32}, DType::F32, InputRole::Data);
  Value gate_value = matmul(x, transpose(wg));
  *gate = gate_value.id();
  Value h = silu(gate_value) * matmul(x, transpose(wu));
  Value y = matmul(h, transpose(wd));
  output(y, "y");
  auto grads = vjp(y, dy, std::vector<Value>{x, wg, wu, wd});
  for (size_t i = 0; i < grads.size(); ++i) output(grads[i], "d" + std::to_string(i));
  return g;
}

bool stores_node(const Graph& g, NodeId id) {
  const std::string prefix = "%" + std::to_string(id) + " ";
  for (const auto& name : stored_values(g))
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

std::string stored_list(const Graph& g) {
  std::string r;
  for (const auto& name : stored_values(g)) r += name + ", ";
  return r;
}

TEST(Fusion, GatedMlpBackwardRecomputesSiluAndSigmoidFromTheGate) {
  // The backward matmul's epilogue reads silu(gate) (the gate product's
  // derivative) and the sigmoid(gate) autodiff adds for silu' = s + silu (1 - s).
  // By default both are stored and the gate is not. With recomputation on,
  // loading the gate and computing both again moves fewer bytes than loading
  // both: the gate is stored instead of them.
  NodeId gate = -1;
  Graph g = gated_mlp_with_backward(&gate);
  {
    ScopedRecompute on("on");
    EXPECT_FALSE(stores_op(g, "sigmoid")) << stored_list(g);
    EXPECT_FALSE(stores_op(g, "silu")) << stored_list(g);
    EXPECT_TRUE(stores_node(g, gate)) << stored_list(g);
    check_both(g, testing::random_inputs(g, 16, {}, {-0.5, 0.5}), {1e-4, 1e-4});  // sums of 32-48 products
  }
  ScopedRecompute off("off");  // the default: stored
  EXPECT_TRUE(stores_op(g, "sigmoid")) << stored_list(g);
  EXPECT_TRUE(stores_op(g, "silu")) << stored_list(g);
  EXPECT_FALSE(stores_node(g, gate)) << stored_list(g);
}

TEST(Fusion, RecomputingMustMoveFewerBytes) {
  // A chain of 8 cheap ops of two matmuls a and b (as costly as one
  // transcendental: stored, since two kernels read it), read by kernels that
  // read neither a nor b: computing it there would load both (and store one
  // more) to save one load and one store, so it stays stored.
  ScopedRecompute on("on");
  Graph g;
  Value x = input(g, "x", {64, 32}, DType::F32, InputRole::Data);
  Value w1 = input(g, "w1", {32, 32}, DType::F32, InputRole::Param);
  Value w2 = input(g, "w2", {32, 32}, DType::F32, InputRole::Param);
  Value a = matmul(x, w1), b = matmul(x, w2);
  Value s = (((((((a + b) * a) - b) * b) + a) * a) - b) * b;
  output(sum(s * x, {-1}), "r");
  output(sum(s, {0}), "q");
  EXPECT_TRUE(stores_node(g, s.id())) << stored_list(g);
  // Weighed and refused (not merely left out as no candidate).
  std::string rejected;
  bool weighed = false;
  for (const auto& r : one_thread_plan(g).rejected) {
    rejected += r + "\n";
    weighed = weighed || (r.rfind("not recomputed %" + std::to_string(s.id()) + " mul in ", 0) == 0 &&
                          r.find("it would not move fewer bytes") != std::string::npos);
  }
  EXPECT_TRUE(weighed) << rejected;
  check_both(g, testing::random_inputs(g, 18, {}, {-0.5, 0.5}), {2e-5, 1e-5});
}

TEST(Fusion, MatmulOperandStaysStored) {
  // A matmul operand is packed once per tile: recomputing a transcendental
  // there costs more than the load, so sigmoid(a) stays stored.
  ScopedRecompute on("on");
  Graph g;
  Value a = input(g, "a", {64, 64}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {64, 64}, DType::F32, InputRole::Param);
  Value s = sigmoid(matmul(a, w));
  output(matmul(s, w), "y");
  output(sum(s * a, {-1}), "r");
  EXPECT_TRUE(stores_op(g, "sigmoid")) << kernel_names(g);
  check_both(g, testing::random_inputs(g, 17), {2e-5, 1e-5});
}

TEST(Fusion, PermutedGatherTableIsStoredOnce) {
  // The 2-layer net gathers columns of W: rows of transpose(W). Read through
  // the permute, each gathered element would be a strided load; a kernel
  // stores the transposed table once when the gathers together read at least
  // as many elements as it has (here 240), so that they read whole rows. The
  // same in a packed graph, where the table is reshape(permute(W)).
  for (int64_t rows_gathered : {200, 6, 3}) {
    SCOPED_TRACE(std::to_string(rows_gathered) + " rows gathered twice");
    Graph g;
    Value w = input(g, "w", {24, 10}, DType::F32, InputRole::Param);
    Value a = input(g, "a", {rows_gathered}, DType::I32, InputRole::Data);
    Value b = input(g, "b", {rows_gathered}, DType::I32, InputRole::Data);
    Value columns = transpose(w);  // [10, 24]
    Value h = square(gather(columns, a) + gather(columns, b));
    output(h, "h");
    auto grads = vjp(h, h, std::vector<Value>{w});
    output(grads[0], "dw");
    const bool stored = 2 * rows_gathered * 24 >= 240;
    EXPECT_EQ(stores_op(g, "permute"), stored) << stored_list(g);
    const InputRange index{0, 9};
    check_both(g, testing::random_inputs(g, 21, {{"a", index}, {"b", index}}), {1e-5, 1e-6});

    Graph packed = pack_runs(g, 3, [](const Node&) { return true; });
    EXPECT_EQ(stores_op(packed, "permute"), stored) << stored_list(packed);
    check_both(packed, testing::random_inputs(packed, 22, {{"a", index}, {"b", index}}), {1e-5, 1e-6});
  }
}

// The 2-layer net gathers two columns of W where its definition multiplies
// one-hot rows (models/two_layer.cpp). The other terms of that product are
// exact zeros and the CPU matmul sums K in order, as the scatter of W's
// gradient does; so where that gradient's matmul is not split over K (here
// K = 60 examples), outputs and gradients are bitwise those of the product.
TEST(Fusion, TwoLayerGatherEqualsOneHotProductBitwise) {
  constexpr int64_t M = 7, K = 16, B = 60;
  auto build = [&](bool one_hot_product) {
    Graph g;
    Value W = input(g, "W", {K, 2 * M}, DType::F32, InputRole::Param);
    Value V = input(g, "V", {M, K}, DType::F32, InputRole::Param);
    Value a = input(g, "a", {B}, DType::I32, InputRole::Data);
    Value b = input(g, "b", {B}, DType::I32, InputRole::Data);
    Value y = input(g, "y", {B}, DType::I32, InputRole::Data);
    Value out;
    if (one_hot_product) {
      Value x = concat({one_hot(a, M, DType::F32), one_hot(b, M, DType::F32)}, 1);  // [B, 2M]
      out = matmul(square(matmul(x, transpose(W))), transpose(V));
    } else {
      out = models::two_layer_outputs(models::TwoLayerConfig{}, {{"W", W}, {"V", V}}, a, b, M);
    }
    Value loss = sum_all(models::centered_mse_rows(out, y));
    output(out, "out");
    auto grads = grad(loss, std::vector<Value>{W, V});
    output(grads[0], "dW");
    output(grads[1], "dV");
    return g;
  };
  const Graph product = build(true), gathered = build(false);
  const InputRange label{0, M - 1};
  TensorMap in = testing::random_inputs(product, 23, {{"a", label}, {"b", label}, {"y", label}});
  auto want = testing::run_on(testing::cpu_device(), product, in);
  auto got = testing::run_on(testing::cpu_device(), gathered, in);
  for (const char* name : {"out", "dW", "dV"}) testing::expect_bitwise(got.outputs.at(name), want.outputs.at(name), name);
}

TEST(Fusion, BatchedAttention) {
  Graph g;
  Value q = input(g, "q", {6, 4, 16}, DType::F32, InputRole::Data);
  Value k = input(g, "k", {6, 4, 16}, DType::F32, InputRole::Data);
  Value v = input(g, "v", {6, 4, 16}, DType::F32, InputRole::Data);
  Value scores = matmul(q, transpose(k)) * 0.25;
  Value mask = broadcast_to(ge(iota(g, {4, 4}, 0), iota(g, {4, 4}, 1)), scores.shape());
  Value att = matmul(softmax(where(mask, scores, constant(g, -1e30, scores.shape())), -1), v);
  output(att, "att");
  EXPECT_LE(kernel_count(g, true), 3u) << kernel_names(g);
  check_both(g, testing::random_inputs(g, 6), {2e-5, 1e-6});
}

TEST(Fusion, TinyMatmulsAreLoopsOnTheCpu) {
  // Attention over 4 positions (a batch of 32): 4 x 4 scores with K = 16, 4 x 16 products
  // with K = 4, and their gradients. On the CPU they are loops with a
  // Reduce over k (a 6 x 16 register tile would be mostly padding); a
  // 64 x 64 x 64 matmul keeps its Gemm tile, and so does an unbatched
  // 4 x 4 x 16 (the loops would run on one thread); CUDA keeps tiles for all.
  Graph g;
  Value q = input(g, "q", {32, 4, 16}, DType::F32, InputRole::Data);
  Value k = input(g, "k", {32, 4, 16}, DType::F32, InputRole::Data);
  Value v = input(g, "v", {32, 4, 16}, DType::F32, InputRole::Data);
  Value dy = input(g, "dy", {32, 4, 16}, DType::F32, InputRole::Data);
  Value x = input(g, "x", {64, 64}, DType::F32, InputRole::Data);
  Value att = matmul(softmax(matmul(q, transpose(k)) * 0.25, -1), v);
  output(att, "att");
  auto grads = vjp(att, dy, std::vector<Value>{q, k, v});
  for (size_t i = 0; i < grads.size(); ++i) output(grads[i], "d" + std::to_string(i));
  output(matmul(x, x), "xx");
  output(matmul(slice(slice(x, 0, 0, 4), 1, 0, 16), slice(slice(x, 0, 0, 16), 1, 0, 4)), "unbatched");
  auto has_gemm = [](const codegen::Kernel& kernel) {
    bool found = false;
    codegen::for_each_stmt(kernel.body, [&](const codegen::Stmt& s) { found = found || s.kind == codegen::StmtKind::Gemm; });
    return found;
  };
  int tiny = 0;
  for (const auto& pk : runtime::cpu_plan(g, {}).kernels) {
    if (pk.kernel.kind != "MM" && pk.kernel.kind != "BMM") continue;
    const bool big = pk.kernel.shape_tag == "64x64x64" || pk.kernel.kind == "MM";
    tiny += !big;
    EXPECT_EQ(has_gemm(pk.kernel), big) << codegen::to_text(pk.kernel);
  }
  EXPECT_GE(tiny, 5);  // q k^T, p v, and the gradients' products
  for (const auto& pk : runtime::cuda_plan(g, {}).kernels)
    if (pk.kernel.kind == "MM" || pk.kernel.kind == "BMM") {
      EXPECT_TRUE(has_gemm(pk.kernel)) << pk.kernel.name;
    }
  check_both(g, testing::random_inputs(g, 6), {2e-5, 1e-5});  // sums of up to 64 products
}

TEST(Fusion, ArgmaxTwoReductionsInOneKernel) {
  Graph g;
  Value x = input(g, "x", {30, 7}, DType::I32, InputRole::Data);
  output(argmax(cast(x, DType::F32), -1), "i");
  EXPECT_EQ(kernel_count(g, true), 1u) << kernel_names(g);
  check_both(g, testing::random_inputs(g, 7, {}, {-3, 3}), {0, 0});
}

TEST(Fusion, OptimizerUpdatesShareLaunches) {
  Graph g;
  std::vector<Value> params;
  for (int i = 0; i < 6; ++i) params.push_back(input(g, "w" + std::to_string(i), {32, 32}, DType::F32, InputRole::Param));
  for (int i = 0; i < 6; ++i) {
    Value gr = input(g, "g" + std::to_string(i), {32, 32}, DType::F32, InputRole::Data);
    Value m = input(g, "m" + std::to_string(i), {32, 32}, DType::F32, InputRole::State);
    Value m2 = m * 0.9 + gr * 0.1;
    update(m, m2);
    update(params[static_cast<size_t>(i)], params[static_cast<size_t>(i)] - m2 * 0.01);
  }
  EXPECT_EQ(kernel_count(g, true), 1u) << kernel_names(g);
  EXPECT_EQ(kernel_count(g, false), 6u * 5u);
  check_both(g, testing::random_inputs(g, 8), {1e-6, 1e-7});
}

TEST(Fusion, TinyTransformerStep) {
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  size_t on = kernel_count(m.graph, true), off = kernel_count(m.graph, false);
  std::cout << "tiny transformer training step: " << on << " kernels fused, " << off << " unfused\n";
  EXPECT_LT(on * 4, off);
  TensorMap in = testing::tiny_inputs(m, cfg, 11);
  runtime::ProgramStats stats;
  SCOPED_TRACE(kernel_names(m.graph));
  testing::check_against_interpreter(m.graph, in, {2e-4, 2e-5}, true, &stats);
  testing::check_against_interpreter(m.graph, in, {2e-4, 2e-5}, false);
}

TEST(Fusion, FusionOnEqualsFusionOff) {
  testing::TinyConfig cfg;
  cfg.update = false;  // compare the gradients themselves
  testing::TinyModel m = testing::tiny_transformer(cfg);
  TensorMap in = testing::tiny_inputs(m, cfg, 12);
  runtime::CompileOptions on, off;
  off.fusion = false;
  auto a = testing::run_on(testing::cpu_device(), m.graph, in, on);
  auto b = testing::run_on(testing::cpu_device(), m.graph, in, off);
  for (const auto& [name, t] : a.outputs) testing::expect_close(t, b.outputs.at(name), name, {1e-5, 1e-6});
}

}  // namespace
}  // namespace grokjit
