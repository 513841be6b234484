#include "codegen/lower.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "codegen/split_loops.h"
#include "ir/error.h"

namespace grokjit::codegen {

bool is_dense_constant(const ir::Node& n) { return n.op == ir::Op::Constant && !n.attrs.data.empty(); }

bool is_inlinable(const ir::Node& n) {
  switch (ir::op_category(n.op)) {
    case ir::OpCategory::Unary: case ir::OpCategory::Binary: case ir::OpCategory::Compare:
    case ir::OpCategory::Ternary: case ir::OpCategory::Movement: case ir::OpCategory::Random: return true;
    case ir::OpCategory::Leaf: return n.op == ir::Op::Iota || (n.op == ir::Op::Constant && !is_dense_constant(n));
    case ir::OpCategory::Index: return n.op == ir::Op::Gather;
    default: return false;
  }
}

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

}  // namespace

// Output tiles of one parallel iteration. Packing re-reads A once per
// column tile and B once per row tile, so among tilings with enough
// iterations for the threads (target.gemm_parallel_tiles when the shape
// allows) pick the one that moves the fewest operand elements: tiles shaped
// like the output. With several threads, only among those whose busiest
// thread has at most kBalanceSlack more work than the best-balanced
// tiling's, estimated as ceil(tiles / threads) whole tiles (the threads
// claim chunks of whole tiles as they finish the previous ones; the estimate
// ignores how the chunks group the tiles and the short last tile).
void choose_gemm_tiles(const TargetInfo& target, int64_t batch, int64_t M, int64_t N, int64_t K, int64_t* tm, int64_t* tn) {
  const int64_t mr = target.gemm_mr, nr = target.gemm_nr;
  // The microkernel re-reads the tile's B block (K, or 256 when K is
  // blocked, by tile_n) once per row strip: keep it within half of a 512 KiB
  // L2 (64K elements), or the re-reads come from L3.
  const int64_t k_block = K > 512 ? 256 : std::max<int64_t>(K, 1);  // as the emitter blocks K
  const int64_t max_m = 32 * mr, max_n = std::max<int64_t>(nr, std::min<int64_t>(512, 65536 / k_block / nr * nr));
  struct Tiling {
    int64_t tm, tn, tiles;
    double packing;  // operand elements packed
    double span;     // output elements computed by the busiest thread (tiles rounded up to whole tiles)
  };
  const int64_t threads = std::max(1, target.threads);
  std::vector<Tiling> tilings;
  for (int64_t TM = 1; TM <= (M + mr - 1) / mr; ++TM) {
    int64_t cm = round_up((M + TM - 1) / TM, mr);
    if (cm > max_m || (M + cm - 1) / cm != TM) continue;
    for (int64_t TN = 1; TN <= (N + nr - 1) / nr; ++TN) {
      int64_t cn = round_up((N + TN - 1) / TN, nr);
      if (cn > max_n || (N + cn - 1) / cn != TN) continue;
      const int64_t tiles = batch * TM * TN;
      const int64_t rounds = (tiles + threads - 1) / threads;
      tilings.push_back({cm, cn, tiles, static_cast<double>(M * K * TN + N * K * TM), static_cast<double>(rounds * cm * cn)});
    }
  }
  int64_t most = 0;
  for (const Tiling& t : tilings) most = std::max(most, t.tiles);
  const int64_t need = std::min<int64_t>(std::max(1, target.gemm_parallel_tiles), most);
  double least_span = 0;
  for (const Tiling& t : tilings)
    if (t.tiles >= need && (least_span == 0 || t.span < least_span)) least_span = t.span;
  constexpr double kBalanceSlack = 0.03;
  const Tiling* best = nullptr;
  for (const Tiling& t : tilings) {
    if (t.tiles < need || (threads > 1 && t.span > least_span * (1 + kBalanceSlack))) continue;
    if (best == nullptr || t.packing < best->packing) best = &t;
  }
  *tm = best ? best->tm : 0;  // (none for an empty output)
  *tn = best ? best->tn : 0;
}

// A long K with a small output gives few output tiles, each a long serial
// K sum: too few iterations to keep the threads busy (or, cut into 8 tiles,
// tiles too small to pack efficiently). Splitting K into chunks of at most
// 1024 doubles the tiles of the weight gradients of the default model
// (K = 2048); the partial sums cost 2 S M N extra memory traffic, small
// against 2 M N K flops. (Chunks of 512, unblocked, measured slower on one
// thread.) Small products are left alone: a second kernel costs more than
// it saves.
int64_t choose_k_split(const TargetInfo&, int64_t batch, int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kMaxOutput = 64 * 1024, kMaxChunk = 1024;
  constexpr double kMinWork = 8e6;  // output elements x K
  const int64_t out = batch * M * N;
  if (K <= 512 || out > kMaxOutput || static_cast<double>(out) * static_cast<double>(K) < kMinWork) return 1;
  for (int64_t S = 2; S <= 16; S *= 2)
    if (K % S == 0 && K / S <= kMaxChunk) return S;
  return 1;
}

namespace {

using ir::NodeId;
using ir::Op;
using Idx = std::vector<ExprId>;

std::string dims_tag(const ir::Shape& s) {
  if (s.empty()) return "1";
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

ExprOp expr_op_of(Op op) {
  switch (op) {
    case Op::Neg: return ExprOp::Neg;
    case Op::Exp: return ExprOp::Exp;
    case Op::Log: return ExprOp::Log;
    case Op::Sqrt: return ExprOp::Sqrt;
    case Op::Rsqrt: return ExprOp::Rsqrt;
    case Op::Recip: return ExprOp::Recip;
    case Op::Sin: return ExprOp::Sin;
    case Op::Cos: return ExprOp::Cos;
    case Op::Abs: return ExprOp::Abs;
    case Op::Sign: return ExprOp::Sign;
    case Op::Relu: return ExprOp::Relu;
    case Op::Silu: return ExprOp::Silu;
    case Op::Sigmoid: return ExprOp::Sigmoid;
    case Op::Tanh: return ExprOp::Tanh;
    case Op::Square: return ExprOp::Square;
    case Op::Not: return ExprOp::Not;
    case Op::Add: return ExprOp::Add;
    case Op::Sub: return ExprOp::Sub;
    case Op::Mul: return ExprOp::Mul;
    case Op::Div: return ExprOp::Div;
    case Op::Max: return ExprOp::Max;
    case Op::Min: return ExprOp::Min;
    case Op::Pow: return ExprOp::Pow;
    case Op::And: return ExprOp::And;
    case Op::Or: return ExprOp::Or;
    case Op::Lt: return ExprOp::Lt;
    case Op::Le: return ExprOp::Le;
    case Op::Gt: return ExprOp::Gt;
    case Op::Ge: return ExprOp::Ge;
    case Op::Eq: return ExprOp::Eq;
    case Op::Ne: return ExprOp::Ne;
    default: throw Error("lowering: no kernel IR op for " + std::string(ir::op_name(op)));
  }
}

// Tags that make a kernel name say what it does, most telling first.
int tag_priority(Op op) {
  switch (op) {
    case Op::ScatterAdd: case Op::ReduceMax: case Op::ReduceSum: return 0;
    case Op::Exp: case Op::Log: case Op::Silu: case Op::Sigmoid: case Op::Tanh: case Op::Rsqrt: case Op::Sqrt:
    case Op::Sin: case Op::Cos: case Op::Pow: case Op::RandomUniform: case Op::Gather: return 1;
    case Op::Input: case Op::Constant: case Op::Iota: case Op::Broadcast: case Op::Reshape: case Op::Permute:
    case Op::Slice: case Op::Cast: case Op::MatMul: return 9;  // MatMul: the kind says it
    default: return 2;
  }
}

std::string tag_name(Op op) {
  switch (op) {
    case Op::ReduceSum: return "sum";
    case Op::ReduceMax: return "max";
    case Op::RandomUniform: return "rand";
    case Op::ScatterAdd: return "scatter";
    default: return std::string(ir::op_name(op));
  }
}

class GroupLowerer {
 public:
  GroupLowerer(const LowerContext& ctx, const std::vector<NodeId>& members, int group)
      : ctx_(ctx), g_(*ctx.graph), members_(members), group_(group) {}

  LoweredKernel run() {
    if (members_.empty()) throw LoweringFailure("empty group");
    std::vector<NodeId> reductions, matmuls, scatters;
    for (NodeId id : members_) {
      Op op = g_.node(id).op;
      if (op == Op::ReduceSum || op == Op::ReduceMax) reductions.push_back(id);
      if (op == Op::MatMul) matmuls.push_back(id);
      if (op == Op::ScatterAdd) scatters.push_back(id);
    }
    for (NodeId id : members_) note_computed(id);
    if (!scatters.empty()) {
      if (members_.size() != 1) throw LoweringFailure("a scatter_add kernel holds nothing else");
      lower_scatter(scatters[0]);
    } else if (!matmuls.empty()) {
      if (matmuls.size() > 1) throw LoweringFailure("two matmuls cannot share one kernel");
      if (!reductions.empty()) throw LoweringFailure("a matmul and a reduction cannot share one kernel");
      lower_matmul(matmuls[0]);
    } else if (!reductions.empty()) {
      lower_rows(reductions);
    } else {
      lower_elementwise();
    }
    Kernel& k = out_.kernel;
    for (NodeId id : computed_) k.ir_ops.push_back(ir::node_label(id, g_.node(id).op));
    if (ctx_.target.split_loops) split_loops_at_boundaries(k);
    name_tags();
    k.finalize();
    return std::move(out_);
  }

 private:
  Kernel& k() { return out_.kernel; }
  const ir::Node& node(NodeId id) const { return g_.node(id); }
  bool member(NodeId id) const { return (*ctx_.owner)[static_cast<size_t>(id)] == group_; }
  ScalarType type_of(NodeId id) const { return scalar_type_of(node(id).dtype); }

  [[noreturn]] void fail(const std::string& why) const { throw LoweringFailure(why); }

  std::string label(NodeId id) const { return ir::node_label(id, node(id).op); }

  void note_computed(NodeId id) {
    if (std::find(computed_.begin(), computed_.end(), id) == computed_.end()) {
      computed_.insert(std::upper_bound(computed_.begin(), computed_.end(), id), id);
    }
  }

  BufId buffer(int program_buffer, ScalarType type, int64_t elements) {
    auto it = buf_of_.find(program_buffer);
    if (it != buf_of_.end()) return it->second;
    BufId b = k().add_buffer(ctx_.buffer_name(program_buffer), type, elements);
    buf_of_[program_buffer] = b;
    out_.args.push_back(program_buffer);
    return b;
  }
  BufId source_buffer(NodeId id) {
    const ir::Node& n = node(id);
    return buffer(ctx_.source(id), type_of(id), ir::num_elements(n.shape));
  }

  // ---- index helpers
  ExprId linearize(const Idx& idx, const ir::Shape& s) {
    ExprId acc = k().index(0);
    int64_t stride = 1;
    for (size_t d = s.size(); d-- > 0;) {
      acc = k().add(acc, k().mul(idx[d], stride));
      stride *= s[d];
    }
    return acc;
  }
  Idx delinearize(ExprId linear, const ir::Shape& s) {
    Idx idx(s.size());
    int64_t stride = 1;
    for (size_t d = s.size(); d-- > 0;) {
      ExprId q = k().div(linear, stride);
      idx[d] = d == 0 ? q : k().mod(q, s[d]);
      if (s[d] == 1) idx[d] = k().index(0);
      stride *= s[d];
    }
    return idx;
  }

  // ---- values

  ExprId value(NodeId id, const Idx& idx) {
    auto key = std::make_pair(id, idx);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    ExprId v = compute(id, idx);
    memo_.emplace(std::move(key), v);
    return v;
  }

  bool same_point(NodeId id, const Idx& a, const Idx& b) {
    if (a == b) return true;
    const ir::Shape& s = node(id).shape;
    return linearize(a, s) == linearize(b, s);
  }

  // A per-run seed or counter (i32[R]) is read at the run index idx[0], and the
  // element number counts within the run (ir/graph.h, RandomUniform).
  ExprId random(const ir::Node& n, const Idx& idx, ScalarType t) {
    auto per_run = [&](size_t i) { return !node(n.inputs[i]).shape.empty(); };
    const bool packed = per_run(0) || per_run(1);
    auto operand = [&](size_t i) { return value(n.inputs[i], per_run(i) ? Idx{idx[0]} : Idx{}); };
    ExprId element = packed ? linearize(Idx(idx.begin() + 1, idx.end()), ir::Shape(n.shape.begin() + 1, n.shape.end()))
                            : linearize(idx, n.shape);
    return k().random(operand(0), operand(1), element, n.attrs.stream, t);
  }

  ExprId compute(NodeId id, const Idx& idx) {
    const ir::Node& n = node(id);
    const bool mine = member(id);
    if (n.op == Op::ReduceSum || n.op == Op::ReduceMax || n.op == Op::MatMul || n.op == Op::ScatterAdd) {
      if (!mine) return k().load(source_buffer(id), linearize(idx, n.shape));
      auto p = points_.find(id);
      if (p == points_.end()) fail(label(id) + " is needed where it is not computed");
      if (!same_point(id, p->second.first, idx))
        fail(label(id) + " is read at another " + (n.op == Op::MatMul ? "element" : "row") + " than the one computed");
      return p->second.second;
    }
    if (n.op == Op::Input || is_dense_constant(n) || (!mine && (*ctx_.owner)[static_cast<size_t>(id)] >= 0))
      return k().load(source_buffer(id), linearize(idx, n.shape));
    note_computed(id);
    ScalarType t = type_of(id);
    auto in = [&](size_t i) { return n.inputs[i]; };
    switch (ir::op_category(n.op)) {
      case ir::OpCategory::Unary:
        if (n.op == Op::Cast) return k().cast(t, value(in(0), idx));
        return k().unary(expr_op_of(n.op), value(in(0), idx));
      case ir::OpCategory::Binary: case ir::OpCategory::Compare:
        return k().binary(expr_op_of(n.op), value(in(0), idx), value(in(1), idx));
      case ir::OpCategory::Ternary: return k().select(value(in(0), idx), value(in(1), idx), value(in(2), idx));
      default: break;
    }
    switch (n.op) {
      case Op::Constant: return k().constant(t, n.attrs.scalar);
      case Op::Iota: return k().cast(t, idx[static_cast<size_t>(n.attrs.axis)]);
      case Op::RandomUniform: return random(n, idx, t);
      case Op::Broadcast: {
        const ir::Shape& s = node(in(0)).shape;
        Idx j = idx;
        for (size_t d = 0; d < s.size(); ++d)
          if (s[d] == 1) j[d] = k().index(0);
        return value(in(0), j);
      }
      case Op::Reshape: return value(in(0), delinearize(linearize(idx, n.shape), node(in(0)).shape));
      case Op::Permute: {
        Idx j(idx.size());
        for (size_t d = 0; d < idx.size(); ++d) j[static_cast<size_t>(n.attrs.perm[d])] = idx[d];
        return value(in(0), j);
      }
      case Op::Slice: {
        Idx j(idx.size());
        for (size_t d = 0; d < idx.size(); ++d)
          j[d] = k().add(k().index(n.attrs.starts[d]), k().mul(idx[d], n.attrs.steps[d]));
        return value(in(0), j);
      }
      case Op::Pad: {
        const ir::Shape& s = node(in(0)).shape;
        Idx j(idx.size());
        ExprId valid = k().constant(ScalarType::Bool, 1);
        for (size_t d = 0; d < idx.size(); ++d) {
          int64_t step = n.attrs.steps[d];
          ExprId t_ = k().binary(ExprOp::Sub, idx[d], k().index(n.attrs.starts[d]));
          ExprId q = k().div(t_, step);
          valid = k().binary(ExprOp::And, valid, k().binary(ExprOp::Ge, t_, k().index(0)));
          valid = k().binary(ExprOp::And, valid, k().binary(ExprOp::Lt, q, k().index(s[d])));
          if (step > 1) valid = k().binary(ExprOp::And, valid, k().binary(ExprOp::Eq, k().mod(t_, step), k().index(0)));
          j[d] = k().clamp(q, 0, s[d] - 1);
        }
        ExprId inner = value(in(0), j);
        return k().select(valid, inner, k().constant(t, 0));
      }
      case Op::Concat: {
        size_t axis = static_cast<size_t>(n.attrs.axis);
        ExprId x = idx[axis];
        Range r = k().range(x);
        std::vector<std::pair<int64_t, ExprId>> parts;  // (end offset, value)
        int64_t offset = 0;
        for (NodeId part : n.inputs) {
          int64_t len = node(part).shape[axis];
          if (r.hi >= offset && r.lo < offset + len) {  // this part can be hit
            Idx j = idx;
            j[axis] = k().clamp(k().binary(ExprOp::Sub, x, k().index(offset)), 0, len - 1);
            parts.push_back({offset + len, value(part, j)});
          }
          offset += len;
        }
        if (parts.empty()) fail(label(id) + ": index out of range");
        ExprId v = parts.back().second;
        for (size_t i = parts.size() - 1; i-- > 0;)
          v = k().select(k().binary(ExprOp::Lt, x, k().index(parts[i].first)), parts[i].second, v);
        return v;
      }
      case Op::Gather: {
        const ir::Shape& table = node(in(0)).shape;
        const ir::Shape& ishape = node(in(1)).shape;
        Idx outer(idx.begin(), idx.begin() + static_cast<int64_t>(ishape.size()));
        ExprId row = k().cast(ScalarType::Index, value(in(1), outer));
        ExprId valid = k().binary(ExprOp::And, k().binary(ExprOp::Ge, row, k().index(0)),
                                  k().binary(ExprOp::Lt, row, k().index(table[0])));
        Idx j{k().clamp(row, 0, table[0] - 1)};
        j.insert(j.end(), idx.begin() + static_cast<int64_t>(ishape.size()), idx.end());
        return k().select(valid, value(in(0), j), k().constant(t, 0));
      }
      default: break;
    }
    fail("cannot inline " + label(id));
  }

  // Stores every stored member in `order` at `linear` (their own row-major
  // index): all values first (Let), then the stores, so a member written in
  // place over a buffer it reads never sees its own writes.
  void store_members(std::vector<Stmt>& body, const std::vector<NodeId>& order, ExprId linear,
                     const std::function<Idx(NodeId)>& coords) {
    std::vector<std::pair<NodeId, LocalId>> values;
    for (NodeId id : order) {
      if (ctx_.destinations(id).empty()) continue;
      LocalId l = k().add_local("v", type_of(id));
      body.push_back(make_let(l, value(id, coords(id))));
      values.push_back({id, l});
    }
    for (auto [id, l] : values)
      for (int dst : ctx_.destinations(id))
        body.push_back(make_store(buffer(dst, type_of(id), ir::num_elements(node(id).shape)), linear, k().local(l)));
  }

  std::vector<NodeId> stored_members() const {
    std::vector<NodeId> r;
    for (NodeId id : members_)
      if (!ctx_.destinations(id).empty()) r.push_back(id);
    return r;
  }

  // ---- E: elementwise
  void lower_elementwise() {
    std::vector<NodeId> stored = stored_members();
    if (stored.empty()) fail("the group stores nothing");
    const ir::Shape& ref = node(stored[0]).shape;
    int64_t total = ir::num_elements(ref);
    for (NodeId id : stored)
      if (ir::num_elements(node(id).shape) != total)
        fail(label(id) + " has " + ir::shape_str(node(id).shape) + ", the kernel iterates over " + ir::shape_str(ref));
    // Inner serial loop over trailing dims (at least 64 elements when the
    // shape allows), parallel over the rest.
    int64_t inner = ref.empty() ? 1 : ref.back();
    for (size_t d = ref.size() - (ref.empty() ? 0 : 1); d-- > 0 && inner < 64;) inner *= ref[d];
    if (total == inner && inner >= 16384) {
      for (int64_t c = 8192; c >= 1024; c /= 2)
        if (inner % c == 0) { inner = c; break; }
    }
    int64_t outer = inner ? total / inner : 0;
    k().kind = "E";
    k().shape_tag = dims_tag(ref);
    VarId p = k().add_var("p", outer);
    k().parallel_var = p;
    k().parallel_extent = outer;
    auto coords_at = [&](ExprId linear) { return [this, linear](NodeId id) { return delinearize(linear, node(id).shape); }; };
    if (inner == 1) {
      ExprId linear = k().var(p);
      store_members(k().body, stored, linear, coords_at(linear));
    } else {
      VarId c = k().add_var("i", inner);
      ExprId linear = k().add(k().mul(k().var(p), inner), k().var(c));
      std::vector<Stmt> body;
      store_members(body, stored, linear, coords_at(linear));
      k().body.push_back(make_loop(c, inner, std::move(body)));
    }
  }

  // ---- R: rows with reductions
  struct RowSpace {
    ir::Shape in_shape;
    std::vector<int64_t> axes;
    int64_t rows = 1, cols = 1;
    bool trailing = true;
  };

  RowSpace row_space(NodeId red) const {
    const ir::Node& n = node(red);
    RowSpace r;
    r.in_shape = node(n.inputs[0]).shape;
    r.axes = n.attrs.axes;
    std::sort(r.axes.begin(), r.axes.end());
    for (size_t d = 0; d < r.in_shape.size(); ++d) {
      bool reduced = std::binary_search(r.axes.begin(), r.axes.end(), static_cast<int64_t>(d));
      (reduced ? r.cols : r.rows) *= r.in_shape[d];
    }
    for (size_t i = 0; i < r.axes.size(); ++i)
      if (r.axes[i] != static_cast<int64_t>(r.in_shape.size() - r.axes.size() + i)) r.trailing = false;
    return r;
  }

  // Coordinates in shape `s` of element (row p, column c) of the row space.
  Idx full_coords(const ir::Shape& s, ExprId p, ExprId c, NodeId who) {
    if (s == ref_.in_shape) {
      ir::Shape kept, reduced;
      std::vector<size_t> kept_pos, red_pos;
      for (size_t d = 0; d < s.size(); ++d) {
        bool r = std::binary_search(ref_.axes.begin(), ref_.axes.end(), static_cast<int64_t>(d));
        (r ? reduced : kept).push_back(s[d]);
        (r ? red_pos : kept_pos).push_back(d);
      }
      Idx ki = delinearize(p, kept), ri = delinearize(c, reduced), idx(s.size());
      for (size_t i = 0; i < kept_pos.size(); ++i) idx[kept_pos[i]] = ki[i];
      for (size_t i = 0; i < red_pos.size(); ++i) idx[red_pos[i]] = ri[i];
      return idx;
    }
    if (ref_.trailing && ir::num_elements(s) == ref_.rows * ref_.cols)
      return delinearize(k().add(k().mul(p, ref_.cols), c), s);
    fail(label(who) + " (" + ir::shape_str(s) + ") does not fit the rows of " + ir::shape_str(ref_.in_shape));
  }

  void lower_rows(const std::vector<NodeId>& reductions) {
    ref_ = row_space(reductions[0]);
    for (NodeId r : reductions) {
      RowSpace rs = row_space(r);
      bool same = rs.in_shape == ref_.in_shape && rs.axes == ref_.axes;
      bool compatible = rs.trailing && ref_.trailing && rs.rows == ref_.rows && rs.cols == ref_.cols;
      if (!same && !compatible)
        fail(label(r) + " reduces " + ir::shape_str(rs.in_shape) + " over other rows than " + label(reductions[0]));
    }
    k().kind = "R";
    k().shape_tag = std::to_string(ref_.rows) + "x" + std::to_string(ref_.cols);
    if (!ref_.trailing) {
      lower_columns(reductions);
      return;
    }
    VarId pv = k().add_var("row", ref_.rows);
    k().parallel_var = pv;
    k().parallel_extent = ref_.rows;
    ExprId p = k().var(pv);
    for (NodeId r : reductions) {
      const ir::Node& n = node(r);
      VarId c = k().add_var("j", ref_.cols);
      ExprId term = value(n.inputs[0], full_coords(node(n.inputs[0]).shape, p, k().var(c), r));
      ReduceOp op = n.op == Op::ReduceSum ? ReduceOp::Sum : ReduceOp::Max;
      LocalId l = k().add_local(op == ReduceOp::Sum ? "sum" : "max", type_of(r));
      k().body.push_back(make_reduce(l, op, c, ref_.cols, term));
      points_[r] = {delinearize(p, n.shape), k().local(l)};
    }
    std::vector<NodeId> row_level, full;
    for (NodeId id : stored_members()) {
      int64_t count = ir::num_elements(node(id).shape);
      if (count == ref_.rows) row_level.push_back(id);
      else if (count == ref_.rows * ref_.cols) full.push_back(id);
      else fail(label(id) + " (" + ir::shape_str(node(id).shape) + ") is neither a row nor a full tensor of the rows of " +
                ir::shape_str(ref_.in_shape));
    }
    store_members(k().body, row_level, p, [&](NodeId id) { return delinearize(p, node(id).shape); });
    if (!full.empty()) {
      VarId c = k().add_var("j", ref_.cols);
      ExprId cv = k().var(c);
      std::vector<Stmt> body;
      // Full members are stored at their row-major index; for reductions
      // over non-trailing axes that is computed from their coordinates.
      std::vector<Stmt> lets;
      for (NodeId id : full) {
        ir::Shape s = node(id).shape;
        Idx coords = full_coords(s, p, cv, id);
        std::vector<Stmt> one;
        store_members(one, {id}, linearize(coords, s), [&](NodeId) { return coords; });
        for (auto& st : one) (st.kind == StmtKind::Let ? lets : body).push_back(std::move(st));
      }
      lets.insert(lets.end(), std::make_move_iterator(body.begin()), std::make_move_iterator(body.end()));
      k().body.push_back(make_loop(c, ref_.cols, std::move(lets)));
    }
  }

  // Reductions over leading axes ("columns": a sum over the batch, say).
  // Walking one column at a time would read memory with a large stride, so
  // each parallel iteration takes a block of adjacent columns and, row after
  // row, adds a contiguous strip into a buffer of per-column accumulators:
  //   acc[col] = init;  for r: for col in block: acc[col] = acc[col] (+) term(r, col)
  // Each column still sums its rows in order: the same result as one at a time.
  void lower_columns(const std::vector<NodeId>& reductions) {
    for (NodeId r : reductions) {
      RowSpace rs = row_space(r);
      if (rs.in_shape != ref_.in_shape || rs.axes != ref_.axes) fail(label(r) + " does not reduce like " + label(reductions[0]));
    }
    std::vector<NodeId> row_level;
    for (NodeId id : stored_members()) {
      if (ir::num_elements(node(id).shape) != ref_.rows)
        fail(label(id) + " (" + ir::shape_str(node(id).shape) + ") is not a column result of the column reduction " + label(reductions[0]));
      row_level.push_back(id);
    }
    // Columns per iteration: the largest divisor of the column count up to
    // 64 that leaves at least 4 iterations, else the largest up to 64.
    int64_t block = 0;
    for (int64_t b = std::min<int64_t>(ref_.rows, 64); b >= 1 && !block; --b)
      if (ref_.rows % b == 0 && ref_.rows / b >= 4) block = b;
    for (int64_t b = std::min<int64_t>(ref_.rows, 64); b >= 1 && !block; --b)
      if (ref_.rows % b == 0) block = b;
    VarId pv = k().add_var("block", ref_.rows / block);
    k().parallel_var = pv;
    k().parallel_extent = ref_.rows / block;
    ExprId base = k().mul(k().var(pv), block);
    std::vector<BufId> accumulators;
    for (NodeId r : reductions) {
      const ir::Node& n = node(r);
      ScalarType t = type_of(r);
      bool is_sum = n.op == Op::ReduceSum;
      std::vector<int> dst = ctx_.destinations(r);
      BufId acc = buffer(dst.empty() ? ctx_.scratch(r) : dst[0], t, ref_.rows);
      double init = is_sum ? 0.0 : is_float(t) ? -std::numeric_limits<double>::infinity() : std::numeric_limits<int32_t>::min();
      VarId c0 = k().add_var("c", block);
      ExprId col0 = k().add(base, k().var(c0));
      k().body.push_back(make_loop(c0, block, {make_store(acc, col0, k().constant(t, init))}));
      VarId rv = k().add_var("r", ref_.cols), c1 = k().add_var("c", block);
      ExprId col = k().add(base, k().var(c1));
      for (size_t i = 0; i < accumulators.size(); ++i)  // earlier reductions, at this column
        points_[reductions[i]] = {delinearize(col, node(reductions[i]).shape), k().load(accumulators[i], col)};
      ExprId term = value(n.inputs[0], full_coords(node(n.inputs[0]).shape, col, k().var(rv), r));
      ExprId old = k().load(acc, col);
      ExprId next = is_sum ? k().binary(ExprOp::Add, old, term)
                           : k().select(k().binary(ExprOp::Or, k().binary(ExprOp::Gt, term, old), k().binary(ExprOp::Ne, term, term)),
                                        term, old);
      k().body.push_back(make_loop(rv, ref_.cols, {make_loop(c1, block, {make_store(acc, col, next)})}));
      accumulators.push_back(acc);
      for (size_t e = 1; e < dst.size(); ++e) row_level.push_back(r);  // copies to extra destinations below
    }
    // After the sweeps a reduction's value at a column is its accumulator.
    VarId c = k().add_var("c", block);
    ExprId colv = k().add(base, k().var(c));
    for (size_t i = 0; i < reductions.size(); ++i)
      points_[reductions[i]] = {delinearize(colv, node(reductions[i]).shape), k().load(accumulators[i], colv)};
    std::vector<Stmt> body;
    std::vector<NodeId> out;
    for (NodeId id : row_level)
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    // A stored reduction is already in place in its first destination.
    std::vector<std::pair<NodeId, LocalId>> values;
    for (NodeId id : out) {
      LocalId l = k().add_local("v", type_of(id));
      body.push_back(make_let(l, value(id, delinearize(colv, node(id).shape))));
      values.push_back({id, l});
    }
    for (auto [id, l] : values) {
      std::vector<int> dst = ctx_.destinations(id);
      bool is_red = std::find(reductions.begin(), reductions.end(), id) != reductions.end();
      for (size_t e = is_red ? 1 : 0; e < dst.size(); ++e)
        body.push_back(make_store(buffer(dst[e], type_of(id), ir::num_elements(node(id).shape)), colv, k().local(l)));
    }
    if (!body.empty()) k().body.push_back(make_loop(c, block, std::move(body)));
  }

  // ---- MM: matmul tile with prologue and epilogue
  void lower_matmul(NodeId mm) {
    const ir::Node& n = node(mm);
    const ir::Shape& s = n.shape;
    size_t r = s.size();
    ir::Shape batch_shape(s.begin(), s.end() - 2);
    int64_t B = ir::num_elements(batch_shape), M = s[r - 2], N = s[r - 1], K = node(n.inputs[0]).shape[r - 1];
    if (!is_float(type_of(mm))) fail(label(mm) + ": integer matmul is not supported by the code generator");
    const bool as_loops = ctx_.target.small_matmuls_as_loops && is_small_matmul(B, M, N, K);
    int64_t tile_m = M, tile_n = N;
    if (!as_loops) choose_gemm_tiles(ctx_.target, B, M, N, K, &tile_m, &tile_n);
    int64_t TM = (M + tile_m - 1) / tile_m, TN = (N + tile_n - 1) / tile_n;
    k().kind = B > 1 ? "BMM" : "MM";
    k().shape_tag = (B > 1 ? std::to_string(B) + "x" : "") + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
    VarId pv = k().add_var(as_loops ? "batch" : "tile", B * TM * TN);
    k().parallel_var = pv;
    k().parallel_extent = B * TM * TN;
    ExprId p = k().var(pv);
    Idx batch = delinearize(k().div(p, TM * TN), batch_shape);
    const VarId mv = k().add_var("m", M), nv = k().add_var("n", N), kv = k().add_var("k", K);
    ExprId m = k().var(mv), nn = k().var(nv), kk = k().var(kv);
    Idx ai = batch, bidx = batch, ci = batch;
    ai.insert(ai.end(), {m, kk});
    bidx.insert(bidx.end(), {kk, nn});
    ci.insert(ci.end(), {m, nn});
    const ExprId a = value(n.inputs[0], ai), b = value(n.inputs[1], bidx);
    const ScalarType type = type_of(mm);
    if (k().expr(a).type != type || k().expr(b).type != type) fail(label(mm) + ": operand types differ");
    const LocalId acc = k().add_local("acc", type);
    points_[mm] = {ci, k().local(acc)};
    ExprId linear = linearize(ci, s);
    std::vector<NodeId> stored = stored_members();
    for (NodeId id : stored)
      if (ir::num_elements(node(id).shape) != B * M * N)
        fail(label(id) + " (" + ir::shape_str(node(id).shape) + ") is not an epilogue of " + label(mm) + " " + ir::shape_str(s));
    std::vector<Stmt> epilogue;
    store_members(epilogue, stored, linear, [&](NodeId id) { return delinearize(linear, node(id).shape); });
    if (as_loops) {
      // for m, for n: acc = sum over k of a * b, then the epilogue.
      epilogue.insert(epilogue.begin(), make_reduce(acc, ReduceOp::Sum, kv, K, k().binary(ExprOp::Mul, a, b)));
      k().body.push_back(make_loop(mv, M, {make_loop(nv, N, std::move(epilogue))}));
      return;
    }
    GemmSpec gs;
    gs.M = M; gs.N = N; gs.K = K;
    gs.tile_m = tile_m; gs.tile_n = tile_n;
    // Row tiles vary fastest: consecutive iterations share the B tile.
    gs.m0 = k().mul(k().mod(p, TM), tile_m);
    gs.n0 = k().mul(k().mod(k().div(p, TM), TN), tile_n);
    gs.b_key = k().div(p, TM);
    gs.m = mv; gs.n = nv; gs.k = kv;
    gs.a = a; gs.b = b;
    gs.acc = acc;
    gs.type = type;
    Stmt st(StmtKind::Gemm);
    st.gemm = gs;
    st.body = std::move(epilogue);
    k().body.push_back(std::move(st));
  }

  // ---- S: scatter-add, deterministic: each column block walks the indices in order
  void lower_scatter(NodeId sa) {
    const ir::Node& n = node(sa);
    const ir::Shape& ishape = node(n.inputs[0]).shape;
    const ir::Shape& s = n.shape;
    int64_t V = s[0];
    ir::Shape dshape(s.begin() + 1, s.end());
    int64_t D = ir::num_elements(dshape), I = ir::num_elements(ishape);
    int64_t block = 1;
    for (int64_t b = std::min<int64_t>(D, 64); b >= 1; --b)
      if (D % b == 0) { block = b; break; }
    std::vector<int> dst = ctx_.destinations(sa);
    if (dst.empty()) fail(label(sa) + " is not stored");
    k().kind = "S";
    k().shape_tag = std::to_string(I) + "x" + std::to_string(D) + "to" + std::to_string(V);
    VarId pv = k().add_var("col", D / block);
    k().parallel_var = pv;
    k().parallel_extent = D / block;
    ExprId p = k().var(pv);
    ScalarType t = type_of(sa);
    BufId out = buffer(dst[0], t, ir::num_elements(s));
    // zero this column block of every row
    {
      VarId v = k().add_var("v", V), j = k().add_var("c", block);
      ExprId col = k().add(k().mul(p, block), k().var(j));
      ExprId at = k().add(k().mul(k().var(v), D), col);
      k().body.push_back(make_loop(v, V, {make_loop(j, block, {make_store(out, at, k().constant(t, 0))})}));
    }
    VarId i = k().add_var("i", I), j = k().add_var("c", block);
    Idx outer = delinearize(k().var(i), ishape);
    LocalId row = k().add_local("row", ScalarType::Index);
    std::vector<Stmt> body;
    body.push_back(make_let(row, k().cast(ScalarType::Index, value(n.inputs[0], outer))));
    ExprId rv = k().local(row);
    ExprId valid = k().binary(ExprOp::And, k().binary(ExprOp::Ge, rv, k().index(0)), k().binary(ExprOp::Lt, rv, k().index(V)));
    ExprId col = k().add(k().mul(p, block), k().var(j));
    Idx ui = outer;
    for (ExprId e : delinearize(col, dshape)) ui.push_back(e);
    ExprId at = k().add(k().mul(k().clamp(rv, 0, V - 1), D), col);
    ExprId upd = value(n.inputs[1], ui);
    ExprId sum = k().binary(ExprOp::Add, k().load(out, at), upd);
    // An index out of range adds nothing (the interpreter throws there).
    ExprId keep = k().select(valid, sum, k().load(out, at));
    body.push_back(make_loop(j, block, {make_store(out, at, keep)}));
    k().body.push_back(make_loop(i, I, std::move(body)));
    for (size_t e = 1; e < dst.size(); ++e) {  // extra destinations: copy the finished block
      VarId v = k().add_var("v", V), jj = k().add_var("c", block);
      ExprId at2 = k().add(k().mul(k().var(v), D), k().add(k().mul(p, block), k().var(jj)));
      k().body.push_back(make_loop(v, V, {make_loop(jj, block, {make_store(buffer(dst[e], t, ir::num_elements(s)), at2, k().load(out, at2))})}));
    }
  }

  void name_tags() {
    std::vector<std::pair<int, std::string>> tags;  // (priority, tag) in node order
    std::set<std::string> seen;
    for (NodeId id : computed_) {
      Op op = node(id).op;
      std::string t = tag_name(op);
      if (tag_priority(op) >= 9 || !seen.insert(t).second) continue;
      tags.push_back({tag_priority(op), t});
    }
    std::vector<std::pair<int, std::string>> best = tags;
    std::stable_sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (best.size() > 3) best.resize(3);
    for (const auto& t : tags)
      if (std::find(best.begin(), best.end(), t) != best.end()) k().op_tags.push_back(t.second);
    if (k().op_tags.empty() && k().kind == "E") k().op_tags.push_back("copy");
  }

  const LowerContext& ctx_;
  const ir::Graph& g_;
  std::vector<NodeId> members_;
  int group_;
  LoweredKernel out_;
  std::map<int, BufId> buf_of_;
  std::map<std::pair<NodeId, Idx>, ExprId> memo_;
  std::map<NodeId, std::pair<Idx, ExprId>> points_;  // where a member is available, and its value there
  std::vector<NodeId> computed_;
  RowSpace ref_;
};

}  // namespace

bool is_small_matmul(int64_t batch, int64_t M, int64_t N, int64_t K) {
  return batch >= 16 && M <= 8 && (N <= 8 || (K <= 8 && N <= 1024));
}

LoweredKernel lower_group(const LowerContext& ctx, const std::vector<ir::NodeId>& members, int group) {
  return GroupLowerer(ctx, members, group).run();
}

}  // namespace grokjit::codegen
