// Each optimizer's update from the interpreter against plain C++ written from
// the PyTorch formulas and REFERENCE.md s.4, over several steps, with the
// learning-rate scale changing along the way.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <cmath>

#include "ir/error.h"
#include "optimizer_test_util.h"

namespace grokjit::optimizers {
namespace {

using testing::expect_near;
using testing::OptimizerRun;
using testing::ParamDef;
using testing::random_values;
using testing::Vec;

constexpr int kSteps = 6;
double lr_scale_at(int step) { return step <= 3 ? 1.0 : 0.5; }  // a schedule, without recompiling

// ---- plain references (one tensor, flat)

struct RefAdam {
  Vec m, v;
  void step(Vec& p, Vec g, const AdamConfig& c, bool decoupled, int t, double lr) {
    m.resize(p.size(), 0.0);
    v.resize(p.size(), 0.0);
    const double bc1 = 1 - std::pow(c.beta1, t), bc2 = 1 - std::pow(c.beta2, t);
    for (size_t i = 0; i < p.size(); ++i) {
      if (decoupled)
        p[i] *= 1 - lr * c.weight_decay;
      else
        g[i] += c.weight_decay * p[i];
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i];
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i];
      p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + c.eps);
    }
  }
};

struct RefSgd {
  Vec buf;
  void step(Vec& p, Vec g, const SgdConfig& c, double lr) {
    buf.resize(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      if (c.decoupled_decay)
        p[i] *= 1 - lr * c.weight_decay;
      else
        g[i] += c.weight_decay * p[i];
      buf[i] = c.momentum * buf[i] + g[i];
      double d = c.nesterov ? g[i] + c.momentum * buf[i] : buf[i];
      p[i] -= lr * d;
    }
  }
};

// Row-major matrices.
Vec matmul(const Vec& a, const Vec& b, int64_t n, int64_t k, int64_t m) {
  Vec c(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t l = 0; l < k; ++l) c[i * m + j] += a[i * k + l] * b[l * m + j];
  return c;
}
Vec transposed(const Vec& a, int64_t n, int64_t m) {
  Vec t(a.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) t[j * n + i] = a[i * m + j];
  return t;
}

Vec ref_newton_schulz(Vec x, int64_t rows, int64_t cols, const std::vector<std::array<double, 3>>& coeffs) {
  const bool tall = rows > cols;
  if (tall) {
    x = transposed(x, rows, cols);
    std::swap(rows, cols);
  }
  double norm = 0;
  for (double v : x) norm += v * v;
  norm = std::sqrt(norm) + 1e-7;
  for (double& v : x) v /= norm;
  for (const auto& [a, b, c] : coeffs) {
    Vec A = matmul(x, transposed(x, rows, cols), rows, cols, rows);
    Vec AA = matmul(A, A, rows, rows, rows);
    Vec Bm(A.size());
    for (size_t i = 0; i < A.size(); ++i) Bm[i] = b * A[i] + c * AA[i];
    Vec BX = matmul(Bm, x, rows, rows, cols);
    for (size_t i = 0; i < x.size(); ++i) x[i] = a * x[i] + BX[i];
  }
  return tall ? transposed(x, rows, cols) : x;
}

const std::vector<std::array<double, 3>> kReferenceCoeffs(5, {3.4445, -4.7750, 2.0315});
const std::vector<std::array<double, 3>> kLi2Coeffs = {
    {4.01, -9.22, 5.80}, {3.49, -6.38, 3.23}, {3.34, -6.21, 3.20}, {3.64, -7.48, 4.43}, {3.46, -5.35, 2.85}};

struct RefMuon {
  Vec m;
  void step(Vec& p, const Vec& g, int64_t rows, int64_t cols, const MuonConfig& c,
            const std::vector<std::array<double, 3>>& coeffs, double scale, double lr) {
    m.resize(p.size(), 0.0);
    Vec u(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = c.momentum * m[i] + (1 - c.momentum) * g[i];
      u[i] = c.nesterov ? (1 - c.momentum) * g[i] + c.momentum * m[i] : m[i];
    }
    Vec o = ref_newton_schulz(u, rows, cols, coeffs);
    for (size_t i = 0; i < p.size(); ++i) p[i] = p[i] * (1 - lr * c.weight_decay) - lr * scale * o[i];
  }
};

// ---- fixtures

std::vector<ParamDef> two_tensors() {
  return {{"w", "hidden", {3, 4}, random_values(12, 1)}, {"g", "norm", {4}, random_values(4, 2, 0.5, 1.5)}};
}

Vec grad_of(const std::string& name, int step, size_t n) {
  return random_values(static_cast<int64_t>(n), 1000 * static_cast<uint64_t>(step) + name.size() + name[0]);
}

void run_adam(OptimizerKind kind, bool decoupled) {
  OptimizerConfig cfg;
  cfg.kind = kind;
  cfg.adam = {2e-2, 0.9, 0.98, 1e-8, 0.3};
  OptimizerRun run(cfg, two_tensors());
  std::map<std::string, RefAdam> ref;
  std::map<std::string, Vec> want;
  for (const ParamDef& d : two_tensors()) want[d.name] = d.init;
  for (int t = 1; t <= kSteps; ++t) {
    std::map<std::string, Vec> grads;
    for (auto& [name, p] : want) grads[name] = grad_of(name, t, p.size());
    run.step(grads, lr_scale_at(t));
    for (auto& [name, p] : want) ref[name].step(p, grads[name], cfg.adam, decoupled, t, cfg.adam.lr * lr_scale_at(t));
    for (auto& [name, p] : want) {
      expect_near(run.value(name), p, 1e-10, name + " step " + std::to_string(t));
      expect_near(run.value("opt." + name + ".m"), ref[name].m, 1e-10, "m");
      expect_near(run.value("opt." + name + ".v"), ref[name].v, 1e-10, "v");
    }
  }
}

TEST(AdamW, MatchesReference) { run_adam(OptimizerKind::AdamW, true); }
TEST(Adam, CoupledL2MatchesReference) { run_adam(OptimizerKind::Adam, false); }

TEST(Sgd, MatchesReferenceForEveryVariant) {
  for (bool nesterov : {false, true})
    for (bool decoupled : {false, true}) {
      OptimizerConfig cfg;
      cfg.kind = OptimizerKind::Sgd;
      cfg.sgd = {0.1, 0.9, nesterov, 0.05, decoupled};
      OptimizerRun run(cfg, two_tensors());
      std::map<std::string, RefSgd> ref;
      std::map<std::string, Vec> want;
      for (const ParamDef& d : two_tensors()) want[d.name] = d.init;
      for (int t = 1; t <= kSteps; ++t) {
        std::map<std::string, Vec> grads;
        for (auto& [name, p] : want) grads[name] = grad_of(name, t, p.size());
        run.step(grads, lr_scale_at(t));
        for (auto& [name, p] : want) ref[name].step(p, grads[name], cfg.sgd, cfg.sgd.lr * lr_scale_at(t));
        for (auto& [name, p] : want) expect_near(run.value(name), p, 1e-10, name);
      }
    }
}

TEST(Sgd, WithoutMomentumHasNoState) {
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::Sgd;
  cfg.sgd.momentum = 0.0;
  OptimizerRun run(cfg, two_tensors());
  EXPECT_TRUE(run.state().empty());
}

// Muon on the "hidden" tensors (a wide and a tall one), AdamW on the rest.
void run_muon(const MuonConfig& muon, const std::vector<std::array<double, 3>>& coeffs) {
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::Muon;
  cfg.muon = muon;
  std::vector<ParamDef> defs = {{"wide", "hidden", {3, 5}, random_values(15, 3)},
                                {"tall", "hidden", {6, 2}, random_values(12, 4)},
                                {"emb", "embedding", {4, 3}, random_values(12, 5)},
                                {"gain", "norm", {3}, random_values(3, 6, 0.5, 1.5)}};
  OptimizerRun run(cfg, defs);
  std::map<std::string, Vec> want;
  std::map<std::string, RefMuon> ref_muon;
  std::map<std::string, RefAdam> ref_adam;
  for (const ParamDef& d : defs) want[d.name] = d.init;
  for (int t = 1; t <= kSteps; ++t) {
    std::map<std::string, Vec> grads;
    for (auto& [name, p] : want) grads[name] = grad_of(name, t, p.size());
    run.step(grads, lr_scale_at(t));
    for (const ParamDef& d : defs) {
      Vec& p = want[d.name];
      if (d.group == "hidden") {
        const double r = static_cast<double>(d.shape[0]), c = static_cast<double>(d.shape[1]);
        double scale = muon.scale == MuonScale::ShapeRatio      ? std::sqrt(std::max(1.0, r / c))
                       : muon.scale == MuonScale::MatchRmsAdamw ? 0.2 * std::sqrt(std::max(r, c))
                                                                : 1.0;
        ref_muon[d.name].step(p, grads[d.name], d.shape[0], d.shape[1], muon, coeffs, scale, muon.lr * lr_scale_at(t));
      } else {
        ref_adam[d.name].step(p, grads[d.name], muon.aux_adam, true, t, muon.aux_adam.lr * lr_scale_at(t));
      }
      expect_near(run.value(d.name), p, 1e-9, d.name + " step " + std::to_string(t));
    }
  }
  for (const StateSpec& s : run.state())
    EXPECT_TRUE(s.name == "opt.wide.momentum" || s.name == "opt.tall.momentum" || s.name == "opt.emb.m" ||
                s.name == "opt.emb.v" || s.name == "opt.gain.m" || s.name == "opt.gain.v")
        << s.name;
  EXPECT_EQ(run.state().size(), 6u);
}

TEST(Muon, ReferenceVariantMatchesForEveryScaleRule) {
  for (MuonScale scale : {MuonScale::ShapeRatio, MuonScale::MatchRmsAdamw, MuonScale::None}) {
    MuonConfig m;
    m.weight_decay = 0.1;
    m.scale = scale;
    run_muon(m, kReferenceCoeffs);
  }
}

TEST(Muon, WithoutNesterovMatches) {
  MuonConfig m;
  m.nesterov = false;
  run_muon(m, kReferenceCoeffs);
}

TEST(Muon, Li2VariantMatches) {
  MuonConfig m = muon_li2_preset();
  EXPECT_EQ(m.momentum, 0.99);
  EXPECT_FALSE(m.nesterov);
  EXPECT_EQ(m.scale, MuonScale::None);
  run_muon(m, kLi2Coeffs);
}

TEST(Muon, Li2ScheduleIsPerIteration) {
  MuonConfig m = muon_li2_preset();
  std::vector<NsCoefficients> s = ns_schedule(m);
  ASSERT_EQ(s.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(s[i].a, kLi2Coeffs[i][0]);
    EXPECT_EQ(s[i].b, kLi2Coeffs[i][1]);
    EXPECT_EQ(s[i].c, kLi2Coeffs[i][2]);
  }
  m.ns_steps = 6;
  EXPECT_THROW(ns_schedule(m), Error);
  std::vector<NsCoefficients> r = ns_schedule(MuonConfig{});
  ASSERT_EQ(r.size(), 5u);
  for (const NsCoefficients& k : r) {
    EXPECT_EQ(k.a, 3.4445);
    EXPECT_EQ(k.b, -4.7750);
    EXPECT_EQ(k.c, 2.0315);
  }
}

TEST(Muon, RoutingFollowsMuonGroups) {
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::Muon;
  cfg.muon.muon_groups = {"hidden", "head"};
  EXPECT_TRUE(uses_muon(cfg, "head"));
  EXPECT_FALSE(uses_muon(cfg, "embedding"));
  cfg.kind = OptimizerKind::AdamW;
  EXPECT_FALSE(uses_muon(cfg, "hidden"));
}

TEST(Muon, NonMatrixParameterRoutedToMuonThrows) {
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::Muon;
  cfg.muon.muon_groups = {"norm"};
  try {
    OptimizerRun run(cfg, {{"gain", "norm", {4}, Vec(4, 1.0)}});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gain"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace grokjit::optimizers
