// Portable, seeded random numbers for everything decided on the host: the
// split permutation, the per-epoch shuffle, weight initialization. The
// standard library's engines are portable but its distributions and
// std::shuffle are not (libstdc++ and libc++ draw differently), so the
// integers, the unbiased bounded draw and the shuffle are written out here.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace grokjit::tasks {

// SplitMix64's finalizer (Steele, Lea, Flood 2014): a bijection on 64 bits
// with full avalanche. Also used to derive independent seeds.
constexpr uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// What a derived seed is for. Distinct streams keep, say, the split and the
// initialization uncorrelated when a spec uses the same seed for both.
enum class RngStream : uint64_t { Split = 1, Shuffle = 2, Init = 3, Dropout = 4, User = 100 };

// The seed of stream `stream`, item `index` (an epoch, a tensor id) of `seed`.
constexpr uint64_t derive_seed(uint64_t seed, RngStream stream, uint64_t index = 0) {
  uint64_t h = splitmix64_mix(seed ^ 0x6a09e667f3bcc909ULL);
  h = splitmix64_mix(h ^ static_cast<uint64_t>(stream));
  return splitmix64_mix(h ^ index);
}

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(uint64_t seed) : state_(seed) {}

  constexpr uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return splitmix64_mix(state_);
  }

  // Uniform in [0, n) without modulo bias: draws below 2^64 mod n are
  // rejected so that the accepted range is a whole multiple of n. n > 0.
  constexpr uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // = 2^64 mod n
    uint64_t r = next();
    while (r < threshold) r = next();
    return r % n;
  }

  // Uniform in [0, 1) with 53 random bits (exact in double).
  constexpr double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Standard normal by Box-Muller (one value per call, the pair's sine half
  // discarded). Bit-exact wherever std::log and std::cos are correctly rounded
  // (glibc's are in practice); other libms may differ in the last ulp.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  constexpr uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

// Fisher-Yates (Durstenfeld): every permutation equally likely.
template <class T>
void shuffle_in_place(std::span<T> items, SplitMix64& rng) {
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.below(i));
    std::swap(items[i - 1], items[j]);
  }
}

// A uniformly random permutation of 0 .. n-1.
inline std::vector<int64_t> random_permutation(int64_t n, SplitMix64& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  shuffle_in_place(std::span<int64_t>(order), rng);
  return order;
}

}  // namespace grokjit::tasks
