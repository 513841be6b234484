// The Transformer graph against a plain C++ forward pass written from
// REFERENCE.md s.2 (loops over positions, heads and features).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/random.h"
#include "model_test_util.h"
#include "models/layers.h"
#include "models/transformer.h"

namespace grokjit::models {
namespace {

using testing::random_values;
using Vec = std::vector<double>;
using Weights = std::map<std::string, Vec>;

// ---- the plain reference

// y[o] = sum_i x[i] * W[o][i]; W row-major [out, in].
Vec ref_linear(const Vec& x, const Vec& W, int64_t out) {
  const int64_t in = static_cast<int64_t>(x.size());
  Vec y(static_cast<size_t>(out), 0.0);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) y[o] += x[i] * W[o * in + i];
  return y;
}

Vec ref_rmsnorm(const Vec& x, const Vec& g, double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + eps) * g[i];
  return y;
}

// RoPE on one head vector at position t.
Vec ref_rope(const Vec& x, int64_t t, double base, RopeStyle style) {
  const int64_t hd = static_cast<int64_t>(x.size()), half = hd / 2;
  Vec y = x;
  for (int64_t j = 0; j < half; ++j) {
    double theta = static_cast<double>(t) * std::pow(base, -2.0 * j / hd);
    int64_t i0 = style == RopeStyle::RotateHalf ? j : 2 * j;
    int64_t i1 = style == RopeStyle::RotateHalf ? j + half : 2 * j + 1;
    y[i0] = x[i0] * std::cos(theta) - x[i1] * std::sin(theta);
    y[i1] = x[i1] * std::cos(theta) + x[i0] * std::sin(theta);
  }
  return y;
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

// Positions x[t] (each d-vector) -> attention output per position.
std::vector<Vec> ref_attention(const std::vector<Vec>& x, const Weights& w, const std::string& l,
                               const TransformerConfig& cfg) {
  const int64_t T = static_cast<int64_t>(x.size()), d = cfg.d_model, H = cfg.heads, hd = d / H;
  std::vector<Vec> q, k, v, out(static_cast<size_t>(T), Vec(static_cast<size_t>(d), 0.0));
  for (const Vec& xt : x) {
    q.push_back(ref_linear(xt, w.at(l + "attn.wq"), d));
    k.push_back(ref_linear(xt, w.at(l + "attn.wk"), d));
    v.push_back(ref_linear(xt, w.at(l + "attn.wv"), d));
  }
  for (int64_t h = 0; h < H; ++h) {
    auto head = [&](const Vec& full, int64_t t) {
      Vec part(full.begin() + h * hd, full.begin() + (h + 1) * hd);
      return cfg.rope ? ref_rope(part, t, cfg.rope_base, cfg.rope_style) : part;
    };
    for (int64_t t = 0; t < T; ++t) {
      Vec qt = head(q[t], t);
      const int64_t visible = cfg.causal ? t + 1 : T;
      Vec score(static_cast<size_t>(visible));
      double mx = -1e300;
      for (int64_t s = 0; s < visible; ++s) {
        Vec ks = head(k[s], s);
        double dot = 0;
        for (int64_t j = 0; j < hd; ++j) dot += qt[j] * ks[j];
        score[s] = dot / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, score[s]);
      }
      double z = 0;
      for (double& sc : score) z += (sc = std::exp(sc - mx));
      for (int64_t s = 0; s < visible; ++s)
        for (int64_t j = 0; j < hd; ++j) out[t][h * hd + j] += score[s] / z * v[s][h * hd + j];
    }
  }
  for (Vec& o : out) o = ref_linear(o, w.at(l + "attn.wo"), d);
  return out;
}

// Eval-mode logits of one row of tokens.
Vec ref_transformer(const TransformerConfig& cfg, const Weights& w, const std::vector<int>& tokens, int64_t classes) {
  const int64_t d = cfg.d_model, hidden = cfg.mlp_ratio * d;
  std::vector<Vec> x;
  for (int tok : tokens) x.emplace_back(w.at("embedding").begin() + tok * d, w.at("embedding").begin() + (tok + 1) * d);
  for (int64_t layer = 0; layer < cfg.depth; ++layer) {
    const std::string l = "layers." + std::to_string(layer) + ".";
    std::vector<Vec> normed;
    for (const Vec& xt : x) normed.push_back(ref_rmsnorm(xt, w.at(l + "attn_norm"), cfg.norm_eps));
    std::vector<Vec> attn = ref_attention(normed, w, l, cfg);
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t i = 0; i < d; ++i) x[t][i] += attn[t][i];
    for (Vec& xt : x) {
      Vec h = ref_rmsnorm(xt, w.at(l + "ffn_norm"), cfg.norm_eps);
      Vec a = ref_linear(h, w.at(l + "ffn.w1"), hidden), b = ref_linear(h, w.at(l + "ffn.w3"), hidden);
      for (int64_t i = 0; i < hidden; ++i) a[i] = silu(a[i]) * b[i];
      Vec f = ref_linear(a, w.at(l + "ffn.w2"), d);
      for (int64_t i = 0; i < d; ++i) xt[i] += f[i];
    }
  }
  return ref_linear(ref_rmsnorm(x.back(), w.at("final_norm"), cfg.norm_eps), w.at("head"), classes);
}

// ---- the graph

struct Fixture {
  TransformerConfig cfg;
  int64_t vocab = 7, classes = 7, B = 3, T = 4;
  std::vector<ParamSpec> specs;
  Weights weights;
  std::vector<int> tokens;

  explicit Fixture(TransformerConfig c) : cfg(c) {
    specs = transformer_param_specs(cfg, vocab, classes);
    uint64_t seed = 1;
    for (const ParamSpec& s : specs) {
      // Random gains too, so that a swapped norm gain would show.
      double lo = s.init == Init::Ones ? 0.5 : -0.6, hi = s.init == Init::Ones ? 1.5 : 0.6;
      weights[s.name] = random_values(ir::num_elements(s.shape), seed++, lo, hi);
    }
    for (int64_t i = 0; i < B * T; ++i) tokens.push_back(static_cast<int>((i * 5 + 3) % vocab));
  }

  ir::TensorMap inputs() const {
    ir::TensorMap m;
    for (const ParamSpec& s : specs) m[s.name] = ir::Tensor64(s.shape, weights.at(s.name));
    m["tokens"] = ir::Tensor64({B, T}, Vec(tokens.begin(), tokens.end()));
    m["seed"] = ir::Tensor64({}, {11});
    m["step"] = ir::Tensor64({}, {5});
    return m;
  }

  // Logits [B, classes] through the interpreter; train mode draws dropout.
  ir::Tensor64 logits(bool train) const {
    ir::Graph g;
    ParamValues params = add_param_inputs(g, specs);
    ir::Value tok = ir::input(g, "tokens", {B, T}, ir::DType::I32, ir::InputRole::Data);
    DropoutSource source{ir::input(g, "seed", {}, ir::DType::I32, ir::InputRole::Scalar),
                         ir::input(g, "step", {}, ir::DType::I32, ir::InputRole::Scalar)};
    ir::output(transformer_logits(cfg, params, tok, train ? &source : nullptr), "logits");
    return ir::interpret(g, inputs()).outputs.at("logits");
  }

  void expect_matches_reference() const {
    ir::Tensor64 got = logits(false);
    ASSERT_EQ(got.shape, (ir::Shape{B, classes}));
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int> row(tokens.begin() + b * T, tokens.begin() + (b + 1) * T);
      Vec want = ref_transformer(cfg, weights, row, classes);
      for (int64_t c = 0; c < classes; ++c) EXPECT_NEAR(got[b * classes + c], want[c], 1e-10) << "row " << b << " class " << c;
    }
  }
};

TransformerConfig tiny(int64_t heads, bool rope, RopeStyle style) {
  TransformerConfig cfg;
  cfg.depth = 2;
  cfg.d_model = 8;
  cfg.heads = heads;
  cfg.mlp_ratio = 2;
  cfg.rope = rope;
  cfg.rope_base = 10.0;  // a small base so the rotation angles are large at T = 4
  cfg.rope_style = style;
  return cfg;
}

TEST(Transformer, MatchesReferenceRotateHalfOneHead) { Fixture(tiny(1, true, RopeStyle::RotateHalf)).expect_matches_reference(); }
TEST(Transformer, MatchesReferenceRotateHalfTwoHeads) { Fixture(tiny(2, true, RopeStyle::RotateHalf)).expect_matches_reference(); }
TEST(Transformer, MatchesReferenceInterleavedTwoHeads) { Fixture(tiny(2, true, RopeStyle::Interleaved)).expect_matches_reference(); }
TEST(Transformer, MatchesReferenceWithoutRope) { Fixture(tiny(1, false, RopeStyle::RotateHalf)).expect_matches_reference(); }

TEST(Transformer, RopeStylesDiffer) {
  ir::Tensor64 a = Fixture(tiny(1, true, RopeStyle::RotateHalf)).logits(false);
  ir::Tensor64 b = Fixture(tiny(1, true, RopeStyle::Interleaved)).logits(false);
  double diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  EXPECT_GT(diff, 1e-3);
}

TEST(Transformer, DropoutOnlyInTrainMode) {
  TransformerConfig cfg = tiny(1, true, RopeStyle::RotateHalf);
  cfg.dropout = 0.5;
  Fixture f(cfg);
  ir::Tensor64 eval = f.logits(false), train = f.logits(true), train_again = f.logits(true);
  double diff = 0;
  for (size_t i = 0; i < eval.data.size(); ++i) diff = std::max(diff, std::abs(eval[i] - train[i]));
  EXPECT_GT(diff, 1e-6);
  EXPECT_EQ(train.data, train_again.data);  // counter-based: same seed and step, same masks
  cfg.dropout = 0.0;
  Fixture no_dropout(cfg);
  EXPECT_EQ(no_dropout.logits(true).data, no_dropout.logits(false).data);
}

TEST(Dropout, MaskMatchesTheCounterBasedGenerator) {
  const int64_t n = 4000;
  const double p = 0.2;
  ir::Graph g;
  ir::Value x = ir::input(g, "x", {n}, ir::DType::F32, ir::InputRole::Data);
  DropoutSource source{ir::input(g, "seed", {}, ir::DType::I32, ir::InputRole::Scalar),
                       ir::input(g, "step", {}, ir::DType::I32, ir::InputRole::Scalar)};
  ir::output(dropout(x, p, &source, 3), "y");
  ir::TensorMap in{{"x", ir::Tensor64({n}, Vec(n, 2.0))}, {"seed", ir::Tensor64({}, {42})}, {"step", ir::Tensor64({}, {9})}};
  ir::Tensor64 y = ir::interpret(g, in).outputs.at("y");
  int64_t dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool keep = ir::random_uniform(42, 9, 3, static_cast<uint32_t>(i)) >= p;
    EXPECT_NEAR(y[i], keep ? 2.0 / (1.0 - p) : 0.0, 1e-12) << i;
    dropped += keep ? 0 : 1;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.03);
  EXPECT_THROW(dropout(x, 1.0, &source, 0), Error);
}

}  // namespace
}  // namespace grokjit::models
