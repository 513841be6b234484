#include "ir/op_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/error.h"

namespace grokjit::ir {

bool is_numeric(DType t) { return t != DType::Bool; }

bool unary_needs_float(Op op) {
  switch (op) {
    case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Rsqrt: case Op::Recip: case Op::Sin:
    case Op::Cos: case Op::Silu: case Op::Sigmoid: case Op::Tanh:
      return true;
    default:
      return false;
  }
}

bool unary_is_numeric(Op op) {
  switch (op) {
    case Op::Neg: case Op::Abs: case Op::Sign: case Op::Relu: case Op::Square:
      return true;
    default:
      return false;
  }
}

bool binary_needs_float(Op op) { return op == Op::Div || op == Op::Pow; }

namespace {

bool declares_type(Op op) {
  switch (op) {
    case Op::Input: case Op::Constant: case Op::Iota: case Op::RandomUniform: case Op::Cast:
    case Op::Broadcast: case Op::Reshape: case Op::Slice: case Op::Pad: case Op::ScatterAdd:
      return true;
    default:
      return false;
  }
}

std::string vec_str(const std::vector<int64_t>& v) { return shape_str(v); }

// Collects the checks for one node so each rule reads as a list of requirements.
class Checker {
 public:
  Checker(const Graph& g, const Node& n) : g_(g), n_(n) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw GraphError(node_signature(g_, n_) + ": " + problem);
  }
  void require(bool ok, const std::string& problem) const {
    if (!ok) fail(problem);
  }
  const Node& in(size_t i) const { return g_.node(n_.inputs[i]); }
  const Shape& shape(size_t i) const { return in(i).shape; }
  DType dtype(size_t i) const { return in(i).dtype; }
  int64_t rank(size_t i) const { return static_cast<int64_t>(shape(i).size()); }
  const Node& node() const { return n_; }
  int64_t out_rank() const { return static_cast<int64_t>(n_.shape.size()); }

  void require_dims_valid(const Shape& s, const char* what) const {
    for (int64_t d : s) require(d >= 0, std::string(what) + " shape " + shape_str(s) + " has a negative dim");
  }
  void require_equal_shapes() const {
    for (size_t i = 1; i < n_.inputs.size(); ++i)
      require(shape(i) == shape(0), "operands need equal shapes (builders insert broadcasts), got " +
                                        shape_str(shape(0)) + " and " + shape_str(shape(i)));
  }
  void require_equal_dtypes(size_t first, size_t last) const {
    for (size_t i = first + 1; i <= last; ++i)
      require(dtype(i) == dtype(first), "operands need equal dtypes, got " + std::string(dtype_name(dtype(first))) +
                                            " and " + std::string(dtype_name(dtype(i))));
  }
  void require_float(size_t i) const {
    require(is_float(dtype(i)), "needs a float operand, got " + std::string(dtype_name(dtype(i))));
  }
  void require_numeric(size_t i) const {
    require(is_numeric(dtype(i)), "needs a numeric (non-bool) operand, got bool");
  }
  void require_dtype(size_t i, DType t, const char* role) const {
    require(dtype(i) == t, std::string(role) + " must be " + std::string(dtype_name(t)) + ", got " +
                               std::string(dtype_name(dtype(i))));
  }
  // starts/steps describe a strided window of `big` with `small` elements per axis.
  void require_window(const Shape& small, const Shape& big) const {
    const Attrs& a = n_.attrs;
    size_t r = big.size();
    require(small.size() == r, "input and output ranks differ (" + shape_str(small) + " vs " + shape_str(big) + ")");
    require(a.starts.size() == r && a.steps.size() == r,
            "starts " + vec_str(a.starts) + " and steps " + vec_str(a.steps) + " need one entry per axis (rank " +
                std::to_string(r) + ")");
    for (size_t i = 0; i < r; ++i) {
      require(a.steps[i] >= 1, "steps " + vec_str(a.steps) + " must be >= 1");
      require(a.starts[i] >= 0, "starts " + vec_str(a.starts) + " must be >= 0");
      if (small[i] > 0)
        require(a.starts[i] + (small[i] - 1) * a.steps[i] < big[i],
                "window starts " + vec_str(a.starts) + " steps " + vec_str(a.steps) + " of " + shape_str(small) +
                    " does not fit in " + shape_str(big) + " (axis " + std::to_string(i) + ")");
    }
  }

 private:
  const Graph& g_;
  const Node& n_;
};

bool representable(double v, DType t) {
  if (std::isnan(v)) return is_float(t);
  switch (t) {
    case DType::F32: case DType::F64: return true;
    case DType::I32:
      return v == std::trunc(v) && v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
    case DType::Bool: return v == 0.0 || v == 1.0;
  }
  return false;
}

NodeType declared(const Node& n) { return {n.shape, n.dtype}; }

NodeType check_leaf(const Checker& c) {
  const Node& n = c.node();
  switch (n.op) {
    case Op::Input:
      c.require(!n.attrs.name.empty(), "input needs a non-empty name");
      break;
    case Op::Constant:
      c.require(n.attrs.data.empty() || static_cast<int64_t>(n.attrs.data.size()) == num_elements(n.shape),
                "dense data has " + std::to_string(n.attrs.data.size()) + " values, shape needs " +
                    std::to_string(num_elements(n.shape)));
      c.require(representable(n.attrs.scalar, n.dtype),
                "fill value " + std::to_string(n.attrs.scalar) + " is not a " + std::string(dtype_name(n.dtype)));
      for (size_t i = 0; i < n.attrs.data.size(); ++i)
        c.require(representable(n.attrs.data[i], n.dtype), "data[" + std::to_string(i) + "] = " +
                                                              std::to_string(n.attrs.data[i]) + " is not a " +
                                                              std::string(dtype_name(n.dtype)));
      break;
    case Op::Iota:
      c.require(is_numeric(n.dtype), "iota needs a numeric dtype, got bool");
      c.require(n.attrs.axis >= 0 && n.attrs.axis < c.out_rank(),
                "axis " + std::to_string(n.attrs.axis) + " out of range for rank " + std::to_string(c.out_rank()));
      break;
    default:
      break;
  }
  return declared(n);
}

// seed and counter are i32 scalars, or i32[R] where the node's leading axis
// has size R (one seed/counter per run of a packed graph, ir/pack_runs.h).
NodeType check_random(const Checker& c) {
  const Shape& out = c.node().shape;
  const char* what[] = {"seed", "counter"};
  for (size_t i = 0; i < 2; ++i) {
    c.require_dtype(i, DType::I32, what[i]);
    bool per_run = c.rank(i) == 1 && !out.empty() && c.shape(i)[0] == out[0];
    c.require(c.shape(i).empty() || per_run, std::string(what[i]) + " must be an i32[] scalar or i32[" +
                                                 (out.empty() ? std::string("R") : std::to_string(out[0])) +
                                                 "] (one per index of the output's leading axis)");
  }
  c.require(is_float(c.node().dtype), "random_uniform needs a float dtype, got " +
                                          std::string(dtype_name(c.node().dtype)));
  return declared(c.node());
}

NodeType check_unary(const Checker& c) {
  Op op = c.node().op;
  if (op == Op::Cast) return {c.shape(0), c.node().dtype};
  if (op == Op::Not) c.require_dtype(0, DType::Bool, "operand");
  else if (unary_needs_float(op)) c.require_float(0);
  else if (unary_is_numeric(op)) c.require_numeric(0);
  return {c.shape(0), c.dtype(0)};
}

NodeType check_binary(const Checker& c) {
  Op op = c.node().op;
  c.require_equal_shapes();
  c.require_equal_dtypes(0, 1);
  bool compare = op_category(op) == OpCategory::Compare;
  if (op == Op::And || op == Op::Or) c.require_dtype(0, DType::Bool, "operand");
  else if (binary_needs_float(op)) c.require_float(0);
  else if (op != Op::Eq && op != Op::Ne) c.require_numeric(0);
  return {c.shape(0), compare ? DType::Bool : c.dtype(0)};
}

NodeType check_where(const Checker& c) {
  c.require_dtype(0, DType::Bool, "condition");
  c.require_equal_shapes();
  c.require_equal_dtypes(1, 2);
  return {c.shape(0), c.dtype(1)};
}

NodeType check_reduce(const Checker& c) {
  const auto& axes = c.node().attrs.axes;
  c.require_numeric(0);
  Shape out = c.shape(0);
  for (size_t i = 0; i < axes.size(); ++i) {
    c.require(axes[i] >= 0 && axes[i] < c.rank(0), "axes " + vec_str(axes) + " out of range for rank " +
                                                        std::to_string(c.rank(0)));
    c.require(i == 0 || axes[i] > axes[i - 1], "axes " + vec_str(axes) + " must be sorted and unique");
    out[static_cast<size_t>(axes[i])] = 1;
  }
  return {out, c.dtype(0)};
}

NodeType check_broadcast(const Checker& c) {
  const Shape& to = c.node().shape;
  c.require(c.shape(0).size() == to.size(), "broadcast keeps rank (builders reshape first)");
  for (size_t i = 0; i < to.size(); ++i)
    c.require(c.shape(0)[i] == to[i] || c.shape(0)[i] == 1,
              "dim " + std::to_string(i) + " of size " + std::to_string(c.shape(0)[i]) + " cannot become " +
                  std::to_string(to[i]));
  return {to, c.dtype(0)};
}

NodeType check_permute(const Checker& c) {
  const auto& perm = c.node().attrs.perm;
  c.require(static_cast<int64_t>(perm.size()) == c.rank(0), "perm " + vec_str(perm) + " needs one entry per axis");
  std::vector<bool> seen(perm.size(), false);
  Shape out;
  for (int64_t p : perm) {
    c.require(p >= 0 && p < c.rank(0) && !seen[static_cast<size_t>(p)], "perm " + vec_str(perm) + " is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out.push_back(c.shape(0)[static_cast<size_t>(p)]);
  }
  return {out, c.dtype(0)};
}

NodeType check_concat(const Checker& c) {
  const Node& n = c.node();
  int64_t axis = n.attrs.axis;
  c.require(axis >= 0 && axis < c.rank(0), "axis " + std::to_string(axis) + " out of range for rank " +
                                               std::to_string(c.rank(0)));
  c.require_equal_dtypes(0, n.inputs.size() - 1);
  size_t ax = static_cast<size_t>(axis);
  Shape others = c.shape(0);
  others[ax] = 0;
  int64_t total = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Shape s = c.shape(i);
    c.require(s.size() == others.size(), "operands need equal ranks");
    total += s[ax];
    s[ax] = 0;
    c.require(s == others, "operands differ outside axis " + std::to_string(axis) + " (" + shape_str(c.shape(0)) +
                               " vs " + shape_str(c.shape(i)) + ")");
  }
  Shape out = others;
  out[ax] = total;
  return {out, c.dtype(0)};
}

NodeType check_matmul(const Checker& c) {
  c.require(c.rank(0) >= 2 && c.rank(1) >= 2, "operands need rank >= 2 (reshape vectors)");
  c.require(c.rank(0) == c.rank(1), "operands need equal ranks (builders broadcast batch dims)");
  c.require_equal_dtypes(0, 1);
  c.require_float(0);
  const Shape& a = c.shape(0);
  const Shape& b = c.shape(1);
  size_t r = a.size();
  c.require(std::equal(a.begin(), a.end() - 2, b.begin()), "batch dims differ");
  c.require(a[r - 1] == b[r - 2], "contracted dims differ (" + std::to_string(a[r - 1]) + " vs " +
                                       std::to_string(b[r - 2]) + ")");
  Shape out(a.begin(), a.end() - 1);
  out.push_back(b[r - 1]);
  return {out, c.dtype(0)};
}

NodeType check_gather(const Checker& c) {
  c.require(c.rank(0) >= 1, "table needs rank >= 1");
  c.require_dtype(1, DType::I32, "indices");
  Shape out = c.shape(1);
  out.insert(out.end(), c.shape(0).begin() + 1, c.shape(0).end());
  return {out, c.dtype(0)};
}

NodeType check_scatter_add(const Checker& c) {
  const Shape& idx = c.shape(0);
  const Shape& upd = c.shape(1);
  const Shape& out = c.node().shape;
  c.require_dtype(0, DType::I32, "indices");
  c.require_numeric(1);
  c.require(upd.size() >= idx.size() && std::equal(idx.begin(), idx.end(), upd.begin()),
            "updates must start with the indices' shape");
  Shape row(upd.begin() + static_cast<int64_t>(idx.size()), upd.end());
  c.require(!out.empty() && Shape(out.begin() + 1, out.end()) == row,
            "output must be [rows] + " + shape_str(row));
  c.require(out[0] >= 1, "needs at least one row");
  return {out, c.dtype(1)};
}

}  // namespace

std::string node_signature(const Graph& g, const Node& n) {
  std::string s = std::string(op_name(n.op)) + "(";
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i) s += ", ";
    NodeId id = n.inputs[i];
    s += "%" + std::to_string(id);
    if (id >= 0 && static_cast<size_t>(id) < g.size()) s += ": " + type_str(g.node(id).dtype, g.node(id).shape);
  }
  s += ")";
  if (n.op == Op::Input) s += " '" + n.attrs.name + "'";
  if (declares_type(n.op)) s += " -> " + type_str(n.dtype, n.shape);
  return s;
}

NodeType infer_node_type(const Graph& g, const Node& n) {
  Checker c(g, n);
  int arity = op_arity(n.op);
  if (arity >= 0)
    c.require(static_cast<int>(n.inputs.size()) == arity,
              "expects " + std::to_string(arity) + " inputs, got " + std::to_string(n.inputs.size()));
  else
    c.require(!n.inputs.empty(), "expects at least one input");
  for (NodeId id : n.inputs)
    c.require(id >= 0 && static_cast<size_t>(id) < g.size(), "input %" + std::to_string(id) + " does not exist");
  if (declares_type(n.op) && n.op != Op::Cast) c.require_dims_valid(n.shape, "output");

  switch (op_category(n.op)) {
    case OpCategory::Leaf: return check_leaf(c);
    case OpCategory::Random: return check_random(c);
    case OpCategory::Unary: return check_unary(c);
    case OpCategory::Binary: case OpCategory::Compare: return check_binary(c);
    case OpCategory::Ternary: return check_where(c);
    case OpCategory::Reduce: return check_reduce(c);
    case OpCategory::Contract: return check_matmul(c);
    case OpCategory::Index: return n.op == Op::Gather ? check_gather(c) : check_scatter_add(c);
    case OpCategory::Movement: break;
  }
  switch (n.op) {
    case Op::Broadcast: return check_broadcast(c);
    case Op::Reshape:
      c.require(num_elements(n.shape) == num_elements(c.shape(0)),
                "element counts differ (" + std::to_string(num_elements(c.shape(0))) + " vs " +
                    std::to_string(num_elements(n.shape)) + ")");
      return {n.shape, c.dtype(0)};
    case Op::Permute: return check_permute(c);
    case Op::Slice:
      c.require_window(n.shape, c.shape(0));
      return {n.shape, c.dtype(0)};
    case Op::Pad:
      c.require_window(c.shape(0), n.shape);
      return {n.shape, c.dtype(0)};
    case Op::Concat: return check_concat(c);
    default: break;
  }
  c.fail("no shape rule for this op");
}

}  // namespace grokjit::ir
