// The graph IR: static shapes, four dtypes, a small set of primitive ops.
//
// A Graph is an append-only list of nodes in topological order (an input id
// is always smaller than the node's own id). Builders (builder.h) add nodes
// and infer shapes; the verifier (verify.h) re-checks a whole graph, e.g. one
// read from disk. Everything downstream (interpreter, autodiff, codegen)
// reads this structure and nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grokjit::ir {

enum class DType : uint8_t { F32, F64, I32, Bool };

std::string_view dtype_name(DType);
size_t dtype_size(DType);
bool is_float(DType);

using Shape = std::vector<int64_t>;
int64_t num_elements(const Shape&);
std::string shape_str(const Shape&);  // "[2,3,4]"
std::string type_str(DType, const Shape&);  // "f32[2,3,4]"
bool parse_dtype(std::string_view name, DType* out);  // inverse of dtype_name

// X-macro list of every primitive op: (Name, arity, category).
// arity -1 = variadic. Categories: Leaf, Unary, Binary, Compare, Ternary,
// Reduce, Movement, Contract, Index, Random.
#define GROKJIT_IR_OPS(X)  \
  X(Input, 0, Leaf)        \
  X(Constant, 0, Leaf)     \
  X(Iota, 0, Leaf)         \
  X(RandomUniform, 2, Random) \
  X(Neg, 1, Unary)         \
  X(Exp, 1, Unary)         \
  X(Log, 1, Unary)         \
  X(Sqrt, 1, Unary)        \
  X(Rsqrt, 1, Unary)       \
  X(Recip, 1, Unary)       \
  X(Sin, 1, Unary)         \
  X(Cos, 1, Unary)         \
  X(Abs, 1, Unary)         \
  X(Sign, 1, Unary)        \
  X(Relu, 1, Unary)        \
  X(Silu, 1, Unary)        \
  X(Sigmoid, 1, Unary)     \
  X(Tanh, 1, Unary)        \
  X(Square, 1, Unary)      \
  X(Not, 1, Unary)         \
  X(Cast, 1, Unary)        \
  X(Add, 2, Binary)        \
  X(Sub, 2, Binary)        \
  X(Mul, 2, Binary)        \
  X(Div, 2, Binary)        \
  X(Max, 2, Binary)        \
  X(Min, 2, Binary)        \
  X(Pow, 2, Binary)        \
  X(And, 2, Binary)        \
  X(Or, 2, Binary)         \
  X(Lt, 2, Compare)        \
  X(Le, 2, Compare)        \
  X(Gt, 2, Compare)        \
  X(Ge, 2, Compare)        \
  X(Eq, 2, Compare)        \
  X(Ne, 2, Compare)        \
  X(Where, 3, Ternary)     \
  X(ReduceSum, 1, Reduce)  \
  X(ReduceMax, 1, Reduce)  \
  X(Broadcast, 1, Movement) \
  X(Reshape, 1, Movement)  \
  X(Permute, 1, Movement)  \
  X(Slice, 1, Movement)    \
  X(Pad, 1, Movement)      \
  X(Concat, -1, Movement)  \
  X(MatMul, 2, Contract)   \
  X(Gather, 2, Index)      \
  X(ScatterAdd, 2, Index)

enum class Op : uint8_t {
#define GROKJIT_X(name, arity, cat) name,
  GROKJIT_IR_OPS(GROKJIT_X)
#undef GROKJIT_X
};

enum class OpCategory : uint8_t { Leaf, Unary, Binary, Compare, Ternary, Reduce, Movement, Contract, Index, Random };

std::string_view op_name(Op);  // snake_case of the enum name: ReduceSum -> "reduce_sum"
int op_arity(Op);  // -1 = variadic
OpCategory op_category(Op);
bool parse_op(std::string_view name, Op* out);
std::vector<Op> all_ops();
std::string_view op_category_name(OpCategory);  // "unary", ...

// What an Input node stands for; the runtime binds buffers by role.
enum class InputRole : uint8_t {
  Param,   // trained weight: persistent, updated in place by Graph::updates
  State,   // optimizer state (moments, momentum): persistent, updated in place
  Data,    // per-step batch data (tokens, labels, masks)
  Scalar,  // per-step scalar hyper-inputs (lr, step, seed)
};
std::string_view role_name(InputRole);
bool parse_role(std::string_view name, InputRole* out);  // inverse of role_name

using NodeId = int32_t;

// "%12 mat_mul": how kernels, buffers and messages name a node.
std::string node_label(NodeId id, Op op);

// Op attributes. Only the fields an op uses are set; the rest stay empty.
struct Attrs {
  std::string name;               // Input: unique input name
  InputRole role = InputRole::Data;  // Input
  double scalar = 0.0;            // Constant fill value
  std::vector<double> data;       // Constant: dense row-major values (empty = fill)
  int64_t axis = 0;               // Iota, Concat
  std::vector<int64_t> axes;      // ReduceSum/ReduceMax: reduced axes (rank kept, size 1)
  std::vector<int64_t> perm;      // Permute: out dim i = in dim perm[i]
  std::vector<int64_t> starts;    // Slice/Pad, per axis
  std::vector<int64_t> steps;     // Slice/Pad, per axis (>= 1)
  uint32_t stream = 0;            // RandomUniform: distinguishes draw sites
  bool operator==(const Attrs&) const = default;
};

// Op semantics (all ops are pure; shapes are static):
// - Input: a named tensor bound at run time.
// - Constant: `scalar` broadcast to `shape`, or dense `data`.
// - Iota: value = index along `axis` (cast to dtype).
// - RandomUniform(seed i32[], counter i32[]): uniform [0,1) per element from
//   ir::random_uniform(seed, counter, stream, linear index) (random.h).
//   Either may instead be i32[R] with R the node's leading dim (a packed
//   graph's run axis, pack_runs.h): element (r, i...) then draws with
//   seed[r] / counter[r] and the linear index of i within the trailing dims.
// - Unary/Binary/Compare/Where: elementwise, all inputs of the node's shape
//   (builders insert Broadcast). Binary ops need equal dtypes; compare ops
//   produce Bool; Where(cond Bool, a, b). Cast converts to the node's dtype.
//   And/Or/Not work on Bool. Sign(0) = 0. Relu'(0) = 0.
//   Dtypes (op_rules.cpp): exp, log, sqrt, rsqrt, recip, sin, cos, silu,
//   sigmoid, tanh, div, pow, matmul and random_uniform need float (there is
//   no integer division rule to agree on); neg, abs, sign, relu, square, add,
//   sub, mul, max, min, lt/le/gt/ge, reductions and scatter_add take i32 or
//   float; eq/ne take any dtype. Max/Min pick a on ties.
// - ReduceSum/ReduceMax over `axes`, keeping rank (reduced dims become 1).
// - Broadcast: same rank, dims of size 1 repeated to the node's shape.
// - Reshape: same element count, row-major order.
// - Permute: out.shape[i] = in.shape[perm[i]].
// - Slice: out[i] = in[starts + i * steps] per axis; shape is the node's.
// - Pad: the inverse of Slice: out has the node's shape, zero everywhere but
//   out[starts + i * steps] = in[i].
// - Concat: along `axis`, all other dims equal.
// - MatMul: a [..., M, K] x b [..., K, N] -> [..., M, N]; equal batch dims.
// - Gather(table [V, D...], idx i32 [I...]) -> [I..., D...]: rows of table.
// - ScatterAdd(idx i32 [I...], upd [I..., D...]) -> [V, D...] (V from the
//   node's shape): zeros, then out[idx[i]] += upd[i]. Gather's gradient.
struct Node {
  Op op;
  DType dtype;
  Shape shape;
  std::vector<NodeId> inputs;
  Attrs attrs;
};

struct Output {
  std::string name;
  NodeId node;
};

// An in-place update: after a run, the persistent input `target` (role Param
// or State) holds the value of `value`. All updates read the old values.
struct Update {
  NodeId target;
  NodeId value;
};

class Value;

class Graph {
 public:
  NodeId add(Node node);  // no checks here; builders and verify() check
  const Node& node(NodeId id) const { return nodes_.at(static_cast<size_t>(id)); }
  Node& mutable_node(NodeId id) { return nodes_.at(static_cast<size_t>(id)); }
  const std::vector<Node>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }

  void add_output(std::string name, NodeId node) { outputs_.push_back({std::move(name), node}); }
  void add_update(NodeId target, NodeId value) { updates_.push_back({target, value}); }
  const std::vector<Output>& outputs() const { return outputs_; }
  const std::vector<Update>& updates() const { return updates_; }
  std::vector<Output>& mutable_outputs() { return outputs_; }
  std::vector<Update>& mutable_updates() { return updates_; }

  // Input nodes in creation order; find_input returns -1 if absent.
  std::vector<NodeId> inputs() const;
  NodeId find_input(std::string_view name) const;
  Value input_value(std::string_view name);  // throws if absent

 private:
  std::vector<Node> nodes_;
  std::vector<Output> outputs_;
  std::vector<Update> updates_;
};

// needed[i]: node i is an output, an update value, or is read (transitively)
// by one. What an executor must evaluate; passes add the Inputs to keep.
std::vector<bool> needed_nodes(const Graph& g);

// A handle to a node, for builder code that reads like the math.
class Value {
 public:
  Value() = default;
  Value(Graph* g, NodeId id) : g_(g), id_(id) {}
  Graph* graph() const { return g_; }
  NodeId id() const { return id_; }
  bool valid() const { return g_ != nullptr && id_ >= 0; }
  const Node& node() const { return g_->node(id_); }
  const Shape& shape() const { return node().shape; }
  DType dtype() const { return node().dtype; }
  int64_t rank() const { return static_cast<int64_t>(shape().size()); }
  int64_t dim(int64_t axis) const;  // negative axis counts from the end
  int64_t numel() const { return num_elements(shape()); }

 private:
  Graph* g_ = nullptr;
  NodeId id_ = -1;
};

}  // namespace grokjit::ir
