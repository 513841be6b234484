#include "runtime/analysis_stability.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "ir/error.h"
#include "runtime/plot.h"
#include "runtime/report.h"
#include "runtime/spec.h"
#include "runtime/stats.h"
#include "runtime/step_graph.h"
#include "runtime/trainer.h"
#include "tasks/dataset.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Error plan_error(const std::string& source, const std::string& where, const std::string& what) {
  return Error(source + ": " + where + ": " + what, ExitCode::Usage);
}

// A list of distinct positive numbers at /key (empty when absent): a rate
// given twice would run twice and fill the report with duplicate rows.
std::vector<double> number_list(const json& plan, const char* key, const std::string& source) {
  std::vector<double> out;
  if (!plan.contains(key)) return out;
  const std::string where = std::string("/") + key;
  if (!plan[key].is_array()) throw plan_error(source, where, "expected a list of numbers, got " + plan[key].dump());
  for (size_t i = 0; i < plan[key].size(); ++i) {
    const json& v = plan[key][i];
    const std::string at = where + "/" + std::to_string(i);
    if (!v.is_number() || !(v.get<double>() > 0)) throw plan_error(source, at, "expected a positive number, got " + v.dump());
    auto same = std::find(out.begin(), out.end(), v.get<double>());
    if (same != out.end())
      throw plan_error(source, at, v.dump() + " is already " + where + "/" + std::to_string(same - out.begin()) +
                                       "; give each rate once");
    out.push_back(v.get<double>());
  }
  return out;
}

// The whole number >= 1 at /key, or `fallback` when absent.
int64_t count_at(const json& plan, const char* key, int64_t fallback, const std::string& source) {
  if (!plan.contains(key)) return fallback;
  const json& v = plan[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 1)
    throw plan_error(source, std::string("/") + key, "expected a whole number >= 1, got " + v.dump());
  return v.get<int64_t>();
}

// The number above `floor` at /key, or `fallback` when absent.
double number_above(const json& plan, const char* key, double floor, double fallback, const std::string& source) {
  if (!plan.contains(key)) return fallback;
  const json& v = plan[key];
  if (!v.is_number() || !(v.get<double>() > floor) || !std::isfinite(v.get<double>()))
    throw plan_error(source, std::string("/") + key, "expected a number > " + json(floor).dump() + ", got " + v.dump());
  return v.get<double>();
}

// The non-empty string at /key, or `fallback` when absent.
std::string text_at(const json& plan, const char* key, const std::string& fallback, const std::string& source) {
  if (!plan.contains(key)) return fallback;
  const json& v = plan[key];
  if (!v.is_string() || v.get<std::string>().empty())
    throw plan_error(source, std::string("/") + key, "expected a non-empty string, got " + v.dump());
  return v.get<std::string>();
}

// An optimizer's label names its plot file (stable-lr-loss-LABEL) and its report rows.
bool plain_label(const std::string& label) {
  return !label.empty() && std::all_of(label.begin(), label.end(), is_name_char);
}

// Everything one optimizer needs: compiled train step, gradient and eval
// programs sharing the parameter buffers, full batch.
class StepRunner {
 public:
  StepRunner(const RunConfig& config, Device& device) : config_(config), device_(device) {
    data_ = tasks::make_dataset(config.task);
    split_ = tasks::make_split(config.task);
    DataShape shape = data_shape(config, data_, split_);
    if (shape.batch != static_cast<int64_t>(split_.train.size()))
      throw Error("stable-lr: the base spec must train full batch (train.batch_size 0)", ExitCode::Usage);
    graphs_ = build_step_graphs(config, shape);
    grad_graph_ = build_gradient_graph(config, shape);
    DataShape val_shape = shape;
    val_shape.batch = static_cast<int64_t>(split_.val.size());
    eval_graph_ = build_step_graphs(config, val_shape).eval;
    CompileOptions o;
    o.program_name = "stable_lr_step";
    train_ = device.compile(graphs_.train, o);
    o.program_name = "stable_lr_grad";
    grad_ = device.compile(grad_graph_, o);
    o.program_name = "stable_lr_eval";
    eval_ = device.compile(eval_graph_, o);
    for (const models::ParamSpec& p : graphs_.params) buffers_[p.name] = alloc_f32(ir::num_elements(p.shape));
    for (const StateSpec& s : graphs_.state)
      buffers_[s.name] =
          device.alloc(static_cast<size_t>(ir::num_elements(s.shape)) * ir::dtype_size(s.dtype));
    write_rows(split_.train, "");
    write_rows(split_.val, "val.");
    scalar("inv_rows", 1.0f / static_cast<float>(split_.train.size()));
    scalar("seed", static_cast<int32_t>(config.train.seed & 0x7fffffff));
    scalar("lr_scale", 1.0f);
    scalar("step", int32_t{0});
    bind(*train_, graphs_.train, "", "out.train.");
    bind(*grad_, grad_graph_, "", "out.grad.");
    bind(*eval_, eval_graph_, "val.", "out.eval.");
  }

  const std::vector<models::ParamSpec>& params() const { return graphs_.params; }

  void reset() {
    std::vector<std::vector<float>> init = models::init_params(graphs_.params, config_.train.seed);
    for (size_t i = 0; i < init.size(); ++i) write_param(graphs_.params[i].name, init[i]);
    for (const StateSpec& s : graphs_.state) {
      std::vector<char> zeros(buffers_.at(s.name)->bytes(), 0);
      buffers_.at(s.name)->write(zeros.data(), zeros.size());
    }
  }
  std::vector<float> read_param(const std::string& name) const { return read_f32(*buffers_.at(name)); }
  void write_param(const std::string& name, const std::vector<float>& v) {
    buffers_.at(name)->write(v.data(), v.size() * sizeof(float));
  }
  // One optimizer step; returns {mean train loss, train accuracy} before the update.
  std::pair<double, double> step(int64_t t, double lr) {
    scalar("step", static_cast<int32_t>(t));
    scalar("lr_scale", static_cast<float>(lr));
    train_->run();
    const double n = static_cast<double>(split_.train.size());
    return {out("out.train.loss_sum") / n, out("out.train.correct") / n};
  }
  // Gradient at the current parameters, per parameter, and the mean loss.
  std::vector<std::vector<float>> gradient(double* loss) {
    grad_->run();
    if (loss != nullptr) *loss = out("out.grad.loss");
    std::vector<std::vector<float>> g;
    for (const models::ParamSpec& p : graphs_.params) g.push_back(read_f32(*buffers_.at("out.grad.grad." + p.name)));
    return g;
  }
  double val_accuracy() {
    eval_->run();
    return out("out.eval.correct") / static_cast<double>(split_.val.size());
  }

 private:
  std::unique_ptr<Buffer> alloc_f32(int64_t n) { return device_.alloc(static_cast<size_t>(n) * sizeof(float)); }
  static std::vector<float> read_f32(const Buffer& b) {
    std::vector<float> v(b.bytes() / sizeof(float));
    b.read(v.data(), b.bytes());
    return v;
  }
  template <class T>
  void scalar(const std::string& name, T v) {
    if (!buffers_.count(name)) buffers_[name] = device_.alloc(sizeof(T));
    buffers_[name]->write(&v, sizeof v);
  }
  float out(const std::string& name) const {
    float v = 0;
    buffers_.at(name)->read(&v, sizeof v);
    return v;
  }
  void put_i32(const std::string& name, const std::vector<int32_t>& v) {
    buffers_[name] = device_.alloc(v.size() * sizeof(int32_t));
    buffers_[name]->write(v.data(), v.size() * sizeof(int32_t));
  }
  void write_rows(const std::vector<int64_t>& rows, const std::string& prefix) {
    std::vector<int32_t> a, b, tokens, labels;
    for (int64_t r : rows) {
      if (config_.model.kind == models::ModelKind::TwoLayer) {
        a.push_back(data_.a[r]);
        b.push_back(data_.b[r]);
      } else {
        tokens.insert(tokens.end(), data_.tokens.begin() + r * data_.seq_len,
                      data_.tokens.begin() + (r + 1) * data_.seq_len);
      }
      labels.push_back(data_.labels[r]);
    }
    if (!a.empty()) put_i32(prefix + "a", a);
    if (!b.empty()) put_i32(prefix + "b", b);
    if (!tokens.empty()) put_i32(prefix + "tokens", tokens);
    put_i32(prefix + "labels", labels);
    std::vector<float> ones(rows.size(), 1.0f);
    buffers_[prefix + "row_mask"] = alloc_f32(static_cast<int64_t>(rows.size()));
    buffers_[prefix + "row_mask"]->write(ones.data(), ones.size() * sizeof(float));
  }
  // Inputs: data by `data_prefix` + name, the rest by name; outputs get fresh buffers.
  void bind(Program& program, const ir::Graph& g, const std::string& data_prefix, const std::string& out_prefix) {
    for (ir::NodeId id : g.inputs()) {
      const std::string& name = g.node(id).attrs.name;
      auto it = buffers_.find(data_prefix + name);
      if (it == buffers_.end()) it = buffers_.find(name);
      if (it == buffers_.end()) throw Error("stable-lr: no buffer for input '" + name + "'");
      program.bind(name, *it->second);
    }
    for (const ir::Output& o : g.outputs()) {
      const ir::Node& n = g.node(o.node);
      auto& buf = buffers_[out_prefix + o.name];
      buf = device_.alloc(static_cast<size_t>(ir::num_elements(n.shape)) * ir::dtype_size(n.dtype));
      program.bind(o.name, *buf);
    }
  }

  RunConfig config_;
  Device& device_;
  tasks::Dataset data_;
  tasks::Split split_;
  StepGraphs graphs_;
  ir::Graph grad_graph_, eval_graph_;
  std::unique_ptr<Program> train_, grad_, eval_;
  std::map<std::string, std::unique_ptr<Buffer>> buffers_;
};

double dot(const std::vector<std::vector<float>>& x, const std::vector<std::vector<double>>& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i)
    for (size_t j = 0; j < x[i].size(); ++j) s += static_cast<double>(x[i][j]) * y[i][j];
  return s;
}

struct RunLog {
  std::string optimizer;
  double lr = 0;
  bool diverged = false;
  int64_t diverged_at = -1;
  std::string reason;
  double initial_loss = 0;
  json steps = json::array();
  int64_t first_step_at[3] = {-1, -1, -1};      // train acc >= 0.5, 0.9, 0.99
  int64_t first_val_step_at[3] = {-1, -1, -1};  // val acc
};

constexpr double kAccLevels[3] = {0.5, 0.9, 0.99};

// `steps` steps at `lr`, logging spectra and curvature when `probe`.
RunLog run_one(StepRunner& r, const std::string& label, double lr, int64_t steps, double blowup, double eps,
               bool probe, bool accuracy) {
  RunLog log;
  log.optimizer = label;
  log.lr = lr;
  r.reset();
  for (int64_t t = 1; t <= steps; ++t) {
    json s = {{"step", t}};
    std::vector<std::vector<float>> w, g;
    double grad_loss = 0;
    if (probe) {
      for (const models::ParamSpec& p : r.params()) w.push_back(r.read_param(p.name));
      g = r.gradient(&grad_loss);
      json spectra = json::object();
      for (size_t i = 0; i < r.params().size(); ++i) {
        const models::ParamSpec& p = r.params()[i];
        if (p.shape.size() != 2) continue;
        Eigen::MatrixXd G(p.shape[0], p.shape[1]);
        for (int64_t a = 0; a < p.shape[0]; ++a)
          for (int64_t b = 0; b < p.shape[1]; ++b) G(a, b) = g[i][a * p.shape[1] + b];
        Eigen::VectorXd sv = Eigen::BDCSVD<Eigen::MatrixXd>(G).singularValues();
        spectra[p.name] = {{"sigma_max", sv.size() ? sv(0) : 0.0}, {"sigma_mean", sv.size() ? sv.mean() : 0.0}};
      }
      s["grad_spectra"] = spectra;
    }
    auto [loss, acc] = r.step(t, lr);
    if (t == 1) log.initial_loss = loss;
    s["loss"] = loss;
    s["acc"] = acc;
    if (!std::isfinite(loss) || loss > blowup * log.initial_loss) {
      log.diverged = true;
      log.diverged_at = t;
      log.reason = !std::isfinite(loss) ? "non-finite loss" : "loss above " + std::to_string(blowup) + "x initial";
      log.steps.push_back(s);
      break;
    }
    for (int k = 0; k < 3; ++k)
      if (log.first_step_at[k] < 0 && acc >= kAccLevels[k]) log.first_step_at[k] = t;
    if (accuracy) {
      const double va = r.val_accuracy();  // after the update
      s["val_acc"] = va;
      for (int k = 0; k < 3; ++k)
        if (log.first_val_step_at[k] < 0 && va >= kAccLevels[k]) log.first_val_step_at[k] = t;
    }
    if (probe) {
      // d = w_{t+1} - w_t; kappa from g(w_t + eps d^) - g(w_t).
      std::vector<std::vector<float>> after;
      std::vector<std::vector<double>> dhat(w.size());
      double dn2 = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        after.push_back(r.read_param(r.params()[i].name));
        dhat[i].resize(w[i].size());
        for (size_t j = 0; j < w[i].size(); ++j) {
          dhat[i][j] = static_cast<double>(after[i][j]) - w[i][j];
          dn2 += dhat[i][j] * dhat[i][j];
        }
      }
      const double dn = std::sqrt(dn2);
      if (dn > 0 && std::isfinite(dn)) {
        for (auto& v : dhat)
          for (double& x : v) x /= dn;
        for (size_t i = 0; i < w.size(); ++i) {
          std::vector<float> shifted(w[i].size());
          for (size_t j = 0; j < w[i].size(); ++j) shifted[j] = static_cast<float>(w[i][j] + eps * dhat[i][j]);
          r.write_param(r.params()[i].name, shifted);
        }
        std::vector<std::vector<float>> g2 = r.gradient(nullptr);
        for (size_t i = 0; i < w.size(); ++i) r.write_param(r.params()[i].name, after[i]);
        const double kappa = (dot(g2, dhat) - dot(g, dhat)) / eps;
        const double descent = -dot(g, dhat);  // -g . d^
        s["update_norm"] = dn;
        s["curvature"] = kappa;
        s["g_dot_dhat"] = -descent;
        s["predicted_lr"] = kappa > 0 ? json(2.0 * lr * descent / (kappa * dn)) : json(nullptr);
      }
    }
    log.steps.push_back(s);
  }
  return log;
}

std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string step_text(int64_t s) { return s < 0 ? "never" : std::to_string(s); }

}  // namespace

StabilityPlan load_stability_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read stable-lr plan " + path, ExitCode::Io);
  std::stringstream ss;
  ss << in.rdbuf();
  json plan = parse_json_text(ss.str(), path);
  if (!plan.is_object()) throw plan_error(path, "/", "expected an object");
  for (const auto& [key, v] : plan.items()) {
    static const std::vector<std::string> known = {"name", "comment", "base", "set", "optimizers", "lrs", "steps",
                                                   "blowup", "shared_lrs", "accuracy_steps", "fd_eps", "out"};
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw plan_error(path, "/" + key, "unknown key; allowed: name, comment, base, set, optimizers, lrs, steps, "
                                        "blowup, shared_lrs, accuracy_steps, fd_eps, out");
  }
  StabilityPlan p;
  p.source = path;
  p.name = text_at(plan, "name", p.name, path);
  p.out = text_at(plan, "out", "runs/experiments/" + p.name, path);
  json base;
  if (!plan.contains("base")) throw plan_error(path, "/base", "missing: a spec file or an inline spec");
  if (plan["base"].is_string()) {
    fs::path file = fs::path(path).parent_path() / plan["base"].get<std::string>();
    std::ifstream b(file);
    if (!b) throw Error(path + ": /base: cannot read " + file.string(), ExitCode::Io);
    std::stringstream bs;
    bs << b.rdbuf();
    base = parse_json_text(bs.str(), file.string());
  } else {
    base = plan["base"];
  }
  auto apply = [&](json& spec, const json& set, const std::string& where) {
    if (!set.is_object()) throw plan_error(path, where, "expected an object {\"dotted.path\": value}");
    for (const auto& [k, v] : set.items()) apply_override(spec, k + "=" + v.dump());
  };
  if (plan.contains("set")) apply(base, plan["set"], "/set");
  if (!plan.contains("optimizers") || !plan["optimizers"].is_array() || plan["optimizers"].empty())
    throw plan_error(path, "/optimizers", "expected a non-empty list of {\"label\", \"set\"}");
  for (size_t i = 0; i < plan["optimizers"].size(); ++i) {
    const json& o = plan["optimizers"][i];
    const std::string where = "/optimizers/" + std::to_string(i);
    if (!o.is_object() || !o.contains("label") || !o["label"].is_string())
      throw plan_error(path, where, "expected {\"label\": \"...\", \"set\": {...}}");
    const std::string label = o["label"].get<std::string>();
    if (!plain_label(label))
      throw plan_error(path, where + "/label", "'" + label + "': use letters, digits, '-', '_' or '.' (it names a plot file)");
    for (size_t j = 0; j < p.optimizers.size(); ++j)
      if (p.optimizers[j].label == label)
        throw plan_error(path, where + "/label",
                         "'" + label + "' is already the label of /optimizers/" + std::to_string(j) + "; give each optimizer its own");
    json spec = base;
    if (o.contains("set")) apply(spec, o["set"], where + "/set");
    spec["name"] = p.name + "-" + o["label"].get<std::string>();
    p.optimizers.push_back({o["label"].get<std::string>(), parse_spec(spec, path + where)});
  }
  p.lrs = number_list(plan, "lrs", path);
  if (p.lrs.empty()) throw plan_error(path, "/lrs", "expected a non-empty list of learning rates");
  std::sort(p.lrs.begin(), p.lrs.end());
  p.shared_lrs = number_list(plan, "shared_lrs", path);
  p.steps = count_at(plan, "steps", p.steps, path);
  p.accuracy_steps = count_at(plan, "accuracy_steps", p.accuracy_steps, path);
  p.blowup = number_above(plan, "blowup", 1, p.blowup, path);
  p.fd_eps = number_above(plan, "fd_eps", 0, p.fd_eps, path);
  return p;
}

void prepare_stability_out(const std::string& out_dir, bool overwrite) {
  std::vector<std::string> found;
  for (const char* file : {"runs.jsonl", "report.md"}) {
    std::error_code ec;
    if (fs::exists(fs::path(out_dir) / file, ec)) found.push_back(file);
  }
  if (found.empty()) return;
  if (!overwrite) {
    std::string list;
    for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
    throw Error(out_dir + " already holds a stable-lr run (" + list +
                    "): --overwrite replaces it, or give another --out",
                ExitCode::Usage);
  }
  for (const std::string& f : found) {
    std::error_code ec;
    fs::remove(fs::path(out_dir) / f, ec);
    if (ec) throw Error("cannot remove " + (fs::path(out_dir) / f).string() + ": " + ec.message(), ExitCode::Io);
  }
}

std::string run_stability(const StabilityPlan& plan, Device& device, const std::string& out_dir, bool quiet) {
  fs::create_directories(out_dir);
  std::ofstream runs_file(fs::path(out_dir) / "runs.jsonl", std::ios::trunc);
  auto record = [&](const RunLog& l, const char* kind) {
    runs_file << json{{"kind", kind},       {"optimizer", l.optimizer},     {"lr", l.lr},
                      {"diverged", l.diverged}, {"diverged_at", l.diverged_at}, {"reason", l.reason},
                      {"initial_loss", l.initial_loss}, {"steps", l.steps}}
                     .dump()
              << "\n";
  };
  std::string md = "# stable-lr\n\nLargest stable learning rate per optimizer (full batch; diverged = a NaN/Inf loss "
                   "or a loss above " + fmt(plan.blowup) + "x the initial loss within " + std::to_string(plan.steps) +
                   " steps, checked every step) next to the threshold predicted from the curvature along the "
                   "update, lr* = 2 lr (-g.d^) / (kappa |d|) (docs/experiments.md). Plan `" + plan.source +
                   "`; per-step logs in `" + out_dir + "/runs.jsonl`.\n\n";
  std::vector<std::vector<std::string>> rows, layer_rows, acc_rows;
  // Plots: per optimizer the loss over the search's steps for each rate; the
  // train accuracy over steps at the shared rates.
  std::vector<std::pair<std::string, plot::LinePlot>> loss_plots;  // optimizer label, plot
  plot::LinePlot acc_plot;
  acc_plot.labels = {"full-batch train accuracy at shared learning rates", "step", "train acc"};
  acc_plot.y_min = 0;
  acc_plot.y_max = 1.05;
  acc_plot.log_x = true;
  acc_plot.key = "top left";
  auto series = [](const RunLog& l, const char* field, const std::string& label, int color, bool dashed) {
    plot::Series sr;
    sr.label = label;
    sr.color = color;
    sr.dashed = dashed;
    for (const json& st : l.steps)
      if (st.contains(field) && st[field].is_number() && std::isfinite(st[field].get<double>())) {
        sr.x.push_back(st["step"].get<double>());
        sr.y.push_back(st[field].get<double>());
      }
    return sr;
  };
  int opt_index = 0;
  for (const StabilityPlan::Optimizer& opt : plan.optimizers) {
    plot::LinePlot loss_plot;
    loss_plot.labels = {opt.label + ": full-batch loss while searching the learning rate (dashed: diverged)", "step", "loss"};
    loss_plot.log_y = true;
    loss_plot.key = "top right";
    int lr_index = 0;
    StepRunner runner(opt.config, device);
    double max_stable = std::nan("");
    std::string first_unstable = "none in the grid";
    std::vector<double> predicted_first, predicted_all;
    for (double lr : plan.lrs) {
      RunLog l = run_one(runner, opt.label, lr, plan.steps, plan.blowup, plan.fd_eps, true, false);
      record(l, "search");
      if (plot::Series sr = series(l, "loss", "lr " + fmt(lr), lr_index++, l.diverged); !sr.x.empty())
        loss_plot.series.push_back(sr);
      if (!quiet)
        std::fprintf(stderr, "stable-lr: %s lr %g: %s\n", opt.label.c_str(), lr,
                     l.diverged ? ("diverged at step " + std::to_string(l.diverged_at) + " (" + l.reason + ")").c_str()
                                : "stable");
      for (const json& s : l.steps) {
        if (!s.contains("predicted_lr") || !s["predicted_lr"].is_number()) continue;
        if (s["step"] == 1) predicted_first.push_back(s["predicted_lr"].get<double>());
        if (!l.diverged) predicted_all.push_back(s["predicted_lr"].get<double>());
      }
      if (lr == plan.lrs.front() && !l.steps.empty() && l.steps[0].contains("grad_spectra")) {
        for (const auto& [name, sp] : l.steps[0]["grad_spectra"].items())
          layer_rows.push_back({opt.label, name, fmt(sp["sigma_max"].get<double>()),
                                fmt(sp["sigma_mean"].get<double>()),
                                fmt(sp["sigma_max"].get<double>() / sp["sigma_mean"].get<double>(), "%.3g")});
      }
      if (l.diverged) {
        first_unstable = fmt(lr);
        break;  // the grid is sorted: larger rates are not tried
      }
      max_stable = lr;
    }
    if (!loss_plot.series.empty()) loss_plots.push_back({opt.label, loss_plot});
    rows.push_back({opt.label, fmt(max_stable), first_unstable,
                    predicted_first.empty() ? "–" : fmt(stats::median(predicted_first)),
                    predicted_all.empty() ? "–" : fmt(stats::median(predicted_all)),
                    predicted_all.empty() ? "–" : fmt(stats::quantile(predicted_all, 0.1)) + " – " +
                                                      fmt(stats::quantile(predicted_all, 0.9))});
    for (double lr : plan.shared_lrs) {
      RunLog l = run_one(runner, opt.label, lr, plan.accuracy_steps, plan.blowup, plan.fd_eps, false, true);
      record(l, "accuracy");
      if (plot::Series sr = series(l, "acc", opt.label + " lr " + fmt(lr), static_cast<int>(acc_plot.series.size()), opt_index % 2 == 1);
          !sr.x.empty())
        acc_plot.series.push_back(sr);
      acc_rows.push_back({opt.label, fmt(lr), l.diverged ? "at step " + std::to_string(l.diverged_at) : "no",
                          step_text(l.first_step_at[0]), step_text(l.first_step_at[1]), step_text(l.first_step_at[2]),
                          step_text(l.first_val_step_at[0]), step_text(l.first_val_step_at[1]),
                          step_text(l.first_val_step_at[2])});
    }
    ++opt_index;
  }
  auto table = [](const std::vector<std::string>& h, const std::vector<std::vector<std::string>>& rows) {
    return report::markdown_table(h, rows) + "\n";
  };
  md += "## Largest stable learning rate\n\npredicted (step 1): lr* at the first step from the initialization, "
        "median over the grid's runs (the first step does not depend on lr). predicted (stable runs): median and "
        "10-90% range of lr* over every step of the runs that did not diverge.\n\n" +
        table({"optimizer", "max stable lr (grid)", "first unstable lr", "predicted lr* (step 1)",
               "predicted lr* (stable runs, median)", "predicted lr* (10%-90%)"},
              rows);
  md += "## Gradient spectra at initialization\n\n" +
        table({"optimizer", "parameter", "sigma_max", "mean sigma", "sigma_max / mean"}, layer_rows);
  if (!acc_rows.empty())
    md += "## Steps to 50/90/99% accuracy at shared learning rates\n\nTrain accuracy is the full-batch figure "
          "before each update; validation accuracy is measured after it. Cap " +
          std::to_string(plan.accuracy_steps) + " steps.\n\n" +
          table({"optimizer", "lr", "diverged", "train 50%", "train 90%", "train 99%", "val 50%", "val 90%",
                 "val 99%"},
                acc_rows);
  const std::string plots = (fs::path(out_dir) / "plots").string();
  md += "## Plots\n\n";
  for (const auto& [label, lp] : loss_plots)
    md += plot::markdown_image(plot::line_plot(plots, "stable-lr-loss-" + label, lp), label + ": loss over steps per learning rate");
  if (!acc_plot.series.empty())
    md += plot::markdown_image(plot::line_plot(plots, "stable-lr-accuracy", acc_plot), "train accuracy at shared rates");
  const fs::path report = fs::path(out_dir) / "report.md";
  std::ofstream f(report);
  f << md;
  if (!f) throw Error("cannot write " + report.string(), ExitCode::Io);
  return report.string();
}

}  // namespace grokjit::runtime
