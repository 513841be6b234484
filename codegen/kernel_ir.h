// The kernel IR: what one fused kernel computes, independent of any backend.
//
// A Kernel is a loop nest over buffer parameters:
//   parallel for p in [0, parallel_extent):   <- threads on the CPU, blocks on CUDA
//     body                                    <- statements, run per iteration
// Iterations of the parallel loop are independent (each writes its own
// elements), so any static split of them gives bitwise the same result.
//
// Statements: Loop (serial), Let (a named scalar), Reduce (a scalar
// reduction over a serial range, fixed order), Store, and Gemm (a tile of a
// matrix product with an epilogue run per output element). Expressions are
// hash-consed scalar DAG nodes (equal nodes share an id, which is also CSE):
// constants, loop variables, locals, loads (optionally masked), arithmetic,
// compares, select, casts and intrinsics (exp, log, ..., the counter-based
// random of ir/random.h). Index arithmetic (type Index, 64-bit signed) is
// simplified as it is built, using the ranges of loop variables, so views
// (broadcast, reshape, permute, slice, pad, concat) become plain affine
// index math wherever the shapes allow.
//
// Every emitter (LLVM for the CPU, CUDA C) reads this structure and nothing
// else; docs/kernel-ir.md describes it with examples.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace grokjit::codegen {

enum class ScalarType : uint8_t { F32, F64, I32, Bool, Index };

std::string_view scalar_type_name(ScalarType);
ScalarType scalar_type_of(ir::DType);
size_t storage_bytes(ScalarType);  // in a buffer: Bool is one byte, Index 8
bool is_float(ScalarType);

#define GROKJIT_KIR_EXPR_OPS(X) \
  X(Const) X(Var) X(Local) X(Load) X(Random)                                  \
  X(Neg) X(Not) X(Abs) X(Sign) X(Relu) X(Square) X(Exp) X(Log) X(Sqrt)        \
  X(Rsqrt) X(Recip) X(Sin) X(Cos) X(Silu) X(Sigmoid) X(Tanh) X(Cast)          \
  X(Add) X(Sub) X(Mul) X(Div) X(Mod) X(Max) X(Min) X(Pow) X(And) X(Or)        \
  X(Lt) X(Le) X(Gt) X(Ge) X(Eq) X(Ne) X(Select)

enum class ExprOp : uint8_t {
#define GROKJIT_X(name) name,
  GROKJIT_KIR_EXPR_OPS(GROKJIT_X)
#undef GROKJIT_X
};
std::string_view expr_op_name(ExprOp);
bool is_unary(ExprOp);
bool is_binary(ExprOp);
bool is_compare(ExprOp);
bool is_transcendental(ExprOp);  // exp, log, sin, cos, silu, sigmoid, tanh, pow

using ExprId = int32_t;
using VarId = int32_t;
using LocalId = int32_t;
using BufId = int32_t;

// Operand meaning by op:
//   Const: ival (I32, Bool, Index) or fval (F32, F64)
//   Var: ival = VarId; Local: ival = LocalId
//   Load: ival = BufId, a = index (Index), b = mask (Bool) or -1. A masked
//         load yields 0 where the mask is false and never touches memory there.
//   Random: a = seed (I32), b = counter (I32), c = element index (Index),
//           ival = stream; type F32/F64: ir::random_uniform bit for bit.
//   unary ops: a; Cast: a converted to `type` (float->int truncates toward 0)
//   binary ops: a, b (Div/Mod on Index/I32 are floor division/modulo)
//   Select: a = cond (Bool), b = if true, c = if false
// Semantics follow the interpreter (ir/interpreter.cpp): Max(a,b) = a >= b ?
// a : b, Sign(0) = 0, Relu(x) = x > 0 ? x : 0, Silu(x) = x * sigmoid(x).
struct Expr {
  ExprOp op;
  ScalarType type;
  ExprId a = -1, b = -1, c = -1;
  int64_t ival = 0;
  double fval = 0;
  bool operator==(const Expr& o) const;
};

struct Range {  // inclusive bounds of an Index/I32 expression
  int64_t lo, hi;
};

enum class ReduceOp : uint8_t { Sum, Max };
std::string_view reduce_op_name(ReduceOp);

enum class StmtKind : uint8_t { Loop, Let, Reduce, Store, Gemm };

// One tile of C = A x B (one batch) with a fused epilogue: for m in
// [m0, min(m0 + tile_m, M)) and n in [n0, min(n0 + tile_n, N)):
//   acc = sum over k in 0..K-1 (in that order) of a(m, k) * b(k, n)
//   epilogue (with m, n bound and `acc` holding the sum)
// a and b are expressions in (m, k) and (k, n) plus enclosing variables, so
// a transposed or computed operand (a fused prologue) is just an expression;
// the emitter decides whether to read it in place or pack it first.
// b_key identifies the B tile: iterations with equal keys read the same B
// values (an emitter may keep a packed B tile across them).
struct GemmSpec {
  int64_t M = 0, N = 0, K = 0;
  int64_t tile_m = 0, tile_n = 0;
  ExprId m0 = -1, n0 = -1, b_key = -1;
  VarId m = -1, n = -1, k = -1;
  ExprId a = -1, b = -1;
  LocalId acc = -1;
  ScalarType type = ScalarType::F32;
};

struct Stmt {
  explicit Stmt(StmtKind k) : kind(k) {}
  StmtKind kind;
  VarId var = -1;        // Loop, Reduce: the loop variable
  int64_t extent = 0;    // Loop, Reduce: trip count (the variable's range)
  LocalId local = -1;    // Let, Reduce: the scalar defined
  ReduceOp reduce = ReduceOp::Sum;
  ExprId value = -1;     // Let: value; Reduce: the term at `var`; Store: value
  BufId buffer = -1;     // Store
  ExprId index = -1;     // Store
  GemmSpec gemm;         // Gemm
  std::vector<Stmt> body;  // Loop: body; Gemm: epilogue
};

struct Var {
  std::string name;
  int64_t extent;  // the variable ranges over [0, extent)
};

struct Local {
  std::string name;
  ScalarType type;
};

struct BufferParam {
  std::string name;  // what it holds, for people: "%41", "param 'w1'"
  ScalarType type;
  int64_t elements = 0;
  bool read = false, written = false;
  size_t bytes() const { return static_cast<size_t>(elements) * storage_bytes(type); }
};

struct KernelCost {
  double flops = 0;          // float arithmetic per run (gemm: 2 M N K)
  double bytes_read = 0;     // sizes of the buffers read
  double bytes_written = 0;  // sizes of the buffers written
};

class Kernel {
 public:
  Kernel() = default;

  // ---- buffers, variables, locals
  BufId add_buffer(std::string name, ScalarType type, int64_t elements);
  VarId add_var(std::string name, int64_t extent);
  LocalId add_local(std::string name, ScalarType type);

  // ---- expressions (hash-consed; index arithmetic simplified)
  ExprId constant(ScalarType t, double v);
  ExprId index(int64_t v) { return constant(ScalarType::Index, static_cast<double>(v)); }
  ExprId var(VarId v);
  ExprId local(LocalId l);
  ExprId load(BufId b, ExprId index, ExprId mask = -1);
  ExprId random(ExprId seed, ExprId counter, ExprId element, uint32_t stream, ScalarType t);
  ExprId unary(ExprOp op, ExprId a);
  ExprId cast(ScalarType to, ExprId a);
  ExprId binary(ExprOp op, ExprId a, ExprId b);
  ExprId select(ExprId cond, ExprId a, ExprId b);
  // Index helpers (all simplified): a + b, a * c, floor(a / d), a mod d, ...
  ExprId add(ExprId a, ExprId b) { return binary(ExprOp::Add, a, b); }
  ExprId mul(ExprId a, int64_t c) { return binary(ExprOp::Mul, a, index(c)); }
  ExprId div(ExprId a, int64_t d) { return binary(ExprOp::Div, a, index(d)); }
  ExprId mod(ExprId a, int64_t d) { return binary(ExprOp::Mod, a, index(d)); }
  ExprId clamp(ExprId a, int64_t lo, int64_t hi);

  const Expr& expr(ExprId e) const { return exprs_[static_cast<size_t>(e)]; }
  size_t num_exprs() const { return exprs_.size(); }
  Range range(ExprId e) const { return ranges_[static_cast<size_t>(e)]; }
  bool is_const(ExprId e) const { return expr(e).op == ExprOp::Const; }
  int64_t const_int(ExprId e) const { return expr(e).ival; }

  // ---- structure
  std::string name;                   // set by finalize()
  std::string kind = "E";             // name prefix: E, R, MM, BMM, S, C
  std::string shape_tag;              // e.g. "2048x128"; part of the name
  std::vector<std::string> op_tags;   // a few notable ops for the name
  std::vector<BufferParam> buffers;
  std::vector<Var> vars;
  std::vector<Local> locals;
  VarId parallel_var = -1;
  int64_t parallel_extent = 1;
  std::vector<Stmt> body;
  std::vector<std::string> ir_ops;   // provenance: "%12 exp" for each fused IR op

  // Marks buffers read/written, computes the content hash and the name.
  void finalize();
  const std::string& content_hash() const { return hash_; }  // hex, of canonical_text()

 private:
  ExprId intern(Expr e);
  ExprId simplify_index(ExprOp op, ExprId a, ExprId b);
  Range compute_range(const Expr& e) const;

  struct ExprHash {
    size_t operator()(const Expr& e) const;
  };
  std::vector<Expr> exprs_;
  std::vector<Range> ranges_;
  std::unordered_map<Expr, ExprId, ExprHash> interned_;
  std::string hash_;
};

// Statement helpers.
Stmt make_loop(VarId v, int64_t extent, std::vector<Stmt> body);
Stmt make_let(LocalId l, ExprId value);
Stmt make_reduce(LocalId l, ReduceOp op, VarId v, int64_t extent, ExprId term);
Stmt make_store(BufId b, ExprId index, ExprId value);
// Only Let and Store statements (no loops, reductions or matmuls)?
bool is_straight_line(const std::vector<Stmt>& body);

// The kernel as text: a header with the name, buffers and fused ops, then
// the loop nest. canonical_text() leaves out every name and comment: two
// kernels that compute the same thing have the same canonical text (it is
// what the content hash and the compile cache key are made of).
std::string to_text(const Kernel& k);
std::string canonical_text(const Kernel& k);
std::string expr_text(const Kernel& k, ExprId e);

// An index expression as a sum of coeff * atom plus a constant, atoms being
// the nodes that are not Add, Sub, Const or a product with a constant: adds
// `scale` times e's terms to `terms` and its constant to *constant if given.
void linear_terms(const Kernel& k, ExprId e, int64_t scale, std::map<ExprId, int64_t>& terms, int64_t* constant = nullptr);

// FLOPs and bytes of one run, computed from the kernel IR.
KernelCost kernel_cost(const Kernel& k);

// "parallel 512 x (loop 4 [loop 4 [reduce 128]])": the loop nest, for listings.
std::string launch_shape(const Kernel& k);

// Calls f(stmt) for every statement, nested ones included, in program order.
template <class F>
void for_each_stmt(const std::vector<Stmt>& body, F&& f) {
  for (const Stmt& s : body) {
    f(s);
    for_each_stmt(s.body, f);
  }
}

// Short hex digest of a string (SHA-256 prefix); used for names and keys.
std::string hex_digest(std::string_view text, size_t hex_chars = 16);

}  // namespace grokjit::codegen
