// grokjit kernels SPEC: what grokjit generates for a spec. Every kernel of the
// train-step and eval programs (name, fused IR ops, launch shape, FLOPs,
// bytes), as a table or JSON; --dump writes each kernel's kernel IR, LLVM IR
// and assembly; --kernel prints one kernel's kernel IR and LLVM IR.
//
// Listing only plans the programs (scheduling, lowering, memory plan: no
// LLVM); --dump and --kernel compile through LLVM what they print.
//
// --backend cuda (no GPU needed): the CUDA plan, every kernel emitted as
// CUDA C and compiled by NVRTC for sm_90 (through the kernel cache) for the
// ptxas figures (registers, shared memory, spills) and the launch shape;
// --dump writes .kir .cu .ptx .ptxas.txt .cubin; --kernel prints the .cu.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/commands.h"
#include "cli/table.h"
#include "codegen/llvm_emit.h"
#include "ir/error.h"
#include "runtime/cpu_device.h"
#include "runtime/cuda_device.h"
#include "runtime/kernel_cache.h"
#include "runtime/nvrtc_compiler.h"
#include "runtime/jit.h"
#include "runtime/knobs.h"
#include "runtime/thread_pool.h"
#include "runtime/trainer.h"

namespace grokjit::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kSchema = "grokjit.kernels/1";

// Mirror of the CPU device's launch rule (runtime/cpu_device.cpp,
// CpuProgram): a kernel runs on the pool when it has more than one parallel
// iteration and at least this much work (flops + bytes); otherwise on the
// calling thread alone. TODO: take it from the runtime once it exports it.
constexpr double kCpuParallelWork = 96 * 1024;

int launch_threads(const codegen::PlannedKernel& pk, int threads) {
  double work = pk.cost.flops + pk.cost.bytes_read + pk.cost.bytes_written;
  bool parallel = threads > 1 && pk.kernel.parallel_extent > 1 && work >= kCpuParallelWork;
  return parallel ? static_cast<int>(std::min<int64_t>(threads, pk.kernel.parallel_extent)) : 1;
}

// The serial structure under the parallel loop: loops, reductions and
// matmul tiles (lets and stores left out).
json loop_nest(const std::vector<codegen::Stmt>& body) {
  json out = json::array();
  for (const codegen::Stmt& s : body) {
    switch (s.kind) {
      case codegen::StmtKind::Loop: {
        json j{{"kind", "loop"}, {"extent", s.extent}};
        json inner = loop_nest(s.body);
        if (!inner.empty()) j["body"] = std::move(inner);
        out.push_back(std::move(j));
        break;
      }
      case codegen::StmtKind::Reduce:
        out.push_back({{"kind", "reduce"}, {"op", codegen::reduce_op_name(s.reduce)}, {"extent", s.extent}});
        break;
      case codegen::StmtKind::Gemm: {
        const codegen::GemmSpec& g = s.gemm;
        json j{{"kind", "gemm"}, {"m", g.M}, {"n", g.N}, {"k", g.K}, {"tile_m", g.tile_m}, {"tile_n", g.tile_n}};
        json inner = loop_nest(s.body);
        if (!inner.empty()) j["body"] = std::move(inner);
        out.push_back(std::move(j));
        break;
      }
      default: break;
    }
  }
  return out;
}

// The loop nest for a table: "reduce 9 (x3), loop 9 [loop 4]" (runs of equal
// statements collapsed, nested loops in brackets).
std::string nest_text(const json& nest) {
  std::vector<std::string> items;
  for (const json& s : nest) {
    std::string kind = s["kind"].get<std::string>();
    std::string item = kind == "gemm" ? "gemm " + std::to_string(s["tile_m"].get<int64_t>()) + "x" +
                                            std::to_string(s["tile_n"].get<int64_t>()) + "x" +
                                            std::to_string(s["k"].get<int64_t>())
                                      : kind + " " + std::to_string(s["extent"].get<int64_t>());
    if (s.contains("body")) item += " [" + nest_text(s["body"]) + "]";
    items.push_back(std::move(item));
  }
  std::string out;
  for (size_t i = 0; i < items.size();) {
    size_t j = i;
    while (j < items.size() && items[j] == items[i]) ++j;
    out += (out.empty() ? "" : ", ") + items[i] + (j - i > 1 ? " (x" + std::to_string(j - i) + ")" : "");
    i = j;
  }
  return out;
}

// "%12 exp" -> "exp"
std::string op_of(const std::string& provenance) {
  size_t space = provenance.find(' ');
  return space == std::string::npos ? provenance : provenance.substr(space + 1);
}

// "5: matmul, add, exp +2" (distinct ops in order of first use, at most `shown`).
std::string op_summary(const std::vector<std::string>& ops, size_t shown = 4) {
  std::vector<std::string> distinct;
  for (const auto& o : ops) {
    std::string name = op_of(o);
    if (std::find(distinct.begin(), distinct.end(), name) == distinct.end()) distinct.push_back(name);
  }
  std::string s = std::to_string(ops.size()) + ":";
  for (size_t i = 0; i < distinct.size() && i < shown; ++i) s += (i ? ", " : " ") + distinct[i];
  if (distinct.size() > shown) s += " +" + std::to_string(distinct.size() - shown);
  return s;
}

std::string padded_index(size_t i, size_t count) {
  size_t width = std::max<size_t>(3, std::to_string(count > 0 ? count - 1 : 0).size());
  std::string s = std::to_string(i);
  return std::string(width > s.size() ? width - s.size() : 0, '0') + s;
}

struct ProgramListing {
  std::string name;  // "train" | "eval"
  const ir::Graph* graph = nullptr;
  codegen::ProgramPlan plan;
  std::vector<runtime::CudaKernelArtifacts> cuda;  // --backend cuda: per kernel
};

// A kernel's stable id: "<index>_<name>" (names repeat when two launches run
// the same code, ids do not).
std::string kernel_id(const ProgramListing& p, size_t i) {
  return padded_index(i, p.plan.kernels.size()) + "_" + p.plan.kernels[i].kernel.name;
}

json kernel_json(const ProgramListing& p, size_t i, int threads) {
  const codegen::PlannedKernel& pk = p.plan.kernels[i];
  const codegen::Kernel& k = pk.kernel;
  std::vector<std::string> distinct;
  for (const auto& o : k.ir_ops) {
    std::string name = op_of(o);
    if (std::find(distinct.begin(), distinct.end(), name) == distinct.end()) distinct.push_back(name);
  }
  json same = nullptr;
  for (size_t j = 0; j < i; ++j)
    if (p.plan.kernels[j].kernel.name == k.name) {
      same = j;
      break;
    }
  return {
      {"index", i},
      {"id", kernel_id(p, i)},
      {"name", k.name},
      {"kind", k.kind},
      {"ops_count", k.ir_ops.size()},
      {"ops", k.ir_ops},
      {"op_kinds", distinct},
      {"launch",
       {{"text", codegen::launch_shape(k)},
        {"parallel_extent", k.parallel_extent},
        {"loop_nest", loop_nest(k.body)},
        {"threads", launch_threads(pk, threads)}}},
      {"flops", pk.cost.flops},
      {"bytes_read", pk.cost.bytes_read},
      {"bytes_written", pk.cost.bytes_written},
      {"same_code_as", same},
  };
}

// --backend cuda: the launch is the grid/block of the emitted kernel, and
// ptxas's figures come with it.
void add_cuda_fields(json& k, const runtime::CudaKernelArtifacts& a) {
  const codegen::CudaLaunch& l = a.emitted.launch;
  const runtime::PtxasReport& r = a.compiled.report;
  k["launch"] = {{"text", l.text()},
                 {"grid", {l.grid_x, l.grid_y, l.grid_z}},
                 {"block", {l.block_x, l.block_y, l.block_z}},
                 {"dynamic_smem_bytes", l.dynamic_smem_bytes}};
  k["cuda"] = {{"symbol", a.emitted.symbol},
               {"registers", r.registers},
               {"static_smem_bytes", r.static_smem_bytes},
               {"spill_store_bytes", r.spill_store_bytes},
               {"spill_load_bytes", r.spill_load_bytes},
               {"stack_frame_bytes", r.stack_frame_bytes},
               {"cubin_bytes", a.compiled.cubin.size()},
               {"compile_seconds", a.compiled.seconds},
               {"cache_hit", a.compiled.cache_hit}};
}

json program_json(const ProgramListing& p, int threads) {
  double flops = 0, rd = 0, wr = 0;
  json kernels = json::array();
  for (size_t i = 0; i < p.plan.kernels.size(); ++i) {
    const auto& c = p.plan.kernels[i].cost;
    flops += c.flops;
    rd += c.bytes_read;
    wr += c.bytes_written;
    kernels.push_back(kernel_json(p, i, threads));
    if (!p.cuda.empty()) add_cuda_fields(kernels.back(), p.cuda[i]);
  }
  return {{"name", p.name},
          {"kernel_count", p.plan.kernels.size()},
          {"flops", flops},
          {"bytes_read", rd},
          {"bytes_written", wr},
          {"arena_bytes", p.plan.memory.arena_bytes},
          {"kernels", std::move(kernels)}};
}

std::string program_table(const json& pj, bool fusion, int threads) {
  std::string out = pj["name"].get<std::string>() + " program (fusion " + (fusion ? "on" : "off") + ", " +
                    std::to_string(threads) + " threads): " + std::to_string(pj["kernel_count"].get<size_t>()) +
                    " kernels, " + human(pj["flops"].get<double>(), "FLOP") + ", " +
                    human(pj["bytes_read"].get<double>(), "B") + " read, " +
                    human(pj["bytes_written"].get<double>(), "B") + " written, arena " +
                    human(pj["arena_bytes"].get<double>(), "B") + "\n";
  TextTable t({"#", "<kernel", "<ops", "<launch", "thr", "FLOP", "read", "written"});
  for (const json& k : pj["kernels"]) {
    std::vector<std::string> ops = k["ops"].get<std::vector<std::string>>();
    std::string name = k["name"].get<std::string>();
    if (!k["same_code_as"].is_null()) name += " (=#" + std::to_string(k["same_code_as"].get<size_t>()) + ")";
    t.add({std::to_string(k["index"].get<size_t>()), name, op_summary(ops),
           "parallel " + std::to_string(k["launch"]["parallel_extent"].get<int64_t>()) +
               (k["launch"]["loop_nest"].empty() ? "" : " x (" + nest_text(k["launch"]["loop_nest"]) + ")"),
           std::to_string(k["launch"]["threads"].get<int>()), human(k["flops"].get<double>()),
           human(k["bytes_read"].get<double>(), "B"), human(k["bytes_written"].get<double>(), "B")});
  }
  return out + t.str("  ");
}

std::string cuda_program_table(const json& pj, bool fusion, const std::string& arch) {
  std::string out = pj["name"].get<std::string>() + " program (fusion " + (fusion ? "on" : "off") + ", " + arch +
                    "): " + std::to_string(pj["kernel_count"].get<size_t>()) + " kernels, " +
                    human(pj["flops"].get<double>(), "FLOP") + ", " + human(pj["bytes_read"].get<double>(), "B") +
                    " read, " + human(pj["bytes_written"].get<double>(), "B") + " written, arena " +
                    human(pj["arena_bytes"].get<double>(), "B") + "\n";
  TextTable t({"#", "<kernel", "<ops", "grid", "block", "regs", "smem", "spills", "FLOP", "read", "written"});
  for (const json& k : pj["kernels"]) {
    std::vector<std::string> ops = k["ops"].get<std::vector<std::string>>();
    std::string name = k["name"].get<std::string>();
    if (!k["same_code_as"].is_null()) name += " (=#" + std::to_string(k["same_code_as"].get<size_t>()) + ")";
    auto dims = [](const json& d) {
      std::string s = std::to_string(d[0].get<int64_t>());
      if (d[1].get<int64_t>() > 1 || d[2].get<int64_t>() > 1) s += "x" + std::to_string(d[1].get<int64_t>());
      if (d[2].get<int64_t>() > 1) s += "x" + std::to_string(d[2].get<int64_t>());
      return s;
    };
    const json& c = k["cuda"];
    size_t smem = k["launch"]["dynamic_smem_bytes"].get<size_t>() + c["static_smem_bytes"].get<size_t>();
    size_t spills = c["spill_store_bytes"].get<size_t>() + c["spill_load_bytes"].get<size_t>();
    t.add({std::to_string(k["index"].get<size_t>()), name, op_summary(ops), dims(k["launch"]["grid"]),
           dims(k["launch"]["block"]), std::to_string(c["registers"].get<int>()), human(static_cast<double>(smem), "B"),
           spills ? human(static_cast<double>(spills), "B") : std::string("0"), human(k["flops"].get<double>()),
           human(k["bytes_read"].get<double>(), "B"), human(k["bytes_written"].get<double>(), "B")});
  }
  return out + t.str("  ");
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> split_tags(const std::string& name) {
  std::vector<std::string> tags;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i)
    if (i == name.size() || name[i] == '_') {
      if (i > start) tags.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  return tags;
}

// Up to `n` kernel names closest to `word`: names containing it first, then
// by the name parts (kind, shape, op tags, hash) they share with it, then by
// edit distance.
std::vector<std::string> close_names(const std::string& word, const std::vector<std::string>& names, size_t n = 5) {
  std::vector<std::tuple<int, int, size_t, std::string>> scored;
  std::set<std::string> seen;
  std::vector<std::string> word_tags = split_tags(word);
  for (const auto& name : names) {
    if (!seen.insert(name).second) continue;
    int contains = name.find(word) != std::string::npos ? 0 : 1;
    std::vector<std::string> tags = split_tags(name);
    int shared = 0;
    for (const auto& t : word_tags) shared += std::find(tags.begin(), tags.end(), t) != tags.end();
    scored.emplace_back(contains, -shared, edit_distance(word, name), name);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < n; ++i) out.push_back(std::get<3>(scored[i]));
  return out;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) throw Error("--dump: cannot write " + path.string(), ExitCode::Io);
}

// "cpu" or "cuda". `auto` is cuda when a GPU is usable (like training);
// `cuda` needs only NVRTC, no GPU.
std::string kernels_backend(const SpecArgs& spec) {
  std::string backend = effective_backend(spec);
  if (backend == "reference")
    throw Error("--backend reference interprets the graph in float64 and has no kernels; `grokjit kernels` works with "
                "--backend cpu or cuda",
                ExitCode::Usage);
  return backend == "auto" ? resolve_auto_backend(/*verbose=*/true) : backend;
}

}  // namespace

void add_kernels_options(CLI::App& cmd, KernelsArgs& args) {
  add_spec_options(cmd, args.spec);
  add_backend_option(cmd, args.spec);
  add_fusion_option(cmd, args.spec);
  cmd.add_option("--which", args.which, "train | eval | both (default both)")
      ->check(CLI::IsMember({"train", "eval", "both"}));
  cmd.add_flag("--json", args.json, "machine-readable listing (schema grokjit.kernels/1, docs/cli.md)");
  cmd.add_option("--threads", args.threads,
                 "CPU threads the kernels are planned for (matmul tiles depend on it); default GROKJIT_THREADS, else "
                 "all cores")
      ->check(CLI::Range(0, 4096));
  cmd.add_option("--dump", args.dump,
                 "write every kernel's artifacts to DIR: <program>/<index>_<name>.kir, .ll, .s (cpu) or .cu, .ptx, "
                 ".ptxas.txt, .cubin (cuda), plan.txt, index.json")
      ->check(not_empty());
  cmd.add_option("--kernel", args.kernel,
                 "print one kernel (by name or <index>_<name> id): kernel IR and LLVM IR (cpu), CUDA source (cuda)")
      ->check(not_empty());
}

int run_kernels(const KernelsArgs& args, std::ostream& out) {
  const std::string backend = kernels_backend(args.spec);
  const bool cuda = backend == "cuda";
  runtime::RunConfig config = load_run_config(args.spec);
  const bool fusion = effective_fusion(args.spec);
  const int threads = runtime::resolve_threads(args.threads);

  tasks::Dataset data = tasks::make_dataset(config.task);
  runtime::StepGraphs graphs =
      runtime::build_step_graphs(config, runtime::data_shape(config, data, tasks::make_split(config.task)));

  std::vector<ProgramListing> programs;
  for (const char* name : {"train", "eval"}) {
    if (args.which != "both" && args.which != name) continue;
    ProgramListing p;
    p.name = name;
    p.graph = p.name == "train" ? &graphs.train : &graphs.eval;
    runtime::CompileOptions co;
    co.fusion = fusion;
    co.threads = threads;
    co.program_name = p.name;
    p.plan = cuda ? runtime::cuda_plan(*p.graph, co) : runtime::cpu_plan(*p.graph, co);
    programs.push_back(std::move(p));
  }

  // ---- --kernel NAME: one kernel's kernel IR and LLVM IR.
  if (!args.kernel.empty()) {
    std::vector<std::pair<size_t, size_t>> hits;  // (program, kernel)
    std::vector<std::string> names;
    for (size_t p = 0; p < programs.size(); ++p)
      for (size_t i = 0; i < programs[p].plan.kernels.size(); ++i) {
        const std::string& name = programs[p].plan.kernels[i].kernel.name;
        names.push_back(name);
        if (name == args.kernel || kernel_id(programs[p], i) == args.kernel) hits.emplace_back(p, i);
      }
    if (hits.empty()) {
      std::string where = args.which == "both" ? "train and eval programs" : args.which + " program";
      std::string msg = "--kernel: no kernel named '" + args.kernel + "' in the " + where + " of '" + config.name +
                        "' (fusion " + (fusion ? "on" : "off") + ")";
      std::vector<std::string> close = close_names(args.kernel, names);
      if (!close.empty()) {
        msg += "; closest:";
        for (const auto& c : close) msg += " " + c;
      }
      // The same backend and fusion in the hint: each names its kernels its own way.
      throw Error(msg + ". `grokjit kernels " + args.spec.spec + " --backend " + backend + " --fusion " +
                      (fusion ? "on" : "off") + "` lists them all.",
                  ExitCode::Usage);
    }
    if (hits.size() > 1) {
      std::string also;
      for (const auto& [p, i] : hits) also += " " + programs[p].name + "/" + kernel_id(programs[p], i);
      std::fprintf(stderr, "grokjit: '%s' is launched %zu times (same code):%s; showing the first\n", args.kernel.c_str(),
                   hits.size(), also.c_str());
    }
    const auto& [p, i] = hits.front();
    const codegen::Kernel& k = programs[p].plan.kernels[i].kernel;
    if (cuda) {  // emission only: no NVRTC needed
      out << codegen::emit_cuda(k, codegen::CudaTarget{}).source;
      return 0;
    }
    runtime::CompiledObject obj = runtime::compile_kernel(k, runtime::cpu_emit_options(), true);
    out << "; ==== " << programs[p].name << "/" << kernel_id(programs[p], i) << ": kernel IR\n"
        << codegen::to_text(k) << (codegen::to_text(k).ends_with("\n") ? "" : "\n")
        << "; ==== " << programs[p].name << "/" << kernel_id(programs[p], i) << ": LLVM IR after O3 ("
        << runtime::host_target().describe() << ")\n"
        << obj.ir << (obj.ir.ends_with("\n") ? "" : "\n");
    return 0;
  }

  const codegen::CudaTarget cuda_target;  // sm_90: what `kernels` shows with or without a GPU
  if (cuda) {
    if (!runtime::nvrtc_available())
      throw Error("--backend cuda: grokjit was built without NVRTC (no CUDA toolkit at configure time), so it cannot "
                  "compile kernels for the ptxas figures; --kernel NAME still prints a kernel's CUDA source",
                  ExitCode::Usage);
    runtime::NvrtcOptions no;
    no.arch = cuda_target.arch();
    runtime::NvrtcCompiler compiler(no, runtime::KernelCache::default_dir());
    const std::string repro = "grokjit kernels " + args.spec.spec + " --backend cuda --fusion " + (fusion ? "on" : "off") + " --kernel";
    for (ProgramListing& p : programs) p.cuda = runtime::cuda_kernel_artifacts(p.plan, compiler, cuda_target, threads, repro);
  }

  json listing{
      {"schema", kSchema},
      {"spec", config.name},
      {"spec_file", args.spec.spec},
      {"backend", backend},
      {"target", cuda ? json{{"arch", cuda_target.arch()}, {"nvrtc", runtime::nvrtc_version()},
                             {"description", "CUDA C via NVRTC for " + cuda_target.arch()}}
                      : json{{"cpu", runtime::host_target().cpu}, {"description", runtime::host_target().describe()},
                             {"vector_bytes", runtime::cpu_target_info().vector_bytes}}},
      {"fusion", fusion},
      {"threads", threads},
      {"programs", json::array()},
  };
  for (const ProgramListing& p : programs) listing["programs"].push_back(program_json(p, threads));

  // ---- --dump DIR: artifacts with stable names, and index.json.
  if (!args.dump.empty()) {
    fs::path dir(args.dump);
    std::error_code ec;
    for (size_t pi = 0; pi < programs.size(); ++pi) {
      const ProgramListing& p = programs[pi];
      fs::path pdir = dir / p.name;
      fs::create_directories(pdir, ec);
      if (ec) throw Error("--dump: cannot create " + pdir.string() + ": " + ec.message(), ExitCode::Io);
      write_file(pdir / "plan.txt", codegen::describe_plan(p.plan, 2));
      listing["programs"][pi]["plan_file"] = p.name + "/plan.txt";
      json& kernels = listing["programs"][pi]["kernels"];
      if (cuda) {
        for (size_t i = 0; i < p.cuda.size(); ++i) {
          const runtime::CudaKernelArtifacts& a = p.cuda[i];
          std::string stem = kernel_id(p, i);
          json files = json::object();
          for (const auto& [ext, text] : std::vector<std::pair<std::string, const std::string*>>{
                   {"kir", &a.kernel_ir}, {"cu", &a.emitted.source}, {"ptx", &a.compiled.ptx},
                   {"ptxas.txt", &a.compiled.log}, {"cubin", &a.compiled.cubin}}) {
            write_file(pdir / (stem + "." + ext), *text);
            files[ext == "ptxas.txt" ? "ptxas" : ext] = p.name + "/" + stem + "." + ext;
          }
          kernels[i]["files"] = std::move(files);
        }
        continue;
      }
      std::fprintf(stderr, "grokjit: compiling %zu %s kernels for --dump ...\n", p.plan.kernels.size(), p.name.c_str());
      runtime::CompileOptions co;
      co.fusion = fusion;
      co.threads = threads;
      co.program_name = p.name;
      std::vector<runtime::KernelArtifacts> arts = runtime::cpu_kernel_artifacts(*p.graph, co);
      if (arts.size() != p.plan.kernels.size())
        throw Error("kernels --dump: the " + p.name + " program planned " + std::to_string(p.plan.kernels.size()) +
                    " kernels, then " + std::to_string(arts.size()) + " (planning is not deterministic: a bug)");
      for (size_t i = 0; i < arts.size(); ++i) {
        if (arts[i].info.name != p.plan.kernels[i].kernel.name)
          throw Error("kernels --dump: kernel " + std::to_string(i) + " of the " + p.name + " program is " +
                      arts[i].info.name + ", planned as " + p.plan.kernels[i].kernel.name + " (a bug)");
        std::string stem = kernel_id(p, i);
        write_file(pdir / (stem + ".kir"), arts[i].kernel_ir);
        write_file(pdir / (stem + ".ll"), arts[i].llvm_ir);
        write_file(pdir / (stem + ".s"), arts[i].assembly);
        kernels[i]["files"] = {{"kir", p.name + "/" + stem + ".kir"},
                               {"ll", p.name + "/" + stem + ".ll"},
                               {"s", p.name + "/" + stem + ".s"}};
      }
    }
    write_file(dir / "index.json", listing.dump(2) + "\n");
    if (!args.json)
      std::fprintf(stderr, "grokjit: wrote %s/index.json and the kernels' %s\n", dir.string().c_str(),
                   cuda ? ".kir .cu .ptx .ptxas.txt .cubin" : ".kir .ll .s");
  }

  if (args.json) {
    out << listing.dump(2) << "\n";
    return 0;
  }
  if (cuda) {
    out << "kernels of '" << config.name << "' on cuda (" << cuda_target.arch() << ", NVRTC " << runtime::nvrtc_version()
        << "; smem = dynamic + static, spills = ptxas spill stores + loads)\n";
    for (const json& pj : listing["programs"]) out << "\n" << cuda_program_table(pj, fusion, cuda_target.arch());
    return 0;
  }
  out << "kernels of '" << config.name << "' on cpu (" << runtime::host_target().describe() << ")\n";
  for (const json& pj : listing["programs"]) out << "\n" << program_table(pj, fusion, threads);
  return 0;
}

}  // namespace grokjit::cli
