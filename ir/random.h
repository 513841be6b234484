// The counter-based random numbers every backend must reproduce bit for bit.
// Only 32-bit unsigned multiply, xor and shifts, so that the LLVM and CUDA
// emitters can print the same function.
#pragma once

#include <cstdint>

namespace grokjit::ir {

// A 32-bit integer finalizer ("lowbias32"): full avalanche, cheap.
constexpr uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352dU;
  h ^= h >> 15;
  h *= 0x846ca68bU;
  h ^= h >> 16;
  return h;
}

// Random bits for (seed, counter, stream, index). Each argument goes through
// its own mix round, so neighbouring seeds, steps and elements decorrelate.
constexpr uint32_t random_bits(uint32_t seed, uint32_t counter, uint32_t stream, uint32_t index) {
  uint32_t h = mix32(seed ^ 0x9e3779b9U);
  h = mix32(h ^ counter);
  h = mix32(h ^ (stream * 0x85ebca6bU));
  h = mix32(h ^ index);
  return h;
}

// Uniform in [0, 1) with 24 random bits: exact in float32, identical in f64.
constexpr double random_uniform(uint32_t seed, uint32_t counter, uint32_t stream, uint32_t index) {
  return static_cast<double>(random_bits(seed, counter, stream, index) >> 8) * (1.0 / 16777216.0);
}

}  // namespace grokjit::ir
