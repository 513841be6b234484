// ir::pack_runs: run r of a packed graph computes what the graph computes on
// run r's inputs. The oracle is the float64 interpreter on the unpacked graph,
// once per run; the packed graph is checked in the interpreter (bit for bit:
// packing changes no summation order) and on the CPU backend, fusion on and
// off, against the interpreter and against unpacked CPU runs.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/pack_runs.h"
#include "ir/random.h"
#include "ir/verify.h"
#include "models/params.h"
#include "runtime/step_graph.h"
#include "tests/codegen/harness.h"
#include "tests/codegen/tiny_model.h"

namespace grokjit {
namespace {

using namespace ir;
using testing::InputRange;
using testing::Tolerance;

constexpr int64_t kRuns = 3;

// The inputs of R runs: one map per run (shared inputs equal in all of them)
// and the packed map (per-run inputs stacked along a leading axis).
struct RunInputs {
  std::vector<TensorMap> each;
  TensorMap packed;
};

Tensor64 stack(const std::vector<Tensor64>& parts) {
  Shape s{static_cast<int64_t>(parts.size())};
  s.insert(s.end(), parts[0].shape.begin(), parts[0].shape.end());
  Tensor64 t(s, {});
  for (const Tensor64& p : parts) t.data.insert(t.data.end(), p.data.begin(), p.data.end());
  return t;
}

Tensor64 run_slice(const Tensor64& packed, int64_t r) {
  Shape s(packed.shape.begin() + 1, packed.shape.end());
  auto n = static_cast<size_t>(num_elements(s));
  auto begin = packed.data.begin() + static_cast<int64_t>(n * static_cast<size_t>(r));
  return Tensor64(s, std::vector<double>(begin, begin + static_cast<int64_t>(n)));
}

RunInputs make_runs(const Graph& g, const PerRunInput& per_run, const std::function<TensorMap(int64_t r)>& inputs_of_run) {
  RunInputs runs;
  for (int64_t r = 0; r < kRuns; ++r) runs.each.push_back(inputs_of_run(r));
  for (NodeId id : g.inputs()) {
    const Node& n = g.node(id);
    const std::string& name = n.attrs.name;
    if (!per_run(n)) {
      for (TensorMap& m : runs.each) m[name] = runs.each[0].at(name);
      runs.packed[name] = runs.each[0].at(name);
      continue;
    }
    std::vector<Tensor64> parts;
    for (const TensorMap& m : runs.each) parts.push_back(m.at(name));
    runs.packed[name] = stack(parts);
  }
  return runs;
}

// Random inputs per run (another seed per run) in the given ranges.
RunInputs random_runs(const Graph& g, const PerRunInput& per_run, const std::map<std::string, InputRange>& ranges = {}) {
  return make_runs(g, per_run, [&](int64_t r) { return testing::random_inputs(g, 100 + static_cast<uint32_t>(r), ranges); });
}

// What the unpacked graph gives on each run, by the interpreter.
std::vector<InterpretResult> interpret_each(const Graph& g, const RunInputs& runs) {
  std::vector<InterpretResult> out;
  for (const TensorMap& m : runs.each) out.push_back(interpret(g, m));
  return out;
}

using Results = std::pair<const TensorMap*, const TensorMap*>;  // outputs, updated

void expect_packed_equals_each(const Results& packed, const std::vector<Results>& each,
                               const std::function<void(const Tensor64&, const Tensor64&, const std::string&)>& compare) {
  for (size_t r = 0; r < each.size(); ++r) {
    for (int part = 0; part < 2; ++part) {  // outputs, then updated inputs
      const TensorMap& want = part == 0 ? *each[r].first : *each[r].second;
      const TensorMap& got = part == 0 ? *packed.first : *packed.second;
      ASSERT_EQ(got.size(), want.size());
      for (const auto& [name, t] : want) {
        ASSERT_TRUE(got.count(name)) << name;
        ASSERT_EQ(got.at(name).shape.at(0), kRuns) << name;
        compare(run_slice(got.at(name), static_cast<int64_t>(r)), t, name + " of run " + std::to_string(r));
      }
    }
  }
}

// The packed graph in the interpreter equals the unpacked one per run, bit
// for bit; on the CPU (fusion on and off) it matches the interpreter and the
// unpacked CPU runs within `tol`.
void check_packing(const Graph& g, const PerRunInput& per_run, const RunInputs& runs, Tolerance tol, bool cpu = true) {
  Graph packed = pack_runs(g, kRuns, per_run);
  verify(packed);
  std::vector<InterpretResult> want = interpret_each(g, runs);
  std::vector<Results> want_refs;
  for (const InterpretResult& w : want) want_refs.push_back({&w.outputs, &w.updated});
  InterpretResult got = interpret(packed, runs.packed);
  expect_packed_equals_each({&got.outputs, &got.updated}, want_refs, testing::expect_bitwise);
  if (!cpu) return;
  auto close = [&](const Tensor64& a, const Tensor64& b, const std::string& what) { testing::expect_close(a, b, what, tol); };
  for (bool fusion : {true, false}) {
    SCOPED_TRACE(fusion ? "fusion on" : "fusion off");
    runtime::CompileOptions o;
    o.fusion = fusion;
    testing::RunResult cpu_packed = testing::run_on(testing::cpu_device(), packed, runs.packed, o);
    expect_packed_equals_each({&cpu_packed.outputs, &cpu_packed.updated}, want_refs, close);
    std::vector<testing::RunResult> cpu_each;
    for (const TensorMap& m : runs.each) cpu_each.push_back(testing::run_on(testing::cpu_device(), g, m, o));
    std::vector<Results> cpu_refs;
    for (const testing::RunResult& c : cpu_each) cpu_refs.push_back({&c.outputs, &c.updated});
    expect_packed_equals_each({&cpu_packed.outputs, &cpu_packed.updated}, cpu_refs, close);
  }
}

PerRunInput named(std::set<std::string> names) {
  return [names](const Node& n) { return names.count(n.attrs.name) > 0; };
}

const Tolerance kF32{2e-5, 1e-6};

// ---- one graph per op kind

TEST(PackRuns, ElementwiseCompareWhereAndCastBroadcastSharedOperands) {
  Graph g;
  Value x = input(g, "x", {4, 5}, DType::F32, InputRole::Data);
  Value w = input(g, "w", {5}, DType::F32, InputRole::Param);
  Value y = tanh(x * w + 1.0);
  output(y, "y");
  output(where(gt(x, w), x, -square(x)), "where");
  output(cast(lt(x, scalar_like(x, 0.25)), DType::F32) * y + cast(logical_and(ge(x, w), ne(x, w)), DType::F32), "cmp");
  output(cast(cast(x * 3.0, DType::I32), DType::F64), "cast");
  output(exp(w) / (1.0 + abs(w)), "shared_only");  // reads no per-run value: broadcast to [R, 5]
  output(sum_all(x * x), "scalar");                // f32[] -> f32[R]
  check_packing(g, named({"x"}), random_runs(g, named({"x"})), kF32);
  check_packing(g, named({"w"}), random_runs(g, named({"w"})), kF32);
  check_packing(g, named({"x", "w"}), random_runs(g, named({"x", "w"})), kF32);
}

TEST(PackRuns, ReductionsShiftTheirAxes) {
  Graph g;
  Value x = input(g, "x", {3, 4, 5}, DType::F32, InputRole::Data);
  output(sum(x, {0}), "sum0");
  output(sum(x, {1, 2}, true), "sum12");
  output(max(x, {-1}), "max_last");
  output(min(x, {0, 2}), "min02");
  output(mean(x, {1}), "mean1");
  output(softmax(x, 1), "softmax1");
  output(cast(argmax(x, 2), DType::F32), "argmax2");
  check_packing(g, named({"x"}), random_runs(g, named({"x"})), kF32);
}

TEST(PackRuns, MovementOpsShiftTheirAxes) {
  Graph g;
  Value x = input(g, "x", {4, 6}, DType::F32, InputRole::Data);
  Value s = input(g, "s", {4, 2}, DType::F32, InputRole::Param);
  output(reshape(x, {2, 12}), "reshape");
  output(permute(reshape(x, {2, 2, 6}), {2, 0, 1}), "permute");
  output(slice(x, {1, 0}, {2, 3}, {2, 2}), "strided_slice");
  output(pad(x, {1, 2}, {7, 14}, {1, 2}), "strided_pad");
  output(concat({x, s, x}, 1), "concat_shared");
  output(concat({x, x}, 0), "concat0");
  output(x + iota(g, {4, 6}, 1, DType::F32), "iota");
  output(broadcast_to(reshape(sum(x, {1}), {4, 1}), {4, 6}), "broadcast");
  output(broadcast_to(reshape(s, {1, 4, 2}), {3, 4, 2}), "shared_broadcast");
  output(transpose(s) * 2.0, "shared_only");
  check_packing(g, named({"x"}), random_runs(g, named({"x"})), kF32);
  check_packing(g, named({"x", "s"}), random_runs(g, named({"x", "s"})), kF32);
}

TEST(PackRuns, MatMulWithPerRunAndSharedOperands) {
  Graph g;
  Value a = input(g, "a", {5, 7}, DType::F32, InputRole::Data);
  Value b = input(g, "b", {7, 3}, DType::F32, InputRole::Param);
  Value c = input(g, "c", {2, 3, 7}, DType::F32, InputRole::Data);
  Value d = input(g, "d", {2, 7, 4}, DType::F32, InputRole::Param);
  output(matmul(a, b), "ab");
  output(matmul(transpose(b), transpose(a)), "ba_t");
  output(matmul(c, d), "cd");
  output(relu(matmul(c, d)) + 1.0, "cd_epilogue");
  for (auto per_run : {named({"a", "c"}), named({"b", "d"}), named({"a", "b", "c", "d"}), named({"a", "d"})})
    check_packing(g, per_run, random_runs(g, per_run), {3e-5, 2e-6});
}

TEST(PackRuns, GatherAndScatterAddOffsetRunsIntoAFlatTable) {
  Graph g;
  Value table = input(g, "table", {6, 3}, DType::F32, InputRole::Param);
  Value idx = input(g, "idx", {2, 4}, DType::I32, InputRole::Data);
  Value upd = input(g, "upd", {2, 4, 3}, DType::F32, InputRole::Data);
  output(gather(table, idx), "rows");
  output(scatter_add(idx, upd, 6), "scatter");
  output(scatter_add(idx, gather(table, idx) * upd, 6), "scatter_of_gather");
  std::map<std::string, InputRange> ranges{{"idx", {0, 5}}};
  for (auto per_run : {named({"table", "idx", "upd"}), named({"table"}), named({"idx"}), named({"upd"}),
                       named({"table", "upd"})})
    check_packing(g, per_run, random_runs(g, per_run, ranges), kF32);
}

TEST(PackRuns, RandomUniformDrawsEachRunsOwnNumbers) {
  Graph g;
  Value seed = input(g, "seed", {}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  Value x = input(g, "x", {3, 5}, DType::F32, InputRole::Data);
  Value u = random_uniform(seed, step, {3, 5}, 2);
  output(u, "u");
  output(where(lt(u, scalar_like(u, 0.3)), scalar_like(x, 0.0), x / 0.7), "dropout");
  output(random_uniform(seed, step, {2, 2}, 0, DType::F64), "u64");
  std::map<std::string, InputRange> ranges{{"seed", {0, 1000000}}, {"step", {1, 1000}}};
  for (auto per_run : {named({"seed", "x"}), named({"step"}), named({"seed", "step"}), named({"x"})})
    check_packing(g, per_run, random_runs(g, per_run, ranges), kF32);
}

TEST(PackRuns, PerRunRandomUniformUsesTheIndexWithinTheRun) {
  Graph g;
  Value seed = input(g, "seed", {2}, DType::I32, InputRole::Scalar);
  Value step = input(g, "step", {}, DType::I32, InputRole::Scalar);
  output(random_uniform(seed, step, {2, 3, 4}, 5), "u");
  TensorMap in{{"seed", Tensor64({2}, {7, -3})}, {"step", Tensor64({}, {9})}};
  Tensor64 t = interpret(g, in).outputs.at("u");
  EXPECT_EQ(t[0], random_uniform(7, 9, 5, 0));
  EXPECT_EQ(t[11], random_uniform(7, 9, 5, 11));
  EXPECT_EQ(t[12], random_uniform(0xfffffffdu, 9, 5, 0));
  EXPECT_EQ(t[23], random_uniform(0xfffffffdu, 9, 5, 11));
  for (bool fusion : {true, false}) {
    runtime::CompileOptions o;
    o.fusion = fusion;
    testing::expect_bitwise(testing::run_on(testing::cpu_device(), g, in, o).outputs.at("u"), t, "cpu u");
  }
  // Already per run: packing again is refused, as is a seed that does not match the leading axis.
  EXPECT_THROW(pack_runs(g, 2, named({"step"})), GraphError);
  Graph bad;
  Value s3 = input(bad, "seed", {3}, DType::I32, InputRole::Scalar);
  Value c = input(bad, "step", {}, DType::I32, InputRole::Scalar);
  EXPECT_THROW(random_uniform(s3, c, {2, 3}, 0), GraphError);
}

TEST(PackRuns, UpdatesOfPerRunAndSharedInputs) {
  Graph g;
  Value p = input(g, "p", {4}, DType::F32, InputRole::Param);
  Value count = input(g, "count", {}, DType::F32, InputRole::State);
  Value x = input(g, "x", {4}, DType::F32, InputRole::Data);
  Value lr = input(g, "lr", {}, DType::F32, InputRole::Scalar);
  update(p, p - broadcast_to(lr, {4}) * x);
  update(count, count + 1.0);  // shared, from shared values: stays shared
  output(sum_all(p * x), "loss");
  PerRunInput per_run = named({"p", "x"});
  Graph packed = pack_runs(g, kRuns, per_run);
  EXPECT_EQ(packed.node(packed.find_input("count")).shape, Shape{});
  EXPECT_EQ(packed.node(packed.find_input("p")).shape, (Shape{kRuns, 4}));
  EXPECT_EQ(packed.node(packed.outputs()[0].node).shape, Shape{kRuns});
  RunInputs runs = random_runs(g, per_run);
  // The shared update is checked separately: expect_packed_equals_each wants a run axis.
  InterpretResult got = interpret(packed, runs.packed);
  EXPECT_EQ(got.updated.at("count")[0], runs.packed.at("count")[0] + 1.0);
  for (int64_t r = 0; r < kRuns; ++r) {
    InterpretResult want = interpret(g, runs.each[static_cast<size_t>(r)]);
    testing::expect_bitwise(run_slice(got.updated.at("p"), r), want.updated.at("p"), "p");
    testing::expect_bitwise(run_slice(got.outputs.at("loss"), r), want.outputs.at("loss"), "loss");
  }
  // A shared input updated from a per-run value cannot stay shared.
  try {
    Graph h;
    Value q = input(h, "q", {}, DType::F32, InputRole::Param);
    Value y = input(h, "y", {}, DType::F32, InputRole::Data);
    update(q, q + y);
    pack_runs(h, kRuns, named({"y"}));
    ADD_FAILURE() << "expected a GraphError";
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("'q'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pack_runs(g, 0, per_run), GraphError);
}

// ---- whole training steps

PerRunInput params_state_data_and_seed() {
  return [](const Node& n) { return n.attrs.role != InputRole::Scalar || n.attrs.name == "seed"; };
}

TEST(PackRuns, TinyTransformerStepWithDropoutAndUpdates) {
  testing::TinyConfig cfg;
  testing::TinyModel m = testing::tiny_transformer(cfg);
  PerRunInput per_run = params_state_data_and_seed();
  RunInputs runs = make_runs(m.graph, per_run, [&](int64_t r) { return testing::tiny_inputs(m, cfg, 20 + static_cast<uint32_t>(r)); });
  check_packing(m.graph, per_run, runs, {2e-4, 2e-5});
}

runtime::RunConfig step_config(bool two_layer, optimizers::OptimizerKind kind) {
  runtime::RunConfig cfg;
  cfg.optimizer.kind = kind;
  if (two_layer) {
    cfg.model.kind = models::ModelKind::TwoLayer;
    cfg.model.two_layer.hidden = 6;
    return cfg;
  }
  auto& t = cfg.model.transformer;
  t.depth = 1;
  t.d_model = 8;
  t.heads = 2;
  t.mlp_ratio = 2;
  t.dropout = 0.2;
  return cfg;
}

// The inputs the training loop binds, for run r: its own init, data and
// dropout seed; the step, learning-rate scale and rows shared. The last row
// is padding.
TensorMap step_inputs(const runtime::StepGraphs& graphs, const runtime::DataShape& s, int64_t r) {
  TensorMap m = testing::random_inputs(graphs.train, 40 + static_cast<uint32_t>(r),
                                       {{"tokens", {0, static_cast<double>(s.vocab - 1)}},
                                        {"a", {0, static_cast<double>(s.classes - 1)}},
                                        {"b", {0, static_cast<double>(s.classes - 1)}},
                                        {"labels", {0, static_cast<double>(s.classes - 1)}}});
  auto init = models::init_params(graphs.params, 7 + static_cast<uint64_t>(r));
  for (size_t i = 0; i < graphs.params.size(); ++i)
    m[graphs.params[i].name] = Tensor64(graphs.params[i].shape, std::vector<double>(init[i].begin(), init[i].end()));
  for (const auto& st : graphs.state) m[st.name] = Tensor64::zeros(st.shape);
  Tensor64 mask = Tensor64::zeros({s.batch});
  for (int64_t i = 0; i + 1 < s.batch; ++i) mask[static_cast<size_t>(i)] = 1.0;
  m["row_mask"] = mask;
  m["inv_rows"] = Tensor64({}, {1.0 / static_cast<double>(s.batch - 1)});
  m["seed"] = Tensor64({}, {static_cast<double>(1000 + 17 * r)});
  m["step"] = Tensor64({}, {3});
  m["lr_scale"] = Tensor64({}, {1.0});
  return m;
}

// Two train steps (the second from the first's updated state) and the eval pass.
void check_step_graphs(bool two_layer, optimizers::OptimizerKind kind) {
  runtime::DataShape shape = two_layer ? runtime::DataShape{4, 0, 0, 7, 7} : runtime::DataShape{4, 4, 7, 5};
  runtime::StepGraphs graphs = runtime::build_step_graphs(step_config(two_layer, kind), shape);
  PerRunInput per_run = params_state_data_and_seed();
  RunInputs first = make_runs(graphs.train, per_run, [&](int64_t r) { return step_inputs(graphs, shape, r); });
  {
    SCOPED_TRACE("train step 1");
    check_packing(graphs.train, per_run, first, {3e-4, 3e-5});
  }
  RunInputs second = first;
  for (size_t r = 0; r < second.each.size(); ++r) {
    InterpretResult step1 = interpret(graphs.train, first.each[r]);
    for (auto& [name, t] : step1.updated) second.each[r][name] = t;
    second.each[r]["step"] = Tensor64({}, {4});
  }
  second = make_runs(graphs.train, per_run, [&](int64_t r) { return second.each[static_cast<size_t>(r)]; });
  {
    SCOPED_TRACE("train step 2");
    check_packing(graphs.train, per_run, second, {3e-4, 3e-5});
  }
  SCOPED_TRACE("eval");
  RunInputs eval = make_runs(graphs.eval, per_run, [&](int64_t r) { return second.each[static_cast<size_t>(r)]; });
  check_packing(graphs.eval, per_run, eval, {3e-4, 3e-5});
}

TEST(PackRuns, TransformerTrainAndEvalGraphsAdamW) { check_step_graphs(false, optimizers::OptimizerKind::AdamW); }
TEST(PackRuns, TransformerTrainAndEvalGraphsMuon) { check_step_graphs(false, optimizers::OptimizerKind::Muon); }
TEST(PackRuns, TwoLayerTrainAndEvalGraphsAdamW) { check_step_graphs(true, optimizers::OptimizerKind::AdamW); }
TEST(PackRuns, TwoLayerTrainAndEvalGraphsMuon) { check_step_graphs(true, optimizers::OptimizerKind::Muon); }

}  // namespace
}  // namespace grokjit
