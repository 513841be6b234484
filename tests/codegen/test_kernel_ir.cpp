// The kernel IR itself: index simplification, hash-consing, text, names,
// FLOP and byte counts.
#include <gtest/gtest.h>

#include "codegen/kernel_ir.h"
#include "codegen/plan.h"
#include "ir/builder.h"
#include "runtime/cpu_device.h"

namespace grokjit {
namespace {

using namespace codegen;

TEST(KernelIr, IndexSimplification) {
  Kernel k;
  VarId p = k.add_var("p", 512), c = k.add_var("c", 128), j = k.add_var("j", 4);
  ExprId P = k.var(p), C = k.var(c), J = k.var(j);
  // A reshape round trip [512*4*128] -> [2048, 128] -> [512, 4, 128] is the identity.
  ExprId linear = k.add(k.add(k.mul(P, 512), k.mul(J, 128)), C);
  EXPECT_EQ(k.mod(linear, 128), C);
  EXPECT_EQ(k.mod(k.div(linear, 128), 4), J);
  EXPECT_EQ(k.div(linear, 512), P);
  // (x / d) * d + x mod d == x
  ExprId x = k.add(k.mul(P, 7), C);
  EXPECT_EQ(k.add(k.mul(k.div(x, 5), 5), k.mod(x, 5)), x);
  // hash-consing: the same expression twice is one node
  EXPECT_EQ(k.add(C, k.mul(P, 512)), k.add(k.mul(P, 512), C));
  // ranges decide compares and clamps
  EXPECT_TRUE(k.is_const(k.binary(ExprOp::Lt, C, k.index(128))));
  EXPECT_EQ(k.clamp(C, 0, 127), C);
  EXPECT_FALSE(k.is_const(k.binary(ExprOp::Lt, C, k.index(64))));
  // a loop of one iteration is the constant 0
  VarId one = k.add_var("one", 1);
  EXPECT_EQ(k.var(one), k.index(0));
}

TEST(KernelIr, NamesTextAndCost) {
  ir::Graph g;
  ir::Value x = ir::input(g, "x", {2048, 128}, ir::DType::F32, ir::InputRole::Data);
  ir::Value w = ir::input(g, "w", {512, 128}, ir::DType::F32, ir::InputRole::Param);
  ir::output(ir::silu(ir::matmul(x, ir::transpose(w))), "h");
  ir::output(ir::softmax(x, -1), "p");
  ProgramPlan plan = runtime::cpu_plan(g, {});
  ASSERT_EQ(plan.kernels.size(), 2u);
  const Kernel* mm = nullptr;
  const Kernel* row = nullptr;
  for (const auto& pk : plan.kernels) (pk.kernel.kind == "MM" ? mm : row) = &pk.kernel;
  ASSERT_TRUE(mm && row);
  EXPECT_EQ(mm->name.rfind("MM_2048x512x128_silu_", 0), 0u) << mm->name;
  EXPECT_EQ(row->name.rfind("R_2048x128_max_exp_sum_", 0), 0u) << row->name;
  std::string text = to_text(*mm);
  EXPECT_NE(text.find("gemm"), std::string::npos) << text;
  EXPECT_NE(text.find("silu"), std::string::npos) << text;
  EXPECT_EQ(canonical_text(*mm).find("input 'w'"), std::string::npos);  // names are not part of the hash
  KernelCost cost = kernel_cost(*mm);
  EXPECT_NEAR(cost.flops, 2.0 * 2048 * 512 * 128 + 2048 * 512 * 1, 2048.0 * 512 * 2);
  EXPECT_EQ(cost.bytes_read, (2048.0 * 128 + 512.0 * 128) * 4);
  EXPECT_EQ(cost.bytes_written, 2048.0 * 512 * 4);
  // Same computation, other names: same kernel name (deterministic), same hash.
  ir::Graph g2;
  ir::Value x2 = ir::input(g2, "other_x", {2048, 128}, ir::DType::F32, ir::InputRole::Data);
  ir::output(ir::softmax(x2, -1), "q");
  EXPECT_EQ(runtime::cpu_plan(g2, {}).kernels[0].kernel.name, row->name);
}

}  // namespace
}  // namespace grokjit
