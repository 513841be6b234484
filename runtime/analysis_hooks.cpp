#include "runtime/analysis_hooks.h"

#include <algorithm>
#include <memory>

#include "runtime/analysis_li2.h"
#include "runtime/analysis_representation.h"

namespace grokjit::runtime {

EpochMetricsHook make_metrics_hook(const RunConfig& config, Device& device, const tasks::Dataset& data,
                                   const tasks::Split& split, const DataShape& shape) {
  const auto& wanted = config.train.metrics;
  auto has = [&](const char* name) { return std::find(wanted.begin(), wanted.end(), name) != wanted.end(); };
  std::vector<EpochMetricsHook> hooks;
  if (has("li2") || has("li2_nodes"))
    hooks.push_back(Li2Metrics(config, data, split, has("li2_nodes")));
  if (has("representation")) {
    auto rep = std::make_shared<RepresentationMetrics>(config, device, data, split, shape);
    hooks.push_back([rep](int64_t, const ParamReader& read, nlohmann::json& line) {
      line["representation"] = rep->measure(read);
    });
  }
  if (hooks.empty()) return {};
  return [hooks](int64_t epoch, const ParamReader& read, nlohmann::json& line) mutable {
    for (auto& hook : hooks) hook(epoch, read, line);
  };
}

}  // namespace grokjit::runtime
