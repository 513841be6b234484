// A whole run: task, model, optimizer, training loop. This is what a spec
// JSON resolves to (runtime/spec.h); summary.json records it in full.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/config.h"
#include "optimizers/config.h"
#include "tasks/config.h"

namespace grokjit::runtime {

enum class TrainAccSource { Eval, Running };  // REFERENCE.md s.3 (OPEN; default eval mode)

struct TrainLoopConfig {
  int64_t batch_size = 512;     // the 2-layer network uses the full training set (0 = full batch)
  int64_t max_epochs = 1000;    // censoring cap (OPEN)
  uint64_t seed = 0;            // init, shuffling, dropout
  double memorize_threshold = 0.99;
  double grok_threshold = 0.95;
  TrainAccSource train_acc_source = TrainAccSource::Eval;
  int64_t stop_after_grok = 0;  // extra epochs after grokking; < 0 = run to max_epochs
  int64_t checkpoint_every = 50;  // epochs; 0 = only at the end
  int64_t eval_every = 1;       // epochs
  // Extra per-evaluation metrics (runtime/analysis_hooks.h): "li2",
  // "li2_nodes" (li2 plus the per-node vectors), "representation".
  std::vector<std::string> metrics;
};

struct RunConfig {
  std::string name = "run";
  tasks::TaskConfig task;
  models::ModelConfig model;
  optimizers::OptimizerConfig optimizer;
  TrainLoopConfig train;
};

}  // namespace grokjit::runtime
