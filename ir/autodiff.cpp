// Reverse-mode autodiff. Walks the nodes from `out` down to the first id,
// visiting only nodes that depend on some `wrt`, and appends each op's
// vector-Jacobian product as ordinary builder calls.
//
// Choices where the math leaves one open:
// - Max(a, b) / Min(a, b) on a tie send the whole gradient to a (the
//   interpreter picks a on ties, so this is the derivative of what it runs).
// - ReduceMax splits the gradient equally among all positions equal to the
//   max (as JAX does): symmetric, and equal to the true derivative without ties.
// - Relu'(0) = 0, Abs'(0) = Sign(0) = 0; Sign has zero gradient everywhere.
// - Pow(a, b) wrt b is y * log(a) for a > 0 and 0 for a <= 0 (undefined there).
// - Only float inputs receive gradients: bool/i32 paths (compare, iota,
//   gather/scatter indices, casts from ints) are cut.
#include "ir/autodiff.h"

#include <algorithm>
#include <functional>
#include <map>

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::ir {

namespace {

Value zeros_like(Value v) { return scalar_like(v, 0.0); }

Value input_of(Value node, size_t i) { return Value(node.graph(), node.node().inputs[i]); }

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return inv;
}

// Axes along which Broadcast repeated x (size 1 in x, larger in the output).
std::vector<int64_t> broadcast_axes(const Shape& in, const Shape& out) {
  std::vector<int64_t> axes;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] == 1 && out[i] != 1) axes.push_back(static_cast<int64_t>(i));
  return axes;
}

Value unary_grad(Op op, Value x, Value y, Value gy) {
  switch (op) {
    case Op::Neg: return -gy;
    case Op::Exp: return gy * y;
    case Op::Log: return gy / x;
    case Op::Sqrt: return gy * 0.5 / y;
    case Op::Rsqrt: return gy * (-0.5) * y * square(y);  // d x^-1/2 = -1/2 x^-3/2
    case Op::Recip: return -gy * square(y);
    case Op::Sin: return gy * cos(x);
    case Op::Cos: return -gy * sin(x);
    case Op::Abs: return gy * sign(x);
    case Op::Sign: return zeros_like(gy);
    case Op::Relu: return where(gt(x, zeros_like(x)), gy, zeros_like(gy));
    case Op::Silu: {
      // silu' = s + x s (1 - s) = s + y (1 - s): written with y, the
      // backward pass reads y (kept anyway, a gated MLP multiplies by it)
      // instead of x, so the forward pass need not store x.
      Value s = sigmoid(x);
      return gy * (s + y * (1.0 - s));
    }
    case Op::Sigmoid: return gy * y * (1.0 - y);
    case Op::Tanh: return gy * (1.0 - square(y));
    case Op::Square: return gy * x * 2.0;
    case Op::Cast: return cast(gy, x.dtype());
    default: throw GraphError("autodiff: no gradient rule for " + std::string(op_name(op)));
  }
}

// A gradient is built only when asked for, so an input that needs none
// (a constant operand, say) adds no dead nodes to the graph.
using GradThunk = std::function<Value()>;
using GradThunks = std::vector<GradThunk>;

GradThunks binary_grads(Op op, Value a, Value b, Value y, Value gy) {
  switch (op) {
    case Op::Add: return {[=] { return gy; }, [=] { return gy; }};
    case Op::Sub: return {[=] { return gy; }, [=] { return -gy; }};
    case Op::Mul: return {[=] { return gy * b; }, [=] { return gy * a; }};
    case Op::Div: return {[=] { return gy / b; }, [=] { return -gy * y / b; }};
    case Op::Max: case Op::Min: {
      auto a_wins = [=] { return op == Op::Max ? ge(a, b) : le(a, b); };  // ties go to a, as in the interpreter
      return {[=] { return where(a_wins(), gy, zeros_like(gy)); }, [=] { return where(a_wins(), zeros_like(gy), gy); }};
    }
    case Op::Pow: {
      auto safe_log_a = [=] { return log(where(gt(a, zeros_like(a)), a, scalar_like(a, 1.0))); };
      return {[=] { return gy * b * pow(a, b - 1.0); }, [=] { return gy * y * safe_log_a(); }};
    }
    default: throw GraphError("autodiff: no gradient rule for " + std::string(op_name(op)));
  }
}

Value reduce_max_grad(Value x, Value y, Value gy) {
  Value at_max = cast(eq(x, broadcast_to(y, x.shape())), x.dtype());
  Value count = sum(at_max, y.node().attrs.axes, true);
  return at_max * broadcast_to(gy / count, x.shape());
}

GradThunks concat_grads(Value y, Value gy) {
  const Node& n = y.node();
  GradThunks grads;
  int64_t offset = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    int64_t size = input_of(y, i).shape()[static_cast<size_t>(n.attrs.axis)];
    grads.push_back([=, axis = n.attrs.axis] { return slice(gy, axis, offset, offset + size); });
    offset += size;
  }
  return grads;
}

// One gradient thunk per input of y (empty where the input gets none).
GradThunks input_grads(Value y, Value gy) {
  const Node& n = y.node();
  auto x = [=](size_t i) { return input_of(y, i); };
  const Attrs attrs = n.attrs;
  const Shape x0_shape = n.inputs.empty() ? Shape{} : x(0).shape();
  switch (op_category(n.op)) {
    case OpCategory::Leaf: case OpCategory::Random: case OpCategory::Compare: return GradThunks(n.inputs.size());
    case OpCategory::Unary:
      if (n.op == Op::Not || (n.op == Op::Cast && !(is_float(x(0).dtype()) && is_float(n.dtype)))) return {nullptr};
      return {[=, op = n.op] { return unary_grad(op, x(0), y, gy); }};
    case OpCategory::Binary:
      if (n.op == Op::And || n.op == Op::Or) return {nullptr, nullptr};
      return binary_grads(n.op, x(0), x(1), y, gy);
    case OpCategory::Ternary:
      return {nullptr, [=] { return where(x(0), gy, zeros_like(gy)); }, [=] { return where(x(0), zeros_like(gy), gy); }};
    case OpCategory::Reduce:
      if (n.op == Op::ReduceSum) return {[=] { return broadcast_to(gy, x0_shape); }};
      return {[=] { return reduce_max_grad(x(0), y, gy); }};
    case OpCategory::Contract:
      return {[=] { return matmul(gy, transpose(x(1))); }, [=] { return matmul(transpose(x(0)), gy); }};
    case OpCategory::Index:
      if (n.op == Op::Gather) return {[=] { return scatter_add(x(1), gy, x0_shape[0]); }, nullptr};
      return {nullptr, [=] { return gather(gy, x(0)); }};
    case OpCategory::Movement: break;
  }
  switch (n.op) {
    case Op::Broadcast: return {[=, out = n.shape] { return sum(gy, broadcast_axes(x0_shape, out), true); }};
    case Op::Reshape: return {[=] { return reshape(gy, x0_shape); }};
    case Op::Permute: return {[=] { return permute(gy, inverse_permutation(attrs.perm)); }};
    case Op::Slice: return {[=] { return pad(gy, attrs.starts, x0_shape, attrs.steps); }};
    case Op::Pad: return {[=] { return slice(gy, attrs.starts, x0_shape, attrs.steps); }};
    case Op::Concat: return concat_grads(y, gy);
    default: break;
  }
  throw GraphError("autodiff: no gradient rule for " + std::string(op_name(n.op)));
}

// depends[i]: node i is some wrt or reads one (only those need gradients).
std::vector<bool> depends_on_wrt(const Graph& g, NodeId last, std::span<const Value> wrt) {
  std::vector<bool> depends(static_cast<size_t>(last) + 1, false);
  for (Value w : wrt)
    if (w.id() <= last) depends[static_cast<size_t>(w.id())] = true;
  for (NodeId i = 0; i <= last; ++i) {
    auto reads_wrt = [&](NodeId in) { return depends[static_cast<size_t>(in)]; };
    const std::vector<NodeId>& ins = g.node(i).inputs;
    if (std::any_of(ins.begin(), ins.end(), reads_wrt)) depends[static_cast<size_t>(i)] = true;
  }
  return depends;
}

void check_args(Value out, Value seed, std::span<const Value> wrt) {
  if (!out.valid() || !seed.valid()) throw GraphError("vjp: empty Value");
  if (seed.graph() != out.graph()) throw GraphError("vjp: seed belongs to another graph");
  if (!is_float(out.dtype()))
    throw GraphError("vjp: output %" + std::to_string(out.id()) + " is " + type_str(out.dtype(), out.shape()) +
                     ", not float");
  if (seed.shape() != out.shape() || seed.dtype() != out.dtype())
    throw GraphError("vjp: seed " + type_str(seed.dtype(), seed.shape()) + " must match the output " +
                     type_str(out.dtype(), out.shape()));
  for (Value w : wrt) {
    if (!w.valid() || w.graph() != out.graph()) throw GraphError("vjp: wrt value is empty or in another graph");
    if (!is_float(w.dtype()))
      throw GraphError("vjp: wrt %" + std::to_string(w.id()) + " is " + type_str(w.dtype(), w.shape()) + ", not float");
  }
}

}  // namespace

std::vector<Value> vjp(Value out, Value seed, std::span<const Value> wrt) {
  check_args(out, seed, wrt);
  Graph& g = *out.graph();
  std::vector<bool> depends = depends_on_wrt(g, out.id(), wrt);
  std::map<NodeId, Value> grads{{out.id(), seed}};
  for (NodeId id = out.id(); id >= 0; --id) {
    auto it = grads.find(id);
    if (it == grads.end() || !depends[static_cast<size_t>(id)] || g.node(id).inputs.empty()) continue;
    Value y(&g, id);
    GradThunks contributions = input_grads(y, it->second);
    const std::vector<NodeId> inputs = g.node(id).inputs;  // copy: builders append to g
    for (size_t i = 0; i < inputs.size(); ++i) {
      NodeId in = inputs[i];
      if (!contributions[i] || !depends[static_cast<size_t>(in)] || !is_float(g.node(in).dtype)) continue;
      Value contribution = contributions[i]();
      auto [slot, fresh] = grads.try_emplace(in, contribution);
      if (!fresh) slot->second = slot->second + contribution;  // fan-out: gradients add
    }
  }
  std::vector<Value> result;
  for (Value w : wrt) {
    auto it = grads.find(w.id());
    result.push_back(it != grads.end() ? it->second : zeros_like(w));
  }
  return result;
}

std::vector<Value> grad(Value loss, std::span<const Value> wrt) {
  if (!loss.valid()) throw GraphError("grad: empty loss Value");
  if (!loss.shape().empty())
    throw GraphError("grad: loss %" + std::to_string(loss.id()) + " is " + type_str(loss.dtype(), loss.shape()) +
                     ", not a scalar (use vjp)");
  return vjp(loss, scalar_like(loss, 1.0), wrt);
}

}  // namespace grokjit::ir
