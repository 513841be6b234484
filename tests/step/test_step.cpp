// The train and eval graphs of a whole run on a tiny model, through the
// float64 interpreter: the naming conventions the training loop relies on,
// padding invariance, and the loss gradient against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/verify.h"
#include "models/params.h"
#include "optimizers/config.h"
#include "runtime/step_graph.h"

namespace grokjit::runtime {
namespace {

using Vec = std::vector<double>;

RunConfig tiny_transformer(optimizers::OptimizerKind kind = optimizers::OptimizerKind::AdamW) {
  RunConfig cfg;
  auto& t = cfg.model.transformer;
  t.depth = 1;
  t.d_model = 8;
  t.heads = 2;
  t.mlp_ratio = 2;
  t.dropout = 0.2;
  t.rope_base = 10.0;
  cfg.optimizer.kind = kind;
  return cfg;
}

RunConfig tiny_two_layer() {
  RunConfig cfg;
  cfg.model.kind = models::ModelKind::TwoLayer;
  cfg.model.two_layer.hidden = 6;
  return cfg;
}

// Real rows (tokens or operands, labels) and the batch layout the trainer
// uses: real rows first, then padding rows that repeat row 0 with mask 0.
struct Rows {
  std::vector<Vec> tokens;  // per row: T tokens (Transformer) or {a, b}
  Vec labels;
};

Rows some_rows(const DataShape& s, bool two_layer) {
  Rows r;
  for (int i = 0; i < 2; ++i) {
    Vec row;
    if (two_layer)
      row = {static_cast<double>((3 * i + 1) % s.operands), static_cast<double>((5 * i + 2) % s.operands)};
    else
      for (int64_t t = 0; t < s.seq_len; ++t) row.push_back(static_cast<double>((7 * i + 3 * t + 1) % s.vocab));
    r.tokens.push_back(row);
    r.labels.push_back(static_cast<double>((i * 3 + 1) % s.classes));
  }
  return r;
}

ir::TensorMap batch_inputs(const Rows& rows, const DataShape& s, bool two_layer) {
  const int64_t B = s.batch, real = static_cast<int64_t>(rows.labels.size());
  Vec tokens, a, b, labels, mask;
  for (int64_t i = 0; i < B; ++i) {
    const size_t r = static_cast<size_t>(i < real ? i : 0);
    if (two_layer) {
      a.push_back(rows.tokens[r][0]);
      b.push_back(rows.tokens[r][1]);
    } else {
      tokens.insert(tokens.end(), rows.tokens[r].begin(), rows.tokens[r].end());
    }
    labels.push_back(rows.labels[r]);
    mask.push_back(i < real ? 1.0 : 0.0);
  }
  ir::TensorMap m;
  if (two_layer) {
    m["a"] = ir::Tensor64({B}, a);
    m["b"] = ir::Tensor64({B}, b);
  } else {
    m["tokens"] = ir::Tensor64({B, s.seq_len}, tokens);
  }
  m["labels"] = ir::Tensor64({B}, labels);
  m["row_mask"] = ir::Tensor64({B}, mask);
  m["inv_rows"] = ir::Tensor64({}, {1.0 / static_cast<double>(real)});
  m["seed"] = ir::Tensor64({}, {1234});
  m["step"] = ir::Tensor64({}, {3});
  m["lr_scale"] = ir::Tensor64({}, {1.0});
  return m;
}

void add_params(ir::TensorMap& m, const StepGraphs& graphs, uint64_t seed) {
  auto values = models::init_params(graphs.params, seed);
  for (size_t i = 0; i < graphs.params.size(); ++i)
    m[graphs.params[i].name] = ir::Tensor64(graphs.params[i].shape, Vec(values[i].begin(), values[i].end()));
  for (const StateSpec& s : graphs.state) m[s.name] = ir::Tensor64::zeros(s.shape);
}

const DataShape kTransformerShape{3, 4, 7, 5};
const DataShape kTransformerShape2Rows{2, 4, 7, 5};

TEST(StepGraphs, TrainGraphFollowsTheNamingConventions) {
  StepGraphs graphs = build_step_graphs(tiny_transformer(), kTransformerShape);
  ir::verify(graphs.train);
  ir::verify(graphs.eval);
  std::map<std::string, const ir::Node*> inputs;
  for (ir::NodeId id : graphs.train.inputs()) inputs[graphs.train.node(id).attrs.name] = &graphs.train.node(id);
  auto expect_input = [&](const std::string& name, ir::InputRole role, ir::DType dtype, ir::Shape shape) {
    ASSERT_TRUE(inputs.count(name)) << name;
    EXPECT_EQ(inputs[name]->attrs.role, role) << name;
    EXPECT_EQ(inputs[name]->dtype, dtype) << name;
    EXPECT_EQ(inputs[name]->shape, shape) << name;
  };
  expect_input("tokens", ir::InputRole::Data, ir::DType::I32, {3, 4});
  expect_input("labels", ir::InputRole::Data, ir::DType::I32, {3});
  expect_input("row_mask", ir::InputRole::Data, ir::DType::F32, {3});
  expect_input("inv_rows", ir::InputRole::Scalar, ir::DType::F32, {});
  expect_input("seed", ir::InputRole::Scalar, ir::DType::I32, {});
  expect_input("step", ir::InputRole::Scalar, ir::DType::I32, {});
  expect_input("lr_scale", ir::InputRole::Scalar, ir::DType::F32, {});
  for (const models::ParamSpec& p : graphs.params) expect_input(p.name, ir::InputRole::Param, ir::DType::F32, p.shape);
  for (const StateSpec& s : graphs.state) expect_input(s.name, ir::InputRole::State, s.dtype, s.shape);
  EXPECT_EQ(inputs.size(), 7 + graphs.params.size() + graphs.state.size());
  EXPECT_EQ(graphs.state.size(), 2 * graphs.params.size());  // AdamW: m and v

  std::set<std::string> updated;
  for (const ir::Update& u : graphs.train.updates()) updated.insert(graphs.train.node(u.target).attrs.name);
  EXPECT_EQ(updated.size(), graphs.params.size() + graphs.state.size());
  std::set<std::string> outputs;
  for (const ir::Output& o : graphs.train.outputs()) {
    outputs.insert(o.name);
    EXPECT_EQ(graphs.train.node(o.node).shape, ir::Shape{});
    EXPECT_EQ(graphs.train.node(o.node).dtype, ir::DType::F32);
  }
  EXPECT_EQ(outputs, (std::set<std::string>{"loss_sum", "correct"}));

  EXPECT_TRUE(graphs.eval.updates().empty());
  std::set<std::string> eval_outputs;
  for (const ir::Output& o : graphs.eval.outputs()) {
    eval_outputs.insert(o.name);
    EXPECT_EQ(graphs.eval.node(o.node).shape, ir::Shape{});
    EXPECT_EQ(graphs.eval.node(o.node).dtype, ir::DType::F32);
  }
  EXPECT_EQ(eval_outputs, (std::set<std::string>{"loss_sum", "correct", "collapse", "zero_loss", "margin_sum"}));
  for (ir::NodeId id : graphs.eval.inputs()) EXPECT_NE(graphs.eval.node(id).attrs.role, ir::InputRole::State);
}

TEST(StepGraphs, TwoLayerTakesOperands) {
  StepGraphs graphs = build_step_graphs(tiny_two_layer(), {4, 0, 0, 7, 0});
  EXPECT_GE(graphs.train.find_input("a"), 0);
  EXPECT_GE(graphs.train.find_input("b"), 0);
  EXPECT_LT(graphs.train.find_input("tokens"), 0);
  EXPECT_EQ(graphs.params[0].shape, (ir::Shape{6, 14}));  // W [K, 2M], M = classes when operands = 0
}

TEST(StepGraphs, DefaultConfigBuildsWithTheReferenceParameterCount) {
  for (auto kind : {optimizers::OptimizerKind::AdamW, optimizers::OptimizerKind::Muon}) {
    RunConfig cfg;
    cfg.optimizer.kind = kind;
    StepGraphs graphs = build_step_graphs(cfg, {512, 4, 99, 97});
    EXPECT_EQ(models::count_params(graphs.params), 550272);
    ir::verify(graphs.train);
  }
}

TEST(StepGraphs, BadShapesThrowUsageErrors) {
  try {
    build_step_graphs(tiny_transformer(), {3, 4, 7, 9});  // more classes than the classifier's vocab outputs
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
  }
  EXPECT_THROW(build_step_graphs(tiny_transformer(), {0, 4, 7, 5}), Error);
}

// A batch of 2 real rows padded to 3 gives exactly the step of a 2-row batch:
// the same updated parameters and optimizer state, the same outputs.
void expect_padding_is_invisible(const RunConfig& cfg, DataShape padded, DataShape exact, bool two_layer) {
  StepGraphs p = build_step_graphs(cfg, padded), e = build_step_graphs(cfg, exact);
  Rows rows = some_rows(padded, two_layer);
  ir::TensorMap pin = batch_inputs(rows, padded, two_layer), ein = batch_inputs(rows, exact, two_layer);
  add_params(pin, p, 9);
  add_params(ein, e, 9);
  for (auto [pg, eg] : {std::pair{&p.train, &e.train}, std::pair{&p.eval, &e.eval}}) {
    ir::InterpretResult pr = ir::interpret(*pg, pin), er = ir::interpret(*eg, ein);
    for (auto& [name, t] : er.outputs) EXPECT_NEAR(pr.outputs.at(name)[0], t[0], 1e-12) << name;
    ASSERT_EQ(pr.updated.size(), er.updated.size());
    for (auto& [name, t] : er.updated)
      for (size_t i = 0; i < t.data.size(); ++i) ASSERT_NEAR(pr.updated.at(name)[i], t[i], 1e-12) << name << "[" << i << "]";
  }
}

TEST(StepGraphs, PaddedRowsChangeNothingTransformer) {
  expect_padding_is_invisible(tiny_transformer(), kTransformerShape, kTransformerShape2Rows, false);
  expect_padding_is_invisible(tiny_transformer(optimizers::OptimizerKind::Muon), kTransformerShape,
                              kTransformerShape2Rows, false);
}

TEST(StepGraphs, PaddedRowsChangeNothingTwoLayer) {
  expect_padding_is_invisible(tiny_two_layer(), {3, 0, 0, 7, 7}, {2, 0, 0, 7, 7}, true);
}

TEST(StepGraphs, TrainOutputsAreMaskedSums) {
  // With one real row, loss_sum is that row's loss and the eval pass (no
  // dropout) agrees with the train pass when dropout is off.
  RunConfig cfg = tiny_transformer();
  cfg.model.transformer.dropout = 0.0;
  StepGraphs graphs = build_step_graphs(cfg, kTransformerShape);
  Rows rows = some_rows(kTransformerShape, false);
  ir::TensorMap in = batch_inputs(rows, kTransformerShape, false);
  add_params(in, graphs, 2);
  ir::InterpretResult train = ir::interpret(graphs.train, in), eval = ir::interpret(graphs.eval, in);
  EXPECT_NEAR(train.outputs.at("loss_sum")[0], eval.outputs.at("loss_sum")[0], 1e-12);
  EXPECT_EQ(train.outputs.at("correct")[0], eval.outputs.at("correct")[0]);
  EXPECT_GT(train.outputs.at("loss_sum")[0], 0.0);
  const double correct = eval.outputs.at("correct")[0];
  EXPECT_TRUE(correct == 0 || correct == 1 || correct == 2);
}

// d loss / d theta of the whole tiny model (dropout on, one padded row)
// against central differences on a few entries of every parameter tensor.
void expect_gradient_matches_fd(const RunConfig& cfg, const DataShape& shape, bool two_layer) {
  ir::Graph g = build_gradient_graph(cfg, shape);
  StepGraphs graphs = build_step_graphs(cfg, shape);  // for the param specs
  Rows rows = some_rows(shape, two_layer);
  ir::TensorMap in = batch_inputs(rows, shape, two_layer);
  add_params(in, graphs, 5);
  ir::InterpretResult base = ir::interpret(g, in);
  ir::Graph loss_only = build_gradient_graph(cfg, shape);
  loss_only.mutable_outputs().erase(loss_only.mutable_outputs().begin() + 1, loss_only.mutable_outputs().end());
  const double h = 1e-6;
  for (const models::ParamSpec& p : graphs.params) {
    const ir::Tensor64& analytic = base.outputs.at("grad." + p.name);
    const size_t n = analytic.data.size();
    for (size_t j : {size_t{0}, n / 2, n - 1}) {
      ir::TensorMap m = in;
      m[p.name][j] += h;
      double up = ir::interpret(loss_only, m).outputs.at("loss")[0];
      m[p.name][j] -= 2 * h;
      double down = ir::interpret(loss_only, m).outputs.at("loss")[0];
      double fd = (up - down) / (2 * h);
      EXPECT_NEAR(fd, analytic[j], 1e-6 * std::max(1.0, std::abs(analytic[j]))) << p.name << "[" << j << "]";
    }
  }
}

TEST(StepGraphs, WholeModelGradientMatchesFiniteDifferences) {
  expect_gradient_matches_fd(tiny_transformer(), kTransformerShape, false);
  RunConfig stable = tiny_transformer();
  stable.model.output = models::OutputFn::Stablemax;
  expect_gradient_matches_fd(stable, kTransformerShape, false);
  RunConfig deeper = tiny_transformer();
  deeper.model.transformer.depth = 2;
  expect_gradient_matches_fd(deeper, kTransformerShape, false);
  expect_gradient_matches_fd(tiny_two_layer(), {3, 0, 0, 7, 7}, true);
}

// Every model, output function, optimizer and filter option builds a graph
// that verifies and runs one finite step.
TEST(StepGraphs, EveryOptionBuildsVerifiesAndRuns) {
  using optimizers::GradFilter;
  using optimizers::OptimizerKind;
  std::vector<RunConfig> configs;
  for (auto output : {models::OutputFn::Softmax, models::OutputFn::Stablemax, models::OutputFn::Sparsemax})
    for (auto kind : {OptimizerKind::AdamW, OptimizerKind::Adam, OptimizerKind::Sgd, OptimizerKind::Muon}) {
      RunConfig cfg = tiny_transformer(kind);
      cfg.model.output = output;
      configs.push_back(cfg);
    }
  for (auto filter : {GradFilter::GrokfastEma, GradFilter::GrokfastMa}) {
    RunConfig cfg = tiny_transformer(OptimizerKind::Muon);
    cfg.optimizer.grokfast.kind = filter;
    cfg.optimizer.grokfast.window = 3;
    cfg.optimizer.orthogonal_grad = true;
    cfg.optimizer.grad_clip = 1.0;
    configs.push_back(cfg);
  }
  RunConfig li2 = tiny_two_layer();
  li2.optimizer.kind = OptimizerKind::Muon;
  li2.optimizer.muon = optimizers::muon_li2_preset();
  configs.push_back(li2);
  RunConfig ce = tiny_two_layer();
  ce.model.two_layer.loss = models::TwoLayerLoss::CrossEntropy;
  ce.model.two_layer.activation = models::Activation::Relu;
  configs.push_back(ce);

  for (const RunConfig& cfg : configs) {
    const bool two_layer = cfg.model.kind == models::ModelKind::TwoLayer;
    DataShape shape = two_layer ? DataShape{3, 0, 0, 7, 7} : kTransformerShape;
    StepGraphs graphs = build_step_graphs(cfg, shape);
    ir::verify(graphs.train);
    ir::verify(graphs.eval);
    ir::TensorMap in = batch_inputs(some_rows(shape, two_layer), shape, two_layer);
    add_params(in, graphs, 4);
    ir::InterpretResult r = ir::interpret(graphs.train, in);
    EXPECT_EQ(r.updated.size(), graphs.params.size() + graphs.state.size());
    for (auto& [name, t] : r.updated)
      for (double v : t.data) ASSERT_TRUE(std::isfinite(v)) << name;
    for (auto& [name, t] : ir::interpret(graphs.eval, in).outputs) EXPECT_TRUE(std::isfinite(t[0])) << name;
  }
}

}  // namespace
}  // namespace grokjit::runtime
