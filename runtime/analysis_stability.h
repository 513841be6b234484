// The stable-step-size experiment (docs/experiments.md): per optimizer, the
// largest learning rate at which full-batch training does not diverge within
// `steps` steps (divergence, checked after every step: a NaN/Inf loss or a
// loss above 10x the initial loss), next to the threshold predicted from the
// measured curvature along the update.
//
// Every step logs, before the update, per 2-D parameter the gradient's
// sigma_max and mean singular value (float64 SVD), and after it the curvature
// along the update d = w_{t+1} - w_t by a finite difference of gradients:
//   kappa = (g(w + eps d^) - g(w)) . d^ / eps,  d^ = d / |d|.
// With u = -d / lr the update per unit learning rate, the quadratic model
// L(w - lr u) = L - lr g.u + lr^2/2 u^T H u decreases iff
//   lr < lr* = 2 (g.u) / (u^T H u) = 2 lr (-g.d^) / (kappa |d|).
// For plain gradient descent u = g, so lr* = 2 / kappa (kappa along g, at
// most the top Hessian eigenvalue). For Muon u = the orthogonalized
// gradient O with g.O = sum of singular values and |O|^2 = their count, so
// lr* = 2 mean(sigma) / kappa: the average singular value sets it.
//
// The learning rate is the train graph's lr_scale with every configured rate
// set to 1 by the plan, so one compiled program serves the whole lr grid.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/device.h"
#include "runtime/train_config.h"

namespace grokjit::runtime {

struct StabilityPlan {
  std::string name = "stable-lr";
  std::string source;
  struct Optimizer {
    std::string label;
    RunConfig config;  // the base with the optimizer's "set" applied
  };
  std::vector<Optimizer> optimizers;
  std::vector<double> lrs;         // searched for the largest stable one
  int64_t steps = 50;              // divergence window
  double blowup = 10.0;            // loss > blowup * initial loss = diverged
  std::vector<double> shared_lrs;  // for steps to 50/90/99% accuracy
  int64_t accuracy_steps = 500;
  double fd_eps = 1e-3;            // finite-difference step along d^
  std::string out = "runs/experiments/stable-lr";
};

// {"name", "base": spec file (relative to the plan's folder) or object,
//  "set": {path: value}, "optimizers": [{"label", "set": {...}}...],
//  "lrs": [...], "steps", "blowup", "shared_lrs": [...], "accuracy_steps",
//  "fd_eps", "out"}. The base must train full batch (train.batch_size 0).
// A bad value is an Error (ExitCode::Usage) naming the file, the JSON path
// and the value ("plan.json: /steps: expected a whole number >= 1, got 0");
// so are a repeated optimizer label and a rate repeated in "lrs" or
// "shared_lrs" (each would duplicate report rows).
StabilityPlan load_stability_plan(const std::string& path);

// Readies `out_dir` for a run: when it already holds a stable-lr run's
// results (runs.jsonl, report.md), a second run would replace them without a
// word, so this is an Error (ExitCode::Usage) naming them and changing
// nothing, unless `overwrite` (`--overwrite`), which removes them.
void prepare_stability_out(const std::string& out_dir, bool overwrite);

// Runs the plan on `device`; writes <out>/runs.jsonl (one line per (optimizer,
// lr) run with its per-step log) and <out>/report.md; returns the report path.
std::string run_stability(const StabilityPlan& plan, Device& device, const std::string& out_dir, bool quiet);

}  // namespace grokjit::runtime
