// The two graphs a run compiles: the training step (forward, loss, backward,
// optimizer update, all in one graph) and the evaluation pass.
//
// Conventions the training loop relies on (every name below always exists in
// the graph that lists it, used or not):
//
// Train graph
//   Param  inputs: one per ParamSpec (StepGraphs::params), f32, by spec name.
//   State  inputs: one per StateSpec (StepGraphs::state), zero at the start.
//   Data   "tokens"   i32 [B, T]   (Transformer)   | "a", "b" i32 [B] (2-layer)
//          "labels"   i32 [B]
//          "row_mask" f32 [B]      1 = real row, 0 = padding (pad rows must hold
//                                  valid ids, e.g. copies of row 0)
//   Scalar "inv_rows" f32 []  1 / number of real rows
//          "seed"     i32 []  dropout seed
//          "step"     i32 []  1-based global step: bias corrections, Grokfast,
//                             and the dropout counter
//          "lr_scale" f32 []  multiplies every configured learning rate
//   The gradient is that of sum(row_mask * row_loss) * inv_rows, so a padded
//   batch gives exactly the mean over its real rows. Dropout masks are drawn
//   per element of the FFN hidden ([B, T, hidden]; [B, 1, hidden] in the last
//   block) in row-major order, stream = layer index, counter = "step": a real
//   row's mask does not depend on how many padded rows follow it.
//   Outputs (f32 [], train mode with dropout, weights before the update):
//     "loss_sum" = sum(row_mask * row_loss), "correct" = sum(row_mask * [argmax == label]).
//   Updates: every Param and every State input.
//
// Eval graph (no dropout, no updates)
//   Param inputs as above; Data "tokens" | "a", "b", "labels", "row_mask".
//   Outputs, all masked sums f32 []: "loss_sum", "correct", "collapse" (rows
//   whose softmax collapsed: sum_j exp(z_j - max z) == 1 in f32), "zero_loss"
//   (rows with loss exactly 0), "margin_sum" (sum of z_y - max_{j != y} z_j).
//
// Row loss: the Transformer uses the output function's loss (softmax /
// stablemax / sparsemax, models/losses.h) on its classifier over all `vocab`
// tokens; the 2-layer network uses class-centred MSE or, with
// TwoLayerLoss::CrossEntropy, the output function's loss on its `classes`
// outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "models/params.h"
#include "optimizers/state.h"
#include "runtime/train_config.h"

namespace grokjit::runtime {

using optimizers::StateSpec;

struct DataShape {
  int64_t batch = 0;     // B rows per step (a smaller last batch is padded to B)
  int64_t seq_len = 0;   // T tokens per row (Transformer)
  int64_t vocab = 0;     // token ids in [0, vocab); the Transformer's classifier has vocab outputs
  int64_t classes = 0;   // labels in [0, classes)
  int64_t operands = 0;  // 2-layer network: a, b in [0, operands); 0 = classes
};

struct StepGraphs {
  ir::Graph train, eval;
  std::vector<models::ParamSpec> params;
  std::vector<StateSpec> state;
};

// Throws grokjit::Error (ExitCode::Usage) on a config or shape it cannot build.
StepGraphs build_step_graphs(const RunConfig& config, const DataShape& shape);

// The parameters of the configured model for this data shape.
std::vector<models::ParamSpec> model_param_specs(const models::ModelConfig& model, const DataShape& shape);

// For tests and tools (gradient spectra, cross-checks): the train graph
// without the optimizer: the same Param, Data and Scalar inputs minus
// "lr_scale"; outputs "loss" (the mean the gradient is taken of), "loss_sum",
// "correct", and "grad.<param>" for every parameter.
ir::Graph build_gradient_graph(const RunConfig& config, const DataShape& shape);

}  // namespace grokjit::runtime
