// Text and DOT forms of a graph, and a JSON serialization that round-trips.
#pragma once

#include <string>

#include "ir/graph.h"

namespace grokjit::ir {

std::string to_text(const Graph& g);   // one line per node: %7 = add(%3, %5) : f32[512,128]
std::string to_dot(const Graph& g);    // Graphviz
std::string to_json(const Graph& g);
Graph from_json(const std::string& text, const std::string& where);  // where = file name for errors

}  // namespace grokjit::ir
