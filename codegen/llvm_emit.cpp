#include "codegen/llvm_emit.h"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <functional>
#include <limits>
#include <unordered_map>

#include "ir/error.h"

namespace grokjit::codegen {

std::string CpuEmitOptions::key() const {
  return "llvm-emit" + std::to_string(kLlvmEmitterVersion) + "-v" + std::to_string(vector_bytes) + "-mr" + std::to_string(gemm_mr);
}

std::string kernel_symbol(const Kernel& k) { return k.name + "_" + k.content_hash(); }

namespace {

using llvm::Value;
using llvm::Type;

constexpr int64_t kGemmKBlock = 256;  // K blocking when K > 512

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// ---- gemm operand analysis: is an operand a strided load (read in place)?
struct Operand {
  bool affine = false;  // a plain load at base + outer*stride_outer + k*stride_k
  bool direct = false;  // read in place by the microkernel (else packed)
  BufId buffer = -1;
  ExprId index = -1;
  int64_t stride_outer = 0, stride_k = 0;  // A: (m, k); B: (n, k)
};

bool uses_var(const Kernel& k, ExprId e, VarId v, std::unordered_map<ExprId, bool>& memo) {
  auto it = memo.find(e);
  if (it != memo.end()) return it->second;
  const Expr& x = k.expr(e);
  bool r = x.op == ExprOp::Var && x.ival == v;
  for (ExprId c : {x.a, x.b, x.c})
    if (c >= 0 && !r) r = uses_var(k, c, v, memo);
  memo[e] = r;
  return r;
}

// Coefficient of v in an index expression, if it is affine in v.
bool affine(const Kernel& k, ExprId e, VarId v, int64_t* coeff) {
  std::unordered_map<ExprId, bool> memo;
  std::function<bool(ExprId, int64_t)> walk = [&](ExprId id, int64_t scale) {
    const Expr& x = k.expr(id);
    if (x.op == ExprOp::Var && x.ival == v) {
      *coeff += scale;
      return true;
    }
    if (x.op == ExprOp::Add) return walk(x.a, scale) && walk(x.b, scale);
    if (x.op == ExprOp::Mul && k.is_const(x.b)) return walk(x.a, scale * k.const_int(x.b));
    return !uses_var(k, id, v, memo);
  };
  *coeff = 0;
  return walk(e, 1);
}

// Does every load in `e` move by 0 or 1 elements per step of v (so a loop
// over v vectorizes without gathers)?
bool unit_stride_loads(const Kernel& k, ExprId e, VarId v) {
  std::unordered_map<ExprId, bool> seen;
  std::function<bool(ExprId)> walk = [&](ExprId id) {
    if (id < 0) return true;
    auto it = seen.find(id);
    if (it != seen.end()) return it->second;
    const Expr& x = k.expr(id);
    bool ok = true;
    if (x.op == ExprOp::Load) {
      int64_t c = 0;
      ok = affine(k, x.a, v, &c) && (c == 0 || c == 1);
    }
    ok = ok && walk(x.a) && walk(x.b) && walk(x.c);
    seen[id] = ok;
    return ok;
  };
  return walk(e);
}

// Does every store in `body` move by one element per step of v and every
// load by 0 or 1 (a straight-line body: no loops)?
bool unit_stride_stmts(const Kernel& k, const std::vector<Stmt>& body, VarId v) {
  for (const Stmt& s : body) {
    int64_t c = 0;
    if (s.kind == StmtKind::Let && unit_stride_loads(k, s.value, v)) continue;
    if (s.kind == StmtKind::Store && affine(k, s.index, v, &c) && c == 1 && unit_stride_loads(k, s.value, v)) continue;
    return false;
  }
  return true;
}

Operand analyze_operand(const Kernel& k, ExprId value, VarId outer, VarId kv) {
  Operand o;
  const Expr& x = k.expr(value);
  if (x.op != ExprOp::Load || x.b >= 0) return o;
  o.buffer = static_cast<BufId>(x.ival);
  o.index = x.a;
  o.affine = affine(k, x.a, outer, &o.stride_outer) && affine(k, x.a, kv, &o.stride_k);
  o.direct = o.affine;
  return o;
}

// With K blocking (long K), operands whose rows along k are far apart are
// packed: the packed panel is contiguous (fewer TLB misses and cache lines).
bool k_blocked(const GemmSpec& g) { return g.K > 512; }

Operand analyze_a(const Kernel& k, const GemmSpec& g) {
  Operand a = analyze_operand(k, g.a, g.m, g.k);
  a.direct = a.direct && a.stride_k == 1;
  return a;
}

Operand analyze_b(const Kernel& k, const GemmSpec& g, int nr) {
  Operand b = analyze_operand(k, g.b, g.n, g.k);
  b.direct = b.direct && b.stride_outer == 1 && g.N % nr == 0 && g.tile_n % nr == 0 && !k_blocked(g);
  return b;
}

// Per-thread scratch of a gemm: [B-tile tag][packed A][packed B][C sums].
struct GemmLayout {
  int lanes = 8, mr = 6, nr = 16;
  int64_t kc = 0, mpad = 0, ldc = 0;
  bool cache_b = false;  // B packed as a whole tile and kept across iterations with the same b_key
  size_t a_off = 0, b_off = 0, c_off = 0, total = 0;
};

GemmLayout gemm_layout(const Kernel& k, const GemmSpec& g, const CpuEmitOptions& o) {
  GemmLayout l;
  size_t elem = g.type == ScalarType::F64 ? 8 : 4;
  l.lanes = o.vector_bytes / static_cast<int>(elem);
  l.mr = o.gemm_mr;
  l.nr = 2 * l.lanes;
  l.kc = k_blocked(g) ? kGemmKBlock : g.K;
  l.mpad = round_up(g.tile_m, l.mr);
  l.ldc = round_up(g.tile_n, l.nr);
  const bool b_direct = analyze_b(k, g, l.nr).direct;
  l.cache_b = !b_direct && l.kc == g.K;
  auto align = [](size_t x) { return (x + 63) / 64 * 64; };
  const int64_t kc = std::max<int64_t>(l.kc, 1);
  l.a_off = 64;
  l.b_off = l.a_off + align(static_cast<size_t>(l.mpad * kc) * elem);
  size_t b_bytes = b_direct ? 0 : static_cast<size_t>(kc * l.ldc) * elem;
  l.c_off = l.b_off + align(b_bytes);
  // Sums of the tile (blocked K: partial sums of every row) or of one row strip.
  l.total = l.c_off + align(static_cast<size_t>((l.kc < g.K ? l.mpad : l.mr) * l.ldc) * elem);
  return l;
}

class Emitter {
 public:
  Emitter(const Kernel& k, llvm::LLVMContext& ctx, const CpuEmitOptions& opt)
      : k_(k), C_(ctx), B_(ctx), opt_(opt), mod_(std::make_unique<llvm::Module>(kernel_symbol(k), ctx)) {
    // a * b + c may become one FMA (as NVRTC does by default): fewer instructions in the inline exp, log and
    // sigmoid polynomials of fused epilogues, one rounding instead of two. Results stay deterministic per build.
    llvm::FastMathFlags contract;
    contract.setAllowContract();
    B_.setFastMathFlags(contract);
  }

  std::unique_ptr<llvm::Module> run() {
    auto* ptr = llvm::PointerType::get(C_, 0);
    auto* fty = llvm::FunctionType::get(Type::getVoidTy(C_), {ptr, i64(), i64(), ptr}, false);
    fn_ = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, kernel_symbol(k_), mod_.get());
    fn_->addFnAttr(llvm::Attribute::NoUnwind);
    fn_->addParamAttr(0, llvm::Attribute::NoAlias);
    fn_->addParamAttr(3, llvm::Attribute::NoAlias);
    entry_ = llvm::BasicBlock::Create(C_, "entry", fn_);
    B_.SetInsertPoint(entry_);
    auto args = fn_->arg_begin();
    Value* buf_array = &*args++;
    Value* begin = &*args++;
    Value* end = &*args++;
    scratch_ = &*args;
    // Distinct kernel buffers never overlap: one alias scope per buffer.
    llvm::MDBuilder md(C_);
    llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("grokjit");
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      Value* slot = B_.CreateConstInBoundsGEP1_64(ptr, buf_array, i);
      auto* base = B_.CreateLoad(ptr, slot, "b" + std::to_string(i));
      bufs_.push_back(base);
      scopes_md_.push_back(md.createAnonymousAliasScope(domain, "b" + std::to_string(i)));
    }
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      std::vector<llvm::Metadata*> others;
      for (size_t j = 0; j < k_.buffers.size(); ++j)
        if (j != i) others.push_back(scopes_md_[j]);
      scope_list_.push_back(llvm::MDNode::get(C_, {scopes_md_[i]}));
      noalias_list_.push_back(llvm::MDNode::get(C_, others));
    }
    vars_.assign(k_.vars.size(), nullptr);
    locals_.assign(k_.locals.size(), nullptr);
    bool has_gemm = false;
    for_each_stmt(k_.body, [&](const Stmt& s) { has_gemm = has_gemm || s.kind == StmtKind::Gemm; });
    if (has_gemm) B_.CreateStore(ci(-1), scratch_);  // no packed B tile is valid yet
    memo_.emplace_back();
    loop(begin, end, true, {}, [&](Value* p, const std::vector<Value*>&) {
      vars_[static_cast<size_t>(k_.parallel_var)] = p;
      scoped([&] { stmts(k_.body); });
      return std::vector<Value*>{};
    });
    B_.CreateRetVoid();
    std::string err;
    llvm::raw_string_ostream os(err);
    if (llvm::verifyFunction(*fn_, &os)) throw Error("LLVM emitter produced invalid IR for " + k_.name + ": " + os.str());
    return std::move(mod_);
  }

 private:
  // ---- types and constants
  Type* i64() { return Type::getInt64Ty(C_); }
  Type* i32() { return Type::getInt32Ty(C_); }
  Type* i1() { return Type::getInt1Ty(C_); }
  Type* ty(ScalarType t) {
    switch (t) {
      case ScalarType::F32: return Type::getFloatTy(C_);
      case ScalarType::F64: return Type::getDoubleTy(C_);
      case ScalarType::I32: return i32();
      case ScalarType::Bool: return i1();
      case ScalarType::Index: return i64();
    }
    return nullptr;
  }
  Type* storage_ty(ScalarType t) { return t == ScalarType::Bool ? Type::getInt8Ty(C_) : ty(t); }
  Value* ci(int64_t v) { return llvm::ConstantInt::get(i64(), static_cast<uint64_t>(v), true); }
  Value* cf(Type* t, double v) { return llvm::ConstantFP::get(t, v); }
  Value* cint(Type* t, int64_t v) { return llvm::ConstantInt::get(t, static_cast<uint64_t>(v), true); }

  llvm::BasicBlock* block(const char* name) { return llvm::BasicBlock::Create(C_, name, fn_); }

  // A counted loop [begin, end) with loop-carried values. `guard` checks for
  // an empty range first; otherwise the range must be non-empty.
  using Body = std::function<std::vector<Value*>(Value*, const std::vector<Value*>&)>;
  // vectorize: ask LLVM to vectorize this loop and not to fully unroll it
  // first (a short constant loop would otherwise be unrolled into scalar code
  // before the loop vectorizer sees it).
  // width: also the vector width in lanes (0: LLVM's choice).
  std::vector<Value*> loop(Value* begin, Value* end, bool guard, const std::vector<Value*>& init, const Body& body,
                           bool vectorize = false, int width = 0) {
    llvm::BasicBlock* pre = B_.GetInsertBlock();
    llvm::BasicBlock* header = block("loop");
    llvm::BasicBlock* exit = block("loop.exit");
    if (guard) B_.CreateCondBr(B_.CreateICmpSLT(begin, end), header, exit);
    else B_.CreateBr(header);
    B_.SetInsertPoint(header);
    llvm::PHINode* iv = B_.CreatePHI(i64(), 2, "iv");
    iv->addIncoming(begin, pre);
    std::vector<llvm::PHINode*> carried;
    std::vector<Value*> carried_values;
    for (Value* v : init) {
      llvm::PHINode* phi = B_.CreatePHI(v->getType(), 2);
      phi->addIncoming(v, pre);
      carried.push_back(phi);
      carried_values.push_back(phi);
    }
    std::vector<Value*> next_values = body(iv, carried_values);
    Value* next = B_.CreateAdd(iv, ci(1), "iv.next", true, true);
    llvm::BasicBlock* latch = B_.GetInsertBlock();
    iv->addIncoming(next, latch);
    for (size_t i = 0; i < carried.size(); ++i) carried[i]->addIncoming(next_values[i], latch);
    llvm::BranchInst* latch_br = B_.CreateCondBr(B_.CreateICmpSLT(next, end), header, exit);
    if (vectorize) {
      llvm::LLVMContext& c = C_;
      auto flag = [&](const char* name, bool on) {
        return llvm::MDNode::get(c, {llvm::MDString::get(c, name),
                                     llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(Type::getInt1Ty(c), on))});
      };
      std::vector<llvm::Metadata*> hints = {nullptr, flag("llvm.loop.vectorize.enable", true),
                                            llvm::MDNode::get(c, {llvm::MDString::get(c, "llvm.loop.unroll.disable")})};
      if (width > 0)
        hints.push_back(llvm::MDNode::get(c, {llvm::MDString::get(c, "llvm.loop.vectorize.width"),
                                              llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(Type::getInt32Ty(c), width))}));
      auto* self = llvm::MDNode::getDistinct(c, hints);
      self->replaceOperandWith(0, self);
      latch_br->setMetadata(llvm::LLVMContext::MD_loop, self);
    }
    B_.SetInsertPoint(exit);
    std::vector<Value*> out;
    for (size_t i = 0; i < carried.size(); ++i) {
      if (!guard) {
        out.push_back(next_values[i]);
        continue;
      }
      llvm::PHINode* phi = B_.CreatePHI(init[i]->getType(), 2);
      phi->addIncoming(init[i], pre);
      phi->addIncoming(next_values[i], latch);
      out.push_back(phi);
    }
    return out;
  }

  void scoped(const std::function<void()>& f) {
    memo_.emplace_back();
    f();
    memo_.pop_back();
  }

  // ---- statements
  void stmts(const std::vector<Stmt>& body) {
    for (const Stmt& s : body) stmt(s);
  }

  void stmt(const Stmt& s) {
    switch (s.kind) {
      case StmtKind::Loop: {
        if (s.extent <= 0) return;
        bool innermost = true;
        for (const Stmt& b : s.body) innermost = innermost && b.kind != StmtKind::Loop && b.kind != StmtKind::Reduce;
        loop(ci(0), ci(s.extent), false, {}, [&](Value* iv, const std::vector<Value*>&) {
          vars_[static_cast<size_t>(s.var)] = iv;
          scoped([&] { stmts(s.body); });
          return std::vector<Value*>{};
        }, innermost && s.extent >= 8 && s.extent <= 64);
        return;
      }
      case StmtKind::Let: locals_[static_cast<size_t>(s.local)] = emit(s.value); return;
      case StmtKind::Reduce: {
        ScalarType t = k_.locals[static_cast<size_t>(s.local)].type;
        Type* T = ty(t);
        Value* init;
        if (s.reduce == ReduceOp::Sum) init = is_float(t) ? cf(T, 0.0) : cint(T, 0);
        else init = is_float(t) ? cf(T, -std::numeric_limits<double>::infinity())
                                : cint(T, t == ScalarType::I32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min());
        if (s.extent <= 0) {
          locals_[static_cast<size_t>(s.local)] = init;
          return;
        }
        auto out = loop(ci(0), ci(s.extent), false, {init}, [&](Value* iv, const std::vector<Value*>& acc) {
          vars_[static_cast<size_t>(s.var)] = iv;
          Value* next = nullptr;
          scoped([&] {
            Value* term = emit(s.value);
            next = combine(s.reduce, t, acc[0], term);
          });
          return std::vector<Value*>{next};
        });
        locals_[static_cast<size_t>(s.local)] = out[0];
        return;
      }
      case StmtKind::Store: {
        Value* idx = emit(s.index);
        Value* v = emit(s.value);
        store(s.buffer, idx, v);
        return;
      }
      case StmtKind::Gemm: gemm(s); return;
    }
  }

  Value* combine(ReduceOp op, ScalarType t, Value* acc, Value* term) {
    if (op == ReduceOp::Sum) {
      if (!is_float(t)) return B_.CreateAdd(acc, term);
      Value* r = B_.CreateFAdd(acc, term);
      // Deterministic reassociation: lets LLVM keep vector partial sums.
      if (auto* inst = llvm::dyn_cast<llvm::Instruction>(r)) inst->setHasAllowReassoc(true);
      return r;
    }
    if (!is_float(t)) return B_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, acc, term);
    return B_.CreateMaximum(acc, term);  // NaN-propagating, like the interpreter
  }

  Value* address(BufId b, Value* idx) {
    Type* st = storage_ty(k_.buffers[static_cast<size_t>(b)].type);
    return B_.CreateInBoundsGEP(st, bufs_[static_cast<size_t>(b)], idx);
  }

  template <class I>
  I* tag(I* inst, BufId b) {
    inst->setMetadata(llvm::LLVMContext::MD_alias_scope, scope_list_[static_cast<size_t>(b)]);
    inst->setMetadata(llvm::LLVMContext::MD_noalias, noalias_list_[static_cast<size_t>(b)]);
    return inst;
  }

  Value* load(BufId b, Value* idx) {
    ScalarType t = k_.buffers[static_cast<size_t>(b)].type;
    Type* st = storage_ty(t);
    auto* l = tag(B_.CreateLoad(st, address(b, idx)), b);
    if (t == ScalarType::Bool) return B_.CreateICmpNE(l, llvm::ConstantInt::get(st, 0));
    return l;
  }

  void store(BufId b, Value* idx, Value* v) {
    ScalarType t = k_.buffers[static_cast<size_t>(b)].type;
    if (t == ScalarType::Bool) v = B_.CreateZExt(v, Type::getInt8Ty(C_));
    tag(B_.CreateStore(v, address(b, idx)), b);
  }

  // ---- expressions
  Value* emit(ExprId e) {
    for (size_t i = memo_.size(); i-- > 0;) {
      auto it = memo_[i].find(e);
      if (it != memo_[i].end()) return it->second;
    }
    Value* v = compute(e);
    memo_.back()[e] = v;
    return v;
  }

  Value* compute(ExprId id) {
    const Expr& e = k_.expr(id);
    Type* T = ty(e.type);
    switch (e.op) {
      case ExprOp::Const:
        if (is_float(e.type)) return cf(T, e.fval);
        return cint(T, e.ival);
      case ExprOp::Var: {
        Value* v = vars_[static_cast<size_t>(e.ival)];
        if (!v) throw Error("LLVM emitter: variable " + k_.vars[static_cast<size_t>(e.ival)].name + " is not bound in " + k_.name);
        return v;
      }
      case ExprOp::Local: {
        Value* v = locals_[static_cast<size_t>(e.ival)];
        if (!v) throw Error("LLVM emitter: local " + k_.locals[static_cast<size_t>(e.ival)].name + " used before definition in " + k_.name);
        return v;
      }
      case ExprOp::Load: {
        Value* idx = emit(e.a);
        BufId b = static_cast<BufId>(e.ival);
        if (e.b < 0) return load(b, idx);
        Value* mask = emit(e.b);
        Value* safe = B_.CreateSelect(mask, idx, ci(0));
        Value* v = load(b, safe);
        return B_.CreateSelect(mask, v, llvm::Constant::getNullValue(v->getType()));
      }
      case ExprOp::Random: return random(emit(e.a), emit(e.b), emit_low32(e.c), static_cast<uint32_t>(e.ival), T);
      case ExprOp::Cast: return cast(emit(e.a), k_.expr(e.a).type, e.type);
      case ExprOp::Select: return B_.CreateSelect(emit(e.a), emit(e.b), emit(e.c));
      default: break;
    }
    if (is_unary(e.op)) return unary(e.op, e.type, emit(e.a));
    ScalarType operand = k_.expr(e.a).type;
    return binary(e.op, operand, emit(e.a), emit(e.b));
  }

  // The low 32 bits of an integer expression, computed in i32. Wrapping +, - and * commute with truncation, so a
  // random element index vectorizes as i32 lanes instead of i64 lanes narrowed after the fact.
  Value* emit_low32(ExprId id) {
    const Expr& e = k_.expr(id);
    switch (e.op) {
      case ExprOp::Const: return cint(i32(), static_cast<int32_t>(e.ival));
      case ExprOp::Add: return B_.CreateAdd(emit_low32(e.a), emit_low32(e.b));
      case ExprOp::Sub: return B_.CreateSub(emit_low32(e.a), emit_low32(e.b));
      case ExprOp::Mul: return B_.CreateMul(emit_low32(e.a), emit_low32(e.b));
      default: return B_.CreateTrunc(emit(id), i32());
    }
  }

  Value* cast(Value* x, ScalarType from, ScalarType to) {
    Type* T = ty(to);
    if (from == to) return x;
    if (is_float(from) && is_float(to)) return from == ScalarType::F32 ? B_.CreateFPExt(x, T) : B_.CreateFPTrunc(x, T);
    if (is_float(to)) return from == ScalarType::Bool ? B_.CreateUIToFP(x, T) : B_.CreateSIToFP(x, T);
    if (to == ScalarType::Bool) {
      if (is_float(from)) return B_.CreateFCmpUNE(x, cf(x->getType(), 0.0));
      return B_.CreateICmpNE(x, cint(x->getType(), 0));
    }
    if (is_float(from)) {  // truncation toward zero; out of range saturates (the interpreter throws)
      Value* r = B_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {T, x->getType()}, {x});
      return r;
    }
    if (from == ScalarType::Bool) return B_.CreateZExt(x, T);
    return B_.CreateSExtOrTrunc(x, T);
  }

  Value* unary(ExprOp op, ScalarType t, Value* x) {
    Type* T = x->getType();
    if (!is_float(t)) {
      Value* zero = cint(T, 0);
      switch (op) {
        case ExprOp::Neg: return B_.CreateSub(zero, x);
        case ExprOp::Not: return B_.CreateNot(x);
        case ExprOp::Abs: return B_.CreateSelect(B_.CreateICmpSLT(x, zero), B_.CreateSub(zero, x), x);
        case ExprOp::Sign:
          return B_.CreateSub(B_.CreateZExt(B_.CreateICmpSGT(x, zero), T), B_.CreateZExt(B_.CreateICmpSLT(x, zero), T));
        case ExprOp::Relu: return B_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, zero);
        case ExprOp::Square: return B_.CreateMul(x, x);
        default: throw Error("LLVM emitter: " + std::string(expr_op_name(op)) + " on an integer in " + k_.name);
      }
    }
    Value* zero = cf(T, 0.0);
    Value* one = cf(T, 1.0);
    switch (op) {
      case ExprOp::Neg: return B_.CreateFNeg(x);
      case ExprOp::Abs: return B_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
      case ExprOp::Sign:
        return B_.CreateSelect(B_.CreateFCmpOGT(x, zero), one, B_.CreateSelect(B_.CreateFCmpOLT(x, zero), cf(T, -1.0), zero));
      case ExprOp::Relu: return B_.CreateSelect(B_.CreateFCmpOGT(x, zero), x, zero);
      case ExprOp::Square: return B_.CreateFMul(x, x);
      case ExprOp::Exp: return exp(x);
      case ExprOp::Log: return log(x);
      case ExprOp::Sqrt: return B_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
      case ExprOp::Rsqrt: return B_.CreateFDiv(one, B_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
      case ExprOp::Recip: return B_.CreateFDiv(one, x);
      case ExprOp::Sin: return sincos(x, false);
      case ExprOp::Cos: return sincos(x, true);
      case ExprOp::Sigmoid: return sigmoid(x);
      case ExprOp::Silu: return B_.CreateFMul(x, sigmoid(x));
      case ExprOp::Tanh: return tanh(x);
      default: throw Error("LLVM emitter: unary " + std::string(expr_op_name(op)) + " in " + k_.name);
    }
  }

  Value* binary(ExprOp op, ScalarType t, Value* a, Value* b) {
    if (is_float(t)) {
      switch (op) {
        case ExprOp::Add: return B_.CreateFAdd(a, b);
        case ExprOp::Sub: return B_.CreateFSub(a, b);
        case ExprOp::Mul: return B_.CreateFMul(a, b);
        case ExprOp::Div: return B_.CreateFDiv(a, b);
        case ExprOp::Max: return B_.CreateSelect(B_.CreateFCmpOGE(a, b), a, b);
        case ExprOp::Min: return B_.CreateSelect(B_.CreateFCmpOLE(a, b), a, b);
        case ExprOp::Pow: return pow(a, b);
        case ExprOp::Lt: return B_.CreateFCmpOLT(a, b);
        case ExprOp::Le: return B_.CreateFCmpOLE(a, b);
        case ExprOp::Gt: return B_.CreateFCmpOGT(a, b);
        case ExprOp::Ge: return B_.CreateFCmpOGE(a, b);
        case ExprOp::Eq: return B_.CreateFCmpOEQ(a, b);
        case ExprOp::Ne: return B_.CreateFCmpUNE(a, b);
        default: break;
      }
    } else {
      bool index = t == ScalarType::Index;
      switch (op) {
        case ExprOp::Add: return B_.CreateAdd(a, b, "", false, index);
        case ExprOp::Sub: return B_.CreateSub(a, b, "", false, index);
        case ExprOp::Mul: return B_.CreateMul(a, b, "", false, index);
        case ExprOp::Div: case ExprOp::Mod: return floor_divmod(op, a, b);
        case ExprOp::Max: return t == ScalarType::Bool ? B_.CreateOr(a, b) : B_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, a, b);
        case ExprOp::Min: return t == ScalarType::Bool ? B_.CreateAnd(a, b) : B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, a, b);
        case ExprOp::And: return B_.CreateAnd(a, b);
        case ExprOp::Or: return B_.CreateOr(a, b);
        case ExprOp::Lt: return t == ScalarType::Bool ? B_.CreateICmpULT(a, b) : B_.CreateICmpSLT(a, b);
        case ExprOp::Le: return t == ScalarType::Bool ? B_.CreateICmpULE(a, b) : B_.CreateICmpSLE(a, b);
        case ExprOp::Gt: return t == ScalarType::Bool ? B_.CreateICmpUGT(a, b) : B_.CreateICmpSGT(a, b);
        case ExprOp::Ge: return t == ScalarType::Bool ? B_.CreateICmpUGE(a, b) : B_.CreateICmpSGE(a, b);
        case ExprOp::Eq: return B_.CreateICmpEQ(a, b);
        case ExprOp::Ne: return B_.CreateICmpNE(a, b);
        default: break;
      }
    }
    throw Error("LLVM emitter: binary " + std::string(expr_op_name(op)) + " on " + std::string(scalar_type_name(t)) + " in " + k_.name);
  }

  // Floor division / modulo by a positive divisor (what the kernel IR means).
  Value* floor_divmod(ExprOp op, Value* a, Value* b) {
    Value* q = B_.CreateSDiv(a, b);
    Value* r = B_.CreateSRem(a, b);
    Value* zero = cint(a->getType(), 0);
    Value* neg = B_.CreateICmpSLT(r, zero);
    if (op == ExprOp::Div) return B_.CreateSub(q, B_.CreateZExt(neg, a->getType()));
    return B_.CreateAdd(r, B_.CreateSelect(neg, b, zero));
  }

  // ---- counter-based random (ir/random.h), bit for bit
  Value* mix32(Value* h) {
    h = B_.CreateXor(h, B_.CreateLShr(h, 16));
    h = B_.CreateMul(h, cint(i32(), 0x7feb352d));
    h = B_.CreateXor(h, B_.CreateLShr(h, 15));
    h = B_.CreateMul(h, cint(i32(), static_cast<int64_t>(0x846ca68bU)));
    h = B_.CreateXor(h, B_.CreateLShr(h, 16));
    return h;
  }
  Value* random(Value* seed, Value* counter, Value* element, uint32_t stream, Type* T) {
    Value* h = mix32(B_.CreateXor(seed, cint(i32(), static_cast<int64_t>(0x9e3779b9U))));
    h = mix32(B_.CreateXor(h, counter));
    h = mix32(B_.CreateXor(h, cint(i32(), static_cast<int64_t>(static_cast<uint32_t>(stream * 0x85ebca6bU)))));
    h = mix32(B_.CreateXor(h, element));  // element: its low 32 bits (emit_low32)
    Value* bits = B_.CreateLShr(h, 8);
    return B_.CreateFMul(B_.CreateUIToFP(bits, T), cf(T, 1.0 / 16777216.0));
  }

  // ---- math: polynomial approximations emitted inline (they vectorize)
  bool f32(Type* T) const { return T->isFloatTy(); }
  Type* int_of(Type* T) { return f32(T) ? i32() : i64(); }
  Value* horner(Value* x, const std::vector<double>& c) {  // c[0] + c[1] x + ...
    Type* T = x->getType();
    Value* p = cf(T, c.back());
    for (size_t i = c.size() - 1; i-- > 0;) p = B_.CreateFAdd(B_.CreateFMul(p, x), cf(T, c[i]));
    return p;
  }
  // 2^n for an integer-valued n in the normal exponent range.
  Value* pow2i(Value* n_int, Type* T) {
    int mant = f32(T) ? 23 : 52, bias = f32(T) ? 127 : 1023;
    Value* biased = B_.CreateAdd(n_int, cint(int_of(T), bias));
    return B_.CreateBitCast(B_.CreateShl(biased, mant), T);
  }

  Value* exp(Value* x) {
    Type* T = x->getType();
    bool s = f32(T);
    double hi = s ? 88.72283172607421875 : 709.782712893384;
    double lo = s ? -103.972084045410156 : -745.1332191019412;
    Value* xc = B_.CreateMinNum(B_.CreateMaxNum(x, cf(T, lo)), cf(T, hi));
    Value* n = B_.CreateUnaryIntrinsic(llvm::Intrinsic::rint, B_.CreateFMul(xc, cf(T, 1.4426950408889634)));
    double ln2_hi = s ? 0.693359375 : 6.93145751953125E-1;
    double ln2_lo = s ? -2.12194440e-4 : 1.42860682030941723212E-6;
    Value* r = B_.CreateFSub(B_.CreateFSub(xc, B_.CreateFMul(n, cf(T, ln2_hi))), B_.CreateFMul(n, cf(T, ln2_lo)));
    Value* p;
    if (s) {  // Cephes expf: 1 + r + r^2 P(r)
      Value* q = horner(r, {5.0000001201E-1, 1.6666665459E-1, 4.1665795894E-2, 8.3334519073E-3, 1.3981999507E-3, 1.9875691500E-4});
      p = B_.CreateFAdd(B_.CreateFAdd(B_.CreateFMul(B_.CreateFMul(r, r), q), r), cf(T, 1.0));
    } else {  // Taylor to r^13 (|r| <= ln2/2): error below 1e-17
      std::vector<double> c(14);
      double f = 1;
      for (int i = 0; i < 14; ++i) {
        if (i > 0) f *= i;
        c[static_cast<size_t>(i)] = 1.0 / f;
      }
      p = horner(r, c);
    }
    Value* ni = B_.CreateFPToSI(n, int_of(T));
    Value* n1 = B_.CreateAShr(ni, 1);
    Value* n2 = B_.CreateSub(ni, n1);
    Value* y = B_.CreateFMul(B_.CreateFMul(p, pow2i(n1, T)), pow2i(n2, T));
    y = B_.CreateSelect(B_.CreateFCmpOGT(x, cf(T, hi)), cf(T, std::numeric_limits<double>::infinity()), y);
    y = B_.CreateSelect(B_.CreateFCmpOLT(x, cf(T, lo)), cf(T, 0.0), y);
    return B_.CreateSelect(B_.CreateFCmpUNO(x, x), x, y);
  }

  Value* log(Value* x) {
    Type* T = x->getType();
    bool s = f32(T);
    Type* I = int_of(T);
    int mant = s ? 23 : 52;
    int64_t bias = s ? 127 : 1023;
    double tiny = s ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
    int up = s ? 25 : 54;
    Value* sub = B_.CreateFCmpOLT(x, cf(T, tiny));
    Value* xs = B_.CreateSelect(sub, B_.CreateFMul(x, cf(T, std::ldexp(1.0, up))), x);
    Value* eadj = B_.CreateSelect(sub, cint(I, -up), cint(I, 0));
    Value* bits = B_.CreateBitCast(xs, I);
    int64_t exp_mask = s ? 0xff : 0x7ff;
    Value* e = B_.CreateSub(B_.CreateAnd(B_.CreateLShr(bits, mant), cint(I, exp_mask)), cint(I, bias - 1));
    int64_t mant_mask = s ? 0x007fffff : 0x000fffffffffffffLL;
    int64_t half_bits = s ? 0x3f000000 : 0x3fe0000000000000LL;
    Value* m = B_.CreateBitCast(B_.CreateOr(B_.CreateAnd(bits, cint(I, mant_mask)), cint(I, half_bits)), T);  // [0.5, 1)
    Value* small = B_.CreateFCmpOLT(m, cf(T, 0.70710678118654752440));
    m = B_.CreateSelect(small, B_.CreateFAdd(m, m), m);
    e = B_.CreateAdd(B_.CreateSub(e, B_.CreateZExt(small, I)), eadj);
    Value* f = B_.CreateFSub(m, cf(T, 1.0));
    Value* sv = B_.CreateFDiv(f, B_.CreateFAdd(f, cf(T, 2.0)));
    Value* s2 = B_.CreateFMul(sv, sv);
    std::vector<double> c;
    for (int k = 0; k < (s ? 5 : 11); ++k) c.push_back(2.0 / (2 * k + 1));
    Value* logm = B_.CreateFMul(sv, horner(s2, c));
    Value* ef = B_.CreateSIToFP(e, T);
    double ln2_hi = s ? 0.693359375 : 6.93147180369123816490e-01;
    double ln2_lo = s ? -2.12194440e-4 : 1.90821492927058770002e-10;
    Value* y = B_.CreateFAdd(B_.CreateFMul(ef, cf(T, ln2_hi)), B_.CreateFAdd(logm, B_.CreateFMul(ef, cf(T, ln2_lo))));
    double inf = std::numeric_limits<double>::infinity();
    y = B_.CreateSelect(B_.CreateFCmpOEQ(x, cf(T, inf)), cf(T, inf), y);
    y = B_.CreateSelect(B_.CreateFCmpOEQ(x, cf(T, 0.0)), cf(T, -inf), y);
    return B_.CreateSelect(B_.CreateFCmpULT(x, cf(T, 0.0)), cf(T, std::numeric_limits<double>::quiet_NaN()), y);
  }

  Value* sigmoid(Value* x) {
    Type* T = x->getType();
    return B_.CreateFDiv(cf(T, 1.0), B_.CreateFAdd(cf(T, 1.0), exp(B_.CreateFNeg(x))));
  }

  // expm1 for y in [-60, 0]: exact-ish near 0 (no cancellation)
  Value* expm1_nonpositive(Value* y) {
    Type* T = y->getType();
    bool s = f32(T);
    Value* n = B_.CreateUnaryIntrinsic(llvm::Intrinsic::rint, B_.CreateFMul(y, cf(T, 1.4426950408889634)));
    double ln2_hi = s ? 0.693359375 : 6.93145751953125E-1;
    double ln2_lo = s ? -2.12194440e-4 : 1.42860682030941723212E-6;
    Value* r = B_.CreateFSub(B_.CreateFSub(y, B_.CreateFMul(n, cf(T, ln2_hi))), B_.CreateFMul(n, cf(T, ln2_lo)));
    std::vector<double> c;  // r + r^2/2! + ... = r * (1 + r/2! + r^2/3! + ...)
    double f = 1;
    for (int i = 1; i <= (s ? 8 : 14); ++i) {
      f *= i;
      c.push_back(1.0 / f);
    }
    Value* q = B_.CreateFMul(r, horner(r, c));
    Value* scaled = B_.CreateFSub(B_.CreateFMul(B_.CreateFAdd(q, cf(T, 1.0)), pow2i(B_.CreateFPToSI(n, int_of(T)), T)), cf(T, 1.0));
    return B_.CreateSelect(B_.CreateFCmpOEQ(n, cf(T, 0.0)), q, scaled);
  }

  Value* tanh(Value* x) {
    Type* T = x->getType();
    Value* ax = B_.CreateMinNum(B_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x), cf(T, f32(T) ? 10.0 : 20.0));
    Value* t = expm1_nonpositive(B_.CreateFMul(ax, cf(T, -2.0)));
    Value* th = B_.CreateFDiv(B_.CreateFNeg(t), B_.CreateFAdd(t, cf(T, 2.0)));
    Value* r = B_.CreateCopySign(th, x);
    return B_.CreateSelect(B_.CreateFCmpUNO(x, x), x, r);
  }

  // sin / cos, evaluated in f64 (f32 inputs are widened, then rounded once).
  Value* sincos(Value* x, bool cosine) {
    Type* T = x->getType();
    Type* D = Type::getDoubleTy(C_);
    Value* xd = f32(T) ? B_.CreateFPExt(x, D) : x;
    Value* n = B_.CreateUnaryIntrinsic(llvm::Intrinsic::rint, B_.CreateFMul(xd, cf(D, 0.63661977236758134308)));
    Value* r = B_.CreateFSub(xd, B_.CreateFMul(n, cf(D, 1.57079632673412561417e+00)));
    r = B_.CreateFSub(r, B_.CreateFMul(n, cf(D, 6.07710050630396597660e-11)));
    r = B_.CreateFSub(r, B_.CreateFMul(n, cf(D, 2.02226624871116645580e-21)));
    Value* r2 = B_.CreateFMul(r, r);
    std::vector<double> sc, cc;  // sin r = r (1 - r2/3! + ...), cos r = 1 - r2/2! + ...
    double f = 1;
    for (int i = 1; i <= 19; ++i) {
      f *= i;
      double term = ((i / 2) % 2 ? -1.0 : 1.0) / f;
      (i % 2 ? sc : cc).push_back(term);
    }
    cc.insert(cc.begin(), 1.0);
    Value* sin_r = B_.CreateFMul(r, horner(r2, sc));
    Value* cos_r = horner(r2, cc);
    Value* q = B_.CreateAnd(B_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {i64(), D}, {n}), ci(3));
    if (cosine) q = B_.CreateAnd(B_.CreateAdd(q, ci(1)), ci(3));
    Value* odd = B_.CreateICmpEQ(B_.CreateAnd(q, ci(1)), ci(1));
    Value* neg = B_.CreateICmpUGE(q, ci(2));
    Value* v = B_.CreateSelect(odd, cos_r, sin_r);
    v = B_.CreateSelect(neg, B_.CreateFNeg(v), v);
    return f32(T) ? B_.CreateFPTrunc(v, T) : v;
  }

  Value* pow(Value* a, Value* b) {
    Type* T = a->getType();
    Type* D = Type::getDoubleTy(C_);
    Value* ad = f32(T) ? B_.CreateFPExt(a, D) : a;
    Value* bd = f32(T) ? B_.CreateFPExt(b, D) : b;
    Value* y = exp(B_.CreateFMul(bd, log(B_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, ad))));
    Value* fl = B_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, bd);
    Value* is_int = B_.CreateFCmpOEQ(fl, bd);
    Value* half = B_.CreateFMul(bd, cf(D, 0.5));
    Value* odd = B_.CreateAnd(is_int, B_.CreateFCmpUNE(B_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, half), half));
    Value* neg_result = B_.CreateSelect(is_int, B_.CreateSelect(odd, B_.CreateFNeg(y), y), cf(D, std::numeric_limits<double>::quiet_NaN()));
    Value* r = B_.CreateSelect(B_.CreateFCmpOLT(ad, cf(D, 0.0)), neg_result, y);
    r = B_.CreateSelect(B_.CreateFCmpOEQ(bd, cf(D, 0.0)), cf(D, 1.0), r);
    r = B_.CreateSelect(B_.CreateFCmpOEQ(ad, cf(D, 1.0)), cf(D, 1.0), r);
    return f32(T) ? B_.CreateFPTrunc(r, T) : r;
  }

  // ---- gemm
  // Emits `e` with some variables bound to given values, in a fresh scope.
  Value* emit_at(ExprId e, const std::vector<std::pair<VarId, Value*>>& binds) {
    std::vector<Value*> saved;
    for (auto [v, val] : binds) {
      saved.push_back(vars_[static_cast<size_t>(v)]);
      vars_[static_cast<size_t>(v)] = val;
    }
    Value* r = nullptr;
    scoped([&] { r = emit(e); });
    for (size_t i = 0; i < binds.size(); ++i) vars_[static_cast<size_t>(binds[i].first)] = saved[i];
    return r;
  }

  // The transpose of a square block: rows[j][t] -> result[t][j], for a power-
  // of-two count of vectors as wide. Each round swaps one bit of the row
  // index with the same bit of the column index (two-source shuffles of row
  // pairs d apart, which x86 lowers to unpack, shuffle and lane permutes).
  std::vector<Value*> transpose_square(std::vector<Value*> rows) {
    const int n = static_cast<int>(rows.size());
    for (int d = 1; d < n; d *= 2) {
      std::vector<int> low(static_cast<size_t>(n)), high(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        low[static_cast<size_t>(c)] = (c & d) ? n + c - d : c;
        high[static_cast<size_t>(c)] = (c & d) ? n + c : c + d;
      }
      for (int i = 0; i < n; ++i)
        if (!(i & d)) {
          Value* a = rows[static_cast<size_t>(i)];
          Value* b = rows[static_cast<size_t>(i + d)];
          rows[static_cast<size_t>(i)] = B_.CreateShuffleVector(a, b, low);
          rows[static_cast<size_t>(i + d)] = B_.CreateShuffleVector(a, b, high);
        }
    }
    return rows;
  }

  Value* scratch_ptr(size_t byte_offset) { return B_.CreateConstInBoundsGEP1_64(Type::getInt8Ty(C_), scratch_, byte_offset); }

  void gemm(const Stmt& s) {
    const GemmSpec& g = s.gemm;
    GemmLayout L = gemm_layout(k_, g, opt_);
    Type* T = ty(g.type);
    auto* VT = llvm::FixedVectorType::get(T, static_cast<unsigned>(L.lanes));
    const int MR = L.mr, NV = 2, NR = L.nr;
    Value* m0 = emit(g.m0);
    Value* n0 = emit(g.n0);
    Value* mend = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, B_.CreateAdd(m0, ci(g.tile_m)), ci(g.M));
    Value* nend = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, B_.CreateAdd(n0, ci(g.tile_n)), ci(g.N));
    Operand A = analyze_a(k_, g);
    Operand Bo = analyze_b(k_, g, NR);
    Value* apack = scratch_ptr(L.a_off);
    Value* bpack = scratch_ptr(L.b_off);
    Value* ctile = scratch_ptr(L.c_off);
    Value* mcount = B_.CreateSub(mend, m0);
    Value* mblocks = B_.CreateSDiv(B_.CreateAdd(mcount, ci(MR - 1)), ci(MR));
    Value* nblocks = B_.CreateSDiv(B_.CreateAdd(B_.CreateSub(nend, n0), ci(NR - 1)), ci(NR));
    int64_t kblocks = (g.K + L.kc - 1) / L.kc;

    // dst[j] = b(k, ni + j) for the NR columns of one panel row. Columns past
    // N repeat the last one (clamped, so every read is in bounds); their sums
    // are never stored. Whole panels take a vector path when B's rows are
    // contiguous (a plain load: two vector copies; a computed prologue: a loop
    // over j that LLVM vectorizes); strided reads (gathers) stay scalar.
    const bool b_vector_copy = Bo.affine && Bo.stride_outer == 1;
    const bool b_vector_loop = !Bo.affine && unit_stride_loads(k_, g.b, g.n);
    auto pack_b_row = [&](Value* ni, Value* k, Value* dst) {
      auto scalar = [&] {
        for (int j = 0; j < NR; ++j) {
          Value* nc = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, B_.CreateAdd(ni, ci(j)), ci(g.N - 1));
          Value* v = Bo.affine ? load(Bo.buffer, emit_at(Bo.index, {{g.n, nc}, {g.k, k}})) : emit_at(g.b, {{g.n, nc}, {g.k, k}});
          B_.CreateStore(v, B_.CreateConstInBoundsGEP1_64(T, dst, static_cast<uint64_t>(j)));
        }
      };
      if (!b_vector_copy && !b_vector_loop) {
        scalar();
        return;
      }
      llvm::BasicBlock* fast = block("pack_b.vector");
      llvm::BasicBlock* slow = block("pack_b.edge");
      llvm::BasicBlock* done = block("pack_b.done");
      B_.CreateCondBr(B_.CreateICmpSLE(B_.CreateAdd(ni, ci(NR)), ci(g.N)), fast, slow);
      B_.SetInsertPoint(fast);
      if (b_vector_copy) {
        Value* src = emit_at(Bo.index, {{g.n, ni}, {g.k, k}});
        for (int v = 0; v < NV; ++v) {
          auto* ld = B_.CreateAlignedLoad(VT, address(Bo.buffer, B_.CreateAdd(src, ci(v * L.lanes))), llvm::Align(storage_bytes(g.type)));
          tag(ld, Bo.buffer);
          B_.CreateAlignedStore(ld, B_.CreateConstInBoundsGEP1_64(T, dst, static_cast<uint64_t>(v * L.lanes)),
                                llvm::Align(storage_bytes(g.type)));
        }
      } else {
        loop(ci(0), ci(NR), false, {}, [&](Value* j, const std::vector<Value*>&) {
          B_.CreateStore(emit_at(g.b, {{g.n, B_.CreateAdd(ni, j)}, {g.k, k}}), B_.CreateInBoundsGEP(T, dst, j));
          return std::vector<Value*>{};
        }, true);
      }
      B_.CreateBr(done);
      B_.SetInsertPoint(slow);
      scalar();
      B_.CreateBr(done);
      B_.SetInsertPoint(done);
    };
    // The B block of rows [kb, kb + kc) of this tile, panel-major
    // (dst[(panel * kc_max + kk) * NR + j]); rows outermost so that each row
    // of B is read once, across all panels.
    auto pack_b_block = [&](Value* kb, Value* kc) {
      loop(ci(0), kc, true, {}, [&](Value* kk, const std::vector<Value*>&) {
        Value* kabs = B_.CreateAdd(kb, kk);
        loop(ci(0), nblocks, true, {}, [&](Value* nbi, const std::vector<Value*>&) {
          Value* ni = B_.CreateAdd(n0, B_.CreateMul(nbi, ci(NR)));
          Value* row = B_.CreateMul(B_.CreateAdd(B_.CreateMul(nbi, ci(L.kc)), kk), ci(NR));
          pack_b_row(ni, kabs, B_.CreateInBoundsGEP(T, bpack, row));
          return std::vector<Value*>{};
        });
        return std::vector<Value*>{};
      });
    };
    // B stored transposed (each column of B contiguous along k, as in X X^T):
    // the row-by-row pack above would read one element from each of NR rows a
    // power-of-two stride apart, rows that share a few L1 sets and evict each
    // other. Instead whole panels read W x W blocks (W = lanes) with vector
    // loads along k and transpose them in registers.
    const bool b_k_contiguous = Bo.affine && Bo.stride_k == 1 && Bo.stride_outer != 1;
    const int W = L.lanes;
    auto pack_b_block_transposed = [&](Value* kb, Value* kc) {
      Value* kfull = B_.CreateMul(B_.CreateSDiv(kc, ci(W)), ci(W));
      loop(ci(0), nblocks, true, {}, [&](Value* nbi, const std::vector<Value*>&) {
        Value* ni = B_.CreateAdd(n0, B_.CreateMul(nbi, ci(NR)));
        Value* panel = B_.CreateInBoundsGEP(T, bpack, B_.CreateMul(nbi, ci(L.kc * NR)));
        auto rows_by_row = [&](Value* from) {
          loop(from, kc, true, {}, [&](Value* kk, const std::vector<Value*>&) {
            pack_b_row(ni, B_.CreateAdd(kb, kk), B_.CreateInBoundsGEP(T, panel, B_.CreateMul(kk, ci(NR))));
            return std::vector<Value*>{};
          });
        };
        llvm::BasicBlock* fast = block("pack_bt.blocks");
        llvm::BasicBlock* slow = block("pack_bt.edge");
        llvm::BasicBlock* done = block("pack_bt.done");
        B_.CreateCondBr(B_.CreateICmpSLE(B_.CreateAdd(ni, ci(NR)), ci(g.N)), fast, slow);
        B_.SetInsertPoint(fast);
        loop(ci(0), B_.CreateSDiv(kfull, ci(W)), true, {}, [&](Value* q, const std::vector<Value*>&) {
          Value* kk = B_.CreateMul(q, ci(W));
          Value* src = emit_at(Bo.index, {{g.n, ni}, {g.k, B_.CreateAdd(kb, kk)}});
          for (int half = 0; half < NV; ++half) {
            std::vector<Value*> block_rows(static_cast<size_t>(W));
            for (int j = 0; j < W; ++j) {
              Value* at = B_.CreateAdd(src, ci((half * W + j) * Bo.stride_outer));
              block_rows[static_cast<size_t>(j)] =
                  tag(B_.CreateAlignedLoad(VT, address(Bo.buffer, at), llvm::Align(storage_bytes(g.type))), Bo.buffer);
            }
            std::vector<Value*> cols = transpose_square(block_rows);
            for (int t = 0; t < W; ++t) {
              Value* dst = B_.CreateAdd(B_.CreateMul(B_.CreateAdd(kk, ci(t)), ci(NR)), ci(half * W));
              B_.CreateAlignedStore(cols[static_cast<size_t>(t)], B_.CreateInBoundsGEP(T, panel, dst), llvm::Align(4 * W));
            }
          }
          return std::vector<Value*>{};
        });
        rows_by_row(kfull);  // the last kc % W rows
        B_.CreateBr(done);
        B_.SetInsertPoint(slow);
        rows_by_row(ci(0));  // a panel past N's end: clamped columns
        B_.CreateBr(done);
        B_.SetInsertPoint(done);
        return std::vector<Value*>{};
      });
    };
    auto pack_b = [&](Value* kb, Value* kc) {
      if (b_k_contiguous) pack_b_block_transposed(kb, kc);
      else pack_b_block(kb, kc);
    };
    if (L.cache_b) {
      // The whole B tile (K <= kc), kept while b_key stays the same.
      Value* key = emit(g.b_key);
      Value* stale = B_.CreateICmpNE(B_.CreateLoad(i64(), scratch_), key);
      llvm::BasicBlock* pack = block("gemm.pack_b");
      llvm::BasicBlock* ready = block("gemm.b_ready");
      B_.CreateCondBr(stale, pack, ready);
      B_.SetInsertPoint(pack);
      pack_b(ci(0), ci(g.K));
      B_.CreateStore(key, scratch_);
      B_.CreateBr(ready);
      B_.SetInsertPoint(ready);
    }
    loop(ci(0), ci(kblocks), false, {}, [&](Value* kbi, const std::vector<Value*>&) {
      Value* kb = B_.CreateMul(kbi, ci(L.kc));
      Value* kc = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, ci(L.kc), B_.CreateSub(ci(g.K), kb));
      Value* first = B_.CreateICmpEQ(kbi, ci(0));
      Value* last = B_.CreateICmpEQ(kbi, ci(kblocks - 1));
      if (!A.direct) {
        // Ap[(mb * kc + kk) * MR + r] = a(m0 + mb*MR + r, kb + kk); rows past M
        // repeat the last one (clamped reads; their sums are never stored).
        loop(ci(0), mblocks, true, {}, [&](Value* mb, const std::vector<Value*>&) {
          Value* row0 = B_.CreateAdd(m0, B_.CreateMul(mb, ci(MR)));
          auto scalar_pack = [&] {
            std::vector<Value*> rows(static_cast<size_t>(MR)), bases(static_cast<size_t>(MR));
            for (int r = 0; r < MR; ++r) {
              rows[static_cast<size_t>(r)] = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, B_.CreateAdd(row0, ci(r)), ci(g.M - 1));
              if (A.affine) bases[static_cast<size_t>(r)] = emit_at(A.index, {{g.m, rows[static_cast<size_t>(r)]}, {g.k, kb}});
            }
            // A computed operand whose reads run along k: one row at a time, k
            // innermost, which LLVM vectorizes. Otherwise k outer, rows inner.
            if (A.affine || !unit_stride_loads(k_, g.a, g.k)) {
              loop(ci(0), kc, true, {}, [&](Value* kk, const std::vector<Value*>&) {
                Value* dst_base = B_.CreateMul(B_.CreateAdd(B_.CreateMul(mb, ci(L.kc)), kk), ci(MR));
                for (int r = 0; r < MR; ++r) {
                  Value* v = A.affine ? load(A.buffer, B_.CreateAdd(bases[static_cast<size_t>(r)], B_.CreateMul(kk, ci(A.stride_k))))
                                      : emit_at(g.a, {{g.m, rows[static_cast<size_t>(r)]}, {g.k, B_.CreateAdd(kb, kk)}});
                  B_.CreateStore(v, B_.CreateInBoundsGEP(T, apack, B_.CreateAdd(dst_base, ci(r))));
                }
                return std::vector<Value*>{};
              });
              return;
            }
            for (int r = 0; r < MR; ++r)
              loop(ci(0), kc, true, {}, [&](Value* kk, const std::vector<Value*>&) {
                Value* dst = B_.CreateAdd(B_.CreateMul(B_.CreateAdd(B_.CreateMul(mb, ci(L.kc)), kk), ci(MR)), ci(r));
                Value* v = A.affine ? load(A.buffer, B_.CreateAdd(bases[static_cast<size_t>(r)], B_.CreateMul(kk, ci(A.stride_k))))
                                    : emit_at(g.a, {{g.m, rows[static_cast<size_t>(r)]}, {g.k, B_.CreateAdd(kb, kk)}});
                B_.CreateStore(v, B_.CreateInBoundsGEP(T, apack, dst));
                return std::vector<Value*>{};
              });
          };
          if (!(A.affine && A.stride_outer == 1)) {
            scalar_pack();
            return std::vector<Value*>{};
          }
          // Columns of A contiguous along m (a transposed operand): a whole
          // row block is one MR-wide vector copy per k.
          auto* RT = llvm::FixedVectorType::get(T, static_cast<unsigned>(MR));
          llvm::BasicBlock* fast = block("pack_a.vector");
          llvm::BasicBlock* slow = block("pack_a.edge");
          llvm::BasicBlock* done = block("pack_a.done");
          B_.CreateCondBr(B_.CreateICmpSLE(B_.CreateAdd(row0, ci(MR)), ci(g.M)), fast, slow);
          B_.SetInsertPoint(fast);
          Value* base = emit_at(A.index, {{g.m, row0}, {g.k, kb}});
          loop(ci(0), kc, true, {}, [&](Value* kk, const std::vector<Value*>&) {
            auto* ld = B_.CreateAlignedLoad(RT, address(A.buffer, B_.CreateAdd(base, B_.CreateMul(kk, ci(A.stride_k)))),
                                            llvm::Align(storage_bytes(g.type)));
            tag(ld, A.buffer);
            Value* dst = B_.CreateMul(B_.CreateAdd(B_.CreateMul(mb, ci(L.kc)), kk), ci(MR));
            B_.CreateAlignedStore(ld, B_.CreateInBoundsGEP(T, apack, dst), llvm::Align(storage_bytes(g.type)));
            return std::vector<Value*>{};
          });
          B_.CreateBr(done);
          B_.SetInsertPoint(slow);
          scalar_pack();
          B_.CreateBr(done);
          B_.SetInsertPoint(done);
          return std::vector<Value*>{};
        });
      }
      if (!Bo.direct && !L.cache_b) pack_b(kb, kc);
      const bool blocked = L.kc < g.K;
      // Row strips of MR rows: the A strip stays in L1 while the microkernel
      // walks the panels of B; the strip's sums go to scratch (where the
      // partial sums of a blocked K live anyway) and the epilogue then runs
      // over the strip row by row, so the tensors it reads and writes are
      // streamed along whole rows.
      loop(ci(0), mblocks, true, {}, [&](Value* mb, const std::vector<Value*>&) {
        Value* mi = B_.CreateAdd(m0, B_.CreateMul(mb, ci(MR)));
        std::vector<Value*> arow(static_cast<size_t>(MR));
        if (A.direct)
          for (int r = 0; r < MR; ++r) {
            Value* mc = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, B_.CreateAdd(mi, ci(r)), ci(g.M - 1));
            arow[static_cast<size_t>(r)] = emit_at(A.index, {{g.m, mc}, {g.k, kb}});
          }
        Value* strip = blocked ? B_.CreateInBoundsGEP(T, ctile, B_.CreateMul(B_.CreateSub(mi, m0), ci(L.ldc))) : ctile;
        loop(ci(0), nblocks, true, {}, [&](Value* nbi, const std::vector<Value*>&) {
          Value* ni = B_.CreateAdd(n0, B_.CreateMul(nbi, ci(NR)));
          Value* bpanel = B_.CreateInBoundsGEP(T, bpack, B_.CreateMul(nbi, ci(L.kc * NR)));
          Value* bbase = Bo.direct ? emit_at(Bo.index, {{g.n, ni}, {g.k, kb}}) : nullptr;
          Value* ccol0 = B_.CreateMul(nbi, ci(NR));
          auto at = [&](int r, int v) { return B_.CreateInBoundsGEP(T, strip, B_.CreateAdd(ccol0, ci(r * L.ldc + v * L.lanes))); };
          // Accumulators: zero on the first K block, else the saved partial sums.
          std::vector<Value*> init;
          for (int r = 0; r < MR; ++r)
            for (int v = 0; v < NV; ++v) {
              Value* saved = blocked ? static_cast<Value*>(B_.CreateAlignedLoad(VT, at(r, v), llvm::Align(4))) : llvm::Constant::getNullValue(VT);
              init.push_back(B_.CreateSelect(first, llvm::Constant::getNullValue(VT), saved));
            }
          auto acc = loop(ci(0), kc, false, init, [&](Value* kk, const std::vector<Value*>& cur) {
            std::vector<Value*> bv(NV);
            for (int v = 0; v < NV; ++v) {
              if (Bo.direct) {
                Value* idx = B_.CreateAdd(B_.CreateAdd(bbase, B_.CreateMul(kk, ci(Bo.stride_k))), ci(v * L.lanes));
                bv[static_cast<size_t>(v)] = tag(B_.CreateAlignedLoad(VT, address(Bo.buffer, idx), llvm::Align(storage_bytes(g.type))), Bo.buffer);
              } else {
                Value* p = B_.CreateInBoundsGEP(T, bpanel, B_.CreateAdd(B_.CreateMul(kk, ci(NR)), ci(v * L.lanes)));
                bv[static_cast<size_t>(v)] = B_.CreateAlignedLoad(VT, p, llvm::Align(4 * L.lanes));
              }
            }
            std::vector<Value*> next;
            for (int r = 0; r < MR; ++r) {
              Value* a;
              if (A.direct) {
                a = load(A.buffer, B_.CreateAdd(arow[static_cast<size_t>(r)], B_.CreateMul(kk, ci(A.stride_k))));
              } else {
                Value* off = B_.CreateAdd(B_.CreateMul(B_.CreateAdd(B_.CreateMul(mb, ci(L.kc)), kk), ci(MR)), ci(r));
                a = B_.CreateLoad(T, B_.CreateInBoundsGEP(T, apack, off));
              }
              Value* splat = B_.CreateVectorSplat(static_cast<unsigned>(L.lanes), a);
              for (int v = 0; v < NV; ++v)
                next.push_back(B_.CreateIntrinsic(llvm::Intrinsic::fma, {VT},
                                                  {splat, bv[static_cast<size_t>(v)], cur[static_cast<size_t>(r * NV + v)]}));
            }
            return next;
          });
          for (int r = 0; r < MR; ++r)
            for (int v = 0; v < NV; ++v) B_.CreateAlignedStore(acc[static_cast<size_t>(r * NV + v)], at(r, v), llvm::Align(4));
          return std::vector<Value*>{};
        });
        // After the last K block: the epilogue over the strip, row by row.
        llvm::BasicBlock* epi = block("gemm.epilogue");
        llvm::BasicBlock* done = block("gemm.next");
        B_.CreateCondBr(last, epi, done);
        B_.SetInsertPoint(epi);
        Value* rows = B_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, ci(MR), B_.CreateSub(mend, mi));
        Value* cols = B_.CreateSub(nend, n0);
        // LLVM's cost model vectorizes this loop at 256 bits even on AVX-512
        // (its default for Intel cores); the fused activations (silu, sigmoid,
        // dropout) run 1.6x faster at the full width. Forced only when every
        // access moves by one element per column, so no scatter is forced.
        const bool full_width_epilogue = unit_stride_stmts(k_, s.body, g.n);
        loop(ci(0), rows, true, {}, [&](Value* r, const std::vector<Value*>&) {
          loop(ci(0), cols, true, {}, [&](Value* j, const std::vector<Value*>&) {
            Value* cv = B_.CreateLoad(T, B_.CreateInBoundsGEP(T, strip, B_.CreateAdd(B_.CreateMul(r, ci(L.ldc)), j)));
            Value* saved_m = vars_[static_cast<size_t>(g.m)];
            Value* saved_n = vars_[static_cast<size_t>(g.n)];
            vars_[static_cast<size_t>(g.m)] = B_.CreateAdd(mi, r);
            vars_[static_cast<size_t>(g.n)] = B_.CreateAdd(n0, j);
            locals_[static_cast<size_t>(g.acc)] = cv;
            scoped([&] { stmts(s.body); });
            vars_[static_cast<size_t>(g.m)] = saved_m;
            vars_[static_cast<size_t>(g.n)] = saved_n;
            return std::vector<Value*>{};
          }, full_width_epilogue, L.lanes);
          return std::vector<Value*>{};
        });
        B_.CreateBr(done);
        B_.SetInsertPoint(done);
        return std::vector<Value*>{};
      });
      return std::vector<Value*>{};
    });
  }

  const Kernel& k_;
  llvm::LLVMContext& C_;
  llvm::IRBuilder<> B_;
  CpuEmitOptions opt_;
  std::unique_ptr<llvm::Module> mod_;
  llvm::Function* fn_ = nullptr;
  llvm::BasicBlock* entry_ = nullptr;
  Value* scratch_ = nullptr;
  std::vector<Value*> bufs_;
  std::vector<llvm::MDNode*> scopes_md_, scope_list_, noalias_list_;
  std::vector<Value*> vars_, locals_;
  std::vector<std::unordered_map<ExprId, Value*>> memo_;
};

}  // namespace

size_t cpu_scratch_bytes(const Kernel& k, const CpuEmitOptions& options) {
  size_t bytes = 0;
  for_each_stmt(k.body, [&](const Stmt& s) {
    if (s.kind == StmtKind::Gemm) bytes = std::max(bytes, gemm_layout(k, s.gemm, options).total);
  });
  return bytes;
}

std::unique_ptr<llvm::Module> emit_llvm(const Kernel& k, llvm::LLVMContext& ctx, const CpuEmitOptions& options) {
  return Emitter(k, ctx, options).run();
}

}  // namespace grokjit::codegen
