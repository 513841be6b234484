// The float64 reference interpreter. Every value is held as a double:
// - F32 nodes are computed and kept in float64 and never rounded to float32
//   (not even by Cast): the interpreter is the exact-math oracle, backends are
//   compared to it with a tolerance, and float64 gradient checks can run
//   through f32 graphs.
// - I32 results of arithmetic wrap modulo 2^32 like the backends' two's
//   complement; Cast to i32 truncates toward zero and throws when the value
//   does not fit; Cast to bool is (x != 0); Bool values are 0 or 1.
// - Gather/ScatterAdd throw an Error naming the node and the bad index.
#include "ir/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ir/error.h"
#include "ir/op_rules.h"
#include "ir/random.h"

namespace grokjit::ir {

namespace {

using Index = std::vector<int64_t>;

Index strides_of(const Shape& s) {
  Index st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Visits every element of `shape` in row-major order and calls
// f(i, offset + idx . strides), i being the element's row-major number and
// idx its multi-index. Every movement op and reduction is one such strided
// walk: a stride of 0 repeats (broadcast) or accumulates (reduce) an element.
template <typename F>
void for_each_strided(const Shape& shape, int64_t offset, const Index& strides, F&& f) {
  int64_t n = num_elements(shape);
  Index idx(shape.size(), 0);
  int64_t pos = offset;
  for (int64_t i = 0; i < n; ++i) {
    f(static_cast<size_t>(i), static_cast<size_t>(pos));
    for (size_t d = shape.size(); d-- > 0;) {  // odometer step
      pos += strides[d];
      if (++idx[d] < shape[d]) break;
      pos -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Offset and strides of the window starts + idx * steps inside a tensor of `big` shape.
std::pair<int64_t, Index> window(const Attrs& a, const Shape& big) {
  Index big_strides = strides_of(big), strides(big.size());
  int64_t offset = 0;
  for (size_t d = 0; d < big.size(); ++d) {
    offset += a.starts[d] * big_strides[d];
    strides[d] = a.steps[d] * big_strides[d];
  }
  return {offset, strides};
}

double wrap_i32(double v) {
  auto bits = static_cast<uint32_t>(static_cast<int64_t>(v));  // modulo 2^32
  return static_cast<double>(static_cast<int32_t>(bits));
}

std::string where_str(const Graph& g, NodeId id) {
  return "node %" + std::to_string(id) + " " + node_signature(g, g.node(id));
}

Tensor64 eval_input(const Graph& g, NodeId id, const TensorMap& inputs) {
  const Node& n = g.node(id);
  std::string what = "input '" + n.attrs.name + "' (node %" + std::to_string(id) + ", " + type_str(n.dtype, n.shape) + ")";
  auto it = inputs.find(n.attrs.name);
  if (it == inputs.end()) throw GraphError(what + ": missing from the inputs");
  const Tensor64& t = it->second;
  if (t.shape != n.shape) throw GraphError(what + ": given shape " + shape_str(t.shape));
  if (static_cast<int64_t>(t.data.size()) != num_elements(n.shape))
    throw GraphError(what + ": given " + std::to_string(t.data.size()) + " values");
  return t;
}

Tensor64 eval_constant(const Node& n) {
  if (!n.attrs.data.empty()) return Tensor64(n.shape, n.attrs.data);
  Tensor64 t = Tensor64::zeros(n.shape);
  std::fill(t.data.begin(), t.data.end(), n.attrs.scalar);
  return t;
}

Tensor64 eval_iota(const Node& n) {
  Tensor64 t = Tensor64::zeros(n.shape);
  Index along_axis(n.shape.size(), 0);
  along_axis[static_cast<size_t>(n.attrs.axis)] = 1;
  for_each_strided(n.shape, 0, along_axis, [&](size_t i, size_t pos) { t[i] = static_cast<double>(pos); });
  return t;
}

// With a per-run seed or counter (shape [R]), element (r, i...) draws with
// seed[r], counter[r] and the linear index of i within run r's slice.
Tensor64 eval_random(const Node& n, const Tensor64& seed, const Tensor64& counter) {
  auto as_u32 = [](double v) { return static_cast<uint32_t>(static_cast<int32_t>(v)); };
  Tensor64 t = Tensor64::zeros(n.shape);
  const bool per_run = !seed.shape.empty() || !counter.shape.empty();
  const size_t runs = per_run ? static_cast<size_t>(n.shape[0]) : 1;
  const size_t inner = runs ? t.data.size() / runs : 0;
  auto pick = [](const Tensor64& x, size_t r) { return x.shape.empty() ? x[0] : x[r]; };
  for (size_t r = 0; r < runs; ++r)
    for (size_t i = 0; i < inner; ++i)
      t[r * inner + i] = random_uniform(as_u32(pick(seed, r)), as_u32(pick(counter, r)), n.attrs.stream,
                                        static_cast<uint32_t>(i));
  return t;
}

double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double apply_unary(Op op, double x) {
  switch (op) {
    case Op::Neg: return -x;
    case Op::Exp: return std::exp(x);
    case Op::Log: return std::log(x);
    case Op::Sqrt: return std::sqrt(x);
    case Op::Rsqrt: return 1.0 / std::sqrt(x);
    case Op::Recip: return 1.0 / x;
    case Op::Sin: return std::sin(x);
    case Op::Cos: return std::cos(x);
    case Op::Abs: return std::fabs(x);
    case Op::Sign: return static_cast<double>((x > 0) - (x < 0));
    case Op::Relu: return x > 0 ? x : 0.0;
    case Op::Silu: return x * sigmoid_of(x);
    case Op::Sigmoid: return sigmoid_of(x);
    case Op::Tanh: return std::tanh(x);
    case Op::Square: return x * x;
    case Op::Not: return x == 0.0 ? 1.0 : 0.0;
    default: throw Error("interpreter: " + std::string(op_name(op)) + " is not unary");
  }
}

double apply_binary(Op op, double a, double b) {
  switch (op) {
    case Op::Add: return a + b;
    case Op::Sub: return a - b;
    case Op::Mul: return a * b;
    case Op::Div: return a / b;
    case Op::Max: return a >= b ? a : b;
    case Op::Min: return a <= b ? a : b;
    case Op::Pow: return std::pow(a, b);
    case Op::And: return (a != 0 && b != 0) ? 1.0 : 0.0;
    case Op::Or: return (a != 0 || b != 0) ? 1.0 : 0.0;
    case Op::Lt: return a < b ? 1.0 : 0.0;
    case Op::Le: return a <= b ? 1.0 : 0.0;
    case Op::Gt: return a > b ? 1.0 : 0.0;
    case Op::Ge: return a >= b ? 1.0 : 0.0;
    case Op::Eq: return a == b ? 1.0 : 0.0;
    case Op::Ne: return a != b ? 1.0 : 0.0;
    default: throw Error("interpreter: " + std::string(op_name(op)) + " is not binary");
  }
}

void wrap_if_i32(const Node& n, Tensor64& t) {
  if (n.dtype != DType::I32) return;
  for (double& v : t.data) v = wrap_i32(v);
}

Tensor64 eval_cast(const Graph& g, NodeId id, const Tensor64& x) {
  DType to = g.node(id).dtype;
  Tensor64 t = x;
  for (size_t i = 0; i < t.data.size(); ++i) {
    double v = x[i];
    if (to == DType::Bool) {
      t[i] = v != 0.0 ? 1.0 : 0.0;
    } else if (to == DType::I32) {
      double r = std::trunc(v);
      if (!(r >= std::numeric_limits<int32_t>::min() && r <= std::numeric_limits<int32_t>::max()))
        throw Error(where_str(g, id) + ": element " + std::to_string(i) + " = " + std::to_string(v) +
                    " does not fit in i32");
      t[i] = r;
    }
  }
  return t;
}

Tensor64 eval_reduce(const Node& n, const Tensor64& x) {
  bool is_sum = n.op == Op::ReduceSum;
  Tensor64 out = Tensor64::zeros(n.shape);
  if (!is_sum) std::fill(out.data.begin(), out.data.end(), -std::numeric_limits<double>::infinity());
  Index to_out = strides_of(n.shape);
  for (int64_t a : n.attrs.axes) to_out[static_cast<size_t>(a)] = 0;
  // Visiting the input in row-major order fixes the summation order.
  for_each_strided(x.shape, 0, to_out, [&](size_t i, size_t pos) {
    double& acc = out[pos];
    double v = x[i];
    if (is_sum) acc += v;
    else if (v > acc || std::isnan(v)) acc = v;
  });
  wrap_if_i32(n, out);
  return out;
}

// out[i] = x[offset + idx . strides] over the node's shape.
Tensor64 read_strided(const Node& n, const Tensor64& x, int64_t offset, const Index& strides) {
  Tensor64 out = Tensor64::zeros(n.shape);
  for_each_strided(n.shape, offset, strides, [&](size_t i, size_t pos) { out[i] = x[pos]; });
  return out;
}

Tensor64 eval_broadcast(const Node& n, const Tensor64& x) {
  Index strides = strides_of(x.shape);
  for (size_t d = 0; d < strides.size(); ++d)
    if (x.shape[d] == 1) strides[d] = 0;
  return read_strided(n, x, 0, strides);
}

Tensor64 eval_permute(const Node& n, const Tensor64& x) {
  Index in_strides = strides_of(x.shape), strides(n.shape.size());
  for (size_t d = 0; d < strides.size(); ++d) strides[d] = in_strides[static_cast<size_t>(n.attrs.perm[d])];
  return read_strided(n, x, 0, strides);
}

Tensor64 eval_slice(const Node& n, const Tensor64& x) {
  auto [offset, strides] = window(n.attrs, x.shape);
  return read_strided(n, x, offset, strides);
}

Tensor64 eval_pad(const Node& n, const Tensor64& x) {
  Tensor64 out = Tensor64::zeros(n.shape);
  auto [offset, strides] = window(n.attrs, n.shape);
  for_each_strided(x.shape, offset, strides, [&](size_t i, size_t pos) { out[pos] = x[i]; });
  return out;
}

Tensor64 eval_concat(const Node& n, const std::vector<const Tensor64*>& xs) {
  Tensor64 out = Tensor64::zeros(n.shape);
  Index out_strides = strides_of(n.shape);
  size_t axis = static_cast<size_t>(n.attrs.axis);
  int64_t offset = 0;
  for (const Tensor64* x : xs) {
    for_each_strided(x->shape, offset * out_strides[axis], out_strides, [&](size_t i, size_t pos) { out[pos] = (*x)[i]; });
    offset += x->shape[axis];
  }
  return out;
}

Tensor64 eval_matmul(const Node& n, const Tensor64& a, const Tensor64& b) {
  size_t r = a.shape.size();
  int64_t m = a.shape[r - 2], k = a.shape[r - 1], nn = b.shape[r - 1];
  int64_t batch = num_elements(Shape(a.shape.begin(), a.shape.end() - 2));
  Tensor64 out = Tensor64::zeros(n.shape);
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < nn; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < k; ++p) acc += a[static_cast<size_t>((bi * m + i) * k + p)] * b[static_cast<size_t>((bi * k + p) * nn + j)];
        out[static_cast<size_t>((bi * m + i) * nn + j)] = acc;
      }
  return out;
}

int64_t checked_row(const Graph& g, NodeId id, double index, size_t position, int64_t rows) {
  if (!(index >= 0 && index < static_cast<double>(rows)))
    throw Error(where_str(g, id) + ": index " + std::to_string(static_cast<int64_t>(index)) + " at position " +
                std::to_string(position) + " is out of range [0, " + std::to_string(rows) + ")");
  return static_cast<int64_t>(index);
}

Tensor64 eval_gather(const Graph& g, NodeId id, const Tensor64& table, const Tensor64& idx) {
  int64_t rows = table.shape[0];
  size_t row_size = rows ? table.data.size() / static_cast<size_t>(rows) : 0;
  Tensor64 out = Tensor64::zeros(g.node(id).shape);
  for (size_t i = 0; i < idx.data.size(); ++i) {
    auto r = static_cast<size_t>(checked_row(g, id, idx[i], i, rows));
    std::copy_n(table.data.begin() + static_cast<int64_t>(r * row_size), row_size,
                out.data.begin() + static_cast<int64_t>(i * row_size));
  }
  return out;
}

Tensor64 eval_scatter_add(const Graph& g, NodeId id, const Tensor64& idx, const Tensor64& upd) {
  const Node& n = g.node(id);
  Tensor64 out = Tensor64::zeros(n.shape);
  size_t row_size = static_cast<size_t>(num_elements(Shape(n.shape.begin() + 1, n.shape.end())));
  for (size_t i = 0; i < idx.data.size(); ++i) {
    auto r = static_cast<size_t>(checked_row(g, id, idx[i], i, n.shape[0]));
    for (size_t j = 0; j < row_size; ++j) out[r * row_size + j] += upd[i * row_size + j];
  }
  wrap_if_i32(n, out);
  return out;
}

Tensor64 eval_elementwise(const Node& n, const std::vector<const Tensor64*>& xs) {
  Tensor64 out = Tensor64::zeros(n.shape);
  for (size_t i = 0; i < out.data.size(); ++i) {
    switch (op_category(n.op)) {
      case OpCategory::Unary: out[i] = apply_unary(n.op, (*xs[0])[i]); break;
      case OpCategory::Ternary: out[i] = (*xs[0])[i] != 0.0 ? (*xs[1])[i] : (*xs[2])[i]; break;
      default: out[i] = apply_binary(n.op, (*xs[0])[i], (*xs[1])[i]); break;
    }
  }
  wrap_if_i32(n, out);
  return out;
}

Tensor64 eval_node(const Graph& g, NodeId id, const std::vector<Tensor64>& values, const TensorMap& inputs) {
  const Node& n = g.node(id);
  std::vector<const Tensor64*> xs;
  for (NodeId in : n.inputs) xs.push_back(&values[static_cast<size_t>(in)]);
  switch (n.op) {
    case Op::Input: return eval_input(g, id, inputs);
    case Op::Constant: return eval_constant(n);
    case Op::Iota: return eval_iota(n);
    case Op::RandomUniform: return eval_random(n, *xs[0], *xs[1]);
    case Op::Cast: return eval_cast(g, id, *xs[0]);
    case Op::ReduceSum: case Op::ReduceMax: return eval_reduce(n, *xs[0]);
    case Op::Broadcast: return eval_broadcast(n, *xs[0]);
    case Op::Reshape: return Tensor64(n.shape, xs[0]->data);
    case Op::Permute: return eval_permute(n, *xs[0]);
    case Op::Slice: return eval_slice(n, *xs[0]);
    case Op::Pad: return eval_pad(n, *xs[0]);
    case Op::Concat: return eval_concat(n, xs);
    case Op::MatMul: return eval_matmul(n, *xs[0], *xs[1]);
    case Op::Gather: return eval_gather(g, id, *xs[0], *xs[1]);
    case Op::ScatterAdd: return eval_scatter_add(g, id, *xs[0], *xs[1]);
    default: return eval_elementwise(n, xs);
  }
}

std::vector<Tensor64> evaluate(const Graph& g, const TensorMap& inputs, const std::vector<bool>& needed) {
  std::vector<Tensor64> values(g.size());
  for (size_t i = 0; i < g.size(); ++i)
    if (needed[i]) values[i] = eval_node(g, static_cast<NodeId>(i), values, inputs);
  return values;
}

}  // namespace

InterpretResult interpret(const Graph& g, const TensorMap& inputs) {
  std::vector<Tensor64> values = evaluate(g, inputs, needed_nodes(g));
  InterpretResult result;
  for (const Output& o : g.outputs()) result.outputs[o.name] = values[static_cast<size_t>(o.node)];
  for (const Update& u : g.updates()) result.updated[g.node(u.target).attrs.name] = values[static_cast<size_t>(u.value)];
  return result;
}

std::vector<Tensor64> interpret_all(const Graph& g, const TensorMap& inputs) {
  return evaluate(g, inputs, std::vector<bool>(g.size(), true));
}

}  // namespace grokjit::ir
