// docs/ops.md is generated from ir::all_ops() and the registry below, which
// says which tests cover each op. The tests fail if an op has no entry, if a
// named test does not exist, or if docs/ops.md differs from the generated
// text. GROKJIT_UPDATE_DOCS=1 rewrites the file instead. Paths are relative
// to the repository root (ctest's working directory).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ir/graph.h"

namespace grokjit::ir {
namespace {

constexpr const char* kDocPath = "docs/ops.md";

struct OpDoc {
  std::vector<std::string> interpreter_tests;
  std::vector<std::string> gradient_tests;  // empty: see no_gradient
  std::string no_gradient;                  // why there is no gradient test
};

std::string unary_interp(Op op) { return "AllUnary/InterpreterUnary.MatchesStdMath/" + std::string(op_name(op)); }
std::string grad_case(const std::string& name) { return "AllOps/GradCheck.MatchesFiniteDifferences/" + name; }

std::vector<std::string> unary_grads(Op op) {
  std::string n(op_name(op));
  return {grad_case(n + "_rank1"), grad_case(n + "_rank3")};
}

std::vector<std::string> binary_grads(Op op) {
  std::vector<std::string> names;
  for (int k = 0; k < 4; ++k) names.push_back(grad_case(std::string(op_name(op)) + "_shapes" + std::to_string(k)));
  return names;
}

std::map<Op, OpDoc> op_docs() {
  std::map<Op, OpDoc> d;
  d[Op::Input] = {{"InterpreterLeaves.InputIsPassedThroughAndChecked"}, {}, "leaf: gradients are taken with respect to it"};
  d[Op::Constant] = {{"InterpreterLeaves.ConstantFillAndData"}, {}, "not differentiable: a constant"};
  d[Op::Iota] = {{"InterpreterLeaves.IotaAlongEachAxis"}, {}, "not differentiable: index values, no inputs"};
  d[Op::RandomUniform] = {{"InterpreterLeaves.RandomUniformMatchesReferenceBits",
                           "InterpreterLeaves.RandomUniformReadsSeedCounterStreamAndIndex",
                           "InterpreterLeaves.RandomUniformPerRunSeedAndCounter"},
                          {},
                          "not differentiable: inputs are i32 seed and counter"};
  for (Op op : {Op::Neg, Op::Exp, Op::Log, Op::Sqrt, Op::Rsqrt, Op::Recip, Op::Sin, Op::Cos, Op::Silu, Op::Sigmoid,
                Op::Tanh, Op::Square})
    d[op] = {{unary_interp(op)}, unary_grads(op), ""};
  for (Op op : {Op::Abs, Op::Sign, Op::Relu})
    d[op] = {{unary_interp(op), "InterpreterElementwise.EdgeCasesByHand"}, unary_grads(op), ""};
  d[Op::Abs].gradient_tests.push_back("Autodiff.KinksFollowTheDocumentedConvention");
  d[Op::Relu].gradient_tests.push_back("Autodiff.KinksFollowTheDocumentedConvention");
  d[Op::Not] = {{"InterpreterElementwise.NotAndLogic"}, {}, "not differentiable: bool"};
  d[Op::Cast] = {{"InterpreterElementwise.CastTruncatesToI32AndTestsNonzeroForBool"},
                 {grad_case("cast_f32_to_f64"), grad_case("cast_f64_to_f32"), "Autodiff.NonFloatPathsCarryNoGradient"},
                 ""};
  for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Max, Op::Min, Op::Pow})
    d[op] = {{"InterpreterBinary.ArithmeticByHand", "InterpreterBinary.BroadcastingByHand"}, binary_grads(op), ""};
  d[Op::Max].gradient_tests.push_back("Autodiff.BinaryMaxMinTiesGoToFirstOperand");
  d[Op::Min].gradient_tests.push_back("Autodiff.BinaryMaxMinTiesGoToFirstOperand");
  d[Op::Pow].gradient_tests.push_back("Autodiff.PowExponentGradientIsZeroForNonPositiveBase");
  d[Op::Add].gradient_tests.push_back("Autodiff.FanOutGradientsAdd");
  for (Op op : {Op::And, Op::Or}) d[op] = {{"InterpreterElementwise.NotAndLogic"}, {}, "not differentiable: bool"};
  for (Op op : {Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne})
    d[op] = {{"InterpreterBinary.CompareByHand"}, {}, "not differentiable: bool result"};
  d[Op::Where] = {{"InterpreterBinary.WhereSelectsElementwise"}, {grad_case("where_broadcast")}, ""};
  d[Op::ReduceSum] = {{"InterpreterReduce.SumAndMaxByHand", "InterpreterReduce.MiddleAxisOfRank3"},
                      {grad_case("reduce_sum_middle"), grad_case("reduce_sum_outer_axes_keepdims"), grad_case("reduce_sum_all")},
                      ""};
  d[Op::ReduceMax] = {{"InterpreterReduce.SumAndMaxByHand"},
                      {grad_case("reduce_max_last"), grad_case("reduce_max_outer_axes"), "Autodiff.ReduceMaxSplitsTiesEqually"},
                      ""};
  d[Op::Broadcast] = {{"InterpreterMovement.BroadcastReshapePermute", "InterpreterBinary.BroadcastingByHand"},
                      {grad_case("broadcast")}, ""};
  d[Op::Reshape] = {{"InterpreterMovement.BroadcastReshapePermute"}, {grad_case("reshape")}, ""};
  d[Op::Permute] = {{"InterpreterMovement.BroadcastReshapePermute"}, {grad_case("permute")}, ""};
  d[Op::Slice] = {{"InterpreterMovement.SlicePadConcat"}, {grad_case("slice_strided")}, ""};
  d[Op::Pad] = {{"InterpreterMovement.SlicePadConcat"}, {grad_case("pad_strided")}, ""};
  d[Op::Concat] = {{"InterpreterMovement.SlicePadConcat"}, {grad_case("concat")}, ""};
  d[Op::MatMul] = {{"InterpreterMatMul.ByHandAndBatchedAgainstNaiveLoops"},
                   {grad_case("mat_mul_shapes0"), grad_case("mat_mul_shapes1"), grad_case("mat_mul_shapes2")},
                   ""};
  d[Op::Gather] = {{"InterpreterIndex.GatherRowsAndOutOfRangeIndex"}, {grad_case("gather_repeated_rows")}, ""};
  d[Op::ScatterAdd] = {{"InterpreterIndex.ScatterAddAccumulatesDuplicates"}, {grad_case("scatter_add_duplicates")}, ""};
  return d;
}

std::string code_list(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : "<br>") + ("`" + n + "`");
  return s;
}

std::string generate_doc() {
  std::ostringstream out;
  out << "# Ops\n\n"
         "Generated by `tests/ir/ops_doc_test.cpp` from `ir::all_ops()` and the test registry in that file;\n"
         "the test fails when this file, the op list or the named tests drift apart. Regenerate with\n"
         "`GROKJIT_UPDATE_DOCS=1 build/release/tests/test_ir --gtest_filter='OpsDoc.*'` (from the repository root).\n\n"
         "Gradient tests named `AllOps/GradCheck...` compare `ir::grad` with central finite differences in\n"
         "float64 (step 1e-5, relative tolerance 1e-6) on random inputs, away from kinks and ties.\n\n"
         "Conventions: the interpreter computes every dtype in float64 and never rounds f32; i32 arithmetic\n"
         "wraps; Cast to i32 truncates toward zero. Max/Min ties send the gradient to the first operand;\n"
         "ReduceMax splits it equally among tied maxima; Relu'(0) = Abs'(0) = 0; Sign has zero gradient;\n"
         "d(a^b)/db = 0 where a <= 0. Only float inputs receive gradients.\n\n"
         "| op | category | arity | interpreter test | gradient test |\n"
         "|---|---|---|---|---|\n";
  std::map<Op, OpDoc> docs = op_docs();
  for (Op op : all_ops()) {
    const OpDoc& d = docs.at(op);
    std::string arity = op_arity(op) < 0 ? "n" : std::to_string(op_arity(op));
    std::string grads = d.gradient_tests.empty() ? d.no_gradient : code_list(d.gradient_tests);
    out << "| `" << op_name(op) << "` | " << op_category_name(op_category(op)) << " | " << arity << " | "
        << code_list(d.interpreter_tests) << " | " << grads << " |\n";
  }
  return out.str();
}

TEST(OpsDoc, EveryOpHasAnEntry) {
  std::map<Op, OpDoc> docs = op_docs();
  for (Op op : all_ops()) {
    auto it = docs.find(op);
    ASSERT_NE(it, docs.end()) << op_name(op) << " has no entry in tests/ir/ops_doc_test.cpp";
    EXPECT_FALSE(it->second.interpreter_tests.empty()) << op_name(op) << ": no interpreter test";
    EXPECT_NE(it->second.gradient_tests.empty(), it->second.no_gradient.empty())
        << op_name(op) << ": name gradient tests or say why there are none, not both";
  }
  EXPECT_EQ(docs.size(), all_ops().size());
}

std::set<std::string> registered_tests() {
  std::set<std::string> names;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j)
      names.insert(std::string(suite.name()) + "." + suite.GetTestInfo(j)->name());
  }
  return names;
}

TEST(OpsDoc, NamedTestsExist) {
  std::set<std::string> tests = registered_tests();
  for (const auto& [op, d] : op_docs()) {
    for (const auto* list : {&d.interpreter_tests, &d.gradient_tests})
      for (const std::string& name : *list) EXPECT_TRUE(tests.count(name)) << op_name(op) << ": no test named " << name;
  }
}

TEST(OpsDoc, DocsOpsMdIsUpToDate) {
  std::string want = generate_doc();
  const char* update = std::getenv("GROKJIT_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    std::ofstream(kDocPath) << want;
    GTEST_SKIP() << "rewrote " << kDocPath;
  }
  std::ifstream in(kDocPath);
  ASSERT_TRUE(in) << kDocPath << " not found: run from the repository root (ctest does), or create it with "
                  << "GROKJIT_UPDATE_DOCS=1";
  std::stringstream have;
  have << in.rdbuf();
  EXPECT_EQ(have.str(), want) << kDocPath << " is stale: rerun with GROKJIT_UPDATE_DOCS=1 and commit the result";
}

}  // namespace
}  // namespace grokjit::ir
