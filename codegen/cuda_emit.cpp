#include "codegen/cuda_emit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

#include "codegen/llvm_emit.h"
#include "ir/error.h"
#include "ir/random.h"

namespace grokjit::codegen {

std::string CudaTarget::arch() const { return "sm_" + std::to_string(sm) + (arch_specific ? "a" : ""); }

std::string CudaTarget::key() const {
  return "cuda-emit" + std::to_string(kCudaEmitterVersion) + "-" + arch() + "-t" + std::to_string(max_threads_per_block) + "-s" +
         std::to_string(max_dynamic_smem_bytes);
}

std::string CudaLaunch::text() const {
  auto dims = [](int64_t x, int64_t y, int64_t z) {
    std::string s = std::to_string(x);
    if (y > 1 || z > 1) s += "x" + std::to_string(y);
    if (z > 1) s += "x" + std::to_string(z);
    return s;
  };
  return "grid " + dims(grid_x, grid_y, grid_z) + " x block " + dims(block_x, block_y, block_z) + ", smem " +
         std::to_string(dynamic_smem_bytes) + " B";
}

namespace {

constexpr int kFlatBlock = 256;     // threads per block of elementwise kernels
constexpr int kRowBlock = 128;      // threads per block of row kernels (at least)
constexpr int kMaxRowThreads = 256; // threads cooperating on one row

bool fits_i32(Range r) { return r.lo >= std::numeric_limits<int32_t>::min() && r.hi <= std::numeric_limits<int32_t>::max(); }

int64_t pow2_at_least(int64_t x) {
  int64_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// ---- small analyses of the kernel IR

// Buffers an expression loads from.
void loads_of(const Kernel& k, ExprId e, std::set<BufId>& out, std::set<ExprId>& seen) {
  if (e < 0 || !seen.insert(e).second) return;
  const Expr& x = k.expr(e);
  if (x.op == ExprOp::Load) out.insert(static_cast<BufId>(x.ival));
  loads_of(k, x.a, out, seen);
  loads_of(k, x.b, out, seen);
  loads_of(k, x.c, out, seen);
}

struct Access {
  std::set<BufId> read, written;
};

Access access_of(const Kernel& k, const std::vector<Stmt>& body) {
  Access a;
  std::set<ExprId> seen;
  for_each_stmt(body, [&](const Stmt& s) {
    switch (s.kind) {
      case StmtKind::Let: case StmtKind::Reduce: loads_of(k, s.value, a.read, seen); break;
      case StmtKind::Store:
        loads_of(k, s.value, a.read, seen);
        loads_of(k, s.index, a.read, seen);
        a.written.insert(s.buffer);
        break;
      case StmtKind::Gemm:
        loads_of(k, s.gemm.a, a.read, seen);
        loads_of(k, s.gemm.b, a.read, seen);
        break;
      case StmtKind::Loop: break;
    }
  });
  return a;
}

bool intersects(const std::set<BufId>& a, const std::set<BufId>& b) {
  for (BufId x : a)
    if (b.count(x)) return true;
  return false;
}

// Does e depend on variable v or on one of the given locals?
bool depends_on(const Kernel& k, ExprId e, VarId v, const std::set<LocalId>& locals, std::unordered_map<ExprId, bool>& memo) {
  if (e < 0) return false;
  auto it = memo.find(e);
  if (it != memo.end()) return it->second;
  const Expr& x = k.expr(e);
  bool r = (x.op == ExprOp::Var && x.ival == v) || (x.op == ExprOp::Local && locals.count(static_cast<LocalId>(x.ival)));
  if (!r) r = depends_on(k, x.a, v, locals, memo) || depends_on(k, x.b, v, locals, memo) || depends_on(k, x.c, v, locals, memo);
  memo[e] = r;
  return r;
}

// Coefficient of v in an index expression that is affine in v (false if it is not).
bool affine_in(const Kernel& k, ExprId e, VarId v, const std::set<LocalId>& locals, int64_t* coeff) {
  std::map<ExprId, int64_t> terms;
  linear_terms(k, e, 1, terms);
  std::unordered_map<ExprId, bool> memo;
  *coeff = 0;
  for (auto [atom, c] : terms) {
    const Expr& x = k.expr(atom);
    if (x.op == ExprOp::Var && x.ival == v) *coeff += c;
    else if (depends_on(k, atom, v, locals, memo)) return false;
  }
  return true;
}

// Does every load of a buffer in `written` (buffer -> the one index it is
// stored at) within `body` read at that same index?
bool loads_only_at_store_index(const Kernel& k, const std::vector<Stmt>& body, const std::map<BufId, ExprId>& written) {
  bool ok = true;
  std::set<ExprId> seen;
  std::function<void(ExprId)> walk = [&](ExprId e) {
    if (e < 0 || !ok || !seen.insert(e).second) return;
    const Expr& x = k.expr(e);
    if (x.op == ExprOp::Load) {
      auto it = written.find(static_cast<BufId>(x.ival));
      if (it != written.end() && it->second != x.a) ok = false;
    }
    walk(x.a);
    walk(x.b);
    walk(x.c);
  };
  for_each_stmt(body, [&](const Stmt& b) {
    walk(b.value);
    walk(b.index);
  });
  return ok;
}

// Are the iterations of loop `s` independent? Sufficient condition: the body
// is straight-line (Let/Store), every buffer it writes is written at one
// index expression that moves with the loop variable (affine, non-zero
// coefficient), and read in the body only at that same index. Then distinct
// iterations touch distinct elements of every written buffer.
bool independent_loop(const Kernel& k, const Stmt& s) {
  if (s.kind != StmtKind::Loop) return false;
  std::set<LocalId> defined;
  std::map<BufId, ExprId> store_index;
  for (const Stmt& b : s.body) {
    if (b.kind == StmtKind::Let) {
      defined.insert(b.local);
    } else if (b.kind == StmtKind::Store) {
      auto [it, fresh] = store_index.emplace(b.buffer, b.index);
      if (!fresh && it->second != b.index) return false;
    } else {
      return false;
    }
  }
  for (auto [buf, idx] : store_index) {
    int64_t c = 0;
    if (!affine_in(k, idx, s.var, defined, &c) || c == 0) return false;
  }
  // Loads of written buffers: only at the store's index.
  return loads_only_at_store_index(k, s.body, store_index);
}

// A nest `for r: { Let*; for c: { Let*; Store* } }` whose inner iterations can
// go to different threads, each running the whole outer loop for its c (a
// loop interchange: the per-c order of the outer loop is kept). Sufficient
// condition: every written buffer is stored at one index a*c + F with F's
// parts that vary in the nest all multiples of some m >= |a| * extent(c), and
// loaded in the nest only at that index. Then two different c never touch the
// same element of a written buffer. This is the column reduction's sweep
// (acc[base + c] += term(r, c)) and scatter-add (out[row(i)*D + base + c]).
bool lane_parallel_nest(const Kernel& k, const Stmt& s) {
  if (s.kind != StmtKind::Loop || s.body.empty()) return false;
  const Stmt& in = s.body.back();
  if (in.kind != StmtKind::Loop || !is_straight_line(in.body) || in.extent <= 0) return false;
  std::set<LocalId> nest_locals;
  for (size_t i = 0; i + 1 < s.body.size(); ++i) {
    if (s.body[i].kind != StmtKind::Let) return false;
    nest_locals.insert(s.body[i].local);
  }
  std::map<BufId, ExprId> store_index;
  for (const Stmt& b : in.body) {
    if (b.kind == StmtKind::Let) nest_locals.insert(b.local);
    if (b.kind != StmtKind::Store) continue;
    auto [it, fresh] = store_index.emplace(b.buffer, b.index);
    if (!fresh && it->second != b.index) return false;
  }
  std::unordered_map<ExprId, bool> memo_c, memo_nest;
  std::set<LocalId> none;
  for (auto [buf, idx] : store_index) {
    std::map<ExprId, int64_t> terms;
    linear_terms(k, idx, 1, terms);
    int64_t a = 0, step = 0;  // coefficient of c; gcd of the nest-varying parts
    for (auto [atom, coeff] : terms) {
      const Expr& x = k.expr(atom);
      if (x.op == ExprOp::Var && x.ival == in.var) {
        a += coeff;
        continue;
      }
      if (depends_on(k, atom, in.var, none, memo_c)) return false;
      if (depends_on(k, atom, s.var, nest_locals, memo_nest)) step = std::gcd(step, std::abs(coeff));
    }
    if (a == 0 || (step != 0 && step < std::abs(a) * in.extent)) return false;
  }
  return loads_only_at_store_index(k, s.body, store_index);
}

// ---- printing values

std::string float_literal(double v, bool f32) {
  if (std::isnan(v)) return f32 ? "__int_as_float(0x7fc00000)" : "__longlong_as_double(0x7ff8000000000000LL)";
  if (std::isinf(v)) {
    if (f32) return v > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float((int)0xff800000u)";
    return v > 0 ? "__longlong_as_double(0x7ff0000000000000LL)" : "__longlong_as_double((long long)0xfff0000000000000ULL)";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, f32 ? "%.9g" : "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  if (f32) s += "f";
  return v < 0 || (v == 0 && std::signbit(v)) ? "(" + s + ")" : s;
}

std::string int_literal(int64_t v, bool wide) {
  if (!wide) {
    if (v == std::numeric_limits<int32_t>::min()) return "(-2147483647 - 1)";
    return v < 0 ? "(" + std::to_string(v) + ")" : std::to_string(v);
  }
  if (v == std::numeric_limits<int64_t>::min()) return "(-9223372036854775807LL - 1)";
  return v < 0 ? "(" + std::to_string(v) + "LL)" : std::to_string(v) + "LL";
}

const char* storage_type(ScalarType t) {
  switch (t) {
    case ScalarType::F32: return "float";
    case ScalarType::F64: return "double";
    case ScalarType::I32: return "int";
    case ScalarType::Bool: return "unsigned char";
    case ScalarType::Index: return "long long";
  }
  return "?";
}

// How the kernel's iterations map onto the GPU.
enum class Mode {
  Flat,    // one thread per element of parallel x (independent) inner loop
  Block,   // a group of lanes per parallel iteration: reductions cooperative, independent loops split
  Gemm,    // one thread per output element of the matmul tiles
  Serial,  // one thread per parallel iteration, the body as written
};

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Flat: return "flat";
    case Mode::Block: return "block";
    case Mode::Gemm: return "gemm";
    case Mode::Serial: return "serial";
  }
  return "?";
}

class Emitter {
 public:
  Emitter(const Kernel& k, const CudaTarget& t) : k_(k), target_(t) {}

  CudaKernelSource run() {
    CudaKernelSource r;
    r.symbol = kernel_symbol(k_);
    var_.assign(k_.vars.size(), "");
    local_.assign(k_.locals.size(), "");
    Mode mode = choose_mode();
    std::string body;
    switch (mode) {
      case Mode::Flat: body = emit_flat(&r.launch); break;
      case Mode::Block: body = emit_block(&r.launch); break;
      case Mode::Gemm: body = emit_gemm(&r.launch); break;
      case Mode::Serial: body = emit_serial(&r.launch); break;
    }
    if (r.launch.dynamic_smem_bytes > target_.max_dynamic_smem_bytes)
      throw Error("CUDA emitter: " + k_.name + " needs " + std::to_string(r.launch.dynamic_smem_bytes) + " B of shared memory, more than " +
                  std::to_string(target_.max_dynamic_smem_bytes));
    std::ostringstream os;
    os << "// " << k_.name << " (" << mode_name(mode) << "; " << r.launch.text() << ")\n";
    os << "// grokjit CUDA emitter v" << kCudaEmitterVersion << " for " << target_.arch() << "; self-contained, no includes.\n";
    os << prelude();
    os << "extern \"C\" __global__ void __launch_bounds__(" << r.launch.block_x * r.launch.block_y * r.launch.block_z << ")\n"
       << r.symbol << "(";
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const BufferParam& b = k_.buffers[i];
      os << (i ? ", " : "") << (b.written ? "" : "const ") << storage_type(b.type) << "* __restrict__ b" << i;
    }
    os << ") {\n";
    if (uses_smem_) os << "  extern __shared__ __align__(16) unsigned char smem[];\n";
    os << body << "}\n";
    r.source = os.str();
    return r;
  }

 private:
  // ---------------------------------------------------------------- mapping
  Mode choose_mode() const {
    const auto& b = k_.body;
    if (b.size() == 1 && b[0].kind == StmtKind::Gemm && is_straight_line(b[0].body)) return Mode::Gemm;
    if (is_straight_line(b)) return Mode::Flat;
    if (b.size() == 1 && independent_loop(k_, b[0])) return Mode::Flat;
    bool gemm = false;
    for_each_stmt(b, [&](const Stmt& s) { gemm = gemm || s.kind == StmtKind::Gemm; });
    if (gemm) return Mode::Serial;
    return Mode::Block;
  }

  // ---------------------------------------------------------------- text
  void line(const std::string& s) { out_ << std::string(static_cast<size_t>(2 * indent_), ' ') << s << "\n"; }
  void open(const std::string& s) {
    line(s + " {");
    ++indent_;
    memo_.emplace_back();
  }
  void close() {
    memo_.pop_back();
    --indent_;
    line("}");
  }
  std::string take() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  std::string ctype(ExprId e) const { return ctype(k_.expr(e).type, k_.range(e)); }
  std::string ctype(ScalarType t, Range r) const {
    switch (t) {
      case ScalarType::F32: return "float";
      case ScalarType::F64: return "double";
      case ScalarType::I32: return "int";
      case ScalarType::Bool: return "bool";
      case ScalarType::Index: return fits_i32(r) ? "int" : "long long";
    }
    return "?";
  }
  static Range var_range(int64_t extent) { return {0, std::max<int64_t>(0, extent - 1)}; }
  std::string index_type(int64_t extent) const { return ctype(ScalarType::Index, var_range(extent)); }
  std::string local_type(LocalId l) const {
    ScalarType t = k_.locals[static_cast<size_t>(l)].type;
    return ctype(t, Range{std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()});
  }

  std::string fresh(const char* prefix) { return prefix + std::to_string(counter_++); }

  // ---------------------------------------------------------------- expressions
  std::string emit(ExprId e) {
    for (size_t i = memo_.size(); i-- > 0;) {
      auto it = memo_[i].find(e);
      if (it != memo_[i].end()) return it->second;
    }
    const Expr& x = k_.expr(e);
    if (x.op == ExprOp::Const) return constant(x, k_.range(e));
    if (x.op == ExprOp::Var) {
      const std::string& v = var_[static_cast<size_t>(x.ival)];
      if (v.empty()) throw Error("CUDA emitter: variable " + k_.vars[static_cast<size_t>(x.ival)].name + " is not bound in " + k_.name);
      return v;
    }
    if (x.op == ExprOp::Local) {
      const std::string& v = local_[static_cast<size_t>(x.ival)];
      if (v.empty()) throw Error("CUDA emitter: local " + k_.locals[static_cast<size_t>(x.ival)].name + " used before definition in " + k_.name);
      return v;
    }
    std::string rhs = compute(e, x);
    std::string name = "e" + std::to_string(e);
    line("const " + ctype(e) + " " + name + " = " + rhs + ";");
    memo_.back()[e] = name;
    return name;
  }

  std::string constant(const Expr& x, Range r) const {
    switch (x.type) {
      case ScalarType::F32: return float_literal(x.fval, true);
      case ScalarType::F64: return float_literal(x.fval, false);
      case ScalarType::Bool: return x.ival ? "true" : "false";
      case ScalarType::I32: return int_literal(x.ival, false);
      case ScalarType::Index: return int_literal(x.ival, !fits_i32(r));
    }
    return "?";
  }

  std::string load_text(BufId b, const std::string& idx) const {
    std::string s = "b" + std::to_string(b) + "[" + idx + "]";
    if (k_.buffers[static_cast<size_t>(b)].type == ScalarType::Bool) return "(" + s + " != 0)";
    return s;
  }

  std::string zero_of(ScalarType t) const {
    switch (t) {
      case ScalarType::F32: return "0.0f";
      case ScalarType::F64: return "0.0";
      case ScalarType::Bool: return "false";
      default: return "0";
    }
  }

  std::string compute(ExprId id, const Expr& e) {
    switch (e.op) {
      case ExprOp::Load: {
        std::string idx = emit(e.a);
        BufId b = static_cast<BufId>(e.ival);
        if (e.b < 0) return load_text(b, idx);
        std::string mask = emit(e.b);
        return "(" + mask + " ? " + load_text(b, idx) + " : " + zero_of(e.type) + ")";
      }
      case ExprOp::Random: {
        need_random_ = true;
        std::string seed = emit(e.a), counter = emit(e.b), element = emit(e.c);
        uint32_t smul = static_cast<uint32_t>(e.ival) * 0x85ebca6bU;
        std::string bits = "gj_random_bits((unsigned)" + seed + ", (unsigned)" + counter + ", " + std::to_string(smul) + "u, (unsigned)" +
                           element + ")";
        if (e.type == ScalarType::F32) return "(float)(" + bits + " >> 8) * 5.9604644775390625e-08f";
        return "(double)(" + bits + " >> 8) * 5.9604644775390625e-08";
      }
      case ExprOp::Cast: return cast(emit(e.a), k_.expr(e.a).type, e.type, id);
      case ExprOp::Select: return "(" + emit(e.a) + " ? " + emit(e.b) + " : " + emit(e.c) + ")";
      default: break;
    }
    if (is_unary(e.op)) return unary(e.op, e.type, emit(e.a));
    const Expr& a = k_.expr(e.a);
    return binary(e.op, a.type, emit(e.a), emit(e.b), e.a, e.b, id);
  }

  std::string cast(const std::string& x, ScalarType from, ScalarType to, ExprId id) {
    std::string T = ctype(id);
    if (from == to) return x;
    if (is_float(from) && is_float(to)) return "(" + T + ")" + x;
    if (is_float(to)) return "(" + T + ")" + x;
    if (to == ScalarType::Bool) return "(" + x + " != " + zero_of(from) + ")";
    if (is_float(from)) {  // truncation toward zero, saturating (NaN -> 0), as the CPU backend
      if (to == ScalarType::I32 || T == "int") {
        need_f2i_ = true;
        return "gj_f2i32((double)" + x + ")";
      }
      need_f2i_ = true;
      return "gj_f2i64((double)" + x + ")";
    }
    return "(" + T + ")" + x;
  }

  std::string fn(ScalarType t, const char* f32name, const char* f64name, const std::string& x) const {
    return std::string(t == ScalarType::F32 ? f32name : f64name) + "(" + x + ")";
  }

  std::string unary(ExprOp op, ScalarType t, const std::string& x) {
    if (!is_float(t)) {
      bool i32 = t == ScalarType::I32;
      switch (op) {
        case ExprOp::Neg: return i32 ? "(int)(0u - (unsigned)" + x + ")" : "(-" + x + ")";
        case ExprOp::Not: return t == ScalarType::Bool ? "(!" + x + ")" : "(~" + x + ")";
        case ExprOp::Abs: return i32 ? "(" + x + " < 0 ? (int)(0u - (unsigned)" + x + ") : " + x + ")" : "(" + x + " < 0 ? -" + x + " : " + x + ")";
        case ExprOp::Sign: return "((" + x + " > 0) - (" + x + " < 0))";
        case ExprOp::Relu: return "(" + x + " > 0 ? " + x + " : 0)";
        case ExprOp::Square: return i32 ? "(int)((unsigned)" + x + " * (unsigned)" + x + ")" : "(" + x + " * " + x + ")";
        default: throw Error("CUDA emitter: " + std::string(expr_op_name(op)) + " on an integer in " + k_.name);
      }
    }
    bool s = t == ScalarType::F32;
    std::string one = s ? "1.0f" : "1.0", zero = s ? "0.0f" : "0.0";
    switch (op) {
      case ExprOp::Neg: return "(-" + x + ")";
      case ExprOp::Abs: return fn(t, "fabsf", "fabs", x);
      case ExprOp::Sign: return "(" + x + " > " + zero + " ? " + one + " : (" + x + " < " + zero + " ? -" + one + " : " + zero + "))";
      case ExprOp::Relu: return "(" + x + " > " + zero + " ? " + x + " : " + zero + ")";
      case ExprOp::Square: return "(" + x + " * " + x + ")";
      case ExprOp::Exp: return fn(t, "expf", "exp", x);
      case ExprOp::Log: return fn(t, "logf", "log", x);
      case ExprOp::Sqrt: return fn(t, "sqrtf", "sqrt", x);
      case ExprOp::Rsqrt: return "(" + one + " / " + fn(t, "sqrtf", "sqrt", x) + ")";
      case ExprOp::Recip: return "(" + one + " / " + x + ")";
      case ExprOp::Sin: return fn(t, "sinf", "sin", x);
      case ExprOp::Cos: return fn(t, "cosf", "cos", x);
      case ExprOp::Sigmoid: return "(" + one + " / (" + one + " + " + fn(t, "expf", "exp", "-" + x) + "))";
      case ExprOp::Silu: return "(" + x + " / (" + one + " + " + fn(t, "expf", "exp", "-" + x) + "))";
      case ExprOp::Tanh: return fn(t, "tanhf", "tanh", x);
      default: throw Error("CUDA emitter: unary " + std::string(expr_op_name(op)) + " in " + k_.name);
    }
  }

  std::string binary(ExprOp op, ScalarType t, const std::string& a, const std::string& b, ExprId ea, ExprId eb, ExprId id) {
    // Compares read the same for every type (a float != is unordered, as the interpreter's).
    switch (op) {
      case ExprOp::Lt: return "(" + a + " < " + b + ")";
      case ExprOp::Le: return "(" + a + " <= " + b + ")";
      case ExprOp::Gt: return "(" + a + " > " + b + ")";
      case ExprOp::Ge: return "(" + a + " >= " + b + ")";
      case ExprOp::Eq: return "(" + a + " == " + b + ")";
      case ExprOp::Ne: return "(" + a + " != " + b + ")";
      default: break;
    }
    if (is_float(t)) {
      switch (op) {
        case ExprOp::Add: return "(" + a + " + " + b + ")";
        case ExprOp::Sub: return "(" + a + " - " + b + ")";
        case ExprOp::Mul: return "(" + a + " * " + b + ")";
        case ExprOp::Div: return "(" + a + " / " + b + ")";
        case ExprOp::Max: return "(" + a + " >= " + b + " ? " + a + " : " + b + ")";
        case ExprOp::Min: return "(" + a + " <= " + b + " ? " + a + " : " + b + ")";
        case ExprOp::Pow:
          need_pow_ = true;
          return t == ScalarType::F32 ? "(float)gj_pow((double)" + a + ", (double)" + b + ")" : "gj_pow(" + a + ", " + b + ")";
        default: break;
      }
    } else {
      const bool i32 = t == ScalarType::I32;
      const bool boolean = t == ScalarType::Bool;
      std::string T = ctype(id);
      auto wrap = [&](const char* o) { return "(int)((unsigned)" + a + " " + o + " (unsigned)" + b + ")"; };
      switch (op) {
        case ExprOp::Add: return i32 ? wrap("+") : "((" + T + ")" + a + " + " + b + ")";
        case ExprOp::Sub: return i32 ? wrap("-") : "((" + T + ")" + a + " - " + b + ")";
        case ExprOp::Mul: return i32 ? wrap("*") : "((" + T + ")" + a + " * " + b + ")";
        case ExprOp::Div: case ExprOp::Mod: {
          // Floor division / modulo. A non-negative numerator and a positive
          // constant divisor (the index math of views) are plain C division.
          Range ra = k_.range(ea);
          bool plain = k_.is_const(eb) && k_.const_int(eb) > 0 && ra.lo >= 0;
          if (plain) return "(" + a + (op == ExprOp::Div ? " / " : " % ") + b + ")";
          need_floordiv_ = true;
          std::string f = op == ExprOp::Div ? "gj_floordiv" : "gj_floormod";
          return "(" + T + ")" + f + "((long long)" + a + ", (long long)" + b + ")";
        }
        case ExprOp::Max: return boolean ? "(" + a + " || " + b + ")" : "(" + a + " >= " + b + " ? " + a + " : " + b + ")";
        case ExprOp::Min: return boolean ? "(" + a + " && " + b + ")" : "(" + a + " <= " + b + " ? " + a + " : " + b + ")";
        case ExprOp::And: return boolean ? "(" + a + " && " + b + ")" : "(" + a + " & " + b + ")";
        case ExprOp::Or: return boolean ? "(" + a + " || " + b + ")" : "(" + a + " | " + b + ")";
        default: break;
      }
    }
    throw Error("CUDA emitter: binary " + std::string(expr_op_name(op)) + " on " + std::string(scalar_type_name(t)) + " in " + k_.name);
  }

  // ---------------------------------------------------------------- reductions
  std::string reduce_init(ReduceOp op, ScalarType t) const {
    if (op == ReduceOp::Sum) return zero_of(t);
    switch (t) {
      case ScalarType::F32: return float_literal(-std::numeric_limits<double>::infinity(), true);
      case ScalarType::F64: return float_literal(-std::numeric_limits<double>::infinity(), false);
      case ScalarType::I32: return int_literal(std::numeric_limits<int32_t>::min(), false);
      case ScalarType::Bool: return "false";
      case ScalarType::Index: return int_literal(std::numeric_limits<int64_t>::min(), true);
    }
    return "?";
  }
  // acc (+) term; a float max propagates NaN (like the interpreter).
  std::string combine(ReduceOp op, ScalarType t, const std::string& acc, const std::string& term) const {
    if (op == ReduceOp::Sum) {
      if (t == ScalarType::I32) return "(int)((unsigned)" + acc + " + (unsigned)" + term + ")";
      if (t == ScalarType::Bool) return "(" + acc + " || " + term + ")";
      return "(" + acc + " + " + term + ")";
    }
    if (t == ScalarType::Bool) return "(" + acc + " || " + term + ")";
    if (is_float(t)) return "((" + term + " > " + acc + " || " + term + " != " + term + ") ? " + term + " : " + acc + ")";
    return "(" + term + " > " + acc + " ? " + term + " : " + acc + ")";
  }

  // ---------------------------------------------------------------- statements (serial, per thread)
  void stmts(const std::vector<Stmt>& body) {
    for (const Stmt& s : body) stmt(s);
  }

  void bind_loop(const Stmt& s, const std::string& begin, const std::string& step) {
    std::string v = "v" + std::to_string(s.var);
    var_[static_cast<size_t>(s.var)] = v;
    open("for (" + index_type(s.extent) + " " + v + " = " + begin + "; " + v + " < " + std::to_string(s.extent) + "; " + v + " += " + step + ")");
  }

  void stmt(const Stmt& s) {
    switch (s.kind) {
      case StmtKind::Loop:
        if (s.extent <= 0) return;
        bind_loop(s, "0", "1");
        stmts(s.body);
        close();
        var_[static_cast<size_t>(s.var)].clear();
        return;
      case StmtKind::Let: {
        std::string v = emit(s.value);
        std::string name = "l" + std::to_string(s.local);
        line("const " + local_type(s.local) + " " + name + " = " + v + ";");
        local_[static_cast<size_t>(s.local)] = name;
        return;
      }
      case StmtKind::Reduce: {
        ScalarType t = k_.locals[static_cast<size_t>(s.local)].type;
        std::string name = "l" + std::to_string(s.local);
        line(local_type(s.local) + " " + name + " = " + reduce_init(s.reduce, t) + ";");
        if (s.extent > 0) {
          bind_loop(s, "0", "1");
          std::string term = emit(s.value);
          line(name + " = " + combine(s.reduce, t, name, term) + ";");
          close();
          var_[static_cast<size_t>(s.var)].clear();
        }
        local_[static_cast<size_t>(s.local)] = name;
        return;
      }
      case StmtKind::Store: store(s); return;
      case StmtKind::Gemm: gemm_serial(s); return;
    }
  }

  void store(const Stmt& s) {
    std::string idx = emit(s.index);
    std::string v = emit(s.value);
    if (k_.buffers[static_cast<size_t>(s.buffer)].type == ScalarType::Bool) v = "(unsigned char)" + v;
    line("b" + std::to_string(s.buffer) + "[" + idx + "] = " + v + ";");
  }

  // acc(m, n) = sum_k a(m, k) b(k, n), k in order (FMA), then the epilogue.
  void gemm_k_loop(const GemmSpec& g, const std::string& acc_name) {
    std::string T = g.type == ScalarType::F32 ? "float" : "double";
    line(T + " " + acc_name + " = " + zero_of(g.type) + ";");
    var_[static_cast<size_t>(g.k)] = "vk";
    open("for (" + index_type(g.K) + " vk = 0; vk < " + std::to_string(g.K) + "; ++vk)");
    std::string a = emit(g.a), b = emit(g.b);
    line(acc_name + " = " + (g.type == ScalarType::F32 ? "fmaf(" : "fma(") + a + ", " + b + ", " + acc_name + ");");
    close();
    var_[static_cast<size_t>(g.k)].clear();
  }

  void gemm_serial(const Stmt& s) {
    const GemmSpec& g = s.gemm;
    open("");
    std::string m0 = emit(g.m0), n0 = emit(g.n0);
    std::string mt = index_type(g.M), nt = index_type(g.N);
    var_[static_cast<size_t>(g.m)] = "vm";
    var_[static_cast<size_t>(g.n)] = "vn";
    open("for (" + mt + " vm = " + m0 + "; vm < " + m0 + " + " + std::to_string(g.tile_m) + " && vm < " + std::to_string(g.M) + "; ++vm)");
    open("for (" + nt + " vn = " + n0 + "; vn < " + n0 + " + " + std::to_string(g.tile_n) + " && vn < " + std::to_string(g.N) + "; ++vn)");
    gemm_k_loop(g, "acc");
    local_[static_cast<size_t>(g.acc)] = "acc";
    stmts(s.body);
    close();
    close();
    close();
    var_[static_cast<size_t>(g.m)].clear();
    var_[static_cast<size_t>(g.n)].clear();
  }

  // ---------------------------------------------------------------- modes
  void bind_parallel(const std::string& expr) {
    std::string p = "vp";
    line("const " + index_type(k_.parallel_extent) + " " + p + " = " + expr + ";");
    var_[static_cast<size_t>(k_.parallel_var)] = p;
  }

  // A global thread index below `total` (64-bit math only where needed).
  std::string thread_index(int64_t total, int block) {
    if (total <= std::numeric_limits<int32_t>::max() - block) return "(int)(blockIdx.x * " + std::to_string(block) + "u + threadIdx.x)";
    return "((long long)blockIdx.x * " + std::to_string(block) + " + threadIdx.x)";
  }

  static int64_t blocks_for(int64_t n, int64_t per) { return std::max<int64_t>(1, (n + per - 1) / per); }

  std::string emit_flat(CudaLaunch* L) {
    indent_ = 1;
    memo_.emplace_back();
    const Stmt* inner = k_.body.size() == 1 && k_.body[0].kind == StmtKind::Loop ? &k_.body[0] : nullptr;
    int64_t I = inner ? inner->extent : 1;
    int64_t total = k_.parallel_extent * I;
    L->block_x = kFlatBlock;
    L->grid_x = blocks_for(total, kFlatBlock);
    std::string tt = total <= std::numeric_limits<int32_t>::max() - kFlatBlock ? "int" : "long long";
    line("const " + tt + " t = " + thread_index(total, kFlatBlock) + ";");
    line("if (t >= " + std::to_string(total) + ") return;");
    if (!inner) {
      bind_parallel("t");
      stmts(k_.body);
    } else {
      bind_parallel("t / " + std::to_string(I));
      std::string v = "v" + std::to_string(inner->var);
      line("const " + index_type(I) + " " + v + " = t % " + std::to_string(I) + ";");
      var_[static_cast<size_t>(inner->var)] = v;
      stmts(inner->body);
    }
    memo_.pop_back();
    return take();
  }

  std::string emit_serial(CudaLaunch* L) {
    indent_ = 1;
    memo_.emplace_back();
    L->block_x = 64;
    L->grid_x = blocks_for(k_.parallel_extent, 64);
    line("const int t = " + thread_index(k_.parallel_extent, 64) + ";");
    line("if (t >= " + std::to_string(k_.parallel_extent) + ") return;");
    bind_parallel("t");
    stmts(k_.body);
    memo_.pop_back();
    return take();
  }

  // ---- Gemm mode: a block computes a BM x BN piece of one IR tile (an IR
  // tile larger than that is split over several blocks: its elements are
  // independent). 256 threads as 16 x 16; thread (tx, ty) accumulates rows
  // ty + 16 i and columns tx + 16 j (TM x TN scalars in registers, FMA, k in
  // order, so every sum has the same order as the kernel IR's). Per K step of
  // BK, the A and B pieces are staged through shared memory, k-major with one
  // element of padding per row; each staged element evaluates the operand
  // expression (the fused prologue) once, zero outside the matrix. The sums
  // then go through shared memory to the epilogue, which runs once per
  // element with consecutive threads on consecutive columns.
  struct GemmPlan {
    int bm = 64, bn = 64, tm = 4, tn = 4;
  };
  static int piece(int64_t tile) { return tile >= 48 ? 64 : tile >= 24 ? 32 : 16; }

  // Which of the two indices of an operand should vary fastest across
  // threads while staging (coalesced reads): the one with unit stride in the
  // operand's first load, else `fallback`.
  bool k_fastest(ExprId operand, VarId kv, VarId other, bool fallback) const {
    ExprId load = -1;
    std::set<ExprId> seen;
    std::function<void(ExprId)> find = [&](ExprId e) {
      if (e < 0 || load >= 0 || !seen.insert(e).second) return;
      const Expr& x = k_.expr(e);
      if (x.op == ExprOp::Load) {
        load = e;
        return;
      }
      find(x.a);
      find(x.b);
      find(x.c);
    };
    find(operand);
    if (load < 0) return fallback;
    int64_t ck = 0, co = 0;
    bool ak = affine_in(k_, k_.expr(load).a, kv, {}, &ck), ao = affine_in(k_, k_.expr(load).a, other, {}, &co);
    if (ak && ck == 1) return true;
    if (ao && co == 1) return false;
    return fallback;
  }

  // Stages rows x BK (A: rows = m) or BK x cols (B) of an operand into smem.
  void stage(const GemmSpec& g, bool is_a, const GemmPlan& P, const std::string& T, const std::string& buf, int bk) {
    const int outer = is_a ? P.bm : P.bn;  // the m (or n) extent of the piece
    const int count = outer * bk;
    const VarId ov = is_a ? g.m : g.n;
    const bool kfast = k_fastest(is_a ? g.a : g.b, g.k, ov, is_a);
    const std::string base = is_a ? "mb" : "nb", end = is_a ? "mend" : "nend";
    open("for (int r = 0; r < " + std::to_string((count + 255) / 256) + "; ++r)");
    line("const int e = r * 256 + tid;");
    if ((count % 256) != 0) line("if (e >= " + std::to_string(count) + ") break;");
    line(std::string("const int kk = e ") + (kfast ? "% " + std::to_string(bk) : "/ " + std::to_string(outer)) + ";");
    line(std::string("const int oo = e ") + (kfast ? "/ " + std::to_string(bk) : "% " + std::to_string(outer)) + ";");
    line("const int go = " + base + " + oo, gk = kb + kk;");
    line(T + " x = " + zero_of(g.type) + ";");
    var_[static_cast<size_t>(ov)] = "go";
    var_[static_cast<size_t>(g.k)] = "gk";
    open("if (go < " + end + " && gk < " + std::to_string(g.K) + ")");
    line("x = " + emit(is_a ? g.a : g.b) + ";");
    close();
    var_[static_cast<size_t>(ov)].clear();
    var_[static_cast<size_t>(g.k)].clear();
    line(buf + "[kk * " + std::to_string(outer + 1) + " + oo] = x;");
    close();
  }

  std::string emit_gemm(CudaLaunch* L) {
    indent_ = 1;
    memo_.emplace_back();
    const Stmt& s = k_.body[0];
    const GemmSpec& g = s.gemm;
    GemmPlan P;
    P.bm = piece(std::min(g.tile_m, g.M));
    P.bn = piece(std::min(g.tile_n, g.N));
    P.tm = P.bm / 16;
    P.tn = P.bn / 16;
    const int bk = 16;
    const int64_t subs_m = blocks_for(g.tile_m, P.bm), subs_n = blocks_for(g.tile_n, P.bn);
    const std::string T = g.type == ScalarType::F32 ? "float" : "double";
    const size_t es = g.type == ScalarType::F32 ? 4 : 8;
    const size_t a_elems = static_cast<size_t>(bk * (P.bm + 1)), b_elems = static_cast<size_t>(bk * (P.bn + 1));
    const size_t c_elems = static_cast<size_t>(P.bm * P.bn);
    L->block_x = 16;
    L->block_y = 16;
    L->grid_x = k_.parallel_extent * subs_m * subs_n;
    L->dynamic_smem_bytes = std::max(a_elems + b_elems, c_elems) * es;
    uses_smem_ = true;
    line("const int tx = (int)threadIdx.x, ty = (int)threadIdx.y, tid = ty * 16 + tx;");
    line("const int tile = (int)(blockIdx.x / " + std::to_string(subs_m * subs_n) + "u);");
    line("const int sub = (int)(blockIdx.x % " + std::to_string(subs_m * subs_n) + "u);");
    bind_parallel("tile");
    std::string m0 = emit(g.m0), n0 = emit(g.n0);
    line("const int mb = (int)" + m0 + " + (sub / " + std::to_string(subs_n) + ") * " + std::to_string(P.bm) + ";");
    line("const int nb = (int)" + n0 + " + (sub % " + std::to_string(subs_n) + ") * " + std::to_string(P.bn) + ";");
    line("const int mend = (int)" + m0 + " + " + std::to_string(g.tile_m) + " < " + std::to_string(g.M) + " ? (int)" + m0 + " + " +
         std::to_string(g.tile_m) + " : " + std::to_string(g.M) + ";");
    line("const int nend = (int)" + n0 + " + " + std::to_string(g.tile_n) + " < " + std::to_string(g.N) + " ? (int)" + n0 + " + " +
         std::to_string(g.tile_n) + " : " + std::to_string(g.N) + ";");
    line(T + "* As = (" + T + "*)smem;");
    line(T + "* Bs = As + " + std::to_string(a_elems) + ";");
    for (int i = 0; i < P.tm; ++i) {
      std::string l = T + " ";
      for (int j = 0; j < P.tn; ++j) l += std::string(j ? ", " : "") + "c" + std::to_string(i) + "_" + std::to_string(j) + " = " + zero_of(g.type);
      line(l + ";");
    }
    open("for (int kb = 0; kb < " + std::to_string(g.K) + "; kb += " + std::to_string(bk) + ")");
    stage(g, true, P, T, "As", bk);
    stage(g, false, P, T, "Bs", bk);
    line("__syncthreads();");
    line("#pragma unroll");
    open("for (int kk = 0; kk < " + std::to_string(bk) + "; ++kk)");
    for (int i = 0; i < P.tm; ++i)
      line("const " + T + " av" + std::to_string(i) + " = As[kk * " + std::to_string(P.bm + 1) + " + ty + " + std::to_string(16 * i) + "];");
    for (int j = 0; j < P.tn; ++j)
      line("const " + T + " bv" + std::to_string(j) + " = Bs[kk * " + std::to_string(P.bn + 1) + " + tx + " + std::to_string(16 * j) + "];");
    const std::string fma = g.type == ScalarType::F32 ? "fmaf" : "fma";
    for (int i = 0; i < P.tm; ++i)
      for (int j = 0; j < P.tn; ++j) {
        std::string c = "c" + std::to_string(i) + "_" + std::to_string(j);
        line(c + " = " + fma + "(av" + std::to_string(i) + ", bv" + std::to_string(j) + ", " + c + ");");
      }
    close();
    line("__syncthreads();");
    close();
    // The sums through shared memory (the last K step ended with a barrier).
    line(T + "* Cs = (" + T + "*)smem;");
    for (int i = 0; i < P.tm; ++i)
      for (int j = 0; j < P.tn; ++j)
        line("Cs[(ty + " + std::to_string(16 * i) + ") * " + std::to_string(P.bn) + " + tx + " + std::to_string(16 * j) + "] = c" +
             std::to_string(i) + "_" + std::to_string(j) + ";");
    line("__syncthreads();");
    open("for (int e = tid; e < " + std::to_string(P.bm * P.bn) + "; e += 256)");
    line("const int vm = mb + e / " + std::to_string(P.bn) + ", vn = nb + e % " + std::to_string(P.bn) + ";");
    open("if (vm < mend && vn < nend)");
    line("const " + T + " acc = Cs[e];");
    var_[static_cast<size_t>(g.m)] = "vm";
    var_[static_cast<size_t>(g.n)] = "vn";
    local_[static_cast<size_t>(g.acc)] = "acc";
    stmts(s.body);
    close();
    close();
    memo_.pop_back();
    return take();
  }

  // ---- Block mode: `lanes` threads per parallel iteration (threadIdx.x),
  // `rows` iterations per block (threadIdx.y). Top-level statements run as
  // phases: a Reduce is computed cooperatively (each lane sums a strided
  // subset in order, then a fixed butterfly over the lanes of a warp and a
  // fixed left-to-right combination of the warps' partials: the same order on
  // every run), a Let by every lane, a Store by lane 0, an independent Loop
  // split over the lanes, any other Loop by lane 0. A barrier separates two
  // phases whenever a later one could touch what an earlier one wrote (or
  // write what it read) on another thread.
  std::string emit_block(CudaLaunch* L) {
    int64_t widest = 1;
    for (const Stmt& s : k_.body) {
      if ((s.kind == StmtKind::Reduce || independent_loop(k_, s)) && s.extent > widest) widest = s.extent;
      if (lane_parallel_nest(k_, s)) widest = std::max(widest, s.body.back().extent);
    }
    const int64_t lanes = std::min<int64_t>(pow2_at_least(widest), kMaxRowThreads);
    const int64_t rows = std::max<int64_t>(1, kRowBlock / lanes);
    const int64_t warps_per_row = std::max<int64_t>(1, lanes / 32);
    L->block_x = static_cast<int>(lanes);
    L->block_y = static_cast<int>(rows);
    L->grid_x = blocks_for(k_.parallel_extent, rows);
    indent_ = 1;
    memo_.emplace_back();
    const std::string lane = lanes == 1 ? "0" : "(int)threadIdx.x";
    std::string row = rows == 1 ? "(int)blockIdx.x" : "(int)(blockIdx.x * " + std::to_string(rows) + "u + threadIdx.y)";
    if (k_.parallel_extent % rows == 0) {
      line("const bool active = true;");
      bind_parallel(row);
    } else {
      // Rows past the end compute the last row again (every read in bounds,
      // every barrier reached) but store nothing.
      line("const int row = " + row + ";");
      line("const bool active = row < " + std::to_string(k_.parallel_extent) + ";");
      bind_parallel("active ? row : " + std::to_string(k_.parallel_extent - 1));
    }
    line("const int lane = " + lane + ";");
    std::set<BufId> pending_read, pending_written;
    size_t smem = 0;
    for (const Stmt& s : k_.body) {
      Access a = access_of(k_, {s});
      if (intersects(pending_written, a.read) || intersects(pending_written, a.written) || intersects(pending_read, a.written)) {
        line("__syncthreads();");
        pending_read.clear();
        pending_written.clear();
      }
      pending_read.insert(a.read.begin(), a.read.end());
      pending_written.insert(a.written.begin(), a.written.end());
      switch (s.kind) {
        case StmtKind::Let: stmt(s); break;
        case StmtKind::Store:
          open("if (active && lane == 0)");
          stmt(s);
          close();
          break;
        case StmtKind::Loop:
          if (s.extent <= 0) break;
          if (independent_loop(k_, s)) {
            open("if (active)");
            bind_loop(s, "lane", std::to_string(lanes));
            stmts(s.body);
            close();
            close();
            var_[static_cast<size_t>(s.var)].clear();
          } else if (lane_parallel_nest(k_, s)) {
            // Interchanged: each lane runs the outer loop for its own c.
            const Stmt& in = s.body.back();
            open("if (active)");
            bind_loop(in, "lane", std::to_string(lanes));
            bind_loop(s, "0", "1");
            for (size_t i = 0; i + 1 < s.body.size(); ++i) stmt(s.body[i]);
            stmts(in.body);
            close();
            close();
            close();
            var_[static_cast<size_t>(s.var)].clear();
            var_[static_cast<size_t>(in.var)].clear();
          } else {
            open("if (active && lane == 0)");
            stmt(s);
            close();
          }
          break;
        case StmtKind::Reduce: {
          ScalarType t = k_.locals[static_cast<size_t>(s.local)].type;
          std::string name = "l" + std::to_string(s.local);
          std::string T = local_type(s.local);
          line(T + " " + name + " = " + reduce_init(s.reduce, t) + ";");
          if (s.extent > 0) {
            bind_loop(s, "lane", std::to_string(lanes));
            std::string term = emit(s.value);
            line(name + " = " + combine(s.reduce, t, name, term) + ";");
            close();
            var_[static_cast<size_t>(s.var)].clear();
          }
          // Butterfly over the lanes of the row within a warp: every lane ends
          // with the same value (each step combines x with its partner's x).
          std::string st = t == ScalarType::Bool ? "int" : T;
          // (The partner's value goes to a temporary first: every lane must
          // run each shuffle exactly once, and combine() may name it twice.)
          for (int64_t off = std::min<int64_t>(lanes, 32) / 2; off >= 1; off /= 2)
            line("{ const " + T + " o = (" + T + ")__shfl_xor_sync(0xffffffffu, (" + st + ")" + name + ", " + std::to_string(off) + "); " +
                 name + " = " + combine(s.reduce, t, name, "o") + "; }");
          if (warps_per_row > 1) {
            uses_smem_ = true;
            size_t bytes = static_cast<size_t>(rows * warps_per_row) * 8;
            std::string slot = "((" + st + "*)(smem + " + std::to_string(smem) + "))";
            std::string base = rows == 1 ? "0" : "(int)threadIdx.y * " + std::to_string(warps_per_row);
            line("if ((lane & 31) == 0) " + slot + "[" + base + " + (lane >> 5)] = (" + st + ")" + name + ";");
            line("__syncthreads();");
            line(name + " = (" + T + ")" + slot + "[" + base + "];");
            for (int64_t w = 1; w < warps_per_row; ++w)
              line("{ const " + T + " o = (" + T + ")" + slot + "[" + base + " + " + std::to_string(w) + "]; " + name + " = " +
                   combine(s.reduce, t, name, "o") + "; }");
            smem += bytes;  // one slot per reduction: no barrier needed before the next one writes
            pending_read.clear();
            pending_written.clear();
          }
          local_[static_cast<size_t>(s.local)] = name;
          break;
        }
        case StmtKind::Gemm: throw Error("CUDA emitter: a Gemm inside a row kernel in " + k_.name);
      }
    }
    L->dynamic_smem_bytes = smem;
    memo_.pop_back();
    return take();
  }

  // ---------------------------------------------------------------- prelude
  std::string prelude() const {
    std::string s;
    s += "typedef unsigned int gj_u32;\n";
    if (need_floordiv_)
      s += "static __device__ __forceinline__ long long gj_floordiv(long long a, long long b) {\n"
           "  if (b == 0) return 0;\n"
           "  long long q = a / b, r = a % b;\n"
           "  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;\n"
           "}\n"
           "static __device__ __forceinline__ long long gj_floormod(long long a, long long b) {\n"
           "  if (b == 0) return 0;\n"
           "  long long r = a % b;\n"
           "  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;\n"
           "}\n";
    if (need_f2i_)
      s += "static __device__ __forceinline__ int gj_f2i32(double x) {\n"
           "  if (x != x) return 0;\n"
           "  if (x >= 2147483647.0) return 2147483647;\n"
           "  if (x <= -2147483648.0) return -2147483647 - 1;\n"
           "  return (int)x;\n"
           "}\n"
           "static __device__ __forceinline__ long long gj_f2i64(double x) {\n"
           "  if (x != x) return 0;\n"
           "  if (x >= 9223372036854775807.0) return 9223372036854775807LL;\n"
           "  if (x <= -9223372036854775808.0) return -9223372036854775807LL - 1;\n"
           "  return (long long)x;\n"
           "}\n";
    if (need_pow_)
      // pow as the interpreter (std::pow) defines it, including negative bases
      // with integer exponents; CUDA's pow follows the same C99 rules.
      s += "static __device__ __forceinline__ double gj_pow(double a, double b) { return pow(a, b); }\n";
    if (need_random_) {
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "// ir/random.h, bit for bit\n"
                    "static __device__ __forceinline__ gj_u32 gj_mix32(gj_u32 h) {\n"
                    "  h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;\n"
                    "  return h;\n"
                    "}\n"
                    "static __device__ __forceinline__ gj_u32 gj_random_bits(gj_u32 seed, gj_u32 counter, gj_u32 stream_mul, gj_u32 index) {\n"
                    "  gj_u32 h = gj_mix32(seed ^ 0x9e3779b9u);\n"
                    "  h = gj_mix32(h ^ counter);\n"
                    "  h = gj_mix32(h ^ stream_mul);\n"
                    "  return gj_mix32(h ^ index);\n"
                    "}\n");
      s += buf;
    }
    return s;
  }

  const Kernel& k_;
  CudaTarget target_;
  std::ostringstream out_;
  int indent_ = 1;
  int counter_ = 0;
  std::vector<std::string> var_, local_;
  std::vector<std::unordered_map<ExprId, std::string>> memo_;
  bool need_floordiv_ = false, need_f2i_ = false, need_pow_ = false, need_random_ = false, uses_smem_ = false;
};

}  // namespace

CudaKernelSource emit_cuda(const Kernel& k, const CudaTarget& target) { return Emitter(k, target).run(); }

}  // namespace grokjit::codegen
