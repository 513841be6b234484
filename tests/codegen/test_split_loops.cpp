// Index-set splitting of CPU loops at pad and concat boundaries
// (codegen/split_loops.h): where it cuts, that the pieces are free of
// selects and clamps, and that results match the float64 interpreter and
// the unsplit loop's (up to FMA contraction: a last-bit difference).
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "codegen/split_loops.h"
#include "ir/autodiff.h"
#include "ir/builder.h"
#include "runtime/cpu_device.h"
#include "tests/codegen/harness.h"

namespace grokjit {
namespace {

using namespace codegen;
using testing::ScopedEnv;

// Every expression op reachable from the statements (nested ones included).
std::multiset<ExprOp> ops_in(const Kernel& k, const std::vector<Stmt>& body) {
  std::multiset<ExprOp> ops;
  std::set<ExprId> seen;
  std::vector<ExprId> stack;
  for_each_stmt(body, [&](const Stmt& s) { stack.insert(stack.end(), {s.value, s.index}); });
  while (!stack.empty()) {
    ExprId e = stack.back();
    stack.pop_back();
    if (e < 0 || !seen.insert(e).second) continue;
    const Expr& x = k.expr(e);
    ops.insert(x.op);
    stack.insert(stack.end(), {x.a, x.b, x.c});
  }
  return ops;
}

bool has_select_or_clamp(const Kernel& k) {
  std::multiset<ExprOp> ops = ops_in(k, k.body);
  return ops.count(ExprOp::Select) + ops.count(ExprOp::Min) + ops.count(ExprOp::Max) + ops.count(ExprOp::Lt) +
             ops.count(ExprOp::Le) >
         0;
}

std::vector<int64_t> top_loop_extents(const Kernel& k) {
  std::vector<int64_t> extents;
  for (const Stmt& s : k.body)
    if (s.kind == StmtKind::Loop) extents.push_back(s.extent);
  return extents;
}

// The one elementwise kernel of a plan whose name starts with `prefix`.
const Kernel& kernel_named(const ProgramPlan& plan, const std::string& prefix) {
  const Kernel* found = nullptr;
  std::string names;
  for (const auto& pk : plan.kernels) {
    names += pk.kernel.name + " ";
    if (pk.kernel.name.rfind(prefix, 0) == 0) {
      EXPECT_EQ(found, nullptr) << "two kernels named " << prefix << "*: " << names;
      found = &pk.kernel;
    }
  }
  if (!found) throw std::runtime_error("no kernel " + prefix + "* in: " + names);
  return *found;
}

// RoPE's rotate-half, out = x * cos + [-x2, x1] * sin, and its backward
// (where the concat becomes two pads), with head dim hd over 4 positions.
ir::Graph rope_forward_backward(int64_t hd) {
  ir::Graph g;
  ir::Value x = ir::input(g, "x", {6, 4, hd}, ir::DType::F32, ir::InputRole::Data);
  ir::Value cos = ir::input(g, "cos", {4, hd}, ir::DType::F32, ir::InputRole::Data);
  ir::Value sin = ir::input(g, "sin", {4, hd}, ir::DType::F32, ir::InputRole::Data);
  ir::Value dy = ir::input(g, "dy", {6, 4, hd}, ir::DType::F32, ir::InputRole::Data);
  ir::Value rotated = ir::concat({-ir::slice(x, -1, hd / 2, hd), ir::slice(x, -1, 0, hd / 2)}, -1);
  ir::Value y = x * cos + rotated * sin;
  ir::output(y, "y");
  ir::output(ir::vjp(y, dy, std::vector<ir::Value>{x})[0], "dx");
  return g;
}

// Outputs with the split on: the interpreter's, and the unsplit loop's up
// to the last bit (LLVM may contract other products into FMAs).
void check_split_keeps_results(const ir::Graph& g) {
  ir::TensorMap in = testing::random_inputs(g, 7);
  testing::RunResult on, off;
  {
    ScopedEnv split("GROKJIT_SPLIT_LOOPS", "on");
    on = testing::run_on(testing::cpu_device(), g, in);
    testing::check_against_interpreter(g, in, {1e-6, 1e-6});
  }
  {
    ScopedEnv split("GROKJIT_SPLIT_LOOPS", "off");
    off = testing::run_on(testing::cpu_device(), g, in);
  }
  ASSERT_EQ(on.outputs.size(), off.outputs.size());
  for (const auto& [name, t] : on.outputs) testing::expect_close(t, off.outputs.at(name), name, {1e-6, 1e-6});
}

TEST(SplitLoops, RotateHalfBecomesTwoLoopsWithoutSelects) {
  // hd = 64: each kernel's inner loop runs over one row of the head dim.
  ir::Graph g = rope_forward_backward(64);
  ScopedEnv split("GROKJIT_SPLIT_LOOPS", "on");
  ProgramPlan plan = runtime::cpu_plan(g, {});
  ASSERT_EQ(plan.kernels.size(), 2u);  // forward and backward, one kernel each
  for (const auto& pk : plan.kernels) {
    SCOPED_TRACE(to_text(pk.kernel));
    EXPECT_EQ(top_loop_extents(pk.kernel), (std::vector<int64_t>{32, 32}));
    EXPECT_FALSE(has_select_or_clamp(pk.kernel));
  }
  ScopedEnv unsplit("GROKJIT_SPLIT_LOOPS", "off");
  for (const auto& pk : runtime::cpu_plan(g, {}).kernels) {
    SCOPED_TRACE(to_text(pk.kernel));
    EXPECT_EQ(top_loop_extents(pk.kernel), (std::vector<int64_t>{64}));
    EXPECT_TRUE(has_select_or_clamp(pk.kernel));
  }
}

TEST(SplitLoops, ShortRowsBecomeANestOverRows) {
  // hd = 16: the inner loop spans 4 rows (i mod 16 < 8); it becomes a loop
  // over the 4 rows around the two halves of a row.
  ir::Graph g = rope_forward_backward(16);
  ScopedEnv split("GROKJIT_SPLIT_LOOPS", "on");
  ProgramPlan plan = runtime::cpu_plan(g, {});
  ASSERT_EQ(plan.kernels.size(), 2u);
  for (const auto& pk : plan.kernels) {
    const Kernel& k = pk.kernel;
    SCOPED_TRACE(to_text(k));
    ASSERT_EQ(top_loop_extents(k), (std::vector<int64_t>{4}));
    std::vector<int64_t> inner;
    for (const Stmt& s : k.body[0].body) inner.push_back(s.extent);
    EXPECT_EQ(inner, (std::vector<int64_t>{8, 8}));
    EXPECT_FALSE(has_select_or_clamp(k));
  }
}

TEST(SplitLoops, RotateHalfKeepsResults) {
  for (int64_t hd : {64, 16}) {
    SCOPED_TRACE("hd " + std::to_string(hd));
    check_split_keeps_results(rope_forward_backward(hd));
  }
}

ir::Graph padded_product() {
  ir::Graph g;
  ir::Value x = ir::input(g, "x", {8, 70}, ir::DType::F32, ir::InputRole::Data);
  ir::Value w = ir::input(g, "w", {8, 80}, ir::DType::F32, ir::InputRole::Data);
  ir::output(ir::pad(x, {0, 3}, {8, 80}, {1, 1}) * w + w, "y");  // zeros at columns 0-2 and 73-79
  return g;
}

TEST(SplitLoops, PadIsCutAtBothEdges) {
  ir::Graph g = padded_product();
  ScopedEnv split("GROKJIT_SPLIT_LOOPS", "on");
  const ProgramPlan plan = runtime::cpu_plan(g, {});
  const Kernel& k = kernel_named(plan, "E_");
  SCOPED_TRACE(to_text(k));
  ASSERT_EQ(top_loop_extents(k), (std::vector<int64_t>{3, 70, 7}));
  EXPECT_FALSE(has_select_or_clamp(k));
  // The edges read no x (a masked load whose mask is false there is 0).
  EXPECT_EQ(ops_in(k, k.body[0].body).count(ExprOp::Load), 1u);  // w only
  EXPECT_EQ(ops_in(k, k.body[1].body).count(ExprOp::Load), 2u);
  EXPECT_EQ(ops_in(k, k.body[2].body).count(ExprOp::Load), 1u);
  check_split_keeps_results(g);
}

// A hand-built kernel: one loop over i in [0, n) storing out[i] = value(i),
// split.
struct OneLoop {
  Kernel k;
  BufId a = -1, out = -1;
  OneLoop(int64_t n, const std::function<ExprId(Kernel&, BufId a, ExprId i)>& value) {
    a = k.add_buffer("a", ScalarType::F32, n);
    out = k.add_buffer("out", ScalarType::F32, n);
    k.parallel_var = k.add_var("p", 1);
    VarId i = k.add_var("i", n);
    ExprId I = k.var(i);
    k.body.push_back(make_loop(i, n, {make_store(out, I, value(k, a, I))}));
    split_loops_at_boundaries(k);
  }
};

// A hand-built loop: out[i] = i < 7 ? a[min(i, 6)] : a[max(i - 12, 0)].
// The compare cuts at 7; min(i, 6) may cut at 6 or 7 (equal operands at 6)
// and takes 7; max(i - 12, 0) cuts at 12 or 13 and takes 13.
TEST(SplitLoops, CutsWhereComparesAndClampsChange) {
  OneLoop loop(20, [](Kernel& k, BufId a, ExprId I) {
    return k.select(k.binary(ExprOp::Lt, I, k.index(7)), k.load(a, k.binary(ExprOp::Min, I, k.index(6))),
                    k.load(a, k.binary(ExprOp::Max, k.add(I, k.index(-12)), k.index(0))));
  });
  Kernel& k = loop.k;
  SCOPED_TRACE(to_text(k));
  EXPECT_EQ(top_loop_extents(k), (std::vector<int64_t>{7, 6, 7}));
  EXPECT_FALSE(has_select_or_clamp(k));
  // The pieces read a[i], a[0] and a[i - 12] at their own variables.
  ASSERT_EQ(k.body.size(), 3u);
  auto load_index = [&](const Stmt& piece) { return k.expr(piece.body[0].value).a; };
  auto store_index = [&](const Stmt& piece) { return piece.body[0].index; };
  EXPECT_EQ(load_index(k.body[0]), k.var(k.body[0].var));
  EXPECT_EQ(store_index(k.body[0]), k.var(k.body[0].var));
  EXPECT_EQ(load_index(k.body[1]), k.index(0));
  EXPECT_EQ(store_index(k.body[1]), k.add(k.var(k.body[1].var), k.index(7)));
  EXPECT_EQ(load_index(k.body[2]), k.add(k.var(k.body[2].var), k.index(1)));
  EXPECT_EQ(store_index(k.body[2]), k.add(k.var(k.body[2].var), k.index(13)));
}

TEST(SplitLoops, DecreasingDifferenceCutsToo) {
  // out[i] = 10 < i ? a[i] : 0: the operands' difference 10 - i falls with i.
  OneLoop loop(16, [](Kernel& k, BufId a, ExprId I) {
    return k.select(k.binary(ExprOp::Lt, k.index(10), I), k.load(a, I), k.constant(ScalarType::F32, 0));
  });
  Kernel& k = loop.k;
  SCOPED_TRACE(to_text(k));
  EXPECT_EQ(top_loop_extents(k), (std::vector<int64_t>{11, 5}));
  EXPECT_FALSE(has_select_or_clamp(k));
  ASSERT_EQ(k.body.size(), 2u);
  EXPECT_EQ(k.body[0].body[0].value, k.constant(ScalarType::F32, 0));
}

TEST(SplitLoops, LeavesLoopsItCannotCutCleanly) {
  Kernel k;
  BufId a = k.add_buffer("a", ScalarType::F32, 64), out = k.add_buffer("out", ScalarType::F32, 64);
  k.parallel_var = k.add_var("p", 4);
  k.parallel_extent = 4;
  VarId i = k.add_var("i", 16), j = k.add_var("j", 16);
  ExprId I = k.var(i), J = k.var(j), P = k.var(k.parallel_var);
  ExprId row = k.mul(P, 16);
  // The boundary moves with the parallel variable: not a constant cut.
  ExprId moving = k.select(k.binary(ExprOp::Lt, I, P), k.load(a, k.add(row, I)), k.constant(ScalarType::F32, 0));
  k.body.push_back(make_loop(i, 16, {make_store(out, k.add(row, I), moving)}));
  // Five pieces (cuts at 2, 5, 9 and 12) are more than kMaxLoopPieces.
  ExprId many = k.constant(ScalarType::F32, 0);
  for (int64_t cut : {2, 5, 9, 12})
    many = k.select(k.binary(ExprOp::Lt, J, k.index(cut)), k.load(a, k.add(row, J)), many);
  k.body.push_back(make_loop(j, 16, {make_store(out, k.add(row, J), many)}));
  // An update in place (loads and stores one buffer) keeps its one store
  // index, which the planner's in-place check needs.
  VarId u = k.add_var("u", 16);
  ExprId U = k.var(u);
  ExprId updated = k.select(k.binary(ExprOp::Lt, U, k.index(8)), k.binary(ExprOp::Mul, k.load(out, k.add(row, U)), k.load(a, U)),
                            k.load(out, k.add(row, U)));
  k.body.push_back(make_loop(u, 16, {make_store(out, k.add(row, U), updated)}));
  const std::string before = to_text(k);
  split_loops_at_boundaries(k);
  EXPECT_EQ(to_text(k), before);
  static_assert(kMaxLoopPieces == 4, "the second loop has 5 pieces");
}

}  // namespace
}  // namespace grokjit
