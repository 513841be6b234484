#include "runtime/jit.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include "ir/error.h"

namespace grokjit::runtime {

namespace {

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

llvm::orc::JITTargetMachineBuilder host_builder() {
  init_llvm();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) throw Error("cannot detect the host CPU for LLVM: " + error_text(jtmb.takeError()), ExitCode::Compile);
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  // LLVM's JIT default on x86-64 is the large code model: every constant of an inline exp or hash costs a movabs
  // plus a load, inside the hot loop. JITLink allocates each object's sections in one slab, so RIP-relative
  // (small model, position-independent) addressing always reaches; calls out (memset) go through its stubs.
  jtmb->setCodeModel(llvm::CodeModel::Small);
  jtmb->setRelocationModel(llvm::Reloc::PIC_);
  return std::move(*jtmb);
}

std::unique_ptr<llvm::TargetMachine> make_target_machine() {
  auto tm = host_builder().createTargetMachine();
  if (!tm) throw Error("cannot create an LLVM target machine: " + error_text(tm.takeError()), ExitCode::Compile);
  return std::move(*tm);
}

}  // namespace

std::string HostTarget::describe() const {
  std::string isa = vector_bytes >= 64 ? "avx512" : vector_bytes >= 32 ? "avx2" : "sse";
  return cpu + ", " + isa;
}

const HostTarget& host_target() {
  static const HostTarget host = [] {
    HostTarget h;
    auto b = host_builder();
    h.triple = b.getTargetTriple().str();
    h.cpu = b.getCPU();
    h.features = b.getFeatures().getString();
    h.llvm_version = LLVM_VERSION_STRING;
    auto has = [&](const std::string& f) { return ("," + h.features + ",").find(",+" + f + ",") != std::string::npos; };
    h.vector_bytes = has("avx512f") ? 64 : has("avx2") && has("fma") ? 32 : 16;
    return h;
  }();
  return host;
}

CompiledObject compile_kernel(const codegen::Kernel& kernel, const codegen::CpuEmitOptions& options, bool want_text) {
  auto tm = make_target_machine();
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = codegen::emit_llvm(kernel, ctx, options);
  m->setDataLayout(tm->createDataLayout());
  m->setTargetTriple(tm->getTargetTriple().str());
  for (llvm::Function& f : *m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", tm->getTargetCPU());
    f.addFnAttr("target-features", tm->getTargetFeatureString());
  }
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = true;
    pto.SLPVectorization = true;
    pto.LoopUnrolling = true;
    llvm::PassBuilder pb(tm.get(), pto);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*m, mam);
  }
  CompiledObject out;
  if (want_text) {
    llvm::raw_string_ostream os(out.ir);
    m->print(os, nullptr);
  }
  auto emit = [&](llvm::CodeGenFileType type, std::string& dst) {
    llvm::SmallVector<char, 0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, os, nullptr, type))
      throw Error("LLVM cannot emit code for " + kernel.name, ExitCode::Compile);
    pm.run(*m);
    dst.assign(buf.begin(), buf.end());
  };
  if (want_text) {  // codegen changes the module: print the assembly from a copy
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(*m);
    std::swap(m, copy);
    emit(llvm::CodeGenFileType::AssemblyFile, out.assembly);
    std::swap(m, copy);
  }
  emit(llvm::CodeGenFileType::ObjectFile, out.object);
  return out;
}

std::string object_defect(const std::string& object, const std::string& symbol) {
  auto file = llvm::object::ObjectFile::createObjectFile(llvm::MemoryBufferRef(object, symbol));
  if (!file) return "not an object file: " + error_text(file.takeError());
  for (const llvm::object::SymbolRef& sym : (*file)->symbols()) {
    auto name = sym.getName();
    auto flags = sym.getFlags();
    if (!name || !flags) {
      if (!name) llvm::consumeError(name.takeError());
      if (!flags) llvm::consumeError(flags.takeError());
      continue;
    }
    if (*name == symbol && !(*flags & llvm::object::SymbolRef::SF_Undefined)) return "";
  }
  return "an object file that does not define " + symbol;
}

JitLinker::JitLinker() {
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(host_builder()).create();
  if (!jit) throw Error("cannot start the LLVM JIT: " + error_text(jit.takeError()), ExitCode::Compile);
  jit_ = std::move(*jit);
  // Kernels may call memset/memcpy (LLVM turns zero-fill loops into them).
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(jit_->getDataLayout().getGlobalPrefix());
  if (!gen) throw Error("LLVM JIT: " + error_text(gen.takeError()), ExitCode::Compile);
  jit_->getMainJITDylib().addGenerator(std::move(*gen));
}

JitLinker::~JitLinker() = default;

bool JitLinker::has(const std::string& symbol) const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_.count(symbol) > 0;
}

KernelFn JitLinker::lookup(const std::string& symbol) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = loaded_.find(symbol);
  return it == loaded_.end() ? nullptr : it->second;
}

void JitLinker::add(const std::vector<std::pair<std::string, std::string>>& objects) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> added;
  for (const auto& [symbol, object] : objects) {
    if (loaded_.count(symbol) || std::find(added.begin(), added.end(), symbol) != added.end()) continue;
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object, symbol);
    if (auto err = jit_->addObjectFile(std::move(buffer)))
      throw Error("LLVM JIT cannot load the object of " + symbol + ": " + error_text(std::move(err)), ExitCode::Compile);
    added.push_back(symbol);
  }
  for (const auto& symbol : added) {
    auto addr = jit_->lookup(symbol);
    if (!addr) throw Error("LLVM JIT cannot link " + symbol + ": " + error_text(addr.takeError()), ExitCode::Compile);
    loaded_[symbol] = addr->toPtr<KernelFn>();
  }
}

}  // namespace grokjit::runtime
