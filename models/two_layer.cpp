#include "models/two_layer.h"

#include <string>

#include "ir/builder.h"
#include "ir/error.h"
#include "models/layers.h"

namespace grokjit::models {

using ir::Value;

std::vector<ParamSpec> two_layer_param_specs(const TwoLayerConfig& cfg, int64_t operands, int64_t classes) {
  if (cfg.hidden <= 0 || operands <= 0 || classes <= 0)
    throw Error("2-layer network: hidden (" + std::to_string(cfg.hidden) + "), operands (" + std::to_string(operands) +
                    ") and classes (" + std::to_string(classes) + ") must be positive",
                ExitCode::Usage);
  const int64_t K = cfg.hidden;
  return {
      {"W", {K, 2 * operands}, "hidden", Init::UniformFanIn, 2 * operands, cfg.init_scale},
      {"V", {classes, K}, "head", Init::UniformFanIn, K, cfg.init_scale},
  };
}

ir::Value two_layer_outputs(const TwoLayerConfig& cfg, const ParamValues& params, Value a, Value b, int64_t operands,
                            Value* hidden) {
  // X W^T with one-hot rows X = one-hot(a) ++ one-hot(b) is the sum of two
  // columns of W: gathered, not multiplied, which saves 4 x 2M x K FLOPs per
  // example (the product and W's gradient). Every other term of the product
  // is an exact zero and the scatter of W's gradient adds the examples in
  // order, so the numbers are bitwise those of the product wherever the CPU
  // would not split the gradient's matmul over the examples (long K, e.g.
  // 1104 rows); there they differ in rounding only.
  Value columns = ir::transpose(param(params, "W"));  // [2M, K]
  Value h = ir::gather(columns, a) + ir::gather(columns, b + static_cast<double>(operands));
  h = cfg.activation == Activation::Square ? ir::square(h) : ir::relu(h);
  if (hidden != nullptr) *hidden = h;
  return linear(h, param(params, "V"));
}

ir::Value centered_mse_rows(Value outputs, Value labels) {
  const int64_t C = outputs.dim(1);
  Value centred = outputs - ir::mean(outputs, {1}, /*keepdims=*/true);
  Value target = ir::one_hot(labels, C, outputs.dtype()) - 1.0 / static_cast<double>(C);
  return ir::sum(ir::square(centred - target), {1});
}

}  // namespace grokjit::models
