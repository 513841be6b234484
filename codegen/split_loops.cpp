#include "codegen/split_loops.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace grokjit::codegen {
namespace {

// A compare, min or max of index expressions that depends on the loop
// variable v alone, through the difference of its operands
// d(v) = slope * v + offset: a compare is d < 0 (Lt) or d <= 0 (Le); a min
// or max picks its first operand or its second by the sign of d.
struct Boundary {
  ExprOp op;
  int64_t slope = 0, offset = 0;
  int64_t d(int64_t v) const { return slope * v + offset; }
  bool holds(int64_t v) const { return op == ExprOp::Lt ? d(v) < 0 : d(v) <= 0; }
};

// For a compare, min or max of index expressions, the difference of its
// operands as coefficient per atom (zeros dropped) plus *offset; false for
// any other expression.
bool operand_difference(const Kernel& k, const Expr& x, std::map<ExprId, int64_t>* terms, int64_t* offset) {
  if (x.op != ExprOp::Lt && x.op != ExprOp::Le && x.op != ExprOp::Min && x.op != ExprOp::Max) return false;
  if (k.expr(x.a).type != ScalarType::Index) return false;
  linear_terms(k, x.a, 1, *terms, offset);
  linear_terms(k, x.b, -1, *terms, offset);
  std::erase_if(*terms, [](const auto& term) { return term.second == 0; });
  return true;
}

bool boundary_of(const Kernel& k, const Expr& x, VarId v, Boundary* out) {
  std::map<ExprId, int64_t> terms;
  int64_t offset = 0, slope = 0;
  if (!operand_difference(k, x, &terms, &offset)) return false;
  for (auto [atom, coeff] : terms) {
    const Expr& a = k.expr(atom);
    if (a.op != ExprOp::Var || a.ival != v) return false;
    slope += coeff;
  }
  if (slope == 0) return false;
  *out = {x.op, slope, offset};
  return true;
}

// The first v in (0, extent) where pred(v) differs from pred(0), or 0 where
// it never does; pred must change at most once over [0, extent).
template <class Pred>
int64_t change_point(Pred pred, int64_t extent) {
  const bool first = pred(0);
  if (extent < 2 || pred(extent - 1) == first) return 0;
  int64_t same = 0, differs = extent - 1;
  while (differs - same > 1) {
    const int64_t mid = same + (differs - same) / 2;
    (pred(mid) == first ? same : differs) = mid;
  }
  return differs;
}

// The period m of a boundary that depends on v only through v mod m, as in
// rotate-half over the last axis of a loop that spans several rows of it
// (`i mod 32 < 16`): after v = r * m + j it depends on j alone. 0 if none.
int64_t period_of(const Kernel& k, const Expr& x, VarId v, int64_t extent) {
  std::map<ExprId, int64_t> terms;
  int64_t offset = 0, period = 0;
  if (!operand_difference(k, x, &terms, &offset)) return 0;
  for (auto [atom, coeff] : terms) {
    const Expr& a = k.expr(atom);
    if (a.op != ExprOp::Mod || !k.is_const(a.b) || k.expr(a.a).op != ExprOp::Var || k.expr(a.a).ival != v) return 0;
    const int64_t m = k.const_int(a.b);
    if (period != 0 && m != period) return 0;
    period = m;
  }
  return period > 1 && period < extent && extent % period == 0 ? period : 0;
}

class LoopSplitter {
 public:
  explicit LoopSplitter(Kernel& k) : k_(k) {}

  void run(std::vector<Stmt>& body) {
    std::vector<Stmt> out;
    for (Stmt& s : body) {
      if (s.kind == StmtKind::Loop) run(s.body);
      if (s.kind != StmtKind::Loop || !is_straight_line(s.body)) {
        out.push_back(std::move(s));
        continue;
      }
      for (Stmt& piece : split(s)) out.push_back(std::move(piece));
    }
    body = std::move(out);
  }

 private:
  // The loop as pieces, as a nest over its period (then pieces), or as
  // itself when nothing in it changes inside it.
  std::vector<Stmt> split(Stmt& loop) {
    // A compare changes at one point; a min or max where its operands are
    // equal may go to either side, so it is cut where another boundary is
    // cut already if it can be.
    std::set<int64_t> cuts;
    std::vector<std::pair<int64_t, int64_t>> either;  // min/max: cut at .first or .second
    int64_t period = 0;
    std::set<BufId> stored;
    for (const Stmt& s : loop.body)
      if (s.kind == StmtKind::Store) stored.insert(s.buffer);
    std::set<ExprId> seen;
    std::vector<ExprId> stack;
    for (const Stmt& s : loop.body) stack.insert(stack.end(), {s.value, s.index});
    std::vector<Stmt> pieces;
    while (!stack.empty()) {
      const ExprId e = stack.back();
      stack.pop_back();
      if (e < 0 || !seen.insert(e).second) continue;
      const Expr& x = k_.expr(e);
      // An update in place (a buffer loaded and stored) keeps one store
      // index, which the planner's in-place check requires.
      if (x.op == ExprOp::Load && stored.count(static_cast<BufId>(x.ival))) {
        pieces.push_back(std::move(loop));
        return pieces;
      }
      Boundary b;
      if (boundary_of(k_, x, loop.var, &b)) {
        if (b.op == ExprOp::Lt || b.op == ExprOp::Le) {
          if (int64_t cut = change_point([&](int64_t v) { return b.holds(v); }, loop.extent)) cuts.insert(cut);
        } else {
          int64_t below = change_point([&](int64_t v) { return b.d(v) < 0; }, loop.extent);
          int64_t above = change_point([&](int64_t v) { return b.d(v) <= 0; }, loop.extent);
          if (below || above) either.emplace_back(below ? below : above, above ? above : below);
        }
      } else if (!period) {
        period = period_of(k_, x, loop.var, loop.extent);
      }
      stack.insert(stack.end(), {x.a, x.b, x.c});
    }
    for (auto [a, b] : either)
      if (!cuts.count(a) && !cuts.count(b)) cuts.insert(b);
    if (cuts.empty() && period) {
      // v = outer * period + inner: the boundaries become boundaries of inner.
      const std::string name = k_.vars[static_cast<size_t>(loop.var)].name;  // a copy: add_var grows vars
      const VarId outer = k_.add_var(name, loop.extent / period), inner = k_.add_var(name, period);
      Substitution sub{loop.var, k_.add(k_.mul(k_.var(outer), period), k_.var(inner)), 0, loop.extent};
      Stmt nest = make_loop(inner, period, substitute(sub, loop.body));
      std::vector<Stmt> inner_pieces = split(nest);
      pieces.push_back(inner_pieces.size() > 1 ? make_loop(outer, loop.extent / period, std::move(inner_pieces))
                                               : std::move(loop));
      return pieces;
    }
    if (cuts.empty() || static_cast<int>(cuts.size()) + 1 > kMaxLoopPieces) {
      pieces.push_back(std::move(loop));
      return pieces;
    }
    cuts.insert(loop.extent);
    int64_t lo = 0;
    for (int64_t hi : cuts) {
      const VarId var = k_.add_var(k_.vars[static_cast<size_t>(loop.var)].name, hi - lo);
      Substitution sub{loop.var, k_.add(k_.var(var), k_.index(lo)), lo, hi};
      pieces.push_back(make_loop(var, hi - lo, substitute(sub, loop.body)));
      lo = hi;
    }
    return pieces;
  }

  struct Substitution {
    VarId old_var;
    ExprId replacement;  // what old_var becomes
    int64_t lo, hi;      // the values old_var takes: [lo, hi)
    std::unordered_map<ExprId, ExprId> memo{};
  };

  std::vector<Stmt> substitute(Substitution& sub, const std::vector<Stmt>& body) {
    std::vector<Stmt> out;
    for (const Stmt& s : body) {
      Stmt c = s;
      c.value = rebuild(sub, s.value);
      if (s.kind == StmtKind::Store) c.index = rebuild(sub, s.index);
      out.push_back(std::move(c));
    }
    return out;
  }

  // e with old_var replaced, rebuilt through the kernel's simplifying
  // constructors; a boundary that does not change over [lo, hi) is decided
  // outright.
  ExprId rebuild(Substitution& p, ExprId e) {
    if (e < 0) return e;
    auto it = p.memo.find(e);
    if (it != p.memo.end()) return it->second;
    const Expr x = k_.expr(e);  // a copy: the constructors below grow the expression table
    auto r = [&](ExprId id) { return rebuild(p, id); };
    ExprId out = e;
    Boundary b;
    const bool bounded = boundary_of(k_, x, p.old_var, &b);
    const bool compare = x.op == ExprOp::Lt || x.op == ExprOp::Le;
    if (bounded && compare && b.holds(p.lo) == b.holds(p.hi - 1)) {
      out = k_.constant(ScalarType::Bool, b.holds(p.lo));
    } else if (bounded && !compare && (std::max(b.d(p.lo), b.d(p.hi - 1)) <= 0 || std::min(b.d(p.lo), b.d(p.hi - 1)) >= 0)) {
      // d is linear: its sign over the piece is that at the ends (0 goes either way)
      const bool first_smaller = std::max(b.d(p.lo), b.d(p.hi - 1)) <= 0;
      out = (x.op == ExprOp::Min) == first_smaller ? r(x.a) : r(x.b);
    } else {
      switch (x.op) {
        case ExprOp::Const: case ExprOp::Local: break;
        case ExprOp::Var:
          if (x.ival == p.old_var) out = p.replacement;
          break;
        case ExprOp::Load: out = k_.load(static_cast<BufId>(x.ival), r(x.a), r(x.b)); break;
        case ExprOp::Random: out = k_.random(r(x.a), r(x.b), r(x.c), static_cast<uint32_t>(x.ival), x.type); break;
        case ExprOp::Cast: out = k_.cast(x.type, r(x.a)); break;
        case ExprOp::Select: out = k_.select(r(x.a), r(x.b), r(x.c)); break;
        default: {
          const ExprId a = r(x.a), c = is_binary(x.op) ? r(x.b) : -1;
          if (a != x.a || c != x.b) out = is_binary(x.op) ? k_.binary(x.op, a, c) : k_.unary(x.op, a);
          break;
        }
      }
    }
    p.memo.emplace(e, out);
    return out;
  }

  Kernel& k_;
};

}  // namespace

void split_loops_at_boundaries(Kernel& k) { LoopSplitter(k).run(k.body); }

}  // namespace grokjit::codegen
