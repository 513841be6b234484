// Trainable parameters: what a model declares (name, shape, optimizer group,
// init rule) and the host-side initialization of their values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace grokjit::models {

enum class Init {
  Normal01,      // N(0, 1): nn.Embedding's default
  UniformFanIn,  // U(-1/sqrt(fan_in), +1/sqrt(fan_in)): nn.Linear's default weight init
  Ones,          // norm gains
};

struct ParamSpec {
  std::string name;    // e.g. "layers.0.attn.wq"; the graph Input and checkpoint name
  ir::Shape shape;     // linear weights are [out, in] (rows = output features)
  std::string group;   // "hidden" | "embedding" | "head" | "norm": optimizer routing
  Init init = Init::UniformFanIn;
  int64_t fan_in = 1;  // UniformFanIn only
  double scale = 1.0;  // multiplies the drawn values (2-layer init_scale)
};

int64_t count_params(const std::vector<ParamSpec>& specs);

// Values for every spec, in order, row-major float32, each draw times
// spec.scale. Deterministic: each tensor draws from its own
// tasks::SplitMix64 seeded with param_stream_seed(seed, spec.name), so adding
// or reordering tensors leaves the others' values unchanged. Per element:
// Normal01 rng.normal() (Box-Muller, tasks/rng.h); UniformFanIn
// -b + 2b * rng.uniform() with b = 1/sqrt(fan_in); Ones 1.
std::vector<std::vector<float>> init_params(const std::vector<ParamSpec>& specs, uint64_t seed);
// tasks::derive_seed(seed, RngStream::Init, fnv1a64(name))
uint64_t param_stream_seed(uint64_t seed, const std::string& name);

// Adds one Param Input per spec (in order, f32 unless `dtype` says otherwise)
// and returns them by name.
using ParamValues = std::map<std::string, ir::Value>;
ParamValues add_param_inputs(ir::Graph& g, const std::vector<ParamSpec>& specs, ir::DType dtype = ir::DType::F32);

// The Value of a named parameter; throws grokjit::Error naming it if absent.
ir::Value param(const ParamValues& params, const std::string& name);

}  // namespace grokjit::models
