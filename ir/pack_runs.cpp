// pack_runs: one graph for R runs, a leading run axis on every per-run value.
#include "ir/pack_runs.h"

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/op_rules.h"

namespace grokjit::ir {
namespace {

Shape with_run(int64_t runs, const Shape& s) {
  Shape out{runs};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// Axis numbers of the unpacked graph, in the packed one (after the run axis).
std::vector<int64_t> shifted(std::vector<int64_t> axes) {
  for (int64_t& a : axes) ++a;
  return axes;
}

std::vector<int64_t> prepended(int64_t first, std::vector<int64_t> v) {
  v.insert(v.begin(), first);
  return v;
}

class Packer {
 public:
  Packer(const Graph& g, int64_t runs, const PerRunInput& per_run) : g_(g), runs_(runs), per_run_(per_run) {}

  Graph pack() {
    map_.assign(g_.size(), -1);
    spread_.assign(g_.size(), -1);
    batched_.assign(g_.size(), false);
    for (NodeId id = 0; id < static_cast<NodeId>(g_.size()); ++id) pack_node(id);
    for (const Output& o : g_.outputs()) out_.add_output(o.name, spread(o.node).id());
    for (const Update& u : g_.updates()) pack_update(u);
    return std::move(out_);
  }

 private:
  Value mapped(NodeId old) { return Value(&out_, map_[static_cast<size_t>(old)]); }
  bool batched(NodeId old) const { return batched_[static_cast<size_t>(old)]; }
  const Shape& old_shape(NodeId old) const { return g_.node(old).shape; }

  NodeId emit(Node n) {
    NodeType t = infer_node_type(out_, n);
    n.shape = std::move(t.shape);
    n.dtype = t.dtype;
    return out_.add(std::move(n));
  }

  // The value of `old` with the run axis: itself if batched, else broadcast
  // over the runs (once per node, however many readers).
  Value spread(NodeId old) {
    if (batched(old)) return mapped(old);
    NodeId& s = spread_[static_cast<size_t>(old)];
    if (s < 0) s = broadcast_to(mapped(old), with_run(runs_, old_shape(old))).id();
    return Value(&out_, s);
  }

  void pack_node(NodeId id) {
    const Node& n = g_.node(id);
    bool per_run = n.op == Op::Input && per_run_(n);
    for (NodeId in : n.inputs) per_run = per_run || batched(in);
    auto slot = static_cast<size_t>(id);
    batched_[slot] = per_run;
    if (!per_run) {
      Node m = n;
      for (NodeId& in : m.inputs) in = map_[static_cast<size_t>(in)];
      map_[slot] = emit(std::move(m));
      return;
    }
    map_[slot] = pack_batched(id).id();
  }

  Value pack_batched(NodeId id) {
    const Node& n = g_.node(id);
    switch (op_category(n.op)) {
      case OpCategory::Random: return pack_random(id);
      case OpCategory::Contract: return pack_matmul(n);
      case OpCategory::Index: return n.op == Op::Gather ? pack_gather(n) : pack_scatter_add(n);
      default: break;
    }
    Node m = n;
    m.shape = with_run(runs_, n.shape);
    for (NodeId& in : m.inputs) in = spread(in).id();
    switch (n.op) {
      case Op::ReduceSum: case Op::ReduceMax: m.attrs.axes = shifted(n.attrs.axes); break;
      case Op::Permute: m.attrs.perm = prepended(0, shifted(n.attrs.perm)); break;
      case Op::Slice: case Op::Pad:
        m.attrs.starts = prepended(0, n.attrs.starts);
        m.attrs.steps = prepended(1, n.attrs.steps);
        break;
      case Op::Concat: m.attrs.axis = n.attrs.axis + 1; break;
      default: break;  // Input, elementwise, Broadcast, Reshape: the run axis in front is all
    }
    return Value(&out_, emit(std::move(m)));
  }

  // Per-run seed or counter: i32[R] operands of a node with the run axis.
  Value pack_random(NodeId id) {
    const Node& n = g_.node(id);
    for (NodeId in : n.inputs)
      if (!old_shape(in).empty())
        throw GraphError("pack_runs: node %" + std::to_string(id) + " " + node_signature(g_, n) +
                         " already draws per run (seed or counter of rank 1); a packed graph cannot be packed again");
    Node m = n;
    m.shape = with_run(runs_, n.shape);
    for (NodeId& in : m.inputs) in = map_[static_cast<size_t>(in)];
    return Value(&out_, emit(std::move(m)));
  }

  Value pack_matmul(const Node& n) {
    NodeId a = n.inputs[0], b = n.inputs[1];
    if (batched(a) && !batched(b) && old_shape(b).size() == 2) {
      const Shape& sa = old_shape(a);  // [M, K]: all runs' rows in one product
      Value rows = reshape(mapped(a), {runs_ * sa[0], sa[1]});
      return reshape(matmul(rows, mapped(b)), with_run(runs_, n.shape));
    }
    return matmul(spread(a), spread(b));
  }

  // Run r's row indices into a table flattened to [R*V, ...].
  Value offset_rows(Value idx, int64_t rows_per_run) {
    return idx + iota(out_, idx.shape(), 0, DType::I32) * static_cast<double>(rows_per_run);
  }

  Value pack_gather(const Node& n) {
    NodeId table = n.inputs[0];
    Value idx = spread(n.inputs[1]);
    if (!batched(table)) return gather(mapped(table), idx);
    Shape flat = old_shape(table);
    const int64_t rows = flat[0];
    flat[0] *= runs_;
    return gather(reshape(mapped(table), flat), offset_rows(idx, rows));
  }

  Value pack_scatter_add(const Node& n) {
    const int64_t rows = n.shape[0];
    Value sums = scatter_add(offset_rows(spread(n.inputs[0]), rows), spread(n.inputs[1]), runs_ * rows);
    return reshape(sums, with_run(runs_, n.shape));
  }

  void pack_update(const Update& u) {
    if (batched(u.target)) {
      out_.add_update(map_[static_cast<size_t>(u.target)], spread(u.value).id());
      return;
    }
    if (batched(u.value))
      throw GraphError("pack_runs: the update of shared input '" + g_.node(u.target).attrs.name +
                       "' depends on per-run values; make that input per-run");
    out_.add_update(map_[static_cast<size_t>(u.target)], map_[static_cast<size_t>(u.value)]);
  }

  const Graph& g_;
  const int64_t runs_;
  const PerRunInput& per_run_;
  Graph out_;
  std::vector<NodeId> map_;     // old id -> new id (batched or not, as batched_ says)
  std::vector<NodeId> spread_;  // old id of a shared node -> its broadcast over runs, or -1
  std::vector<bool> batched_;
};

}  // namespace

Graph pack_runs(const Graph& g, int64_t runs, const PerRunInput& per_run) {
  if (runs < 1) throw GraphError("pack_runs: needs at least one run, got " + std::to_string(runs));
  return Packer(g, runs, per_run).pack();
}

}  // namespace grokjit::ir
