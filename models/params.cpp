#include "models/params.h"

#include <cmath>
#include <string>

#include "ir/builder.h"
#include "ir/error.h"
#include "tasks/rng.h"

namespace grokjit::models {

int64_t count_params(const std::vector<ParamSpec>& specs) {
  int64_t n = 0;
  for (const ParamSpec& s : specs) n += ir::num_elements(s.shape);
  return n;
}

uint64_t param_stream_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 of the name
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return tasks::derive_seed(seed, tasks::RngStream::Init, h);
}

namespace {

// One draw of the spec's init distribution (before spec.scale).
double draw(const ParamSpec& s, tasks::SplitMix64& rng) {
  switch (s.init) {
    case Init::Normal01: return rng.normal();
    case Init::Ones: return 1.0;
    case Init::UniformFanIn: {
      const double bound = 1.0 / std::sqrt(static_cast<double>(s.fan_in));
      return -bound + 2.0 * bound * rng.uniform();
    }
  }
  throw Error("parameter '" + s.name + "': unknown init rule");
}

}  // namespace

std::vector<std::vector<float>> init_params(const std::vector<ParamSpec>& specs, uint64_t seed) {
  std::vector<std::vector<float>> values;
  values.reserve(specs.size());
  for (const ParamSpec& s : specs) {
    if (s.init == Init::UniformFanIn && s.fan_in <= 0)
      throw Error("parameter '" + s.name + "': fan_in must be positive for uniform init, got " + std::to_string(s.fan_in));
    tasks::SplitMix64 rng(param_stream_seed(seed, s.name));
    std::vector<float> v(static_cast<size_t>(ir::num_elements(s.shape)));
    for (float& x : v) x = static_cast<float>(draw(s, rng) * s.scale);
    values.push_back(std::move(v));
  }
  return values;
}

ParamValues add_param_inputs(ir::Graph& g, const std::vector<ParamSpec>& specs, ir::DType dtype) {
  ParamValues out;
  for (const ParamSpec& s : specs) out[s.name] = ir::input(g, s.name, s.shape, dtype, ir::InputRole::Param);
  return out;
}

ir::Value param(const ParamValues& params, const std::string& name) {
  auto it = params.find(name);
  if (it == params.end()) throw Error("model parameter '" + name + "' is missing from the parameter map");
  return it->second;
}

}  // namespace grokjit::models
