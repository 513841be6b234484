// The emitted CUDA C, run on the CPU under tests/cuda/cuda_emulation.h and
// compared with the float64 interpreter: every kernel kind (E, R rows and
// columns, MM/BMM with prologue and epilogue, S, C), the counter-based random
// bit for bit, and a whole small Transformer training step, with fusion on
// and off. All kernels of all cases go into one shared object (one compiler
// run), built on first use.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include "codegen/cuda_emit.h"
#include "codegen/llvm_emit.h"  // kernel_symbol
#include "codegen/plan.h"
#include "ir/autodiff.h"
#include "ir/builder.h"
#include "ir/pack_runs.h"
#include "tests/codegen/harness.h"
#include "tests/codegen/tiny_model.h"
#include "tests/cuda/emulation.h"

namespace grokjit {
namespace {

using namespace ir;
using testing::InputRange;
using testing::Tolerance;

struct Case {
  std::string name;
  Graph graph;
  TensorMap inputs;
  Tolerance tol;
  std::set<std::string> bitwise = {};  // outputs that must match bit for bit
};

Value rmsnorm(Value x, Value gain) { return x * rsqrt(mean(square(x), {-1}, true) + 1e-5) * gain; }

Case make(const std::string& name, const std::function<void(Graph&)>& build, Tolerance tol,
          const std::map<std::string, InputRange>& ranges = {}, InputRange fallback = {}, uint32_t seed = 7) {
  Case c{name, Graph{}, {}, tol};
  build(c.graph);
  c.inputs = testing::random_inputs(c.graph, seed, ranges, fallback);
  return c;
}

std::vector<Case> make_cases() {
  std::vector<Case> cs;
  for (DType t : {DType::F32, DType::F64}) {
    bool f32 = t == DType::F32;
    cs.push_back(make(std::string("unary_") + (f32 ? "f32" : "f64"), [&](Graph& g) {
      Value x = input(g, "x", {7, 33}, t, InputRole::Data), pos = input(g, "pos", {7, 33}, t, InputRole::Data);
      Value big = input(g, "big", {7, 33}, t, InputRole::Data), mid = input(g, "mid", {7, 33}, t, InputRole::Data);
      for (Op op : {Op::Neg, Op::Abs, Op::Sign, Op::Relu, Op::Square, Op::Silu, Op::Sigmoid, Op::Tanh})
        output(unary(op, op == Op::Silu || op == Op::Sigmoid || op == Op::Tanh ? mid : x), std::string(op_name(op)));
      for (Op op : {Op::Log, Op::Sqrt, Op::Rsqrt, Op::Recip}) output(unary(op, pos), std::string(op_name(op)));
      for (Op op : {Op::Exp, Op::Sin, Op::Cos}) output(unary(op, big), std::string(op_name(op)));
    }, f32 ? Tolerance{4e-6, 1e-6} : Tolerance{1e-12, 1e-14},
                      {{"x", {-3, 3}}, {"pos", {0.25, 50}}, {"big", {-40, 40}}, {"mid", {-12, 12}}}));
    cs.push_back(make(std::string("binary_") + (f32 ? "f32" : "f64"), [&](Graph& g) {
      Value a = input(g, "a", {8, 24}, t, InputRole::Data), b = input(g, "b", {8, 24}, t, InputRole::Data);
      Value pa = input(g, "pa", {8, 24}, t, InputRole::Data);
      for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Max, Op::Min}) output(binary(op, a, b), std::string(op_name(op)));
      output(pow(pa, a), "pow");
      // few distinct values, so that equality happens
      Value ca = cast(input(g, "ca", {8, 24}, DType::I32, InputRole::Data), t), cb = cast(input(g, "cb", {8, 24}, DType::I32, InputRole::Data), t);
      for (Op op : {Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne}) output(binary(op, ca, cb), std::string(op_name(op)));
    }, f32 ? Tolerance{1e-6, 1e-7} : Tolerance{1e-12, 1e-14},
                      {{"a", {-3, 3}}, {"b", {0.5, 3}}, {"pa", {0.1, 5}}, {"ca", {-3, 3}}, {"cb", {-3, 3}}}));
  }
  cs.push_back(make("int_ops", [](Graph& g) {
    Value a = input(g, "a", {4, 19}, DType::I32, InputRole::Data), b = input(g, "b", {4, 19}, DType::I32, InputRole::Data);
    Value s = input(g, "s", {4, 19}, DType::I32, InputRole::Data), t = input(g, "t", {4, 19}, DType::I32, InputRole::Data);
    for (Op op : {Op::Add, Op::Sub, Op::Max, Op::Min}) output(binary(op, a, b), std::string(op_name(op)));
    output(s * t, "mul");
    for (Op op : {Op::Neg, Op::Abs, Op::Sign, Op::Relu}) output(unary(op, a), std::string(op_name(op)));
    output(square(s), "square");
    Value ca = input(g, "ca", {4, 19}, DType::I32, InputRole::Data), cb = input(g, "cb", {4, 19}, DType::I32, InputRole::Data);
    for (Op op : {Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Eq, Op::Ne}) output(binary(op, ca, cb), std::string(op_name(op)));
  }, {0, 0}, {{"a", {-2147483648.0, 2147483647.0}}, {"b", {-2147483648.0, 2147483647.0}}, {"s", {-40000, 40000}}, {"t", {-40000, 40000}},
              {"ca", {-3, 3}}, {"cb", {-3, 3}}}));
  cs.push_back(make("casts_logic_where", [](Graph& g) {
    for (DType from : {DType::F32, DType::F64, DType::I32, DType::Bool}) {
      Value x = input(g, "x_" + std::string(dtype_name(from)), {6, 11}, from, InputRole::Data);
      for (DType to : {DType::F32, DType::F64, DType::I32, DType::Bool})
        if (from != to) output(cast(x, to), std::string(dtype_name(from)) + "_to_" + std::string(dtype_name(to)));
    }
    Value p = input(g, "p", {3, 21}, DType::Bool, InputRole::Data), q = input(g, "q", {3, 21}, DType::Bool, InputRole::Data);
    output(logical_and(p, q), "and");
    output(logical_or(p, q), "or");
    output(logical_not(p), "not");
    output(eq(p, q), "eq");
    Value c = input(g, "c", {6, 13}, DType::Bool, InputRole::Data);
    output(where(c, input(g, "wa", {6, 13}, DType::F32, InputRole::Data), input(g, "wb", {6, 13}, DType::F32, InputRole::Data)), "where");
  }, {1e-7, 0}, {}, {-1000, 1000}));
  cs.push_back(make("movement", [](Graph& g) {
    Value x = input(g, "x", {2, 3, 4}, DType::F32, InputRole::Data);
    output(broadcast_to(reshape(x, {2, 3, 1, 4}), {2, 3, 5, 4}), "broadcast");
    output(reshape(permute(x, {2, 0, 1}), {8, 3}), "permute_reshape");
    output(slice(x, {1, 0, 1}, {1, 2, 2}, {1, 2, 2}), "slice");
    output(pad(x, {1, 0, 2}, {4, 5, 12}, {1, 2, 3}), "pad");
    output(concat({x, input(g, "y", {2, 2, 4}, DType::F32, InputRole::Data), x}, 1), "concat");
    output(x, "same");  // an input returned as is: a copy kernel
  }, {0, 0}));
  cs.push_back(make("leaves_random", [](Graph& g) {
    Value x = input(g, "x", {3, 4}, DType::F32, InputRole::Data);
    output(x * constant_data(g, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 4}) + constant(g, 2.5, {3, 4}), "consts");
    output(iota(g, {3, 4, 5}, 1, DType::I32), "iota");
    Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar), counter = input(g, "counter", {}, DType::I32, InputRole::Scalar);
    output(random_uniform(seed, counter, {7, 129}, 3, DType::F32), "u32");
    output(random_uniform(seed, counter, {7, 129}, 4, DType::F64), "u64");
    // dropout: a mask from the random numbers
    Value h = input(g, "h", {7, 129}, DType::F32, InputRole::Data);
    Value u = random_uniform(seed, counter, {7, 129}, 5, DType::F32);
    output(h * (cast(ge(u, scalar_like(u, 0.2)), DType::F32) * 1.25), "dropout");
  }, {1e-6, 1e-7}, {{"seed", {-2147483648.0, 2147483647.0}}, {"counter", {-2147483648.0, 2147483647.0}}}));
  cs.back().bitwise = {"u32", "u64", "iota"};
  {
    struct R {
      Shape shape;
      std::vector<int64_t> axes;
    };
    std::vector<R> rs = {{{6, 37}, {1}}, {{6, 37}, {0}}, {{4, 5, 6}, {1}}, {{4, 5, 6}, {0, 2}}, {{4, 5, 6}, {1, 2}},
                         {{4, 5, 6}, {0, 1, 2}}, {{130}, {0}}, {{3, 1, 7}, {1}}, {{5, 700}, {1}}, {{300, 3}, {0}}};
    for (DType t : {DType::F32, DType::F64, DType::I32})
      cs.push_back(make(std::string("reductions_") + std::string(dtype_name(t)), [&](Graph& g) {
        for (size_t i = 0; i < rs.size(); ++i) {
          Value x = input(g, "x" + std::to_string(i), rs[i].shape, t, InputRole::Data);
          output(sum(x, rs[i].axes, true), "sum" + std::to_string(i));
          output(max(x, rs[i].axes, true), "max" + std::to_string(i));
        }
      }, t == DType::F32 ? Tolerance{1e-5, 1e-5} : t == DType::F64 ? Tolerance{1e-12, 1e-12} : Tolerance{0, 0}, {}, {-50, 50}));
  }
  cs.push_back(make("softmax_argmax", [](Graph& g) {
    output(softmax(input(g, "a", {96, 99}, DType::F32, InputRole::Data), -1), "softmax");
    output(softmax(input(g, "short", {50, 4}, DType::F32, InputRole::Data), -1), "softmax4");
    output(softmax(input(g, "long", {3, 1500}, DType::F32, InputRole::Data), -1), "softmax1500");
    output(argmax(cast(input(g, "i", {30, 7}, DType::I32, InputRole::Data), DType::F32), -1), "argmax");
  }, {1e-5, 1e-7}, {{"i", {-3, 3}}}, {-10, 10}));
  cs.push_back(make("rmsnorm_fwd_bwd", [](Graph& g) {
    Value x = input(g, "x", {40, 64}, DType::F32, InputRole::Data);
    Value gain = input(g, "g", {64}, DType::F32, InputRole::Param);
    Value dy = input(g, "dy", {40, 64}, DType::F32, InputRole::Data);
    Value y = rmsnorm(x, gain);
    output(y, "y");
    auto grads = vjp(y, dy, std::vector<Value>{x, gain});
    output(grads[0], "dx");
    output(grads[1], "dg");
  }, {2e-5, 1e-5}));
  cs.push_back(make("cross_entropy", [](Graph& g) {
    Value logits = input(g, "logits", {64, 99}, DType::F32, InputRole::Data);
    Value labels = input(g, "labels", {64}, DType::I32, InputRole::Data);
    Value loss = mean(-sum(one_hot(labels, 99) * log_softmax(logits, -1), {-1}), {0});
    output(loss, "loss");
    output(grad(loss, std::vector<Value>{logits})[0], "dlogits");
  }, {1e-5, 1e-7}, {{"labels", {0, 98}}}, {-5, 5}));
  cs.push_back(make("matmul", [](Graph& g) {
    struct M {
      Shape a, b;
    };
    std::vector<M> ms = {{{1, 1}, {1, 1}}, {{5, 3}, {3, 7}}, {{37, 20}, {20, 45}}, {{7, 600}, {600, 9}}, {{3, 4, 8}, {3, 8, 5}},
                         {{2, 2, 3, 6}, {2, 2, 6, 4}}};
    for (size_t i = 0; i < ms.size(); ++i)
      output(matmul(input(g, "a" + std::to_string(i), ms[i].a, DType::F32, InputRole::Data),
                    input(g, "b" + std::to_string(i), ms[i].b, DType::F32, InputRole::Data)),
             "mm" + std::to_string(i));
    Value x = input(g, "x", {40, 24}, DType::F32, InputRole::Data), dy = input(g, "dy", {40, 18}, DType::F32, InputRole::Data);
    Value w = input(g, "w", {24, 18}, DType::F32, InputRole::Data);
    output(matmul(transpose(x), dy), "xT_dy");
    output(matmul(dy, transpose(w)), "dy_wT");
    Value s = input(g, "s", {24}, DType::F32, InputRole::Data), r = input(g, "r", {40, 24}, DType::F32, InputRole::Data);
    output(silu(matmul(relu(x) * s, transpose(matmul(dy, transpose(w))))) + 1.0, "prologue_epilogue");
    output(tanh(matmul(x * 0.5, transpose(r))) * 2.0, "tanh_epilogue");
    Value big_a = input(g, "big_a", {200, 96}, DType::F32, InputRole::Data), big_b = input(g, "big_b", {96, 260}, DType::F32, InputRole::Data);
    output(matmul(big_a, big_b) * 0.5, "big");
    output(matmul(transpose(big_b), transpose(big_a)), "big_transposed");
  }, {1e-5, 2e-5}));
  cs.push_back(make("matmul_f64", [](Graph& g) {
    output(matmul(input(g, "a", {9, 70}, DType::F64, InputRole::Data), input(g, "b", {70, 11}, DType::F64, InputRole::Data)), "y");
  }, {1e-12, 1e-12}));
  cs.push_back(make("gather_scatter", [](Graph& g) {
    Value table = input(g, "table", {11, 6}, DType::F32, InputRole::Param);
    Value idx = input(g, "idx", {4, 5}, DType::I32, InputRole::Data);
    output(gather(table, idx), "rows");
    output(scatter_add(idx, input(g, "upd", {4, 5, 6}, DType::F32, InputRole::Data), 11), "scattered");
    Value j = input(g, "j", {50}, DType::I32, InputRole::Data);
    output(scatter_add(j, input(g, "iu", {50, 3}, DType::I32, InputRole::Data), 4), "int_scattered");
  }, {1e-6, 1e-6}, {{"idx", {0, 10}}, {"j", {0, 3}}, {"iu", {-100, 100}}}));
  cs.push_back(make("optimizer_updates", [](Graph& g) {
    for (int i = 0; i < 3; ++i) {
      Value w = input(g, "w" + std::to_string(i), {32, 32}, DType::F32, InputRole::Param);
      Value gr = input(g, "g" + std::to_string(i), {32, 32}, DType::F32, InputRole::Data);
      Value m = input(g, "m" + std::to_string(i), {32, 32}, DType::F32, InputRole::State);
      Value m2 = m * 0.9 + gr * 0.1;
      update(m, m2);
      update(w, w - m2 * 0.01);
    }
    // a swap: cannot be done in place (copy kernels)
    Value p = input(g, "p", {40}, DType::F32, InputRole::Param), q = input(g, "q", {40}, DType::F32, InputRole::Param);
    update(p, q);
    update(q, p);
  }, {1e-6, 1e-7}));
  // Runs packed into one program (ir/pack_runs.h): per-run seeds and counters
  // index the random numbers by run, bit for bit; two tiny steps in one.
  cs.push_back(make("packed_random", [](Graph& g) {
    Value seeds = input(g, "seeds", {3}, DType::I32, InputRole::Scalar);
    Value counters = input(g, "counters", {3}, DType::I32, InputRole::Scalar);
    Value counter = input(g, "counter", {}, DType::I32, InputRole::Scalar);
    output(random_uniform(seeds, counter, {3, 7, 129}, 3, DType::F32), "u32");
    output(random_uniform(counter, counters, {3, 5}, 1, DType::F64), "u64");
  }, {0, 0}, {{"seeds", {-2147483648.0, 2147483647.0}}, {"counters", {0, 100000}}, {"counter", {0, 100000}}}));
  cs.back().bitwise = {"u32", "u64"};
  {
    testing::TinyConfig cfg;
    testing::TinyModel m = testing::tiny_transformer(cfg);
    auto per_run = [](const Node& n) { return n.attrs.role != InputRole::Scalar || n.attrs.name == "seed"; };
    Case c{"packed_tiny_train_step", pack_runs(m.graph, 2, per_run), {}, {2e-4, 2e-5}};
    c.inputs = testing::tiny_inputs(testing::TinyModel{c.graph, m.params}, cfg, 13);
    cs.push_back(std::move(c));
  }
  {  // stays the last case: EmissionIsDeterministic plans cases.back() again
    testing::TinyConfig cfg;
    testing::TinyModel m = testing::tiny_transformer(cfg);
    Case c{"tiny_train_step", std::move(m.graph), {}, {2e-4, 2e-5}};
    c.inputs = testing::tiny_inputs(testing::TinyModel{c.graph, m.params}, cfg, 11);
    cs.push_back(std::move(c));
  }
  return cs;
}

struct Suite {
  std::vector<Case> cases;
  std::map<std::string, codegen::ProgramPlan> plans;  // by case name + "/on" or "/off"
  std::unique_ptr<testing::EmulatedKernels> kernels;
  std::string error;
};

codegen::PlanOptions plan_options(bool fusion) {
  codegen::PlanOptions o;
  o.fusion = fusion;
  return o;  // the default TargetInfo: 6x16 register tiles (the matmul tiles of the kernel IR)
}

// Larger matmul tiles (multiples of 16 x 64), as a GPU target would choose:
// the emitter then uses 64 x 64 pieces (4 x 4 sums per thread) and splits one
// IR tile over several blocks.
codegen::PlanOptions big_tiles() {
  codegen::PlanOptions o;
  o.target.gemm_mr = 16;
  o.target.gemm_nr = 64;
  return o;
}
const char* const kBigTileCases[] = {"matmul", "tiny_train_step"};

// The plans a case runs: fusion on and off, and big tiles where listed.
std::vector<std::string> variants(const std::string& name) {
  std::vector<std::string> v = {"/on", "/off"};
  for (const char* c : kBigTileCases)
    if (name == c) v.push_back("/big");
  return v;
}

Suite& suite() {
  static Suite s = [] {
    Suite s;
    s.cases = make_cases();
    std::vector<const codegen::Kernel*> all;
    for (const Case& c : s.cases)
      for (const std::string& v : variants(c.name)) {
        auto& p = s.plans[c.name + v] = codegen::plan_program(c.graph, v == "/big" ? big_tiles() : plan_options(v == "/on"));
        for (const auto& pk : p.kernels) all.push_back(&pk.kernel);
      }
    if (const char* dir = std::getenv("GROKJIT_DUMP_CUDA")) {  // for a look, or nvcc by hand
      std::filesystem::create_directories(dir);
      for (const codegen::Kernel* k : all) {
        codegen::CudaKernelSource src = codegen::emit_cuda(*k);
        std::ofstream(std::string(dir) + "/" + src.symbol + ".cu") << src.source;
      }
    }
    try {
      s.kernels = std::make_unique<testing::EmulatedKernels>(all, std::vector<testing::EmulatedKernels::Raw>{}, 2);
      std::cout << "emulation: " << all.size() << " kernels compiled in " << s.kernels->compile_seconds() << " s\n";
    } catch (const std::exception& e) {
      s.error = e.what();
    }
    return s;
  }();
  return s;
}

void check_case(const std::string& name) {
  Suite& s = suite();
  ASSERT_TRUE(s.error.empty()) << s.error;
  const Case* c = nullptr;
  for (const Case& x : s.cases)
    if (x.name == name) c = &x;
  ASSERT_NE(c, nullptr) << name;
  InterpretResult want = interpret(c->graph, c->inputs);
  for (const std::string& v : variants(name)) {
    SCOPED_TRACE(name + v);
    const codegen::ProgramPlan& plan = s.plans.at(name + v);
    testing::EmulatedRun got = testing::run_plan_emulated(plan, c->graph, c->inputs, *s.kernels, 1);
    for (const auto& [n, t] : want.outputs) {
      if (c->bitwise.count(n)) testing::expect_bitwise(got.outputs.at(n), t, "output " + n);
      else testing::expect_close(got.outputs.at(n), t, "output " + n, c->tol);
    }
    for (const auto& [n, t] : want.updated) testing::expect_close(got.updated.at(n), t, "updated " + n, c->tol);
  }
}

TEST(CudaEmulation, UnaryF32) { check_case("unary_f32"); }
TEST(CudaEmulation, UnaryF64) { check_case("unary_f64"); }
TEST(CudaEmulation, BinaryF32) { check_case("binary_f32"); }
TEST(CudaEmulation, BinaryF64) { check_case("binary_f64"); }
TEST(CudaEmulation, IntOpsWrap) { check_case("int_ops"); }
TEST(CudaEmulation, CastsLogicWhere) { check_case("casts_logic_where"); }
TEST(CudaEmulation, Movement) { check_case("movement"); }
TEST(CudaEmulation, LeavesAndRandomBitExact) { check_case("leaves_random"); }
TEST(CudaEmulation, ReductionsF32) { check_case("reductions_f32"); }
TEST(CudaEmulation, ReductionsF64) { check_case("reductions_f64"); }
TEST(CudaEmulation, ReductionsI32) { check_case("reductions_i32"); }
TEST(CudaEmulation, SoftmaxArgmax) { check_case("softmax_argmax"); }
TEST(CudaEmulation, RmsNormForwardBackward) { check_case("rmsnorm_fwd_bwd"); }
TEST(CudaEmulation, CrossEntropyForwardBackward) { check_case("cross_entropy"); }
TEST(CudaEmulation, MatMul) { check_case("matmul"); }
TEST(CudaEmulation, MatMulF64) { check_case("matmul_f64"); }
TEST(CudaEmulation, GatherScatterAdd) { check_case("gather_scatter"); }
TEST(CudaEmulation, OptimizerUpdatesInPlace) { check_case("optimizer_updates"); }
TEST(CudaEmulation, TinyTransformerTrainStep) { check_case("tiny_train_step"); }
TEST(CudaEmulation, PackedRandomBitExact) { check_case("packed_random"); }
TEST(CudaEmulation, PackedTinyTransformerTrainStep) { check_case("packed_tiny_train_step"); }

// Every kernel kind appears among the cases (else a kind would go unchecked).
TEST(CudaEmulation, CoversEveryKernelKind) {
  std::set<std::string> kinds;
  for (const auto& [name, plan] : suite().plans)
    for (const auto& pk : plan.kernels) kinds.insert(pk.kernel.kind);
  for (const char* k : {"E", "R", "MM", "BMM", "S", "C"}) EXPECT_TRUE(kinds.count(k)) << "no " << k << " kernel among the cases";
}

// Thread order does not enter any result: two different shuffles of the
// threads give bitwise the same training step.
TEST(CudaEmulation, ThreadOrderDoesNotChangeResults) {
  Suite& s = suite();
  ASSERT_TRUE(s.error.empty()) << s.error;
  const Case* c = nullptr;
  for (const Case& x : s.cases)
    if (x.name == "tiny_train_step") c = &x;
  ASSERT_NE(c, nullptr);
  const codegen::ProgramPlan& plan = s.plans.at("tiny_train_step/on");
  auto a = testing::run_plan_emulated(plan, c->graph, c->inputs, *s.kernels, 1);
  auto b = testing::run_plan_emulated(plan, c->graph, c->inputs, *s.kernels, 99);
  for (const auto& [n, t] : a.outputs) testing::expect_bitwise(b.outputs.at(n), t, n);
  for (const auto& [n, t] : a.updated) testing::expect_bitwise(b.updated.at(n), t, n);
}

// The emitter prints the same text for the same kernel IR.
TEST(CudaEmulation, EmissionIsDeterministic) {
  const codegen::ProgramPlan& plan = suite().plans.at("tiny_train_step/on");
  codegen::ProgramPlan again = codegen::plan_program(suite().cases.back().graph, plan_options(true));
  ASSERT_EQ(plan.kernels.size(), again.kernels.size());
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    auto a = codegen::emit_cuda(plan.kernels[i].kernel), b = codegen::emit_cuda(again.kernels[i].kernel);
    EXPECT_EQ(a.source, b.source) << plan.kernels[i].kernel.name;
    EXPECT_EQ(a.launch.text(), b.launch.text());
    EXPECT_EQ(a.symbol, codegen::kernel_symbol(plan.kernels[i].kernel));
    EXPECT_EQ(a.source.find("#include"), std::string::npos);
  }
}

}  // namespace
}  // namespace grokjit
