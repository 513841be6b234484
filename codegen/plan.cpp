#include "codegen/plan.h"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <sstream>

#include "codegen/rewrite.h"
#include "codegen/schedule.h"
#include "codegen/split_k.h"
#include "ir/error.h"
#include "ir/passes.h"
#include "ir/verify.h"

namespace grokjit::codegen {

using ir::NodeId;

namespace {

// Results that are leaves (an input or a dense constant returned or written
// back as is) or that a second update repeats get an identity node, so that
// every result is computed by some kernel into its own buffer.
void add_identity_results(ir::Graph& g) {
  auto identity = [&](NodeId id) {
    ir::Node copy{ir::Op::Reshape, g.node(id).dtype, g.node(id).shape, {id}, {}};
    return g.add(std::move(copy));
  };
  auto is_leaf = [&](NodeId id) { return g.node(id).op == ir::Op::Input || is_dense_constant(g.node(id)); };
  for (auto& o : g.mutable_outputs())
    if (is_leaf(o.node)) o.node = identity(o.node);
  std::set<NodeId> values;
  auto& updates = g.mutable_updates();
  updates.erase(std::remove_if(updates.begin(), updates.end(), [](const ir::Update& u) { return u.target == u.value; }),
                updates.end());
  for (auto& u : updates) {
    if (is_leaf(u.value) || values.count(u.value)) u.value = identity(u.value);
    values.insert(u.value);
  }
}

Kernel make_copy_kernel(ScalarType type, int64_t elements) {
  Kernel k;
  k.kind = "C";
  k.shape_tag = std::to_string(elements);
  k.op_tags = {"copy"};
  BufId src = k.add_buffer("src", type, elements), dst = k.add_buffer("dst", type, elements);
  int64_t inner = 1;
  for (int64_t c = 4096; c >= 1; c /= 2)
    if (elements % c == 0) { inner = c; break; }
  VarId p = k.add_var("p", elements / inner);
  k.parallel_var = p;
  k.parallel_extent = elements / inner;
  VarId i = k.add_var("i", inner);
  ExprId at = k.add(k.mul(k.var(p), inner), k.var(i));
  k.body.push_back(make_loop(i, inner, {make_store(dst, at, k.load(src, at))}));
  k.finalize();
  return k;
}

class Planner {
 public:
  Planner(const ir::Graph& input, const PlanOptions& opt) : opt_(opt) {
    ir::verify(input);
    plan_.graph = ir::simplify(split_long_k_matmuls(transpose_matmul_results(ir::simplify(input).graph), opt.target)).graph;
    add_identity_results(plan_.graph);
  }

  ProgramPlan run() {
    const ir::Graph& g = plan_.graph;
    sched_ = schedule_graph(g, {opt_.fusion, opt_.target});
    plan_.fused = sched_.fused;
    plan_.rejected = sched_.rejected;
    std::vector<bool> owned(g.size());
    for (size_t i = 0; i < g.size(); ++i) owned[i] = sched_.owner[i] >= 0;
    deps_ = owned_dependencies(g, owned);
    for (size_t i = 0; i < sched_.groups.size(); ++i)
      if (!sched_.groups[i].empty()) alive_.push_back(static_cast<int>(i));

    in_place_.assign(g.updates().size(), true);
    assign_storage();
    lower_all();
    decide_in_place();
    assign_storage();
    lower_all();
    order_and_emit();
    plan_memory_();
    return std::move(plan_);
  }

 private:
  const ir::Node& node(NodeId id) const { return plan_.graph.node(id); }

  int add_buffer(BufferKind kind, std::string name, NodeId id) {
    PlanBuffer b;
    b.kind = kind;
    b.name = std::move(name);
    b.type = scalar_type_of(node(id).dtype);
    b.elements = ir::num_elements(node(id).shape);
    plan_.buffers.push_back(std::move(b));
    return static_cast<int>(plan_.buffers.size() - 1);
  }

  bool stored(NodeId id) const {
    int o = sched_.owner[static_cast<size_t>(id)];
    if (o < 0) return false;
    if (results_[static_cast<size_t>(id)]) return true;
    for (size_t r = 0; r < deps_.size(); ++r)
      if (sched_.owner[r] != o && std::binary_search(deps_[r].begin(), deps_[r].end(), id)) return true;
    return false;
  }

  void assign_storage() {
    const ir::Graph& g = plan_.graph;
    plan_.buffers.clear();
    scratch_.clear();
    source_.assign(g.size(), -1);
    dests_.assign(g.size(), {});
    results_ = result_nodes(g);
    for (size_t i = 0; i < g.size(); ++i) {
      const ir::Node& n = g.nodes()[i];
      if (n.op == ir::Op::Input) source_[i] = add_buffer(BufferKind::Input, n.attrs.name, static_cast<NodeId>(i));
      if (is_dense_constant(n)) {
        source_[i] = add_buffer(BufferKind::Constant, "constant %" + std::to_string(i), static_cast<NodeId>(i));
        plan_.buffers.back().data = n.attrs.data;
      }
    }
    for (size_t u = 0; u < g.updates().size(); ++u)
      if (in_place_[u]) dests_[static_cast<size_t>(g.updates()[u].value)].push_back(source_[static_cast<size_t>(g.updates()[u].target)]);
    for (const auto& o : g.outputs())
      dests_[static_cast<size_t>(o.node)].push_back(add_buffer(BufferKind::Output, o.name, o.node));
    for (size_t i = 0; i < g.size(); ++i) {
      if (!stored(static_cast<NodeId>(i))) continue;
      if (dests_[i].empty())
        dests_[i].push_back(add_buffer(BufferKind::Arena, ir::node_label(static_cast<NodeId>(i), g.nodes()[i].op),
                                       static_cast<NodeId>(i)));
      source_[i] = dests_[i][0];
    }
  }

  void lower_all() {
    lowered_.clear();
    LowerContext ctx;
    ctx.graph = &plan_.graph;
    ctx.owner = &sched_.owner;
    ctx.target = opt_.target;
    ctx.source = [&](NodeId id) {
      int b = source_[static_cast<size_t>(id)];
      if (b < 0) throw Error("planner: %" + std::to_string(id) + " has no buffer");
      return b;
    };
    ctx.destinations = [&](NodeId id) { return stored(id) ? dests_[static_cast<size_t>(id)] : std::vector<int>{}; };
    ctx.scratch = [&](NodeId id) {
      auto it = scratch_.find(id);
      if (it != scratch_.end()) return it->second;
      int b = add_buffer(BufferKind::Arena, "accumulators of %" + std::to_string(id), id);
      scratch_[id] = b;
      return b;
    };
    ctx.buffer_name = [&](int b) {
      const PlanBuffer& pb = plan_.buffers[static_cast<size_t>(b)];
      switch (pb.kind) {
        case BufferKind::Input: return "input '" + pb.name + "'";
        case BufferKind::Output: return "output '" + pb.name + "'";
        default: return pb.name;
      }
    };
    for (int G : alive_) {
      try {
        lowered_[G] = lower_group(ctx, sched_.groups[static_cast<size_t>(G)], G);
      } catch (const LoweringFailure& e) {
        throw Error("codegen: cannot lower the group of %" + std::to_string(sched_.groups[static_cast<size_t>(G)].front()) +
                    ": " + e.what());
      }
    }
  }

  std::set<int> producers(int G) const {
    std::set<int> r;
    for (NodeId id : sched_.groups[static_cast<size_t>(G)])
      for (NodeId d : deps_[static_cast<size_t>(id)]) {
        int o = sched_.owner[static_cast<size_t>(d)];
        if (o != G) r.insert(o);
      }
    return r;
  }

  // Does group G read input node `input` (its value before the updates)?
  bool reads_input(int G, NodeId input) const {
    std::vector<NodeId> stack = sched_.groups[static_cast<size_t>(G)];
    std::set<NodeId> seen;
    while (!stack.empty()) {
      NodeId n = stack.back();
      stack.pop_back();
      for (NodeId in : node(n).inputs) {
        if (in == input) return true;
        int o = sched_.owner[static_cast<size_t>(in)];
        if ((o == G || (o < 0 && node(in).op != ir::Op::Input)) && seen.insert(in).second) stack.push_back(in);
      }
    }
    return false;
  }

  // Loads of `buffer` in the kernel only at the index it is stored at.
  std::string in_place_safe(int G, int buffer) const {
    const LoweredKernel& lk = lowered_.at(G);
    const Kernel& k = lk.kernel;
    BufId b = -1;
    for (size_t i = 0; i < lk.args.size(); ++i)
      if (lk.args[i] == buffer) b = static_cast<BufId>(i);
    if (b < 0) return "the kernel does not write it";
    std::set<ExprId> store_index;
    for_each_stmt(k.body, [&](const Stmt& s) {
      if (s.kind == StmtKind::Store && s.buffer == b) store_index.insert(s.index);
    });
    if (store_index.size() != 1) return "the kernel writes it at several indices";
    for (size_t e = 0; e < k.num_exprs(); ++e) {
      const Expr& x = k.expr(static_cast<ExprId>(e));
      if (x.op == ExprOp::Load && x.ival == b && (x.a != *store_index.begin() || x.b >= 0))
        return "the kernel reads the old value at other elements than it writes";
    }
    return "";
  }

  std::map<int, std::set<int>> edges() const {
    std::map<int, std::set<int>> succ;
    for (int G : alive_)
      for (int P : producers(G)) succ[P].insert(G);
    for (auto [from, to] : war_) succ[from].insert(to);
    return succ;
  }

  bool acyclic() const {
    auto succ = edges();
    std::map<int, int> state;  // 0 new, 1 on stack, 2 done
    std::function<bool(int)> dfs = [&](int x) {
      state[x] = 1;
      for (int y : succ[x]) {
        if (state[y] == 1) return false;
        if (state[y] == 0 && !dfs(y)) return false;
      }
      state[x] = 2;
      return true;
    };
    for (int G : alive_)
      if (state[G] == 0 && !dfs(G)) return false;
    return true;
  }

  void decide_in_place() {
    const ir::Graph& g = plan_.graph;
    for (size_t u = 0; u < g.updates().size(); ++u) {
      const ir::Update& up = g.updates()[u];
      int target = source_[static_cast<size_t>(up.target)];
      int K = sched_.owner[static_cast<size_t>(up.value)];
      std::string who = "input '" + node(up.target).attrs.name + "'";
      std::string why = in_place_safe(K, target);
      if (why.empty()) {
        std::vector<std::pair<int, int>> added;
        for (int G : alive_)
          if (G != K && reads_input(G, up.target)) added.push_back({G, K});
        war_.insert(war_.end(), added.begin(), added.end());
        if (!acyclic()) {
          war_.resize(war_.size() - added.size());
          why = "a kernel that reads the old value needs the new one";
        }
      }
      in_place_[u] = why.empty();
      plan_.in_place.push_back(who + (why.empty() ? ": updated in place" : ": written to a temporary and copied back (" + why + ")"));
    }
  }

  void order_and_emit() {
    auto succ = edges();
    std::map<int, int> indegree;
    for (int G : alive_) indegree[G] = 0;
    for (auto& [from, tos] : succ)
      for (int to : tos) ++indegree[to];
    auto key = [&](int G) { return sched_.groups[static_cast<size_t>(G)].front(); };
    auto later = [&](int a, int b) { return key(a) > key(b); };
    std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
    for (int G : alive_)
      if (indegree[G] == 0) ready.push(G);
    while (!ready.empty()) {
      int G = ready.top();
      ready.pop();
      LoweredKernel& lk = lowered_.at(G);
      plan_.kernels.push_back({std::move(lk.kernel), std::move(lk.args), {}});
      for (int to : succ[G])
        if (--indegree[to] == 0) ready.push(to);
    }
    if (plan_.kernels.size() != alive_.size()) throw Error("planner: the kernel graph has a cycle (a bug)");
    // Updates that could not be done in place: copy back at the very end.
    const ir::Graph& g = plan_.graph;
    for (size_t u = 0; u < g.updates().size(); ++u) {
      if (in_place_[u]) continue;
      const ir::Update& up = g.updates()[u];
      const ir::Node& n = node(up.value);
      PlannedKernel pk{make_copy_kernel(scalar_type_of(n.dtype), ir::num_elements(n.shape)),
                       {source_[static_cast<size_t>(up.value)], source_[static_cast<size_t>(up.target)]},
                       {}};
      pk.kernel.ir_ops = {"update of input '" + node(up.target).attrs.name + "'"};
      plan_.kernels.push_back(std::move(pk));
    }
    for (auto& pk : plan_.kernels) pk.cost = kernel_cost(pk.kernel);
  }

  void plan_memory_() {
    plan_.lifetimes.assign(plan_.buffers.size(), BufferLifetime{});
    std::vector<bool> touched(plan_.buffers.size(), false);
    for (size_t k = 0; k < plan_.kernels.size(); ++k)
      for (int b : plan_.kernels[k].args) {
        BufferLifetime& l = plan_.lifetimes[static_cast<size_t>(b)];
        if (!touched[static_cast<size_t>(b)]) l.first = static_cast<int>(k);
        l.last = static_cast<int>(k);
        touched[static_cast<size_t>(b)] = true;
        l.bytes = plan_.buffers[static_cast<size_t>(b)].bytes();
      }
    std::vector<BufferLifetime> arena;
    std::vector<size_t> index;
    for (size_t b = 0; b < plan_.buffers.size(); ++b)
      if (plan_.buffers[b].kind == BufferKind::Arena) {
        arena.push_back(plan_.lifetimes[b]);
        index.push_back(b);
      }
    MemoryPlan mp = plan_memory(arena);
    plan_.memory = mp;
    plan_.memory.offsets.assign(plan_.buffers.size(), 0);
    for (size_t i = 0; i < index.size(); ++i) {
      plan_.buffers[index[i]].offset = mp.offsets[i];
      plan_.memory.offsets[index[i]] = mp.offsets[i];
    }
  }

  PlanOptions opt_;
  ProgramPlan plan_;
  Schedule sched_;
  std::vector<std::vector<NodeId>> deps_;
  std::vector<int> alive_;
  std::vector<bool> in_place_, results_;
  std::vector<int> source_;
  std::vector<std::vector<int>> dests_;
  std::map<int, LoweredKernel> lowered_;
  std::map<NodeId, int> scratch_;  // accumulator buffers of unstored column reductions
  std::vector<std::pair<int, int>> war_;
};

}  // namespace

ProgramPlan plan_program(const ir::Graph& g, const PlanOptions& options) { return Planner(g, options).run(); }

int find_buffer(const ProgramPlan& plan, BufferKind kind, const std::string& name) {
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (plan.buffers[i].kind == kind && plan.buffers[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string describe_plan(const ProgramPlan& plan, int level) {
  std::ostringstream os;
  os << plan.kernels.size() << " kernels\n";
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const Kernel& k = plan.kernels[i].kernel;
    os << "  [" << i << "] " << k.name << " (" << launch_shape(k) << "):";
    for (const auto& op : k.ir_ops) os << " " << op << ";";
    os << "\n";
  }
  if (level >= 2) {
    for (const auto& f : plan.fused) os << "  " << f << "\n";
    for (const auto& r : plan.rejected) os << "  " << r << "\n";
    for (const auto& u : plan.in_place) os << "  " << u << "\n";
    os << "  memory plan: arena " << plan.memory.arena_bytes << " bytes (peak live " << plan.memory.peak_live_bytes
       << ", without reuse " << plan.memory.unshared_bytes << ")\n";
  }
  if (level >= 3)
    for (const auto& pk : plan.kernels) os << to_text(pk.kernel);
  return os.str();
}

}  // namespace grokjit::codegen
