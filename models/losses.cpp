#include "models/losses.h"

#include <string>

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::models {

using ir::Value;

namespace {

void check_rows(Value logits, Value labels, const char* who) {
  if (logits.rank() != 2 || !ir::is_float(logits.dtype()))
    throw Error(std::string(who) + ": logits must be float [B, C], got " + ir::type_str(logits.dtype(), logits.shape()));
  if (labels.rank() != 1 || labels.dtype() != ir::DType::I32 || labels.dim(0) != logits.dim(0))
    throw Error(std::string(who) + ": labels must be i32 [" + std::to_string(logits.dim(0)) + "], got " +
                ir::type_str(labels.dtype(), labels.shape()));
}

// Bool [B, C]: true at (i, labels[i]).
Value label_mask(Value labels, int64_t classes) { return ir::one_hot(labels, classes, ir::DType::Bool); }

// z_y per row, [B].
Value label_logit(Value logits, Value labels) {
  return ir::sum(logits * ir::one_hot(labels, logits.dim(1), logits.dtype()), {1});
}

Value as_float(Value flag, ir::DType dtype) { return ir::cast(flag, dtype); }

}  // namespace

ir::Value softmax_cross_entropy_rows(Value logits, Value labels) {
  check_rows(logits, labels, "softmax cross-entropy");
  return -label_logit(ir::log_softmax(logits, 1), labels);
}

ir::Value stablemax_cross_entropy_rows(Value logits, Value labels, bool in_f64) {
  check_rows(logits, labels, "stablemax cross-entropy");
  Value z = in_f64 ? ir::cast(logits, ir::DType::F64) : logits;
  // Both branches stay finite everywhere (1 / (1 - min(z, 0)) <= 1), so the
  // unselected branch of `where` contributes 0, never NaN, to the gradient.
  Value positive = z + 1.0;
  Value negative = 1.0 / (1.0 - ir::minimum(z, ir::scalar_like(z, 0.0)));
  Value s = ir::where(ir::ge(z, ir::scalar_like(z, 0.0)), positive, negative);
  Value loss = ir::log(ir::sum(s, {1})) - ir::log(label_logit(s, labels));
  return in_f64 ? ir::cast(loss, logits.dtype()) : loss;
}

Sparsemax sparsemax(Value z) {
  if (z.rank() != 2 || !ir::is_float(z.dtype()))
    throw Error("sparsemax: logits must be float [B, C], got " + ir::type_str(z.dtype(), z.shape()));
  const int64_t B = z.dim(0), C = z.dim(1);
  Value zi = ir::broadcast_to(ir::reshape(z, {B, C, 1}), {B, C, C});  // [b, i, j] = z_i
  Value zj = ir::broadcast_to(ir::reshape(z, {B, 1, C}), {B, C, C});  // [b, i, j] = z_j
  Value at_least = as_float(ir::ge(zj, zi), z.dtype());
  Value k = ir::sum(at_least, {2});
  Value s = ir::sum(at_least * zj, {2});
  Value support = as_float(ir::gt(1.0 + k * z, s), z.dtype());
  Value size = ir::sum(support, {1}, /*keepdims=*/true);
  Value tau = (ir::sum(support * z, {1}, /*keepdims=*/true) - 1.0) / size;
  Value probs = ir::maximum(z - tau, ir::scalar_like(z, 0.0));
  return {probs, tau, support};
}

ir::Value sparsemax_loss_rows(Value logits, Value labels) {
  check_rows(logits, labels, "sparsemax loss");
  Sparsemax sm = sparsemax(logits);
  Value spread = ir::sum(sm.support * (ir::square(logits) - ir::square(sm.tau)), {1});
  return 0.5 * spread + 0.5 - label_logit(logits, labels);
}

ir::Value output_loss_rows(OutputFn fn, bool stablemax_f64, Value logits, Value labels) {
  switch (fn) {
    case OutputFn::Softmax: return softmax_cross_entropy_rows(logits, labels);
    case OutputFn::Stablemax: return stablemax_cross_entropy_rows(logits, labels, stablemax_f64);
    case OutputFn::Sparsemax: return sparsemax_loss_rows(logits, labels);
  }
  throw Error("unknown output function");
}

ir::Value correct_rows(Value logits, Value labels) {
  check_rows(logits, labels, "accuracy");
  return as_float(ir::eq(ir::argmax(logits, 1), labels), logits.dtype());
}

ir::Value softmax_collapse_rows(Value logits) {
  Value shifted = logits - ir::max(logits, {1}, /*keepdims=*/true);
  Value total = ir::sum(ir::exp(shifted), {1});
  return as_float(ir::eq(total, ir::scalar_like(total, 1.0)), logits.dtype());
}

ir::Value zero_loss_rows(Value row_loss) {
  return as_float(ir::eq(row_loss, ir::scalar_like(row_loss, 0.0)), row_loss.dtype());
}

ir::Value logit_margin_rows(Value logits, Value labels) {
  check_rows(logits, labels, "logit margin");
  Value others = ir::where(label_mask(labels, logits.dim(1)),
                           ir::constant(*logits.graph(), -1e30, logits.shape(), logits.dtype()), logits);
  return label_logit(logits, labels) - ir::max(others, {1});
}

}  // namespace grokjit::models
