#include "codegen/kernel_ir.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/SHA256.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "ir/error.h"

namespace grokjit::codegen {

// ---------------------------------------------------------------- types

std::string_view scalar_type_name(ScalarType t) {
  switch (t) {
    case ScalarType::F32: return "f32";
    case ScalarType::F64: return "f64";
    case ScalarType::I32: return "i32";
    case ScalarType::Bool: return "bool";
    case ScalarType::Index: return "index";
  }
  return "?";
}

ScalarType scalar_type_of(ir::DType t) {
  switch (t) {
    case ir::DType::F32: return ScalarType::F32;
    case ir::DType::F64: return ScalarType::F64;
    case ir::DType::I32: return ScalarType::I32;
    case ir::DType::Bool: return ScalarType::Bool;
  }
  return ScalarType::F32;
}

size_t storage_bytes(ScalarType t) {
  switch (t) {
    case ScalarType::F32: return 4;
    case ScalarType::F64: return 8;
    case ScalarType::I32: return 4;
    case ScalarType::Bool: return 1;
    case ScalarType::Index: return 8;
  }
  return 0;
}

bool is_float(ScalarType t) { return t == ScalarType::F32 || t == ScalarType::F64; }

std::string_view expr_op_name(ExprOp op) {
  switch (op) {
#define GROKJIT_X(name) \
  case ExprOp::name: return #name;
    GROKJIT_KIR_EXPR_OPS(GROKJIT_X)
#undef GROKJIT_X
  }
  return "?";
}

bool is_unary(ExprOp op) { return op >= ExprOp::Neg && op <= ExprOp::Cast; }
bool is_binary(ExprOp op) { return op >= ExprOp::Add && op <= ExprOp::Ne; }
bool is_compare(ExprOp op) { return op >= ExprOp::Lt && op <= ExprOp::Ne; }
bool is_transcendental(ExprOp op) {
  switch (op) {
    case ExprOp::Exp: case ExprOp::Log: case ExprOp::Sin: case ExprOp::Cos: case ExprOp::Silu:
    case ExprOp::Sigmoid: case ExprOp::Tanh: case ExprOp::Pow: return true;
    default: return false;
  }
}

std::string_view reduce_op_name(ReduceOp op) { return op == ReduceOp::Sum ? "sum" : "max"; }

bool Expr::operator==(const Expr& o) const {
  return op == o.op && type == o.type && a == o.a && b == o.b && c == o.c && ival == o.ival &&
         std::bit_cast<uint64_t>(fval) == std::bit_cast<uint64_t>(o.fval);
}

size_t Kernel::ExprHash::operator()(const Expr& e) const {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ULL; };
  mix(static_cast<uint64_t>(e.op));
  mix(static_cast<uint64_t>(e.type));
  mix(static_cast<uint64_t>(static_cast<uint32_t>(e.a)));
  mix(static_cast<uint64_t>(static_cast<uint32_t>(e.b)));
  mix(static_cast<uint64_t>(static_cast<uint32_t>(e.c)));
  mix(static_cast<uint64_t>(e.ival));
  mix(std::bit_cast<uint64_t>(e.fval));
  return static_cast<size_t>(h);
}

// ---------------------------------------------------------------- building

BufId Kernel::add_buffer(std::string n, ScalarType type, int64_t elements) {
  buffers.push_back({std::move(n), type, elements, false, false});
  return static_cast<BufId>(buffers.size() - 1);
}

VarId Kernel::add_var(std::string n, int64_t extent) {
  vars.push_back({std::move(n), extent});
  return static_cast<VarId>(vars.size() - 1);
}

LocalId Kernel::add_local(std::string n, ScalarType type) {
  locals.push_back({std::move(n), type});
  return static_cast<LocalId>(locals.size() - 1);
}

namespace {

constexpr int64_t kBig = std::numeric_limits<int64_t>::max() / 4;

int64_t sat(__int128 v) {
  if (v > kBig) return kBig;
  if (v < -kBig) return -kBig;
  return static_cast<int64_t>(v);
}

int64_t floor_div(int64_t a, int64_t d) {
  int64_t q = a / d;
  if ((a % d != 0) && ((a < 0) != (d < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t d) { return a - floor_div(a, d) * d; }

bool is_int_type(ScalarType t) { return t == ScalarType::Index || t == ScalarType::I32; }

}  // namespace

Range Kernel::compute_range(const Expr& e) const {
  auto r = [&](ExprId id) { return range(id); };
  switch (e.type) {
    case ScalarType::Bool: {
      if (e.op == ExprOp::Const) return {e.ival, e.ival};
      return {0, 1};
    }
    case ScalarType::F32: case ScalarType::F64: return {-kBig, kBig};
    default: break;
  }
  const Range full = e.type == ScalarType::I32 ? Range{std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}
                                              : Range{-kBig, kBig};
  switch (e.op) {
    case ExprOp::Const: return {e.ival, e.ival};
    case ExprOp::Var: return {0, std::max<int64_t>(0, vars[static_cast<size_t>(e.ival)].extent - 1)};
    case ExprOp::Add: return {sat(static_cast<__int128>(r(e.a).lo) + r(e.b).lo), sat(static_cast<__int128>(r(e.a).hi) + r(e.b).hi)};
    case ExprOp::Sub: return {sat(static_cast<__int128>(r(e.a).lo) - r(e.b).hi), sat(static_cast<__int128>(r(e.a).hi) - r(e.b).lo)};
    case ExprOp::Mul: {
      Range x = r(e.a), y = r(e.b);
      __int128 c[4] = {static_cast<__int128>(x.lo) * y.lo, static_cast<__int128>(x.lo) * y.hi,
                       static_cast<__int128>(x.hi) * y.lo, static_cast<__int128>(x.hi) * y.hi};
      return {sat(*std::min_element(c, c + 4)), sat(*std::max_element(c, c + 4))};
    }
    case ExprOp::Div: {
      Range x = r(e.a), y = r(e.b);
      if (y.lo == y.hi && y.lo > 0) return {floor_div(x.lo, y.lo), floor_div(x.hi, y.lo)};
      return full;
    }
    case ExprOp::Mod: {
      Range x = r(e.a), y = r(e.b);
      if (y.lo == y.hi && y.lo > 0) {
        if (x.lo >= 0 && x.hi < y.lo) return x;
        return {0, y.lo - 1};
      }
      return full;
    }
    case ExprOp::Min: return {std::min(r(e.a).lo, r(e.b).lo), std::min(r(e.a).hi, r(e.b).hi)};
    case ExprOp::Max: return {std::max(r(e.a).lo, r(e.b).lo), std::max(r(e.a).hi, r(e.b).hi)};
    case ExprOp::Select: return {std::min(r(e.b).lo, r(e.c).lo), std::max(r(e.b).hi, r(e.c).hi)};
    case ExprOp::Cast: {
      const Expr& x = expr(e.a);
      if (is_int_type(x.type) || x.type == ScalarType::Bool) return r(e.a);
      return full;
    }
    default: return full;
  }
}

ExprId Kernel::intern(Expr e) {
  auto it = interned_.find(e);
  if (it != interned_.end()) return it->second;
  ExprId id = static_cast<ExprId>(exprs_.size());
  exprs_.push_back(e);
  ranges_.push_back(compute_range(e));
  interned_.emplace(e, id);
  return id;
}

ExprId Kernel::constant(ScalarType t, double v) {
  Expr e{ExprOp::Const, t};
  if (is_float(t)) {
    e.fval = t == ScalarType::F32 ? static_cast<double>(static_cast<float>(v)) : v;
    if (e.fval == 0) e.fval = std::signbit(e.fval) ? -0.0 : 0.0;
  } else if (t == ScalarType::Bool) {
    e.ival = v != 0 ? 1 : 0;
  } else {
    e.ival = static_cast<int64_t>(v);
    if (t == ScalarType::I32) e.ival = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(v)));
  }
  return intern(e);
}

ExprId Kernel::var(VarId v) {
  if (vars.at(static_cast<size_t>(v)).extent == 1) return index(0);  // a loop of one: always 0
  Expr e{ExprOp::Var, ScalarType::Index};
  e.ival = v;
  return intern(e);
}

ExprId Kernel::local(LocalId l) {
  Expr e{ExprOp::Local, locals.at(static_cast<size_t>(l)).type};
  e.ival = l;
  return intern(e);
}

ExprId Kernel::load(BufId b, ExprId idx, ExprId mask) {
  if (mask >= 0 && is_const(mask)) {
    if (const_int(mask) == 0) return constant(buffers.at(static_cast<size_t>(b)).type, 0);
    mask = -1;
  }
  Expr e{ExprOp::Load, buffers.at(static_cast<size_t>(b)).type, idx, mask};
  e.ival = b;
  return intern(e);
}

ExprId Kernel::random(ExprId seed, ExprId counter, ExprId element, uint32_t stream, ScalarType t) {
  Expr e{ExprOp::Random, t, seed, counter, element};
  e.ival = stream;
  return intern(e);
}

ExprId Kernel::unary(ExprOp op, ExprId a) {
  // silu(x) = x * sigmoid(x): spelled out, so it shares sigmoid(x) with a
  // sigmoid of the same value (the backward pass needs both).
  if (op == ExprOp::Silu) return binary(ExprOp::Mul, a, unary(ExprOp::Sigmoid, a));
  const Expr& x = expr(a);
  if (op == ExprOp::Not && x.op == ExprOp::Const) return constant(ScalarType::Bool, x.ival == 0);
  if (op == ExprOp::Not && x.op == ExprOp::Not) return x.a;
  Expr e{op, x.type, a};
  return intern(e);
}

ExprId Kernel::cast(ScalarType to, ExprId a) {
  const Expr& x = expr(a);
  if (x.type == to) return a;
  if (x.op == ExprOp::Const && !is_float(x.type) && !is_float(to)) {
    if (to == ScalarType::Bool) return constant(to, x.ival != 0);
    return constant(to, static_cast<double>(x.ival));
  }
  Expr e{ExprOp::Cast, to, a};
  return intern(e);
}

ExprId Kernel::select(ExprId cond, ExprId a, ExprId b) {
  if (is_const(cond)) return const_int(cond) ? a : b;
  if (a == b) return a;
  Expr e{ExprOp::Select, expr(a).type, cond, a, b};
  return intern(e);
}

ExprId Kernel::clamp(ExprId a, int64_t lo, int64_t hi) {
  return binary(ExprOp::Min, binary(ExprOp::Max, a, index(lo)), index(hi));
}

// ---- index simplification on linear forms: sum of coeff * atom + constant.

namespace {

struct Lin {
  int64_t c = 0;
  std::vector<std::pair<ExprId, int64_t>> terms;  // sorted by atom id, no zero coefficients

  void add_term(ExprId atom, int64_t k) {
    auto it = std::lower_bound(terms.begin(), terms.end(), atom, [](const auto& t, ExprId a) { return t.first < a; });
    if (it != terms.end() && it->first == atom) {
      it->second += k;
      if (it->second == 0) terms.erase(it);
    } else if (k != 0) {
      terms.insert(it, {atom, k});
    }
  }
  void add(const Lin& o, int64_t scale = 1) {
    c += o.c * scale;
    for (auto [a, k] : o.terms) add_term(a, k * scale);
  }
};

}  // namespace

ExprId Kernel::simplify_index(ExprOp op, ExprId a, ExprId b) {
  // Decompose into a linear form (Add nodes and multiplications by constants).
  std::function<void(ExprId, int64_t, Lin&)> to_lin = [&](ExprId e, int64_t scale, Lin& out) {
    const Expr& x = expr(e);
    if (x.op == ExprOp::Const) { out.c += x.ival * scale; return; }
    if (x.op == ExprOp::Add) { to_lin(x.a, scale, out); to_lin(x.b, scale, out); return; }
    if (x.op == ExprOp::Mul && is_const(x.b)) { to_lin(x.a, scale * const_int(x.b), out); return; }
    out.add_term(e, scale);
  };
  auto raw = [&](ExprOp o, ExprId x, ExprId y) { return intern(Expr{o, ScalarType::Index, x, y}); };
  auto from_lin = [&](const Lin& l) {
    ExprId acc = -1;
    for (auto [atom, k] : l.terms) {
      ExprId t = k == 1 ? atom : raw(ExprOp::Mul, atom, index(k));
      acc = acc < 0 ? t : raw(ExprOp::Add, acc, t);
    }
    if (acc < 0) return index(l.c);
    return l.c == 0 ? acc : raw(ExprOp::Add, acc, index(l.c));
  };
  // (x / d) * (k * d) + (x mod d) * k  ->  x * k
  auto recombine = [&](Lin& l) {
    for (bool changed = true; changed;) {
      changed = false;
      for (auto [atom, k] : l.terms) {
        const Expr& m = expr(atom);
        if (m.op != ExprOp::Mod || !is_const(m.b)) continue;
        int64_t d = const_int(m.b);
        ExprId quotient = raw(ExprOp::Div, m.a, m.b);  // interned: finds the existing node if any
        auto it = std::find_if(l.terms.begin(), l.terms.end(), [&](const auto& t) { return t.first == quotient; });
        if (it == l.terms.end() || it->second != k * d) continue;
        l.add_term(quotient, -k * d);
        l.add_term(atom, -k);
        Lin x;
        to_lin(m.a, k, x);
        l.add(x);
        changed = true;
        break;
      }
    }
  };

  Lin la, lb;
  to_lin(a, 1, la);
  to_lin(b, 1, lb);
  switch (op) {
    case ExprOp::Add: case ExprOp::Sub: {
      la.add(lb, op == ExprOp::Add ? 1 : -1);
      recombine(la);
      return from_lin(la);
    }
    case ExprOp::Mul: {
      if (lb.terms.empty()) { Lin r; r.add(la, lb.c); return from_lin(r); }
      if (la.terms.empty()) { Lin r; r.add(lb, la.c); return from_lin(r); }
      return raw(ExprOp::Mul, a, b);
    }
    case ExprOp::Div: case ExprOp::Mod: {
      if (!lb.terms.empty() || lb.c <= 0) return raw(op, a, b);
      int64_t d = lb.c;
      if (d == 1) return op == ExprOp::Div ? a : index(0);
      Lin q, rest;
      for (auto [atom, k] : la.terms) {
        if (k % d == 0) q.add_term(atom, k / d);
        else rest.add_term(atom, k);
      }
      int64_t cq = floor_div(la.c, d), cr = floor_mod(la.c, d);
      rest.c = cr;
      ExprId r = from_lin(rest);
      Range rr = range(r);
      bool within = rr.lo >= 0 && rr.hi < d;
      // floor((big*c + small) / (c*e)) = floor(big / e) when 0 <= small < c;
      // likewise (big*c + small) mod (c*e) = (big mod e)*c + small.
      if (!within) {
        std::vector<int64_t> cands;
        for (auto [atom, k] : rest.terms)
          if (k > 1 && d % k == 0) cands.push_back(k);
        std::sort(cands.rbegin(), cands.rend());
        for (int64_t c : cands) {
          Lin big, small;
          small.c = rest.c;
          for (auto [atom, k] : rest.terms) {
            if (k % c == 0) big.add_term(atom, k / c);
            else small.add_term(atom, k);
          }
          ExprId sm = from_lin(small);
          Range sr = range(sm);
          if (sr.lo < 0 || sr.hi >= c) continue;
          ExprId inner = binary(op, from_lin(big), index(d / c));
          if (op == ExprOp::Div) {
            q.c += cq;
            Lin out = q;
            out.add_term(inner, 1);
            return binary(ExprOp::Add, from_lin(out), index(0));
          }
          return binary(ExprOp::Add, binary(ExprOp::Mul, inner, index(c)), sm);
        }
      }
      if (op == ExprOp::Div) {
        q.c += cq;
        if (!within) {
          const Expr& re = expr(r);
          if (re.op == ExprOp::Div && is_const(re.b)) q.add_term(raw(ExprOp::Div, re.a, index(const_int(re.b) * d)), 1);
          else q.add_term(raw(ExprOp::Div, r, index(d)), 1);
        }
        return from_lin(q);
      }
      if (within) return r;
      const Expr& re = expr(r);
      if (re.op == ExprOp::Mod && is_const(re.b) && const_int(re.b) % d == 0) return raw(ExprOp::Mod, re.a, index(d));
      return raw(ExprOp::Mod, r, index(d));
    }
    default: return raw(op, a, b);
  }
}

ExprId Kernel::binary(ExprOp op, ExprId a, ExprId b) {
  const Expr& x = expr(a);
  const Expr& y = expr(b);
  if (x.type != y.type)
    throw Error("kernel IR: " + std::string(expr_op_name(op)) + " of " + std::string(scalar_type_name(x.type)) + " and " +
                std::string(scalar_type_name(y.type)));
  ScalarType t = x.type;
  ScalarType result = is_compare(op) ? ScalarType::Bool : t;
  bool both_const = x.op == ExprOp::Const && y.op == ExprOp::Const;
  // Integer and bool constant folding; ranges decide compares and min/max.
  if (is_int_type(t) || t == ScalarType::Bool) {
    Range rx = range(a), ry = range(b);
    switch (op) {
      case ExprOp::Lt:
        if (rx.hi < ry.lo) return constant(ScalarType::Bool, 1);
        if (rx.lo >= ry.hi) return constant(ScalarType::Bool, 0);
        break;
      case ExprOp::Le:
        if (rx.hi <= ry.lo) return constant(ScalarType::Bool, 1);
        if (rx.lo > ry.hi) return constant(ScalarType::Bool, 0);
        break;
      case ExprOp::Gt: return binary(ExprOp::Lt, b, a);
      case ExprOp::Ge: return binary(ExprOp::Le, b, a);
      case ExprOp::Eq: case ExprOp::Ne:
        if (both_const) return constant(ScalarType::Bool, (x.ival == y.ival) == (op == ExprOp::Eq));
        if (a == b) return constant(ScalarType::Bool, op == ExprOp::Eq);
        break;
      case ExprOp::Min:
        if (rx.hi <= ry.lo) return a;
        if (ry.hi <= rx.lo) return b;
        break;
      case ExprOp::Max:
        if (rx.lo >= ry.hi) return a;
        if (ry.lo >= rx.hi) return b;
        break;
      case ExprOp::And:
        if (x.op == ExprOp::Const) return x.ival ? b : a;
        if (y.op == ExprOp::Const) return y.ival ? a : b;
        if (a == b) return a;
        break;
      case ExprOp::Or:
        if (x.op == ExprOp::Const) return x.ival ? a : b;
        if (y.op == ExprOp::Const) return y.ival ? b : a;
        if (a == b) return a;
        break;
      default: break;
    }
    if (t == ScalarType::Index && (op == ExprOp::Add || op == ExprOp::Sub || op == ExprOp::Mul || op == ExprOp::Div ||
                                   op == ExprOp::Mod))
      return simplify_index(op, a, b);
    if (t == ScalarType::I32 && both_const) {
      int64_t u = x.ival, v = y.ival;
      switch (op) {
        case ExprOp::Add: return constant(t, static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(u + v))));
        case ExprOp::Sub: return constant(t, static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(u - v))));
        case ExprOp::Mul: return constant(t, static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(u) * static_cast<uint32_t>(v))));
        default: break;
      }
    }
  }
  Expr e{op, result, a, b};
  return intern(e);
}

Stmt make_loop(VarId v, int64_t extent, std::vector<Stmt> body) {
  Stmt s(StmtKind::Loop);
  s.var = v;
  s.extent = extent;
  s.body = std::move(body);
  return s;
}

Stmt make_let(LocalId l, ExprId value) {
  Stmt s(StmtKind::Let);
  s.local = l;
  s.value = value;
  return s;
}

Stmt make_reduce(LocalId l, ReduceOp op, VarId v, int64_t extent, ExprId term) {
  Stmt s(StmtKind::Reduce);
  s.local = l;
  s.reduce = op;
  s.var = v;
  s.extent = extent;
  s.value = term;
  return s;
}

Stmt make_store(BufId b, ExprId index, ExprId value) {
  Stmt s(StmtKind::Store);
  s.buffer = b;
  s.index = index;
  s.value = value;
  return s;
}

bool is_straight_line(const std::vector<Stmt>& body) {
  for (const Stmt& s : body)
    if (s.kind != StmtKind::Let && s.kind != StmtKind::Store) return false;
  return true;
}

// ---------------------------------------------------------------- hashing

std::string hex_digest(std::string_view text, size_t hex_chars) {
  llvm::SHA256 sha;
  sha.update(llvm::StringRef(text.data(), text.size()));
  auto digest = sha.final();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out.substr(0, std::min(hex_chars, out.size()));
}

// ---------------------------------------------------------------- printing

namespace {

// Children of an expression, in operand order.
template <class F>
void for_each_operand(const Expr& e, F&& f) {
  if (e.a >= 0) f(e.a);
  if (e.b >= 0) f(e.b);
  if (e.c >= 0) f(e.c);
}

std::string fmt_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

class Printer {
 public:
  Printer(const Kernel& k, bool canonical) : k_(k), canonical_(canonical), uses_(k.num_exprs(), 0), ssa_(k.num_exprs(), -1) {
    for_each_stmt(k.body, [&](const Stmt& s) {
      for (ExprId root : roots(s)) count(root);
    });
  }

  std::string kernel() {
    if (!canonical_) {
      out_ << "kernel " << k_.name << "\n";
      if (!k_.ir_ops.empty()) {
        out_ << "  // fused:";
        for (const auto& op : k_.ir_ops) out_ << " " << op << ",";
        out_.seekp(-1, std::ios_base::cur);
        out_ << "\n";
      }
    }
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const BufferParam& b = k_.buffers[i];
      out_ << "  b" << i << ": " << scalar_type_name(b.type) << "[" << b.elements << "]";
      if (b.read) out_ << " read";
      if (b.written) out_ << " write";
      if (!canonical_) out_ << "  // " << b.name;
      out_ << "\n";
    }
    out_ << "  parallel " << var_name(k_.parallel_var) << " in [0, " << k_.parallel_extent << "):\n";
    scopes_.emplace_back();
    for (const Stmt& s : k_.body) stmt(s, 2);
    return out_.str();
  }

  std::string expression(ExprId e) { return text(e); }

 private:
  static std::vector<ExprId> roots(const Stmt& s) {
    std::vector<ExprId> r;
    if (s.kind == StmtKind::Let || s.kind == StmtKind::Reduce) r.push_back(s.value);
    if (s.kind == StmtKind::Store) r = {s.index, s.value};
    if (s.kind == StmtKind::Gemm) r = {s.gemm.m0, s.gemm.n0, s.gemm.b_key, s.gemm.a, s.gemm.b};
    return r;
  }

  void count(ExprId e) {
    if (uses_[static_cast<size_t>(e)]++ > 0) return;
    for_each_operand(k_.expr(e), [&](ExprId c) { count(c); });
  }

  bool shared(ExprId e) const {
    const Expr& x = k_.expr(e);
    if (x.op == ExprOp::Const || x.op == ExprOp::Var || x.op == ExprOp::Local) return false;
    if (x.type == ScalarType::Index) return false;  // index math reads best inline
    return uses_[static_cast<size_t>(e)] >= 2;
  }

  bool defined(ExprId e) const {
    for (const auto& s : scopes_)
      if (s.count(e)) return true;
    return false;
  }

  // Prints `%n = ...` lines for shared subexpressions not yet defined in scope.
  void define(ExprId e, int indent) {
    if (defined(e)) return;
    const Expr& x = k_.expr(e);
    for_each_operand(x, [&](ExprId c) { define(c, indent); });
    if (shared(e)) {
      ssa_[static_cast<size_t>(e)] = next_ssa_++;
      pad(indent);
      out_ << "%" << ssa_[static_cast<size_t>(e)] << " = " << body_text(e) << "\n";
      scopes_.back().insert(e);
    }
  }

  std::string var_name(VarId v) const {
    return canonical_ ? "v" + std::to_string(v) : k_.vars[static_cast<size_t>(v)].name + std::to_string(v);
  }
  std::string local_name(LocalId l) const {
    return canonical_ ? "l" + std::to_string(l) : k_.locals[static_cast<size_t>(l)].name + std::to_string(l);
  }

  std::string text(ExprId e) const {
    if (shared(e) && ssa_[static_cast<size_t>(e)] >= 0 && defined(e)) return "%" + std::to_string(ssa_[static_cast<size_t>(e)]);
    return body_text(e);
  }

  std::string body_text(ExprId e) const {
    const Expr& x = k_.expr(e);
    auto lower = [](std::string_view s) {
      std::string r(s);
      for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return r;
    };
    switch (x.op) {
      case ExprOp::Const:
        if (is_float(x.type)) return fmt_double(x.fval) + (x.type == ScalarType::F32 ? "f" : "");
        if (x.type == ScalarType::Bool) return x.ival ? "true" : "false";
        return std::to_string(x.ival) + (x.type == ScalarType::I32 ? "i" : "");
      case ExprOp::Var: return var_name(static_cast<VarId>(x.ival));
      case ExprOp::Local: return local_name(static_cast<LocalId>(x.ival));
      case ExprOp::Load: {
        std::string s = "b" + std::to_string(x.ival) + "[" + text(x.a) + "]";
        if (x.b >= 0) s += " if " + text(x.b);
        return x.b >= 0 ? "(" + s + ")" : s;
      }
      case ExprOp::Random:
        return "random_" + std::string(scalar_type_name(x.type)) + "(seed=" + text(x.a) + ", counter=" + text(x.b) +
               ", stream=" + std::to_string(x.ival) + ", element=" + text(x.c) + ")";
      case ExprOp::Cast: return std::string(scalar_type_name(x.type)) + "(" + text(x.a) + ")";
      case ExprOp::Select: return "(" + text(x.a) + " ? " + text(x.b) + " : " + text(x.c) + ")";
      case ExprOp::Neg: return "-" + text(x.a);
      case ExprOp::Not: return "!" + text(x.a);
      default: break;
    }
    if (is_unary(x.op)) return lower(expr_op_name(x.op)) + "(" + text(x.a) + ")";
    const char* sym = nullptr;
    switch (x.op) {
      case ExprOp::Add: sym = " + "; break;
      case ExprOp::Sub: sym = " - "; break;
      case ExprOp::Mul: sym = "*"; break;
      case ExprOp::Div: sym = x.type == ScalarType::Index || x.type == ScalarType::I32 ? " // " : " / "; break;
      case ExprOp::Mod: sym = " % "; break;
      case ExprOp::And: sym = " && "; break;
      case ExprOp::Or: sym = " || "; break;
      case ExprOp::Lt: sym = " < "; break;
      case ExprOp::Le: sym = " <= "; break;
      case ExprOp::Gt: sym = " > "; break;
      case ExprOp::Ge: sym = " >= "; break;
      case ExprOp::Eq: sym = " == "; break;
      case ExprOp::Ne: sym = " != "; break;
      default: break;
    }
    if (sym) {
      bool top_index_add = x.type == ScalarType::Index && x.op == ExprOp::Add;
      std::string s = text(x.a) + sym + text(x.b);
      return top_index_add ? s : "(" + s + ")";
    }
    return lower(expr_op_name(x.op)) + "(" + text(x.a) + ", " + text(x.b) + ")";
  }

  void pad(int indent) { out_ << std::string(static_cast<size_t>(indent) * 2, ' '); }

  void stmt(const Stmt& s, int indent) {
    switch (s.kind) {
      case StmtKind::Loop:
        pad(indent);
        out_ << "for " << var_name(s.var) << " in [0, " << s.extent << "):\n";
        scopes_.emplace_back();
        for (const Stmt& b : s.body) stmt(b, indent + 1);
        scopes_.pop_back();
        return;
      case StmtKind::Let:
        define(s.value, indent);
        pad(indent);
        out_ << local_name(s.local) << " = " << text(s.value) << "\n";
        return;
      case StmtKind::Reduce:
        pad(indent);
        out_ << local_name(s.local) << " = reduce_" << reduce_op_name(s.reduce) << " " << var_name(s.var) << " in [0, "
             << s.extent << "):\n";
        scopes_.emplace_back();
        define(s.value, indent + 1);
        pad(indent + 1);
        out_ << text(s.value) << "\n";
        scopes_.pop_back();
        return;
      case StmtKind::Store:
        define(s.value, indent);
        pad(indent);
        out_ << "b" << s.buffer << "[" << text(s.index) << "] = " << text(s.value) << "\n";
        return;
      case StmtKind::Gemm: {
        const GemmSpec& g = s.gemm;
        pad(indent);
        out_ << "gemm " << scalar_type_name(g.type) << " " << local_name(g.acc) << " = sum " << var_name(g.k) << " in [0, "
             << g.K << ") a*b for " << var_name(g.m) << " in [" << text(g.m0) << ", +" << g.tile_m << ") < " << g.M
             << ", " << var_name(g.n) << " in [" << text(g.n0) << ", +" << g.tile_n << ") < " << g.N << ", B tile "
             << text(g.b_key) << ":\n";
        for (auto [label, e] : {std::pair{"a", g.a}, std::pair{"b", g.b}}) {
          scopes_.emplace_back();
          define(e, indent + 2);
          pad(indent + 1);
          out_ << label << " = " << text(e) << "\n";
          scopes_.pop_back();
        }
        pad(indent + 1);
        out_ << "epilogue:\n";
        scopes_.emplace_back();
        for (const Stmt& b : s.body) stmt(b, indent + 2);
        scopes_.pop_back();
        return;
      }
    }
  }

  const Kernel& k_;
  bool canonical_;
  std::vector<int> uses_;
  std::vector<int> ssa_;
  int next_ssa_ = 0;
  std::vector<std::set<ExprId>> scopes_;
  std::ostringstream out_;
};

}  // namespace

std::string to_text(const Kernel& k) { return Printer(k, false).kernel(); }
std::string canonical_text(const Kernel& k) { return Printer(k, true).kernel(); }
std::string expr_text(const Kernel& k, ExprId e) { return Printer(k, false).expression(e); }

void Kernel::finalize() {
  for (auto& b : buffers) b.read = b.written = false;
  std::vector<bool> seen(exprs_.size(), false);
  std::function<void(ExprId)> visit = [&](ExprId e) {
    if (e < 0 || seen[static_cast<size_t>(e)]) return;
    seen[static_cast<size_t>(e)] = true;
    const Expr& x = expr(e);
    if (x.op == ExprOp::Load) buffers[static_cast<size_t>(x.ival)].read = true;
    for_each_operand(x, visit);
  };
  for_each_stmt(body, [&](const Stmt& s) {
    if (s.kind == StmtKind::Store) buffers[static_cast<size_t>(s.buffer)].written = true;
    visit(s.value);
    visit(s.index);
    if (s.kind == StmtKind::Gemm) {
      visit(s.gemm.a);
      visit(s.gemm.b);
      visit(s.gemm.m0);
      visit(s.gemm.n0);
      visit(s.gemm.b_key);
    }
  });
  hash_ = hex_digest(canonical_text(*this), 16);
  name = kind;
  if (!shape_tag.empty()) name += "_" + shape_tag;
  for (const auto& t : op_tags) name += "_" + t;
  name += "_" + hash_.substr(0, 6);
}

// ---------------------------------------------------------------- cost

void linear_terms(const Kernel& k, ExprId e, int64_t scale, std::map<ExprId, int64_t>& terms, int64_t* constant) {
  const Expr& x = k.expr(e);
  if (x.op == ExprOp::Const) {
    if (constant) *constant += x.ival * scale;
  } else if (x.op == ExprOp::Add || x.op == ExprOp::Sub) {
    linear_terms(k, x.a, scale, terms, constant);
    linear_terms(k, x.b, x.op == ExprOp::Add ? scale : -scale, terms, constant);
  } else if (x.op == ExprOp::Mul && k.is_const(x.b)) {
    linear_terms(k, x.a, scale * k.const_int(x.b), terms, constant);
  } else if (x.op == ExprOp::Mul && k.is_const(x.a)) {
    linear_terms(k, x.b, scale * k.const_int(x.a), terms, constant);
  } else {
    terms[e] += scale;
  }
}

KernelCost kernel_cost(const Kernel& k) {
  KernelCost cost;
  for (const auto& b : k.buffers) {
    if (b.read) cost.bytes_read += static_cast<double>(b.bytes());
    if (b.written) cost.bytes_written += static_cast<double>(b.bytes());
  }
  // Float ops of an expression DAG, each distinct node once per evaluation.
  auto flops_of = [&](ExprId root) {
    std::set<ExprId> seen;
    double n = 0;
    std::function<void(ExprId)> visit = [&](ExprId e) {
      if (e < 0 || !seen.insert(e).second) return;
      const Expr& x = k.expr(e);
      for_each_operand(x, visit);
      if (x.op == ExprOp::Load || x.op == ExprOp::Const || x.op == ExprOp::Var || x.op == ExprOp::Local) return;
      if (is_float(x.type) || (is_compare(x.op) && is_float(k.expr(x.a).type))) n += 1;
    };
    visit(root);
    return n;
  };
  std::function<void(const std::vector<Stmt>&, double)> walk = [&](const std::vector<Stmt>& body, double trips) {
    for (const Stmt& s : body) {
      switch (s.kind) {
        case StmtKind::Loop: walk(s.body, trips * static_cast<double>(s.extent)); break;
        case StmtKind::Let: case StmtKind::Store: cost.flops += trips * flops_of(s.value); break;
        case StmtKind::Reduce:
          cost.flops += trips * static_cast<double>(s.extent) * (flops_of(s.value) + 1);
          break;
        case StmtKind::Gemm: {
          const GemmSpec& g = s.gemm;
          // Tiles cover the M x N output exactly once per batch.
          double tiles = static_cast<double>(((g.M + g.tile_m - 1) / g.tile_m) * ((g.N + g.tile_n - 1) / g.tile_n));
          double batches = static_cast<double>(k.parallel_extent) / tiles;
          double elements = batches * static_cast<double>(g.M * g.N);
          cost.flops += elements * 2.0 * static_cast<double>(g.K);
          cost.flops += batches * static_cast<double>(g.M * g.K) * flops_of(g.a);
          cost.flops += batches * static_cast<double>(g.K * g.N) * flops_of(g.b);
          walk(s.body, elements);  // the epilogue runs once per output element
          break;
        }
      }
    }
  };
  walk(k.body, static_cast<double>(k.parallel_extent));
  return cost;
}

namespace {

// "loop 4 [loop 4 [reduce 128]], loop 99": the loops, reductions and matmul
// tiles of a body, nested ones in brackets.
std::string nest_shape(const std::vector<Stmt>& body) {
  std::string r;
  for (const Stmt& s : body) {
    std::string part;
    switch (s.kind) {
      case StmtKind::Loop: {
        part = "loop " + std::to_string(s.extent);
        const std::string inner = nest_shape(s.body);
        if (!inner.empty()) part += " [" + inner + "]";
        break;
      }
      case StmtKind::Reduce: part = "reduce " + std::to_string(s.extent); break;
      case StmtKind::Gemm:
        part = "gemm tile " + std::to_string(s.gemm.tile_m) + "x" + std::to_string(s.gemm.tile_n) + "x" +
               std::to_string(s.gemm.K);
        break;
      default: break;
    }
    if (!part.empty()) r += (r.empty() ? "" : ", ") + part;
  }
  return r;
}

}  // namespace

std::string launch_shape(const Kernel& k) {
  const std::string nest = nest_shape(k.body);
  return "parallel " + std::to_string(k.parallel_extent) + (nest.empty() ? "" : " x (" + nest + ")");
}

}  // namespace grokjit::codegen
