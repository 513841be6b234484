// Graph, Value and the op/dtype metadata tables (all driven by GROKJIT_IR_OPS).
#include "ir/graph.h"

#include <array>
#include <cctype>

#include "ir/error.h"

namespace grokjit::ir {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::Bool: return "bool";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::Bool: return 1;
  }
  return 0;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F64; }

int64_t num_elements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {

struct OpInfo {
  std::string name;  // snake_case of the enum name: ReduceSum -> reduce_sum
  int arity;
  OpCategory category;
};

// "ReduceSum" -> "reduce_sum", "MatMul" -> "mat_mul": a mechanical rule, so
// names never need a second table to keep in sync with the X-macro.
std::string snake_case(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = {
#define GROKJIT_X(name, arity, cat) {snake_case(#name), arity, OpCategory::cat},
      GROKJIT_IR_OPS(GROKJIT_X)
#undef GROKJIT_X
  };
  return table;
}

const OpInfo& info(Op op) { return op_table().at(static_cast<size_t>(op)); }

}  // namespace

std::string_view op_name(Op op) { return info(op).name; }
std::string node_label(NodeId id, Op op) { return "%" + std::to_string(id) + " " + std::string(op_name(op)); }
int op_arity(Op op) { return info(op).arity; }
OpCategory op_category(Op op) { return info(op).category; }

bool parse_op(std::string_view name, Op* out) {
  const auto& table = op_table();
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].name == name) {
      *out = static_cast<Op>(i);
      return true;
    }
  }
  return false;
}

std::vector<Op> all_ops() {
  std::vector<Op> ops;
  for (size_t i = 0; i < op_table().size(); ++i) ops.push_back(static_cast<Op>(i));
  return ops;
}

std::string_view op_category_name(OpCategory c) {
  switch (c) {
    case OpCategory::Leaf: return "leaf";
    case OpCategory::Unary: return "unary";
    case OpCategory::Binary: return "binary";
    case OpCategory::Compare: return "compare";
    case OpCategory::Ternary: return "ternary";
    case OpCategory::Reduce: return "reduce";
    case OpCategory::Movement: return "movement";
    case OpCategory::Contract: return "contract";
    case OpCategory::Index: return "index";
    case OpCategory::Random: return "random";
  }
  return "?";
}

std::string_view role_name(InputRole r) {
  switch (r) {
    case InputRole::Param: return "param";
    case InputRole::State: return "state";
    case InputRole::Data: return "data";
    case InputRole::Scalar: return "scalar";
  }
  return "?";
}

bool parse_role(std::string_view name, InputRole* out) {
  for (InputRole r : {InputRole::Param, InputRole::State, InputRole::Data, InputRole::Scalar}) {
    if (role_name(r) == name) {
      *out = r;
      return true;
    }
  }
  return false;
}

bool parse_dtype(std::string_view name, DType* out) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::Bool}) {
    if (dtype_name(t) == name) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::string type_str(DType t, const Shape& s) { return std::string(dtype_name(t)) + shape_str(s); }

NodeId Graph::add(Node node) {
  nodes_.push_back(std::move(node));
  return static_cast<NodeId>(nodes_.size() - 1);
}

std::vector<NodeId> Graph::inputs() const {
  std::vector<NodeId> ids;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].op == Op::Input) ids.push_back(static_cast<NodeId>(i));
  return ids;
}

NodeId Graph::find_input(std::string_view name) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].op == Op::Input && nodes_[i].attrs.name == name) return static_cast<NodeId>(i);
  return -1;
}

Value Graph::input_value(std::string_view name) {
  NodeId id = find_input(name);
  if (id < 0) throw GraphError("graph has no input named '" + std::string(name) + "'");
  return Value(this, id);
}

std::vector<bool> needed_nodes(const Graph& g) {
  std::vector<bool> needed(g.size(), false);
  for (const Output& o : g.outputs()) needed[static_cast<size_t>(o.node)] = true;
  for (const Update& u : g.updates()) needed[static_cast<size_t>(u.value)] = true;
  for (size_t i = g.size(); i-- > 0;)  // inputs have smaller ids: one backward sweep suffices
    if (needed[i])
      for (NodeId in : g.nodes()[i].inputs) needed[static_cast<size_t>(in)] = true;
  return needed;
}

int64_t Value::dim(int64_t axis) const {
  int64_t r = rank();
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r)
    throw GraphError("axis " + std::to_string(axis) + " out of range for %" + std::to_string(id_) + " " +
                     type_str(dtype(), shape()));
  return shape()[static_cast<size_t>(a)];
}

}  // namespace grokjit::ir
