#include "codegen/split_k.h"

#include <numeric>
#include <vector>

namespace grokjit::codegen {

using ir::NodeId;

ir::Graph split_long_k_matmuls(const ir::Graph& g, const TargetInfo& target) {
  ir::Graph out;
  std::vector<NodeId> remap(g.size(), -1);
  auto make = [](ir::Op op, ir::DType dtype, ir::Shape shape, std::vector<NodeId> inputs) {
    return ir::Node{op, dtype, std::move(shape), std::move(inputs), {}};
  };
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& nd = g.nodes()[i];
    ir::Node copy = nd;
    for (NodeId& in : copy.inputs) in = remap[static_cast<size_t>(in)];
    const size_t r = nd.shape.size();
    int64_t S = 1;
    if (nd.op == ir::Op::MatMul && ir::is_float(nd.dtype)) {
      ir::Shape batch(nd.shape.begin(), nd.shape.end() - 2);
      S = choose_k_split(target, ir::num_elements(batch), nd.shape[r - 2], nd.shape[r - 1], g.node(nd.inputs[0]).shape.back());
    }
    if (S <= 1) {
      remap[i] = out.add(std::move(copy));
      continue;
    }
    // Operand x [..., P, Q] split along axis `ax` (r-1 for a's K, r-2 for b's
    // K) into [S, ..., P', Q'] with the chunk axis first.
    auto chunked = [&](NodeId x, size_t ax) {
      const ir::DType dtype = out.node(x).dtype;
      ir::Shape split = out.node(x).shape;
      split[ax] /= S;
      split.insert(split.begin() + static_cast<int64_t>(ax), S);  // [..., (S, K/S) at ax, ...]
      NodeId reshaped = out.add(make(ir::Op::Reshape, dtype, split, {x}));
      std::vector<int64_t> perm(split.size());
      std::iota(perm.begin(), perm.end(), 0);
      perm.erase(perm.begin() + static_cast<int64_t>(ax));
      perm.insert(perm.begin(), static_cast<int64_t>(ax));
      ir::Shape permuted;
      for (int64_t p : perm) permuted.push_back(split[static_cast<size_t>(p)]);
      ir::Node pn = make(ir::Op::Permute, dtype, permuted, {reshaped});
      pn.attrs.perm = perm;
      return out.add(std::move(pn));
    };
    NodeId a = chunked(copy.inputs[0], r - 1), b = chunked(copy.inputs[1], r - 2);
    ir::Shape partial_shape = nd.shape;
    partial_shape.insert(partial_shape.begin(), S);
    NodeId partials = out.add(make(ir::Op::MatMul, nd.dtype, partial_shape, {a, b}));
    ir::Shape summed_shape = partial_shape;
    summed_shape[0] = 1;
    ir::Node sum = make(ir::Op::ReduceSum, nd.dtype, summed_shape, {partials});
    sum.attrs.axes = {0};
    NodeId summed = out.add(std::move(sum));
    remap[i] = out.add(make(ir::Op::Reshape, nd.dtype, nd.shape, {summed}));
  }
  for (const auto& o : g.outputs()) out.add_output(o.name, remap[static_cast<size_t>(o.node)]);
  for (const auto& u : g.updates()) out.add_update(remap[static_cast<size_t>(u.target)], remap[static_cast<size_t>(u.value)]);
  return out;
}

}  // namespace grokjit::codegen
