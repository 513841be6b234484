#include <gtest/gtest.h>

#include "ir/builder.h"
#include "tests/codegen/harness.h"

namespace grokjit {
namespace {

using namespace ir;
using testing::check_against_interpreter;
using testing::random_inputs;

TEST(Smoke, AddExp) {
  Graph g;
  Value a = input(g, "a", {4, 8}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {4, 8}, DType::F32, InputRole::Data);
  output(exp(a + b), "y");
  check_against_interpreter(g, random_inputs(g, 1), {});
}

TEST(Smoke, Softmax) {
  Graph g;
  Value a = input(g, "a", {16, 99}, DType::F32, InputRole::Data);
  output(softmax(a, -1), "y");
  check_against_interpreter(g, random_inputs(g, 2), {});
}

TEST(Smoke, MatMul) {
  Graph g;
  Value a = input(g, "a", {37, 20}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {20, 45}, DType::F32, InputRole::Data);
  output(matmul(a, b), "y");
  check_against_interpreter(g, random_inputs(g, 3), {1e-5, 1e-5});
}

}  // namespace
}  // namespace grokjit
