// Builders: high-level conveniences (broadcasting, negative axes, keepdims,
// composites) on top of primitive nodes whose rules live in op_rules.cpp.
#include "ir/builder.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"
#include "ir/op_rules.h"

namespace grokjit::ir {

namespace {

std::string describe(Value v) { return "%" + std::to_string(v.id()) + ": " + type_str(v.dtype(), v.shape()); }

std::string describe_all(std::initializer_list<Value> vs) {
  std::string s;
  for (Value v : vs) s += (s.empty() ? "" : ", ") + describe(v);
  return s;
}

[[noreturn]] void fail(std::string_view op, std::initializer_list<Value> args, const std::string& problem) {
  throw GraphError(std::string(op) + "(" + describe_all(args) + "): " + problem);
}

Graph& graph_of(std::string_view op, std::initializer_list<Value> args) {
  Graph* g = nullptr;
  for (Value v : args) {
    if (!v.valid()) throw GraphError(std::string(op) + ": operand is an empty Value");
    if (g && v.graph() != g) fail(op, args, "operands belong to different graphs");
    g = v.graph();
  }
  return *g;
}

// Adds a primitive node after checking it with the shared op rules.
Value make(Graph& g, Op op, std::vector<NodeId> inputs, Attrs attrs = {}, Shape declared_shape = {},
           DType declared_dtype = DType::F32) {
  Node n{op, declared_dtype, std::move(declared_shape), std::move(inputs), std::move(attrs)};
  NodeType t = infer_node_type(g, n);
  n.shape = std::move(t.shape);
  n.dtype = t.dtype;
  return Value(&g, g.add(std::move(n)));
}

int64_t normalize_axis(std::string_view op, Value x, int64_t axis) {
  int64_t a = axis < 0 ? axis + x.rank() : axis;
  if (a < 0 || a >= x.rank())
    fail(op, {x}, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(x.rank()));
  return a;
}

std::vector<int64_t> normalize_axes(std::string_view op, Value x, std::vector<int64_t> axes) {
  for (int64_t& a : axes) a = normalize_axis(op, x, a);
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    fail(op, {x}, "axes " + shape_str(axes) + " repeat an axis");
  return axes;
}

// numpy broadcasting of two shapes; nullopt-like failure reported by caller.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    s[i] = da == 1 ? db : da;
  }
  *out = std::move(s);
  return true;
}

Shape common_shape(std::string_view op, std::initializer_list<Value> args) {
  Shape s;
  for (Value v : args)
    if (!broadcast_shapes(s, v.shape(), &s)) fail(op, args, "shapes do not broadcast");
  return s;
}

Shape drop_axes(const Shape& s, const std::vector<int64_t>& axes) {
  Shape out;
  for (size_t i = 0; i < s.size(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(i))) out.push_back(s[i]);
  return out;
}

Value reduce(Op op, Value x, std::vector<int64_t> axes, bool keepdims) {
  std::string_view name = op == Op::ReduceSum ? "sum" : "max";
  graph_of(name, {x});
  axes = normalize_axes(name, x, std::move(axes));
  if (!is_numeric(x.dtype())) fail(name, {x}, "cannot reduce bool (cast first)");
  if (axes.empty()) return x;
  Attrs attrs;
  attrs.axes = axes;
  Value r = make(*x.graph(), op, {x.id()}, attrs);
  return keepdims ? r : reshape(r, drop_axes(x.shape(), axes));
}

}  // namespace

// ---- leaves

Value input(Graph& g, std::string name, Shape shape, DType dtype, InputRole role) {
  if (g.find_input(name) >= 0) throw GraphError("input '" + name + "': name already used by another input");
  Attrs attrs;
  attrs.name = std::move(name);
  attrs.role = role;
  return make(g, Op::Input, {}, std::move(attrs), std::move(shape), dtype);
}

Value constant(Graph& g, double value, Shape shape, DType dtype) {
  Attrs attrs;
  attrs.scalar = value;
  return make(g, Op::Constant, {}, std::move(attrs), std::move(shape), dtype);
}

Value constant_data(Graph& g, std::vector<double> data, Shape shape, DType dtype) {
  Attrs attrs;
  attrs.data = std::move(data);
  return make(g, Op::Constant, {}, std::move(attrs), std::move(shape), dtype);
}

Value iota(Graph& g, Shape shape, int64_t axis, DType dtype) {
  Attrs attrs;
  attrs.axis = axis < 0 ? axis + static_cast<int64_t>(shape.size()) : axis;
  return make(g, Op::Iota, {}, std::move(attrs), std::move(shape), dtype);
}

Value random_uniform(Value seed, Value counter, Shape shape, uint32_t stream, DType dtype) {
  Graph& g = graph_of("random_uniform", {seed, counter});
  Attrs attrs;
  attrs.stream = stream;
  return make(g, Op::RandomUniform, {seed.id(), counter.id()}, std::move(attrs), std::move(shape), dtype);
}

// ---- elementwise

Value unary(Op op, Value x) {
  if (op_category(op) != OpCategory::Unary || op == Op::Cast)
    throw GraphError("unary: " + std::string(op_name(op)) + " is not a unary elementwise op");
  Graph& g = graph_of(op_name(op), {x});
  return make(g, op, {x.id()});
}

Value neg(Value x) { return unary(Op::Neg, x); }
Value exp(Value x) { return unary(Op::Exp, x); }
Value log(Value x) { return unary(Op::Log, x); }
Value sqrt(Value x) { return unary(Op::Sqrt, x); }
Value rsqrt(Value x) { return unary(Op::Rsqrt, x); }
Value recip(Value x) { return unary(Op::Recip, x); }
Value sin(Value x) { return unary(Op::Sin, x); }
Value cos(Value x) { return unary(Op::Cos, x); }
Value abs(Value x) { return unary(Op::Abs, x); }
Value sign(Value x) { return unary(Op::Sign, x); }
Value relu(Value x) { return unary(Op::Relu, x); }
Value silu(Value x) { return unary(Op::Silu, x); }
Value sigmoid(Value x) { return unary(Op::Sigmoid, x); }
Value tanh(Value x) { return unary(Op::Tanh, x); }
Value square(Value x) { return unary(Op::Square, x); }
Value logical_not(Value x) { return unary(Op::Not, x); }

Value cast(Value x, DType to) {
  Graph& g = graph_of("cast", {x});
  if (x.dtype() == to) return x;
  return make(g, Op::Cast, {x.id()}, {}, {}, to);
}

Value binary(Op op, Value a, Value b) {
  OpCategory cat = op_category(op);
  if (cat != OpCategory::Binary && cat != OpCategory::Compare)
    throw GraphError("binary: " + std::string(op_name(op)) + " is not a binary elementwise op");
  Graph& g = graph_of(op_name(op), {a, b});
  if (a.dtype() != b.dtype()) fail(op_name(op), {a, b}, "operands need equal dtypes (cast one)");
  Shape s = common_shape(op_name(op), {a, b});
  return make(g, op, {broadcast_to(a, s).id(), broadcast_to(b, s).id()});
}

Value add(Value a, Value b) { return binary(Op::Add, a, b); }
Value sub(Value a, Value b) { return binary(Op::Sub, a, b); }
Value mul(Value a, Value b) { return binary(Op::Mul, a, b); }
Value div(Value a, Value b) { return binary(Op::Div, a, b); }
Value maximum(Value a, Value b) { return binary(Op::Max, a, b); }
Value minimum(Value a, Value b) { return binary(Op::Min, a, b); }
Value pow(Value a, Value b) { return binary(Op::Pow, a, b); }
Value logical_and(Value a, Value b) { return binary(Op::And, a, b); }
Value logical_or(Value a, Value b) { return binary(Op::Or, a, b); }
Value lt(Value a, Value b) { return binary(Op::Lt, a, b); }
Value le(Value a, Value b) { return binary(Op::Le, a, b); }
Value gt(Value a, Value b) { return binary(Op::Gt, a, b); }
Value ge(Value a, Value b) { return binary(Op::Ge, a, b); }
Value eq(Value a, Value b) { return binary(Op::Eq, a, b); }
Value ne(Value a, Value b) { return binary(Op::Ne, a, b); }

Value where(Value cond, Value a, Value b) {
  Graph& g = graph_of("where", {cond, a, b});
  if (cond.dtype() != DType::Bool) fail("where", {cond, a, b}, "condition must be bool");
  if (a.dtype() != b.dtype()) fail("where", {cond, a, b}, "branches need equal dtypes (cast one)");
  Shape s = common_shape("where", {cond, a, b});
  return make(g, Op::Where, {broadcast_to(cond, s).id(), broadcast_to(a, s).id(), broadcast_to(b, s).id()});
}

Value operator+(Value a, Value b) { return add(a, b); }
Value operator-(Value a, Value b) { return sub(a, b); }
Value operator*(Value a, Value b) { return mul(a, b); }
Value operator/(Value a, Value b) { return div(a, b); }
Value operator-(Value a) { return neg(a); }
Value operator+(Value a, double b) { return add(a, scalar_like(a, b)); }
Value operator-(Value a, double b) { return sub(a, scalar_like(a, b)); }
Value operator*(Value a, double b) { return mul(a, scalar_like(a, b)); }
Value operator/(Value a, double b) { return div(a, scalar_like(a, b)); }
Value operator+(double a, Value b) { return add(scalar_like(b, a), b); }
Value operator-(double a, Value b) { return sub(scalar_like(b, a), b); }
Value operator*(double a, Value b) { return mul(scalar_like(b, a), b); }
Value operator/(double a, Value b) { return div(scalar_like(b, a), b); }

Value scalar_like(Value like, double v) {
  Graph& g = graph_of("scalar_like", {like});
  return constant(g, v, like.shape(), like.dtype());
}

// ---- reductions

Value sum(Value x, std::vector<int64_t> axes, bool keepdims) { return reduce(Op::ReduceSum, x, std::move(axes), keepdims); }
Value max(Value x, std::vector<int64_t> axes, bool keepdims) { return reduce(Op::ReduceMax, x, std::move(axes), keepdims); }
Value min(Value x, std::vector<int64_t> axes, bool keepdims) { return neg(max(neg(x), std::move(axes), keepdims)); }

Value mean(Value x, std::vector<int64_t> axes, bool keepdims) {
  graph_of("mean", {x});
  if (!is_float(x.dtype())) fail("mean", {x}, "needs a float operand (cast first)");
  int64_t n = 1;
  for (int64_t a : normalize_axes("mean", x, axes)) n *= x.shape()[static_cast<size_t>(a)];
  Value s = sum(x, std::move(axes), keepdims);
  return s * (1.0 / static_cast<double>(n));
}

Value sum_all(Value x) {
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < x.rank(); ++i) axes.push_back(i);
  return sum(x, std::move(axes), false);
}

// ---- movement

Value broadcast_to(Value x, Shape shape) {
  Graph& g = graph_of("broadcast_to", {x});
  if (x.shape() == shape) return x;
  Shape common;
  if (shape.size() < x.shape().size() || !broadcast_shapes(x.shape(), shape, &common) || common != shape)
    fail("broadcast_to", {x}, "cannot broadcast to " + shape_str(shape));
  Shape padded(shape.size() - x.shape().size(), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  Value same_rank = reshape(x, padded);
  if (padded == shape) return same_rank;
  return make(g, Op::Broadcast, {same_rank.id()}, {}, std::move(shape));
}

Value reshape(Value x, Shape shape) {
  Graph& g = graph_of("reshape", {x});
  auto infer = std::find(shape.begin(), shape.end(), int64_t{-1});
  if (infer != shape.end()) {
    if (std::find(infer + 1, shape.end(), int64_t{-1}) != shape.end())
      fail("reshape", {x}, "target " + shape_str(shape) + " has more than one -1");
    int64_t known = 1;
    for (int64_t d : shape) known *= d == -1 ? 1 : d;
    if (known == 0 || x.numel() % known != 0)
      fail("reshape", {x}, "cannot infer the -1 in " + shape_str(shape));
    *infer = x.numel() / known;
  }
  if (x.shape() == shape) return x;
  return make(g, Op::Reshape, {x.id()}, {}, std::move(shape));
}

Value permute(Value x, std::vector<int64_t> perm) {
  Graph& g = graph_of("permute", {x});
  for (int64_t& p : perm)
    if (p < 0) p += x.rank();
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
  if (identity && static_cast<int64_t>(perm.size()) == x.rank()) return x;
  Attrs attrs;
  attrs.perm = std::move(perm);
  return make(g, Op::Permute, {x.id()}, std::move(attrs));
}

Value transpose(Value x) {
  graph_of("transpose", {x});
  if (x.rank() < 2) fail("transpose", {x}, "needs rank >= 2");
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.rank(); ++i) perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return permute(x, std::move(perm));
}

Value slice(Value x, int64_t axis, int64_t start, int64_t stop, int64_t step) {
  graph_of("slice", {x});
  int64_t a = normalize_axis("slice", x, axis);
  int64_t dim = x.shape()[static_cast<size_t>(a)];
  if (start < 0) start += dim;
  if (stop < 0) stop += dim;
  if (step < 1 || start < 0 || stop > dim || start > stop)
    fail("slice", {x}, "bad range [" + std::to_string(start) + ":" + std::to_string(stop) + ":" +
                           std::to_string(step) + "] on axis " + std::to_string(a) + " of size " + std::to_string(dim));
  std::vector<int64_t> starts(static_cast<size_t>(x.rank()), 0), steps(static_cast<size_t>(x.rank()), 1);
  Shape out = x.shape();
  starts[static_cast<size_t>(a)] = start;
  steps[static_cast<size_t>(a)] = step;
  out[static_cast<size_t>(a)] = (stop - start + step - 1) / step;
  return slice(x, std::move(starts), std::move(out), std::move(steps));
}

namespace {
// A window at the origin with the tensor's own shape is the tensor itself.
bool is_whole(const std::vector<int64_t>& starts, const Shape& window, const Shape& whole) {
  return window == whole && std::all_of(starts.begin(), starts.end(), [](int64_t s) { return s == 0; });
}
}  // namespace

Value slice(Value x, std::vector<int64_t> starts, Shape out_shape, std::vector<int64_t> steps) {
  Graph& g = graph_of("slice", {x});
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (is_whole(starts, out_shape, x.shape())) return x;
  Attrs attrs;
  attrs.starts = std::move(starts);
  attrs.steps = std::move(steps);
  return make(g, Op::Slice, {x.id()}, std::move(attrs), std::move(out_shape));
}

Value pad(Value x, std::vector<int64_t> starts, Shape out_shape, std::vector<int64_t> steps) {
  Graph& g = graph_of("pad", {x});
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (is_whole(starts, x.shape(), out_shape)) return x;
  Attrs attrs;
  attrs.starts = std::move(starts);
  attrs.steps = std::move(steps);
  return make(g, Op::Pad, {x.id()}, std::move(attrs), std::move(out_shape));
}

Value concat(std::span<const Value> xs, int64_t axis) {
  if (xs.empty()) throw GraphError("concat: needs at least one operand");
  Graph& g = graph_of("concat", {xs[0]});
  if (xs.size() == 1) return xs[0];
  std::vector<NodeId> ids;
  for (Value v : xs) {
    graph_of("concat", {xs[0], v});
    ids.push_back(v.id());
  }
  Attrs attrs;
  attrs.axis = normalize_axis("concat", xs[0], axis);
  return make(g, Op::Concat, std::move(ids), std::move(attrs));
}

Value concat(std::initializer_list<Value> xs, int64_t axis) {
  return concat(std::span<const Value>(xs.begin(), xs.size()), axis);
}

// ---- contraction and indexing

Value matmul(Value a, Value b) {
  Graph& g = graph_of("matmul", {a, b});
  if (a.rank() < 2 || b.rank() < 2) fail("matmul", {a, b}, "operands need rank >= 2 (reshape vectors)");
  if (a.dim(-1) != b.dim(-2))
    fail("matmul", {a, b}, "contracted dims differ (" + std::to_string(a.dim(-1)) + " vs " +
                               std::to_string(b.dim(-2)) + ")");
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2), batch;
  if (!broadcast_shapes(batch_a, batch_b, &batch)) fail("matmul", {a, b}, "batch dims do not broadcast");
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {a.dim(-2), a.dim(-1)});
  sb.insert(sb.end(), {b.dim(-2), b.dim(-1)});
  return make(g, Op::MatMul, {broadcast_to(a, sa).id(), broadcast_to(b, sb).id()});
}

Value gather(Value table, Value indices) {
  Graph& g = graph_of("gather", {table, indices});
  return make(g, Op::Gather, {table.id(), indices.id()});
}

Value scatter_add(Value indices, Value updates, int64_t rows) {
  Graph& g = graph_of("scatter_add", {indices, updates});
  if (updates.rank() < indices.rank()) fail("scatter_add", {indices, updates}, "updates must start with the indices' shape");
  Shape out{rows};
  out.insert(out.end(), updates.shape().begin() + indices.rank(), updates.shape().end());
  return make(g, Op::ScatterAdd, {indices.id(), updates.id()}, {}, std::move(out));
}

// ---- composites

Value one_hot(Value labels, int64_t classes, DType dtype) {
  Graph& g = graph_of("one_hot", {labels});
  if (labels.dtype() != DType::I32) fail("one_hot", {labels}, "labels must be i32");
  Shape out = labels.shape();
  out.push_back(classes);
  Shape column = labels.shape();
  column.push_back(1);
  Value hit = eq(reshape(labels, column), iota(g, out, -1, DType::I32));
  return cast(hit, dtype);
}

Value argmax(Value x, int64_t axis) {
  Graph& g = graph_of("argmax", {x});
  int64_t a = normalize_axis("argmax", x, axis);
  Value is_max = eq(x, max(x, {a}, true));
  // Non-maximal positions get an index past the end, so min picks the first max.
  Value past_end = constant(g, static_cast<double>(x.shape()[static_cast<size_t>(a)]), x.shape(), DType::I32);
  Value candidates = where(is_max, iota(g, x.shape(), a, DType::I32), past_end);
  return min(candidates, {a}, false);
}

Value softmax(Value x, int64_t axis) {
  Value e = exp(x - max(x, {axis}, true));  // shift by the max: exp never overflows
  return e / sum(e, {axis}, true);
}

Value log_softmax(Value x, int64_t axis) {
  Value shifted = x - max(x, {axis}, true);
  return shifted - log(sum(exp(shifted), {axis}, true));
}

void output(Value v, std::string name) {
  Graph& g = graph_of("output", {v});
  for (const Output& o : g.outputs())
    if (o.name == name) throw GraphError("output '" + name + "': name already used by another output");
  g.add_output(std::move(name), v.id());
}

void update(Value target, Value value) {
  Graph& g = graph_of("update", {target, value});
  const Node& t = target.node();
  if (t.op != Op::Input || (t.attrs.role != InputRole::Param && t.attrs.role != InputRole::State))
    fail("update", {target, value}, "target must be an input of role param or state");
  if (t.shape != value.shape() || t.dtype != value.dtype())
    fail("update", {target, value}, "value must have the target's shape and dtype");
  for (const Update& u : g.updates())
    if (u.target == target.id()) fail("update", {target, value}, "target '" + t.attrs.name + "' is already updated");
  g.add_update(target.id(), value.id());
}

}  // namespace grokjit::ir
