#include "codegen/schedule.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace grokjit::codegen {

using ir::NodeId;
using ir::Op;

std::vector<bool> result_nodes(const ir::Graph& g) {
  std::vector<bool> r(g.size(), false);
  for (const auto& o : g.outputs()) r[static_cast<size_t>(o.node)] = true;
  for (const auto& u : g.updates()) r[static_cast<size_t>(u.value)] = true;
  return r;
}

std::vector<std::vector<NodeId>> owned_dependencies(const ir::Graph& g, const std::vector<bool>& owned) {
  // frontier[n] for an inlined node: the owned nodes its value reads.
  std::vector<std::vector<NodeId>> frontier(g.size()), deps(g.size());
  auto merge_into = [](std::vector<NodeId>& dst, const std::vector<NodeId>& src) {
    std::vector<NodeId> out;
    std::set_union(dst.begin(), dst.end(), src.begin(), src.end(), std::back_inserter(out));
    dst.swap(out);
  };
  for (size_t i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.nodes()[i];
    std::vector<NodeId> reach;
    for (NodeId in : n.inputs) {
      if (owned[static_cast<size_t>(in)]) merge_into(reach, {in});
      else merge_into(reach, frontier[static_cast<size_t>(in)]);
    }
    if (owned[i]) deps[i] = std::move(reach);
    else frontier[i] = std::move(reach);
  }
  return deps;
}

namespace {

bool is_anchor_op(Op op) {
  return op == Op::ReduceSum || op == Op::ReduceMax || op == Op::MatMul || op == Op::ScatterAdd;
}

class Scheduler {
 public:
  Scheduler(const ir::Graph& g, const ScheduleOptions& o) : g_(g), opt_(o) {}

  Schedule run() {
    size_t n = g_.size();
    roots_ = result_nodes(g_);
    choose_owned();
    deps_ = owned_dependencies(g_, owned_);
    readers_.assign(n, {});
    for (size_t i = 0; i < n; ++i)
      for (NodeId d : deps_[i]) readers_[static_cast<size_t>(d)].push_back(static_cast<NodeId>(i));
    s_.owner.assign(n, -1);
    for (size_t i = 0; i < n; ++i)
      if (owned_[i]) {
        s_.owner[i] = static_cast<int>(s_.groups.size());
        s_.groups.push_back({static_cast<NodeId>(i)});
      }
    if (opt_.fusion) {
      fuse_vertically();
      if (opt_.target.recompute) recompute_instead_of_storing();
      fuse_updates_horizontally();
    }
    return std::move(s_);
  }

 private:
  const ir::Node& node(NodeId id) const { return g_.node(id); }

  // ---- ownership
  void choose_owned() {
    size_t n = g_.size();
    owned_.assign(n, false);
    std::vector<int> consumers(n, 0);
    for (const auto& nd : g_.nodes()) {
      std::set<NodeId> distinct(nd.inputs.begin(), nd.inputs.end());
      for (NodeId in : distinct) ++consumers[static_cast<size_t>(in)];
    }
    cost_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const ir::Node& nd = g_.nodes()[i];
      if (nd.op == Op::Input || is_dense_constant(nd)) continue;
      bool leaf_value = nd.op == Op::Constant || nd.op == Op::Iota;
      bool view = ir::op_category(nd.op) == ir::OpCategory::Movement;
      if (!opt_.fusion) {
        owned_[i] = roots_[i] || !(leaf_value || view);
        continue;
      }
      if (roots_[i] || is_anchor_op(nd.op) || !is_inlinable(nd)) {
        owned_[i] = true;
        continue;
      }
      cost_[i] = inline_cost(static_cast<NodeId>(i));
      // Several readers and costly to recompute: compute once, store.
      if (consumers[i] >= 2 && cost_[i] >= 8) owned_[i] = true;
    }
    if (!opt_.fusion) return;
    // A matmul evaluates a fused prologue once per packed operand element,
    // scalar and possibly several times (once per output tile across); a
    // costly operand expression is cheaper computed once by a vectorized
    // elementwise kernel and read in place.
    for (size_t i = 0; i < n; ++i) {
      const ir::Node& mm = g_.nodes()[i];
      if (mm.op != Op::MatMul) continue;
      // How often each operand element is packed: A once per column tile,
      // B once per row tile (with short K a thread keeps its packed B).
      const ir::Shape& s = mm.shape;
      int64_t M = s[s.size() - 2], N = s.back(), K = node(mm.inputs[0]).shape.back(), tm, tn;
      choose_gemm_tiles(opt_.target, ir::num_elements(ir::Shape(s.begin(), s.end() - 2)), M, N, K, &tm, &tn);
      int64_t TM = (M + tm - 1) / tm, TN = (N + tn - 1) / tn;
      const int64_t repacks[2] = {TN, K > 512 ? TM : std::min<int64_t>(TM, 6)};
      for (size_t operand = 0; operand < 2; ++operand) {
        NodeId in = mm.inputs[operand];
        bool strided = false;  // read through a permute that moves the innermost axis: scalar packing
        while (ir::op_category(node(in).op) == ir::OpCategory::Movement && !owned_[static_cast<size_t>(in)]) {
          const ir::Node& mv = node(in);
          if (moves_innermost_axis(mv)) strided = true;
          in = mv.inputs[0];
        }
        if (!owned_[static_cast<size_t>(in)] && is_inlinable(node(in)) &&
            cost_[static_cast<size_t>(in)] * repacks[operand] * (strided ? 4 : 1) > kPrologueBudget) {
          owned_[static_cast<size_t>(in)] = true;
          operand_of_[in].insert(static_cast<NodeId>(i));
        }
      }
    }
    store_permuted_gather_tables();
  }

  // A permute whose innermost axis comes from elsewhere: its reader's
  // innermost loop reads the source with a stride.
  static bool moves_innermost_axis(const ir::Node& n) {
    return n.op == Op::Permute && n.attrs.perm.back() != static_cast<int64_t>(n.attrs.perm.size()) - 1;
  }

  // A gather reads its table at data-dependent rows. Read through a permute
  // that moves the innermost axis, every element of a gathered row is a
  // strided load (a cache line each); stored once by its own kernel, the
  // permuted table is read along whole rows. Worth it when the gathers read
  // at least as many elements as the table holds. Reshapes that keep the
  // innermost axis (a packed graph flattens its run axis into the rows) are
  // looked through. Vertical fusion then merges the copy into none of its
  // readers, gathers or not (holds_gather_table).
  void store_permuted_gather_tables() {
    std::map<NodeId, int64_t> reads;  // permute under a gather table -> elements gathered from it
    for (const ir::Node& gather : g_.nodes()) {
      if (gather.op != Op::Gather) continue;
      NodeId table = gather.inputs[0];
      while (node(table).op == Op::Reshape && !owned_[static_cast<size_t>(table)] &&
             node(table).shape.back() == node(node(table).inputs[0]).shape.back())
        table = node(table).inputs[0];
      const ir::Node& t = node(table);
      if (moves_innermost_axis(t) && !owned_[static_cast<size_t>(table)]) reads[table] += ir::num_elements(gather.shape);
    }
    for (const auto& [table, gathered] : reads)
      if (gathered >= ir::num_elements(node(table).shape)) {
        owned_[static_cast<size_t>(table)] = true;
        gather_tables_.insert(table);
      }
  }

  // What computing a node inline costs per element: its own op (a
  // transcendental counts 8, a random number or a gather 4, anything else 1)
  // plus the inlined expressions it reads (owned inputs are loads: free).
  int inline_cost(NodeId id) const {
    const ir::Node& nd = node(id);
    ir::OpCategory category = ir::op_category(nd.op);
    int own = 0;
    if (category == ir::OpCategory::Unary || category == ir::OpCategory::Binary) {
      own = (nd.op == Op::Exp || nd.op == Op::Log || nd.op == Op::Sin || nd.op == Op::Cos || nd.op == Op::Silu ||
             nd.op == Op::Sigmoid || nd.op == Op::Tanh || nd.op == Op::Pow)
                ? 8
                : 1;
    } else if (nd.op == Op::RandomUniform || nd.op == Op::Gather) {
      own = 4;
    } else if (category != ir::OpCategory::Movement && nd.op != Op::Constant && nd.op != Op::Iota) {
      own = 1;
    }
    int total = own;
    for (NodeId in : nd.inputs)
      if (!owned_[static_cast<size_t>(in)]) total += cost_[static_cast<size_t>(in)];
    return std::min(total, 1 << 20);
  }

  // Operand ops (a transcendental counts 8) times repacks (x4 when read
  // strided, packed by scalar code) a matmul may recompute in its packing.
  static constexpr int64_t kPrologueBudget = 2;

  // ---- groups
  std::string node_label(NodeId id) const { return ir::node_label(id, node(id).op); }

  std::string label(int group) const {
    const auto& m = s_.groups[static_cast<size_t>(group)];
    NodeId main = m.back();
    for (NodeId id : m)
      if (is_anchor_op(node(id).op)) { main = id; break; }
    std::string r = node_label(main);
    if (m.size() > 1) r += " (+" + std::to_string(m.size() - 1) + ")";
    return r;
  }

  std::set<int> producers(int group) const {
    std::set<int> r;
    for (NodeId id : s_.groups[static_cast<size_t>(group)])
      for (NodeId d : deps_[static_cast<size_t>(id)]) {
        int o = s_.owner[static_cast<size_t>(d)];
        if (o != group) r.insert(o);
      }
    return r;
  }

  std::set<int> consumers(int group) const {
    std::set<int> r;
    for (NodeId id : s_.groups[static_cast<size_t>(group)])
      for (NodeId rd : readers_[static_cast<size_t>(id)]) {
        int o = s_.owner[static_cast<size_t>(rd)];
        if (o != group) r.insert(o);
      }
    return r;
  }

  // Is `to` reachable from `from` through at least one other group?
  bool indirect_path(int from, int to) const {
    std::vector<int> stack;
    std::set<int> seen;
    for (int c : consumers(from))
      if (c != to) stack.push_back(c);
    while (!stack.empty()) {
      int x = stack.back();
      stack.pop_back();
      if (!seen.insert(x).second) continue;
      for (int c : consumers(x)) {
        if (c == to) return true;
        stack.push_back(c);
      }
    }
    return false;
  }

  bool reachable(int from, int to) const {
    std::vector<int> stack{from};
    std::set<int> seen;
    while (!stack.empty()) {
      int x = stack.back();
      stack.pop_back();
      if (x == to) return true;
      if (!seen.insert(x).second) continue;
      for (int c : consumers(x)) stack.push_back(c);
    }
    return false;
  }

  // Lowers the union of groups a and b (owners as if merged into b); returns
  // "" when it fits one kernel, else the reason.
  std::string try_merge(int a, int b) {
    std::vector<int> owner = s_.owner;
    std::vector<NodeId> members = s_.groups[static_cast<size_t>(b)];
    for (NodeId id : s_.groups[static_cast<size_t>(a)]) {
      owner[static_cast<size_t>(id)] = b;
      members.push_back(id);
    }
    std::sort(members.begin(), members.end());
    return try_lower(owner, members, b);
  }

  // Is an owned value written to memory under these owners: a result, or
  // read by another kernel?
  bool stored_under(const std::vector<int>& owner, NodeId id) const {
    if (roots_[static_cast<size_t>(id)]) return true;
    for (NodeId r : readers_[static_cast<size_t>(id)])
      if (owner[static_cast<size_t>(r)] != owner[static_cast<size_t>(id)]) return true;
    return false;
  }

  // Lowers group b (these members, under these owners); "" when it fits one
  // kernel, else the reason.
  std::string try_lower(const std::vector<int>& owner, const std::vector<NodeId>& members, int b) const {
    LowerContext ctx;
    ctx.graph = &g_;
    ctx.owner = &owner;
    ctx.target = opt_.target;
    const size_t n = g_.size();
    ctx.source = [](NodeId id) { return static_cast<int>(id); };
    ctx.destinations = [&](NodeId id) -> std::vector<int> {
      if (!stored_under(owner, id)) return {};
      return {static_cast<int>(n + static_cast<size_t>(id))};
    };
    ctx.scratch = [n](NodeId id) { return static_cast<int>(2 * n + static_cast<size_t>(id)); };
    ctx.buffer_name = [](int b) { return "b" + std::to_string(b); };
    try {
      LoweredKernel lk = lower_group(ctx, members, b);
      return epilogue_streams_ok(lk.kernel);
    } catch (const LoweringFailure& e) {
      return e.what();
    }
  }

  // A matmul epilogue walks its output tile by tile: each full-size tensor it
  // reads or writes is another set of strided streams (one per tile row). A
  // few are fine; many large ones (not cache-resident) make the kernel
  // memory-latency bound, and separate elementwise kernels that stream
  // them in order are faster.
  static std::string epilogue_streams_ok(const Kernel& k) {
    for (const Stmt& st : k.body) {
      if (st.kind != StmtKind::Gemm) continue;
      const int64_t out = st.gemm.M * st.gemm.N * (k.parallel_extent / std::max<int64_t>(1, ((st.gemm.M + st.gemm.tile_m - 1) / st.gemm.tile_m) * ((st.gemm.N + st.gemm.tile_n - 1) / st.gemm.tile_n)));
      if (static_cast<double>(out) * 4 < kCacheResidentBytes) return "";
      std::set<BufId> large;
      std::function<void(ExprId)> visit = [&](ExprId e) {
        if (e < 0) return;
        const Expr& x = k.expr(e);
        if (x.op == ExprOp::Load && k.buffers[static_cast<size_t>(x.ival)].elements >= out) large.insert(static_cast<BufId>(x.ival));
        visit(x.a);
        visit(x.b);
        visit(x.c);
      };
      for_each_stmt(st.body, [&](const Stmt& e) {
        if (e.kind == StmtKind::Store && k.buffers[static_cast<size_t>(e.buffer)].elements >= out) large.insert(e.buffer);
        visit(e.value);
      });
      if (large.size() > kEpilogueStreams)
        return "the matmul epilogue would stream " + std::to_string(large.size()) + " full-size tensors in tile order";
    }
    return "";
  }

  static constexpr size_t kEpilogueStreams = 6;
  static constexpr double kCacheResidentBytes = 1 << 20;

  void merge(int a, int b) {
    s_.fused.push_back("fused " + label(a) + " into " + label(b));
    auto& dst = s_.groups[static_cast<size_t>(b)];
    for (NodeId id : s_.groups[static_cast<size_t>(a)]) {
      s_.owner[static_cast<size_t>(id)] = b;
      dst.push_back(id);
    }
    std::sort(dst.begin(), dst.end());
    s_.groups[static_cast<size_t>(a)].clear();
  }

  void reject(int a, int b, const std::string& why) {
    s_.rejected.push_back("not fused " + label(a) + " into " + label(b) + ": " + why);
  }

  bool feeds_matmul_operand(int P, int C) const {
    for (NodeId id : s_.groups[static_cast<size_t>(P)]) {
      auto it = operand_of_.find(id);
      if (it == operand_of_.end()) continue;
      for (NodeId mm : it->second)
        if (s_.owner[static_cast<size_t>(mm)] == C) return true;
    }
    return false;
  }

  bool holds_gather_table(int P) const {
    for (NodeId id : s_.groups[static_cast<size_t>(P)])
      if (gather_tables_.count(id)) return true;
    return false;
  }

  bool has_op(int group, Op op) const {
    for (NodeId id : s_.groups[static_cast<size_t>(group)])
      if (node(id).op == op) return true;
    return false;
  }

  void fuse_vertically() {
    for (size_t c = 0; c < s_.groups.size(); ++c) {
      int C = static_cast<int>(c);
      std::set<std::pair<int, size_t>> tried;  // (producer, size of C when tried)
      for (bool merged = true; merged && !s_.groups[c].empty();) {
        merged = false;
        std::set<int> pset = producers(C);
        std::vector<int> ps(pset.begin(), pset.end());
        std::sort(ps.begin(), ps.end(), [&](int x, int y) {
          return s_.groups[static_cast<size_t>(x)].back() > s_.groups[static_cast<size_t>(y)].back();
        });
        for (int P : ps) {
          if (!tried.insert({P, s_.groups[c].size()}).second) continue;
          if (has_op(P, Op::ScatterAdd) || has_op(C, Op::ScatterAdd)) {
            reject(P, C, "a scatter_add kernel holds nothing else");
            continue;
          }
          if (feeds_matmul_operand(P, C)) {
            reject(P, C, "it is a matmul operand materialized to be read in place (a prologue would recompute it per packed tile)");
            continue;
          }
          if (holds_gather_table(P)) {
            reject(P, C, "it is a permuted gather table stored so that gathers read whole rows");
            continue;
          }
          if (indirect_path(P, C)) {
            reject(P, C, "another kernel runs between them (fusing would make a cycle)");
            continue;
          }
          std::string why = try_merge(P, C);
          if (!why.empty()) {
            reject(P, C, why);
            continue;
          }
          merge(P, C);
          merged = true;
          break;
        }
      }
    }
  }

  // ---- rematerialization
  // A cheap elementwise value (sigmoid(g) and silu(g) kept for the backward
  // pass of a gated MLP) that other kernels read is stored by its kernel and
  // loaded by each reader: 8+ bytes per element of memory traffic. The
  // readers can compute it instead from what it is computed from (g). Values
  // computed from the same owned values are weighed together (silu(g) and
  // sigmoid(g): two stores and two loads saved for one store and one load of
  // g), all or none, and recomputed where that moves fewer bytes and every
  // affected kernel still lowers to one loop nest.
  static constexpr int kRecomputeBudget = 8;  // one transcendental

  void recompute_instead_of_storing() {
    std::vector<std::vector<NodeId>> users(g_.size());
    for (size_t u = 0; u < g_.size(); ++u)
      for (NodeId in : std::set<NodeId>(node(static_cast<NodeId>(u)).inputs.begin(), node(static_cast<NodeId>(u)).inputs.end()))
        users[static_cast<size_t>(in)].push_back(static_cast<NodeId>(u));
    std::vector<NodeId> candidates;
    for (size_t i = 0; i < g_.size(); ++i)
      if (recomputable(static_cast<NodeId>(i), users)) candidates.push_back(static_cast<NodeId>(i));
    std::vector<bool> tried(g_.size(), false);
    for (NodeId x : candidates) {
      if (tried[static_cast<size_t>(x)]) continue;
      const std::vector<NodeId> from = deps_[static_cast<size_t>(x)];
      std::vector<NodeId> bundle;  // the candidates computed from exactly these values (earlier bundles change costs)
      for (NodeId y : candidates)
        if (!tried[static_cast<size_t>(y)] && deps_[static_cast<size_t>(y)] == from && recomputable(y, users)) {
          bundle.push_back(y);
          tried[static_cast<size_t>(y)] = true;
        }
      if (bundle.empty()) continue;
      const std::set<int> reading_groups = groups_reading_outside_home(bundle);
      if (reading_groups.empty()) continue;  // read inside their own kernels only: nothing is stored
      if (traffic_change(bundle, from, reading_groups) >= 0) {
        s_.rejected.push_back("not recomputed " + names(bundle) + " in " + std::to_string(reading_groups.size()) +
                              " reading kernel(s): it would not move fewer bytes");
        continue;
      }
      // Tentatively inline the bundle everywhere; undo unless every affected kernel lowers.
      const Snapshot before{s_.owner, s_.groups, deps_, readers_};
      std::set<int> affected = reading_groups;
      for (NodeId y : bundle) {
        affected.insert(s_.owner[static_cast<size_t>(y)]);
        unown(y);
      }
      std::string why;
      for (int G : affected)
        if (why.empty() && !s_.groups[static_cast<size_t>(G)].empty()) why = try_lower(s_.owner, s_.groups[static_cast<size_t>(G)], G);
      if (!why.empty()) {
        s_.owner = before.owner;
        s_.groups = before.groups;
        deps_ = before.deps;
        readers_ = before.readers;
        for (NodeId y : bundle) owned_[static_cast<size_t>(y)] = true;
        s_.rejected.push_back("not recomputed " + names(bundle) + " in its readers: " + why);
        continue;
      }
      s_.fused.push_back("recomputed " + names(bundle) + " in " + std::to_string(reading_groups.size()) +
                         " reading kernel(s) instead of storing " + (bundle.size() > 1 ? "them" : "it"));
    }
  }

  std::string names(const std::vector<NodeId>& values) const {
    std::string r;
    for (NodeId v : values) r += (r.empty() ? "" : ", ") + node_label(v);
    return r;
  }

  // Kernels other than a value's own that read it.
  std::set<int> groups_reading_outside_home(const std::vector<NodeId>& values) const {
    std::set<int> r;
    for (NodeId x : values)
      for (NodeId reader : readers_[static_cast<size_t>(x)])
        if (s_.owner[static_cast<size_t>(reader)] != s_.owner[static_cast<size_t>(x)]) r.insert(s_.owner[static_cast<size_t>(reader)]);
    return r;
  }

  // Bytes stored plus loaded per step after recomputing `bundle` (computed
  // from `from`) in `reading_groups`, minus before: negative saves traffic.
  // The bundle is weighed as a whole (silu(g) alone saves nothing: one load
  // of g for one of silu(g); with sigmoid(g) it saves a load and two stores).
  int64_t traffic_change(const std::vector<NodeId>& bundle, const std::vector<NodeId>& from,
                         const std::set<int>& reading_groups) const {
    auto bytes = [&](NodeId v) { return ir::num_elements(node(v).shape) * static_cast<int64_t>(ir::dtype_size(node(v).dtype)); };
    int64_t change = 0;
    for (int G : reading_groups) {
      for (NodeId d : from)
        if (!group_reads_all(G, {d})) change += bytes(d);  // a new load
      for (NodeId x : bundle)  // a load saved (not where x is computed: a member's home may read another member)
        if (s_.owner[static_cast<size_t>(x)] != G && group_reads_all(G, {x})) change -= bytes(x);
    }
    for (NodeId x : bundle)
      if (stored_under(s_.owner, x)) change -= bytes(x);  // a store saved
    for (NodeId d : from) {
      bool read_elsewhere = false;
      for (int G : reading_groups) read_elsewhere = read_elsewhere || G != s_.owner[static_cast<size_t>(d)];
      if (!stored_under(s_.owner, d) && read_elsewhere) change += bytes(d);  // a new store
    }
    return change;
  }

  struct Snapshot {
    std::vector<int> owner;
    std::vector<std::vector<NodeId>> groups, deps, readers;
  };

  // An owned elementwise value that is cheap to compute again from owned
  // values alone (no graph input or dense constant is read through it) and
  // that no matmul packs as an operand (a prologue recomputes per tile).
  bool recomputable(NodeId x, const std::vector<std::vector<NodeId>>& users) const {
    const size_t i = static_cast<size_t>(x);
    const ir::Node& nd = node(x);
    ir::OpCategory category = ir::op_category(nd.op);
    if (!owned_[i] || roots_[i] || operand_of_.count(x) || !is_inlinable(nd)) return false;
    if (category != ir::OpCategory::Unary && category != ir::OpCategory::Binary) return false;
    if (inline_cost(x) > kRecomputeBudget) return false;
    std::set<NodeId> seen;  // each node once: shared subexpressions would make the walks exponential
    std::vector<NodeId> stack(nd.inputs.begin(), nd.inputs.end());
    while (!stack.empty()) {  // what x's expression reads
      const NodeId id = stack.back();
      stack.pop_back();
      if (owned_[static_cast<size_t>(id)] || !seen.insert(id).second) continue;
      const ir::Node& in = node(id);
      if (in.op == Op::Input || is_dense_constant(in)) return false;
      stack.insert(stack.end(), in.inputs.begin(), in.inputs.end());
    }
    seen.clear();
    stack = users[i];
    while (!stack.empty()) {  // where x's value flows through inlined nodes
      const NodeId u = stack.back();
      stack.pop_back();
      if (!seen.insert(u).second) continue;
      if (node(u).op == Op::MatMul) return false;
      if (!owned_[static_cast<size_t>(u)]) stack.insert(stack.end(), users[static_cast<size_t>(u)].begin(), users[static_cast<size_t>(u)].end());
    }
    return true;
  }

  // Does group G compute or read every one of these owned values already?
  bool group_reads_all(int G, const std::vector<NodeId>& values) const {
    std::set<NodeId> seen;
    for (NodeId m : s_.groups[static_cast<size_t>(G)]) {
      seen.insert(m);
      seen.insert(deps_[static_cast<size_t>(m)].begin(), deps_[static_cast<size_t>(m)].end());
    }
    for (NodeId v : values)
      if (!seen.count(v)) return false;
    return true;
  }

  // x becomes an inlined node: its readers read what x read.
  void unown(NodeId x) {
    const size_t i = static_cast<size_t>(x);
    const std::vector<NodeId> from = deps_[i];
    for (NodeId r : readers_[i]) {
      auto& d = deps_[static_cast<size_t>(r)];
      d.erase(std::remove(d.begin(), d.end(), x), d.end());
      for (NodeId v : from) {
        if (std::find(d.begin(), d.end(), v) == d.end()) d.insert(std::lower_bound(d.begin(), d.end(), v), v);
        auto& rv = readers_[static_cast<size_t>(v)];
        if (std::find(rv.begin(), rv.end(), r) == rv.end()) rv.push_back(r);
      }
    }
    for (NodeId v : from) {
      auto& rv = readers_[static_cast<size_t>(v)];
      rv.erase(std::remove(rv.begin(), rv.end(), x), rv.end());
    }
    deps_[i].clear();
    readers_[i].clear();
    owned_[i] = false;
    auto& members = s_.groups[static_cast<size_t>(s_.owner[i])];
    members.erase(std::remove(members.begin(), members.end(), x), members.end());
    s_.owner[i] = -1;
  }

  void fuse_updates_horizontally() {
    std::vector<bool> update_value(g_.size(), false);
    for (const auto& u : g_.updates()) update_value[static_cast<size_t>(u.value)] = true;
    auto is_update_group = [&](int G) {
      const auto& m = s_.groups[static_cast<size_t>(G)];
      if (m.empty()) return false;
      bool any = false;
      for (NodeId id : m) {
        if (is_anchor_op(node(id).op)) return false;
        any = any || update_value[static_cast<size_t>(id)];
      }
      return any;
    };
    auto shape_of = [&](int G) { return node(s_.groups[static_cast<size_t>(G)].front()).shape; };
    for (size_t a = 0; a < s_.groups.size(); ++a) {
      if (!is_update_group(static_cast<int>(a))) continue;
      for (size_t b = a + 1; b < s_.groups.size(); ++b) {
        int A = static_cast<int>(a), B = static_cast<int>(b);
        if (!is_update_group(B) || ir::num_elements(shape_of(A)) != ir::num_elements(shape_of(B))) continue;
        if (reachable(A, B) || reachable(B, A)) continue;
        std::string why = try_merge(A, B);
        if (!why.empty()) {
          reject(A, B, why);
          continue;
        }
        merge(A, B);
        break;  // A is gone; B carries on collecting later groups
      }
    }
  }

  const ir::Graph& g_;
  ScheduleOptions opt_;
  std::vector<bool> roots_, owned_;
  std::vector<int> cost_;  // per inlinable node: inline_cost when ownership was chosen
  std::map<NodeId, std::set<NodeId>> operand_of_;  // operands materialized for these matmuls
  std::set<NodeId> gather_tables_;                 // permuted tables stored for gathers to read whole rows
  std::vector<std::vector<NodeId>> deps_, readers_;
  Schedule s_;
};

}  // namespace

Schedule schedule_graph(const ir::Graph& g, const ScheduleOptions& options) { return Scheduler(g, options).run(); }

}  // namespace grokjit::codegen
