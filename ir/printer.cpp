// Text, DOT and JSON forms of a graph. The JSON form stores every attribute
// that differs from its default, so a graph round-trips exactly whatever the
// op; non-finite doubles are stored as the strings "nan", "inf", "-inf"
// (JSON has no literal for them).
#include "ir/printer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "ir/verify.h"

namespace grokjit::ir {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "grokjit-graph";
constexpr int kVersion = 1;

std::string number_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  // Prefer the shortest form that reads back to the same double.
  for (int precision = 1; precision < 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  return s;
}

std::string list_str(const std::vector<int64_t>& v) { return shape_str(v); }

std::string data_str(const std::vector<double>& data) {
  constexpr size_t kShown = 8;
  std::string s = "[";
  for (size_t i = 0; i < data.size() && i < kShown; ++i) s += (i ? "," : "") + number_str(data[i]);
  if (data.size() > kShown) s += ",... " + std::to_string(data.size()) + " values";
  return s + "]";
}

// The attributes an op uses, as " key=value" text (empty for most ops).
std::string attr_text(const Node& n) {
  const Attrs& a = n.attrs;
  switch (n.op) {
    case Op::Input: return " '" + a.name + "' " + std::string(role_name(a.role));
    case Op::Constant: return a.data.empty() ? " " + number_str(a.scalar) : " data=" + data_str(a.data);
    case Op::Iota: case Op::Concat: return " axis=" + std::to_string(a.axis);
    case Op::RandomUniform: return " stream=" + std::to_string(a.stream);
    case Op::ReduceSum: case Op::ReduceMax: return " axes=" + list_str(a.axes);
    case Op::Permute: return " perm=" + list_str(a.perm);
    case Op::Slice: case Op::Pad: return " starts=" + list_str(a.starts) + " steps=" + list_str(a.steps);
    default: return "";
  }
}

std::string operands_text(const Node& n) {
  if (n.inputs.empty()) return "";
  std::string s = "(";
  for (size_t i = 0; i < n.inputs.size(); ++i) s += (i ? ", %" : "%") + std::to_string(n.inputs[i]);
  return s + ")";
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// ---- JSON

json number_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double number_from_json(const json& j) {
  if (j.is_number()) return j.get<double>();
  std::string s = j.get<std::string>();
  if (s == "nan") return std::nan("");
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  throw GraphError("'" + s + "' is not a number");
}

// Integer fields must be JSON integers: nlohmann would truncate 1.5 to 1.
int64_t integer_from_json(const json& j) {
  if (!j.is_number_integer()) throw GraphError("expected an integer, got " + j.dump());
  return j.get<int64_t>();
}

std::vector<int64_t> integers_from_json(const json& j) {
  if (!j.is_array()) throw GraphError("expected a list of integers, got " + j.dump());
  std::vector<int64_t> out;
  for (const json& x : j) out.push_back(integer_from_json(x));
  return out;
}

json attrs_to_json(const Attrs& a) {
  const Attrs d;
  json j = json::object();
  if (a.name != d.name) j["name"] = a.name;
  if (a.role != d.role) j["role"] = role_name(a.role);
  if (a.scalar != d.scalar || std::signbit(a.scalar)) j["scalar"] = number_to_json(a.scalar);
  if (!a.data.empty()) {
    json data = json::array();
    for (double v : a.data) data.push_back(number_to_json(v));
    j["data"] = std::move(data);
  }
  if (a.axis != d.axis) j["axis"] = a.axis;
  if (!a.axes.empty()) j["axes"] = a.axes;
  if (!a.perm.empty()) j["perm"] = a.perm;
  if (!a.starts.empty()) j["starts"] = a.starts;
  if (!a.steps.empty()) j["steps"] = a.steps;
  if (a.stream != d.stream) j["stream"] = a.stream;
  return j;
}

Attrs attrs_from_json(const json& j) {
  Attrs a;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "name") a.name = v.get<std::string>();
    else if (key == "role") {
      if (!parse_role(v.get<std::string>(), &a.role)) throw GraphError("unknown input role '" + v.get<std::string>() + "'");
    } else if (key == "scalar") a.scalar = number_from_json(v);
    else if (key == "data") {
      for (const json& x : v) a.data.push_back(number_from_json(x));
    } else if (key == "axis") a.axis = integer_from_json(v);
    else if (key == "axes") a.axes = integers_from_json(v);
    else if (key == "perm") a.perm = integers_from_json(v);
    else if (key == "starts") a.starts = integers_from_json(v);
    else if (key == "steps") a.steps = integers_from_json(v);
    else if (key == "stream") {
      int64_t stream = integer_from_json(v);
      if (stream < 0 || stream > UINT32_MAX) throw GraphError("stream " + std::to_string(stream) + " is out of range");
      a.stream = static_cast<uint32_t>(stream);
    }
    else throw GraphError("unknown attribute '" + key + "'");
  }
  return a;
}

json node_to_json(const Node& n) {
  json j = {{"op", op_name(n.op)}, {"dtype", dtype_name(n.dtype)}, {"shape", n.shape}, {"inputs", n.inputs}};
  json attrs = attrs_to_json(n.attrs);
  if (!attrs.empty()) j["attrs"] = std::move(attrs);
  return j;
}

const json& field(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) throw GraphError(std::string("missing field '") + key + "'");
  return j.at(key);
}

Node node_from_json(const json& j) {
  Node n;
  std::string op = field(j, "op").get<std::string>();
  if (!parse_op(op, &n.op)) throw GraphError("unknown op '" + op + "'");
  std::string dtype = field(j, "dtype").get<std::string>();
  if (!parse_dtype(dtype, &n.dtype)) throw GraphError("unknown dtype '" + dtype + "'");
  n.shape = integers_from_json(field(j, "shape"));
  for (int64_t input : integers_from_json(field(j, "inputs"))) {
    if (input < 0 || input > INT32_MAX) throw GraphError("input %" + std::to_string(input) + " is out of range");
    n.inputs.push_back(static_cast<NodeId>(input));
  }
  if (j.contains("attrs")) n.attrs = attrs_from_json(j.at("attrs"));
  return n;
}

// Runs `body`; any problem it throws becomes "<where>: <context>: <problem>".
template <typename F>
auto located(const std::string& where, const std::string& context, F&& body) {
  try {
    return body();
  } catch (const json::exception& e) {
    throw GraphError(where + ": " + context + ": " + e.what());
  } catch (const GraphError& e) {
    throw GraphError(where + ": " + context + ": " + e.what());
  }
}

}  // namespace

std::string to_text(const Graph& g) {
  std::string s;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    s += "%" + std::to_string(i) + " = " + std::string(op_name(n.op)) + operands_text(n) + attr_text(n) + " : " +
         type_str(n.dtype, n.shape) + "\n";
  }
  for (const Output& o : g.outputs()) s += "output " + o.name + " = %" + std::to_string(o.node) + "\n";
  for (const Update& u : g.updates())
    s += "update " + g.node(u.target).attrs.name + " (%" + std::to_string(u.target) + ") <- %" +
         std::to_string(u.value) + "\n";
  return s;
}

std::string to_dot(const Graph& g) {
  std::string s = "digraph grokjit {\n  rankdir=TB;\n  node [shape=box, fontname=monospace];\n";
  for (size_t i = 0; i < g.size(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    std::string label = dot_escape(node_label(static_cast<NodeId>(i), n.op) + attr_text(n)) +
                        "\\n" + type_str(n.dtype, n.shape);
    std::string style = n.op == Op::Input ? ", style=filled, fillcolor=lightblue" : "";
    s += "  n" + std::to_string(i) + " [label=\"" + label + "\"" + style + "];\n";
    for (NodeId in : n.inputs) s += "  n" + std::to_string(in) + " -> n" + std::to_string(i) + ";\n";
  }
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const Output& o = g.outputs()[k];
    s += "  out" + std::to_string(k) + " [label=\"output " + dot_escape(o.name) + "\", shape=ellipse];\n";
    s += "  n" + std::to_string(o.node) + " -> out" + std::to_string(k) + ";\n";
  }
  for (const Update& u : g.updates())
    s += "  n" + std::to_string(u.value) + " -> n" + std::to_string(u.target) +
         " [style=dashed, label=\"update\", constraint=false];\n";
  return s + "}\n";
}

std::string to_json(const Graph& g) {
  json nodes = json::array();
  for (const Node& n : g.nodes()) nodes.push_back(node_to_json(n));
  json outputs = json::array();
  for (const Output& o : g.outputs()) outputs.push_back({{"name", o.name}, {"node", o.node}});
  json updates = json::array();
  for (const Update& u : g.updates()) updates.push_back({{"target", u.target}, {"value", u.value}});
  json j = {{"format", kFormat}, {"version", kVersion}, {"nodes", nodes}, {"outputs", outputs}, {"updates", updates}};
  return j.dump(1);
}

Graph from_json(const std::string& text, const std::string& where) {
  json j = located(where, "invalid JSON", [&] { return json::parse(text); });
  located(where, "header", [&] {
    if (field(j, "format") != kFormat) throw GraphError(std::string("not a ") + kFormat + " file");
    if (field(j, "version") != kVersion)
      throw GraphError("version " + field(j, "version").dump() + " (this build reads " + std::to_string(kVersion) + ")");
    return 0;
  });
  Graph g;
  const json& nodes = located(where, "header", [&]() -> const json& { return field(j, "nodes"); });
  for (size_t i = 0; i < nodes.size(); ++i)
    g.add(located(where, "node " + std::to_string(i), [&] { return node_from_json(nodes[i]); }));
  located(where, "outputs", [&] {
    for (const json& o : field(j, "outputs")) g.add_output(field(o, "name").get<std::string>(), field(o, "node").get<NodeId>());
    return 0;
  });
  located(where, "updates", [&] {
    for (const json& u : field(j, "updates")) g.add_update(field(u, "target").get<NodeId>(), field(u, "value").get<NodeId>());
    return 0;
  });
  try {
    verify(g);
  } catch (const GraphError& e) {
    throw GraphError(where + ": " + e.what());
  }
  return g;
}

}  // namespace grokjit::ir
