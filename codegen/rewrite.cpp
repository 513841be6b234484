#include "codegen/rewrite.h"

#include <vector>

namespace grokjit::codegen {

using ir::NodeId;

namespace {

bool swaps_last_two(const ir::Node& n) {
  if (n.op != ir::Op::Permute) return false;
  size_t r = n.attrs.perm.size();
  if (r < 2) return false;
  for (size_t i = 0; i + 2 < r; ++i)
    if (n.attrs.perm[i] != static_cast<int64_t>(i)) return false;
  return n.attrs.perm[r - 2] == static_cast<int64_t>(r - 1) && n.attrs.perm[r - 1] == static_cast<int64_t>(r - 2);
}

}  // namespace

ir::Graph transpose_matmul_results(const ir::Graph& g) {
  const size_t n = g.size();
  // Readers of each node (graph results count as readers that are no permute).
  std::vector<int> readers(n, 0), transposing_readers(n, 0);
  for (const ir::Node& nd : g.nodes())
    for (NodeId in : nd.inputs) {
      ++readers[static_cast<size_t>(in)];
      if (swaps_last_two(nd)) ++transposing_readers[static_cast<size_t>(in)];
    }
  for (const auto& o : g.outputs()) ++readers[static_cast<size_t>(o.node)];
  for (const auto& u : g.updates()) ++readers[static_cast<size_t>(u.value)];
  auto rewritable = [&](NodeId mm) {
    return g.node(mm).op == ir::Op::MatMul && readers[static_cast<size_t>(mm)] > 0 &&
           readers[static_cast<size_t>(mm)] == transposing_readers[static_cast<size_t>(mm)];
  };
  ir::Graph out;
  std::vector<NodeId> remap(n, -1);
  auto transposed = [&](NodeId of) {  // permute(of) swapping the last two axes, in `out`
    const ir::Node& src = out.node(of);
    ir::Node t{ir::Op::Permute, src.dtype, src.shape, {of}, {}};
    size_t r = src.shape.size();
    for (size_t i = 0; i < r; ++i) t.attrs.perm.push_back(static_cast<int64_t>(i));
    std::swap(t.attrs.perm[r - 2], t.attrs.perm[r - 1]);
    std::swap(t.shape[r - 2], t.shape[r - 1]);
    return out.add(std::move(t));
  };
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& nd = g.nodes()[i];
    if (nd.op == ir::Op::MatMul && rewritable(static_cast<NodeId>(i))) continue;  // built at its transposing readers
    if (swaps_last_two(nd) && rewritable(nd.inputs[0])) {
      const ir::Node& mm = g.node(nd.inputs[0]);
      NodeId a = remap[static_cast<size_t>(mm.inputs[0])], b = remap[static_cast<size_t>(mm.inputs[1])];
      NodeId tb = transposed(b), ta = transposed(a);
      remap[i] = out.add(ir::Node{ir::Op::MatMul, nd.dtype, nd.shape, {tb, ta}, {}});
      continue;
    }
    ir::Node copy = nd;
    for (NodeId& in : copy.inputs) in = remap[static_cast<size_t>(in)];
    remap[i] = out.add(std::move(copy));
  }
  for (const auto& o : g.outputs()) out.add_output(o.name, remap[static_cast<size_t>(o.node)]);
  for (const auto& u : g.updates()) out.add_update(remap[static_cast<size_t>(u.target)], remap[static_cast<size_t>(u.value)]);
  return out;
}

}  // namespace grokjit::codegen
