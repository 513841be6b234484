#include "ir/passes.h"

#include <functional>
#include <map>
#include <tuple>

namespace grokjit::ir {

namespace {

// Places node `n` (inputs already renumbered) into `out` and returns its id
// there: a pass either appends it, reuses an existing node, or appends a
// rewritten node.
using Place = std::function<NodeId(Graph& out, Node n)>;

NodeId append(Graph& out, Node n) { return out.add(std::move(n)); }

// Copies the kept nodes of `g` in order through `place`, then the outputs
// and updates, renumbered.
PassResult rebuild(const Graph& g, const std::vector<bool>& keep, const Place& place) {
  PassResult r;
  r.remap.assign(g.size(), -1);
  for (size_t i = 0; i < g.size(); ++i) {
    if (!keep[i]) continue;
    Node n = g.nodes()[i];
    for (NodeId& in : n.inputs) in = r.remap[static_cast<size_t>(in)];
    r.remap[i] = place(r.graph, std::move(n));
  }
  for (const Output& o : g.outputs()) r.graph.add_output(o.name, r.remap[static_cast<size_t>(o.node)]);
  for (const Update& u : g.updates())
    r.graph.add_update(r.remap[static_cast<size_t>(u.target)], r.remap[static_cast<size_t>(u.value)]);
  return r;
}

std::vector<bool> live_nodes(const Graph& g) {
  std::vector<bool> live = needed_nodes(g);
  for (NodeId id : g.inputs()) live[static_cast<size_t>(id)] = true;
  return live;
}

bool is_fill_constant(const Node& n, double value) {
  return n.op == Op::Constant && n.attrs.data.empty() && n.attrs.scalar == value;
}

bool is_fill_constant(const Node& n) { return n.op == Op::Constant && n.attrs.data.empty(); }

// The id of an operand equal to the node's value, or -1 (binary identities).
NodeId identity_operand(const Graph& out, const Node& n) {
  auto operand_is = [&](size_t i, double v) { return is_fill_constant(out.node(n.inputs[i]), v); };
  switch (n.op) {
    case Op::Mul:
      if (operand_is(1, 1.0)) return n.inputs[0];
      if (operand_is(0, 1.0)) return n.inputs[1];
      return -1;
    case Op::Add:
      if (operand_is(1, 0.0)) return n.inputs[0];
      if (operand_is(0, 0.0)) return n.inputs[1];
      return -1;
    case Op::Sub: return operand_is(1, 0.0) ? n.inputs[0] : -1;
    case Op::Div: return operand_is(1, 1.0) ? n.inputs[0] : -1;
    default: return -1;
  }
}

bool is_movement_or_cast(Op op) { return op_category(op) == OpCategory::Movement || op == Op::Cast; }

NodeId fold_node(Graph& out, Node n) {
  if (NodeId same = identity_operand(out, n); same >= 0) return same;
  if (is_movement_or_cast(n.op) && n.op != Op::Concat) {
    const Node& x = out.node(n.inputs[0]);
    // With equal shapes, a reshape/broadcast/slice/pad window is the identity;
    // a permute is the identity only if its perm is.
    bool permutes = n.op == Op::Permute && [&] {
      for (size_t i = 0; i < n.attrs.perm.size(); ++i)
        if (n.attrs.perm[i] != static_cast<int64_t>(i)) return true;
      return false;
    }();
    if (x.shape == n.shape && x.dtype == n.dtype && !permutes) return n.inputs[0];
    if (is_fill_constant(x) && n.op != Op::Pad && n.op != Op::Cast) {
      Node filled{Op::Constant, n.dtype, n.shape, {}, {}};
      filled.attrs.scalar = x.attrs.scalar;
      return out.add(std::move(filled));
    }
  }
  return out.add(std::move(n));
}

using CseKey = std::tuple<Op, DType, Shape, std::vector<NodeId>>;

}  // namespace

PassResult eliminate_dead_code(const Graph& g) { return rebuild(g, live_nodes(g), append); }

PassResult eliminate_common_subexpressions(const Graph& g) {
  std::map<CseKey, std::vector<NodeId>> seen;  // candidates differ only in attrs
  Place place = [&](Graph& out, Node n) {
    if (n.op == Op::Input) return out.add(std::move(n));
    CseKey key{n.op, n.dtype, n.shape, n.inputs};
    std::vector<NodeId>& candidates = seen[key];
    for (NodeId c : candidates)
      if (out.node(c).attrs == n.attrs) return c;
    NodeId id = out.add(std::move(n));
    candidates.push_back(id);
    return id;
  };
  return rebuild(g, std::vector<bool>(g.size(), true), place);
}

PassResult fold_trivial(const Graph& g) { return rebuild(g, std::vector<bool>(g.size(), true), fold_node); }

PassResult simplify(const Graph& g) {
  PassResult folded = fold_trivial(g);
  PassResult merged = eliminate_common_subexpressions(folded.graph);
  PassResult pruned = eliminate_dead_code(merged.graph);
  for (NodeId& id : folded.remap)
    if (id >= 0) id = pruned.remap[static_cast<size_t>(merged.remap[static_cast<size_t>(id)])];
  pruned.remap = std::move(folded.remap);
  return pruned;
}

}  // namespace grokjit::ir
