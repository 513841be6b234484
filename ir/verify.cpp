// The verifier re-runs the shared op rules (op_rules.cpp) on every node and
// checks the graph-level invariants the builders maintain one call at a time.
#include "ir/verify.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "ir/error.h"
#include "ir/op_rules.h"

namespace grokjit::ir {

namespace {

std::string node_label(NodeId id) { return "node %" + std::to_string(id); }

void verify_node(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  for (NodeId in : n.inputs)
    if (in < 0 || in >= id)
      throw GraphError(node_label(id) + ": " + node_signature(g, n) + ": input %" + std::to_string(in) +
                       " is not an earlier node (the graph must be in topological order)");
  NodeType expected;
  try {
    expected = infer_node_type(g, n);
  } catch (const GraphError& e) {
    throw GraphError(node_label(id) + ": " + e.what());
  }
  if (expected.shape != n.shape || expected.dtype != n.dtype)
    throw GraphError(node_label(id) + ": " + node_signature(g, n) + ": node says " + type_str(n.dtype, n.shape) +
                     " but the op gives " + type_str(expected.dtype, expected.shape));
}

// Every attribute set on a node must be one its op reads (graph.h): a stray
// one (a hand-edited graph file) would otherwise be silently ignored.
void verify_attributes_used(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const Attrs none;
  auto is = [&](std::initializer_list<Op> ops) { return std::find(ops.begin(), ops.end(), n.op) != ops.end(); };
  struct Field {
    const char* name;
    bool set;
    bool used;
  };
  const Field fields[] = {
      {"name", n.attrs.name != none.name, is({Op::Input})},
      {"role", n.attrs.role != none.role, is({Op::Input})},
      {"scalar", n.attrs.scalar != none.scalar || std::signbit(n.attrs.scalar), is({Op::Constant})},
      {"data", !n.attrs.data.empty(), is({Op::Constant})},
      {"axis", n.attrs.axis != none.axis, is({Op::Iota, Op::Concat})},
      {"axes", !n.attrs.axes.empty(), is({Op::ReduceSum, Op::ReduceMax})},
      {"perm", !n.attrs.perm.empty(), is({Op::Permute})},
      {"starts", !n.attrs.starts.empty(), is({Op::Slice, Op::Pad})},
      {"steps", !n.attrs.steps.empty(), is({Op::Slice, Op::Pad})},
      {"stream", n.attrs.stream != none.stream, is({Op::RandomUniform})},
  };
  for (const Field& f : fields)
    if (f.set && !f.used)
      throw GraphError(node_label(id) + ": " + node_signature(g, n) + ": attribute '" + f.name + "' is not used by " +
                       std::string(op_name(n.op)));
}

void verify_unique_input_names(const Graph& g) {
  std::set<std::string> names;
  for (NodeId id : g.inputs())
    if (!names.insert(g.node(id).attrs.name).second)
      throw GraphError(node_label(id) + ": input name '" + g.node(id).attrs.name + "' is used twice");
}

bool is_node(const Graph& g, NodeId id) { return id >= 0 && static_cast<size_t>(id) < g.size(); }

void verify_outputs(const Graph& g) {
  std::set<std::string> names;
  for (const Output& o : g.outputs()) {
    if (o.name.empty()) throw GraphError("output %" + std::to_string(o.node) + ": needs a name");
    if (!names.insert(o.name).second) throw GraphError("output '" + o.name + "': name used twice");
    if (!is_node(g, o.node)) throw GraphError("output '" + o.name + "': node %" + std::to_string(o.node) + " does not exist");
  }
}

void verify_updates(const Graph& g) {
  std::set<NodeId> targets;
  for (const Update& u : g.updates()) {
    std::string what = "update %" + std::to_string(u.target) + " <- %" + std::to_string(u.value);
    if (!is_node(g, u.target) || !is_node(g, u.value)) throw GraphError(what + ": node does not exist");
    const Node& t = g.node(u.target);
    const Node& v = g.node(u.value);
    if (t.op != Op::Input || (t.attrs.role != InputRole::Param && t.attrs.role != InputRole::State))
      throw GraphError(what + ": target must be an input of role param or state, got " + node_signature(g, t));
    if (t.shape != v.shape || t.dtype != v.dtype)
      throw GraphError(what + ": target '" + t.attrs.name + "' is " + type_str(t.dtype, t.shape) + " but the value is " +
                       type_str(v.dtype, v.shape));
    if (!targets.insert(u.target).second) throw GraphError(what + ": target '" + t.attrs.name + "' is updated twice");
  }
}

}  // namespace

void verify(const Graph& g) {
  for (size_t i = 0; i < g.size(); ++i) {
    verify_node(g, static_cast<NodeId>(i));
    verify_attributes_used(g, static_cast<NodeId>(i));
  }
  verify_unique_input_names(g);
  verify_outputs(g);
  verify_updates(g);
}

}  // namespace grokjit::ir
