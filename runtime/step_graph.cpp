#include "runtime/step_graph.h"

#include <string>

#include "ir/autodiff.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "models/layers.h"
#include "models/losses.h"
#include "models/transformer.h"
#include "models/two_layer.h"
#include "optimizers/optimizer.h"

namespace grokjit::runtime {

using ir::Value;

namespace {

bool is_two_layer(const models::ModelConfig& m) { return m.kind == models::ModelKind::TwoLayer; }

int64_t operand_count(const DataShape& s) { return s.operands > 0 ? s.operands : s.classes; }

void check_shape(const models::ModelConfig& model, const DataShape& s) {
  auto fail = [&](const std::string& what) {
    throw Error("cannot build the step graphs: " + what + " (batch " + std::to_string(s.batch) + ", seq_len " +
                    std::to_string(s.seq_len) + ", vocab " + std::to_string(s.vocab) + ", classes " +
                    std::to_string(s.classes) + ")",
                ExitCode::Usage);
  };
  if (s.batch <= 0) fail("batch must be positive");
  if (s.classes <= 0) fail("classes must be positive");
  if (!is_two_layer(model)) {
    if (s.seq_len <= 0) fail("seq_len must be positive");
    if (s.classes > s.vocab) fail("the classifier has vocab outputs, so classes must not exceed vocab");
  }
}

// The per-batch Data inputs.
struct Batch {
  Value tokens, a, b;  // tokens (Transformer) or a, b (2-layer)
  Value labels, row_mask;
};

Batch add_batch_inputs(ir::Graph& g, const models::ModelConfig& model, const DataShape& s) {
  Batch batch;
  const auto data = ir::InputRole::Data;
  if (is_two_layer(model)) {
    batch.a = ir::input(g, "a", {s.batch}, ir::DType::I32, data);
    batch.b = ir::input(g, "b", {s.batch}, ir::DType::I32, data);
  } else {
    batch.tokens = ir::input(g, "tokens", {s.batch, s.seq_len}, ir::DType::I32, data);
  }
  batch.labels = ir::input(g, "labels", {s.batch}, ir::DType::I32, data);
  batch.row_mask = ir::input(g, "row_mask", {s.batch}, ir::DType::F32, data);
  return batch;
}

Value scalar_input(ir::Graph& g, const char* name, ir::DType dtype) {
  return ir::input(g, name, {}, dtype, ir::InputRole::Scalar);
}

// Logits / outputs [B, C] of the configured model.
Value model_logits(const models::ModelConfig& model, const models::ParamValues& params, const Batch& batch,
                   const DataShape& s, const models::DropoutSource* dropout) {
  if (is_two_layer(model))
    return models::two_layer_outputs(model.two_layer, params, batch.a, batch.b, operand_count(s));
  return models::transformer_logits(model.transformer, params, batch.tokens, dropout);
}

Value row_losses(const models::ModelConfig& model, Value logits, Value labels) {
  if (is_two_layer(model) && model.two_layer.loss == models::TwoLayerLoss::CenteredMse)
    return models::centered_mse_rows(logits, labels);
  return models::output_loss_rows(model.output, model.stablemax_f64, logits, labels);
}

Value masked_sum(Value rows, Value row_mask) { return ir::sum_all(rows * row_mask); }

// Everything the train graph and the gradient graph share: inputs, the
// train-mode forward pass, the loss and its gradients.
struct TrainForward {
  models::ParamValues params;
  Value step;
  Value loss, loss_sum, correct;
  std::vector<Value> grads;  // in spec order
};

TrainForward build_train_forward(ir::Graph& g, const RunConfig& config, const DataShape& s,
                                 const std::vector<models::ParamSpec>& specs) {
  TrainForward f;
  f.params = models::add_param_inputs(g, specs);
  Batch batch = add_batch_inputs(g, config.model, s);
  Value inv_rows = scalar_input(g, "inv_rows", ir::DType::F32);
  Value seed = scalar_input(g, "seed", ir::DType::I32);
  f.step = scalar_input(g, "step", ir::DType::I32);

  models::DropoutSource dropout{seed, f.step};
  Value logits = model_logits(config.model, f.params, batch, s, &dropout);
  f.loss_sum = masked_sum(row_losses(config.model, logits, batch.labels), batch.row_mask);
  f.correct = masked_sum(models::correct_rows(logits, batch.labels), batch.row_mask);
  f.loss = f.loss_sum * inv_rows;

  std::vector<Value> wrt;
  for (const models::ParamSpec& p : specs) wrt.push_back(f.params.at(p.name));
  f.grads = ir::grad(f.loss, wrt);
  return f;
}

ir::Graph build_train_graph(const RunConfig& config, const DataShape& s, const std::vector<models::ParamSpec>& specs,
                            std::vector<StateSpec>* state) {
  ir::Graph g;
  TrainForward f = build_train_forward(g, config, s, specs);
  Value lr_scale = scalar_input(g, "lr_scale", ir::DType::F32);
  std::vector<optimizers::ParamGrad> params;
  for (size_t i = 0; i < specs.size(); ++i)
    params.push_back({specs[i].name, specs[i].group, f.params.at(specs[i].name), f.grads[i]});
  *state = optimizers::build_optimizer_update(g, config.optimizer, params, {f.step, lr_scale});
  ir::output(f.loss_sum, "loss_sum");
  ir::output(f.correct, "correct");
  return g;
}

ir::Graph build_eval_graph(const RunConfig& config, const DataShape& s, const std::vector<models::ParamSpec>& specs) {
  ir::Graph g;
  models::ParamValues params = models::add_param_inputs(g, specs);
  Batch batch = add_batch_inputs(g, config.model, s);
  Value logits = model_logits(config.model, params, batch, s, /*dropout=*/nullptr);
  Value loss = row_losses(config.model, logits, batch.labels);
  ir::output(masked_sum(loss, batch.row_mask), "loss_sum");
  ir::output(masked_sum(models::correct_rows(logits, batch.labels), batch.row_mask), "correct");
  ir::output(masked_sum(models::softmax_collapse_rows(logits), batch.row_mask), "collapse");
  ir::output(masked_sum(models::zero_loss_rows(loss), batch.row_mask), "zero_loss");
  ir::output(masked_sum(models::logit_margin_rows(logits, batch.labels), batch.row_mask), "margin_sum");
  return g;
}

}  // namespace

std::vector<models::ParamSpec> model_param_specs(const models::ModelConfig& model, const DataShape& shape) {
  check_shape(model, shape);
  if (is_two_layer(model)) return models::two_layer_param_specs(model.two_layer, operand_count(shape), shape.classes);
  return models::transformer_param_specs(model.transformer, shape.vocab, shape.vocab);
}

StepGraphs build_step_graphs(const RunConfig& config, const DataShape& shape) {
  StepGraphs out;
  out.params = model_param_specs(config.model, shape);
  out.train = build_train_graph(config, shape, out.params, &out.state);
  out.eval = build_eval_graph(config, shape, out.params);
  return out;
}

ir::Graph build_gradient_graph(const RunConfig& config, const DataShape& shape) {
  std::vector<models::ParamSpec> specs = model_param_specs(config.model, shape);
  ir::Graph g;
  TrainForward f = build_train_forward(g, config, shape, specs);
  ir::output(f.loss, "loss");
  ir::output(f.loss_sum, "loss_sum");
  ir::output(f.correct, "correct");
  for (size_t i = 0; i < specs.size(); ++i) ir::output(f.grads[i], "grad." + specs[i].name);
  return g;
}

}  // namespace grokjit::runtime
