// The per-evaluation metrics a spec asks for in train.metrics, as one
// EpochMetricsHook the trainer calls after each evaluated epoch:
//   "li2", "li2_nodes"  line["li2"]             (runtime/analysis_li2.h; 2-layer network)
//   "representation"    line["representation"]  (runtime/analysis_representation.h)
#pragma once

#include "runtime/device.h"
#include "runtime/step_graph.h"
#include "runtime/train_config.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {

// Empty (no-op) when config.train.metrics is empty.
EpochMetricsHook make_metrics_hook(const RunConfig& config, Device& device, const tasks::Dataset& data,
                                   const tasks::Split& split, const DataShape& shape);

}  // namespace grokjit::runtime
