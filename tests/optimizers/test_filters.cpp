// Gradient filters (clip, orthogonal gradient, Grokfast EMA and MA), seen
// through plain SGD with lr 1 and no momentum, so that the filtered gradient
// is exactly p_before - p_after.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>

#include "optimizer_test_util.h"

namespace grokjit::optimizers {
namespace {

using testing::expect_near;
using testing::OptimizerRun;
using testing::ParamDef;
using testing::random_values;
using testing::Vec;

OptimizerConfig plain_sgd() {
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::Sgd;
  cfg.sgd = {1.0, 0.0, false, 0.0, true};
  return cfg;
}

std::vector<ParamDef> tensors() {
  return {{"a", "hidden", {2, 3}, random_values(6, 1)}, {"b", "norm", {3}, random_values(3, 2)}};
}

// Runs `steps` steps and returns, per step, the filtered gradients seen by SGD.
std::vector<std::map<std::string, Vec>> filtered(const OptimizerConfig& cfg, const std::vector<std::map<std::string, Vec>>& grads) {
  OptimizerRun run(cfg, tensors());
  std::vector<std::map<std::string, Vec>> out;
  for (const auto& g : grads) {
    std::map<std::string, Vec> before;
    for (const ParamDef& d : tensors()) before[d.name] = run.value(d.name);
    run.step(g);
    std::map<std::string, Vec> seen;
    for (auto& [name, p] : before) {
      Vec d(p.size());
      for (size_t i = 0; i < p.size(); ++i) d[i] = p[i] - run.value(name)[i];
      seen[name] = d;
    }
    out.push_back(seen);
  }
  return out;
}

std::vector<std::map<std::string, Vec>> gradient_sequence(int steps) {
  std::vector<std::map<std::string, Vec>> seq;
  for (int t = 0; t < steps; ++t) seq.push_back({{"a", random_values(6, 100 + t)}, {"b", random_values(3, 200 + t)}});
  return seq;
}

double dot(const Vec& x, const Vec& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

TEST(GrokfastEma, StartsAtTheFirstGradientThenAverages) {
  OptimizerConfig cfg = plain_sgd();
  cfg.grokfast = {GradFilter::GrokfastEma, 0.9, 2.0, 100};
  auto grads = gradient_sequence(5);
  auto seen = filtered(cfg, grads);
  for (const char* name : {"a", "b"}) {
    Vec mu;
    for (size_t t = 0; t < grads.size(); ++t) {
      const Vec& g = grads[t].at(name);
      if (t == 0) mu = g;
      else
        for (size_t i = 0; i < g.size(); ++i) mu[i] = 0.9 * mu[i] + 0.1 * g[i];
      Vec want(g.size());
      for (size_t i = 0; i < g.size(); ++i) want[i] = g[i] + 2.0 * mu[i];
      expect_near(seen[t].at(name), want, 1e-12, std::string(name) + " step " + std::to_string(t + 1));
    }
  }
}

TEST(GrokfastMa, AppliesTheWindowMeanOnceFull) {
  OptimizerConfig cfg = plain_sgd();
  cfg.grokfast = {GradFilter::GrokfastMa, 0.98, 5.0, 3};
  auto grads = gradient_sequence(7);
  auto seen = filtered(cfg, grads);
  for (const char* name : {"a", "b"}) {
    std::deque<Vec> window;
    for (size_t t = 0; t < grads.size(); ++t) {
      const Vec& g = grads[t].at(name);
      window.push_back(g);
      if (window.size() > 3) window.pop_front();
      Vec want = g;
      if (window.size() == 3)
        for (size_t i = 0; i < g.size(); ++i) want[i] += 5.0 * (window[0][i] + window[1][i] + window[2][i]) / 3.0;
      expect_near(seen[t].at(name), want, 1e-12, std::string(name) + " step " + std::to_string(t + 1));
    }
  }
}

TEST(GrokfastMa, StateIsARingBufferAndASharedSlot) {
  OptimizerConfig cfg = plain_sgd();
  cfg.grokfast = {GradFilter::GrokfastMa, 0.98, 5.0, 4};
  OptimizerRun run(cfg, tensors());
  std::map<std::string, ir::Shape> shapes;
  std::map<std::string, ir::DType> dtypes;
  for (const StateSpec& s : run.state()) {
    shapes[s.name] = s.shape;
    dtypes[s.name] = s.dtype;
  }
  EXPECT_EQ(shapes.at("opt.a.grokfast_ma"), (ir::Shape{4, 2, 3}));
  EXPECT_EQ(shapes.at("opt.b.grokfast_ma"), (ir::Shape{4, 3}));
  EXPECT_EQ(shapes.at("opt.grokfast_ma.slot"), ir::Shape{});
  EXPECT_EQ(dtypes.at("opt.grokfast_ma.slot"), ir::DType::I32);
  EXPECT_EQ(shapes.size(), 3u);
  auto grads = gradient_sequence(6);
  std::vector<double> slots;
  for (const auto& g : grads) {
    run.step(g);
    slots.push_back(run.value("opt.grokfast_ma.slot")[0]);
  }
  EXPECT_EQ(slots, (std::vector<double>{1, 2, 3, 0, 1, 2}));
}

TEST(OrthogonalGradient, RemovesTheWeightComponentAndKeepsTheNorm) {
  OptimizerConfig cfg = plain_sgd();
  cfg.orthogonal_grad = true;
  auto grads = gradient_sequence(1);
  OptimizerRun run(cfg, tensors());
  run.step(grads[0]);
  for (const ParamDef& d : tensors()) {
    const Vec &w = d.init, &g = grads[0].at(d.name);
    Vec seen(w.size());
    for (size_t i = 0; i < w.size(); ++i) seen[i] = w[i] - run.value(d.name)[i];
    EXPECT_NEAR(dot(seen, w), 0.0, 1e-12);
    EXPECT_NEAR(std::sqrt(dot(seen, seen)), std::sqrt(dot(g, g)), 1e-12);
    // ... and it points along g - (w.g / w.w) w.
    Vec perp(w.size());
    for (size_t i = 0; i < w.size(); ++i) perp[i] = g[i] - dot(w, g) / dot(w, w) * w[i];
    EXPECT_NEAR(dot(seen, perp), std::sqrt(dot(seen, seen) * dot(perp, perp)), 1e-12);
  }
}

TEST(GradClip, ScalesByTheGlobalNormOnlyAboveTheLimit) {
  auto grads = gradient_sequence(1);
  double total = std::sqrt(dot(grads[0].at("a"), grads[0].at("a")) + dot(grads[0].at("b"), grads[0].at("b")));
  for (double limit : {0.5 * total, 2.0 * total}) {
    OptimizerConfig cfg = plain_sgd();
    cfg.grad_clip = limit;
    auto seen = filtered(cfg, grads);
    double coef = std::min(1.0, limit / (total + 1e-6));
    for (const char* name : {"a", "b"}) {
      Vec want = grads[0].at(name);
      for (double& v : want) v *= coef;
      expect_near(seen[0].at(name), want, 1e-12, name);
    }
  }
}

// Clip, then orthogonalize, then Grokfast: the documented order.
TEST(Filters, ComposeInTheDocumentedOrder) {
  auto grads = gradient_sequence(1);
  OptimizerConfig cfg = plain_sgd();
  cfg.grad_clip = 0.3;
  cfg.orthogonal_grad = true;
  cfg.grokfast = {GradFilter::GrokfastEma, 0.9, 2.0, 100};
  auto seen = filtered(cfg, grads);
  double total = std::sqrt(dot(grads[0].at("a"), grads[0].at("a")) + dot(grads[0].at("b"), grads[0].at("b")));
  double coef = std::min(1.0, 0.3 / (total + 1e-6));
  for (const ParamDef& d : tensors()) {
    Vec g = grads[0].at(d.name);
    for (double& v : g) v *= coef;
    const Vec& w = d.init;
    Vec perp(g.size());
    for (size_t i = 0; i < g.size(); ++i) perp[i] = g[i] - dot(w, g) / (dot(w, w) + 1e-30) * w[i];
    double rescale = std::sqrt(dot(g, g)) / (std::sqrt(dot(perp, perp)) + 1e-30);
    Vec want(g.size());
    for (size_t i = 0; i < g.size(); ++i) want[i] = perp[i] * rescale * (1.0 + 2.0);  // step 1: mu = g'
    expect_near(seen[0].at(d.name), want, 1e-12, d.name);
  }
}

}  // namespace
}  // namespace grokjit::optimizers
