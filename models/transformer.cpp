#include "models/transformer.h"

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::models {

using ir::Value;

std::string layer_param_name(int64_t layer, const std::string& leaf) {
  return "layers." + std::to_string(layer) + "." + leaf;
}

namespace {

ParamSpec linear_spec(std::string name, int64_t out, int64_t in, std::string group) {
  return {std::move(name), {out, in}, std::move(group), Init::UniformFanIn, in};
}

ParamSpec norm_spec(std::string name, int64_t d) { return {std::move(name), {d}, "norm", Init::Ones, d}; }

void check_config(const TransformerConfig& cfg, int64_t vocab, int64_t classes_out) {
  auto positive = [](int64_t v, const char* what) {
    if (v <= 0)
      throw Error(std::string("transformer: ") + what + " must be positive, got " + std::to_string(v), ExitCode::Usage);
  };
  positive(cfg.depth, "depth");
  positive(cfg.d_model, "d_model");
  positive(cfg.heads, "heads");
  positive(cfg.mlp_ratio, "mlp_ratio");
  positive(vocab, "vocab");
  positive(classes_out, "classes_out");
  if (cfg.d_model % cfg.heads != 0)
    throw Error("transformer: d_model " + std::to_string(cfg.d_model) + " is not divisible by heads " +
                    std::to_string(cfg.heads),
                ExitCode::Usage);
  if (cfg.rope && (cfg.d_model / cfg.heads) % 2 != 0)
    throw Error("transformer: RoPE needs an even head dim, got " + std::to_string(cfg.d_model / cfg.heads),
                ExitCode::Usage);
}

}  // namespace

std::vector<ParamSpec> transformer_param_specs(const TransformerConfig& cfg, int64_t vocab, int64_t classes_out) {
  check_config(cfg, vocab, classes_out);
  const int64_t d = cfg.d_model, h = cfg.mlp_ratio * cfg.d_model;
  std::vector<ParamSpec> specs;
  specs.push_back({"embedding", {vocab, d}, "embedding", Init::Normal01, d});
  for (int64_t l = 0; l < cfg.depth; ++l) {
    specs.push_back(norm_spec(layer_param_name(l, "attn_norm"), d));
    for (const char* w : {"attn.wq", "attn.wk", "attn.wv", "attn.wo"})
      specs.push_back(linear_spec(layer_param_name(l, w), d, d, "hidden"));
    specs.push_back(norm_spec(layer_param_name(l, "ffn_norm"), d));
    specs.push_back(linear_spec(layer_param_name(l, "ffn.w1"), h, d, "hidden"));
    specs.push_back(linear_spec(layer_param_name(l, "ffn.w2"), d, h, "hidden"));
    specs.push_back(linear_spec(layer_param_name(l, "ffn.w3"), h, d, "hidden"));
  }
  specs.push_back(norm_spec("final_norm", d));
  specs.push_back(linear_spec("head", classes_out, d, "head"));
  return specs;
}

ir::Value transformer_logits(const TransformerConfig& cfg, const ParamValues& params, Value tokens,
                             const DropoutSource* dropout, std::vector<Value>* hidden) {
  if (tokens.rank() != 2 || tokens.dtype() != ir::DType::I32)
    throw Error("transformer: tokens must be i32 [B, T], got " + ir::type_str(tokens.dtype(), tokens.shape()));
  const int64_t B = tokens.dim(0), T = tokens.dim(1);
  auto p = [&](int64_t l, const char* leaf) { return param(params, layer_param_name(l, leaf)); };

  Value x = ir::gather(param(params, "embedding"), tokens);  // [B, T, d]
  for (int64_t l = 0; l < cfg.depth; ++l) {
    // The classifier reads the last position only, so the last block computes
    // its query, residual and FFN there alone: the same logits, less work.
    const bool last_block = l + 1 == cfg.depth;
    AttentionWeights attn{p(l, "attn.wq"), p(l, "attn.wk"), p(l, "attn.wv"), p(l, "attn.wo")};
    Value attended = self_attention(rmsnorm(x, p(l, "attn_norm"), cfg.norm_eps), attn, cfg, last_block ? 1 : T);
    x = (last_block ? ir::slice(x, 1, T - 1, T) : x) + attended;
    FfnWeights ffn{p(l, "ffn.w1"), p(l, "ffn.w2"), p(l, "ffn.w3")};
    x = x + swiglu_ffn(rmsnorm(x, p(l, "ffn_norm"), cfg.norm_eps), ffn, cfg.dropout, dropout,
                       static_cast<uint32_t>(l));
    if (hidden != nullptr) {
      Value at_last = last_block ? x : ir::slice(x, 1, T - 1, T);
      hidden->push_back(ir::reshape(at_last, {B, cfg.d_model}));
    }
  }
  Value last = ir::reshape(x, {B, cfg.d_model});  // [B, 1, d] -> [B, d]
  Value normed = rmsnorm(last, param(params, "final_norm"), cfg.norm_eps);
  if (hidden != nullptr) hidden->push_back(normed);
  return linear(normed, param(params, "head"));
}

}  // namespace grokjit::models
