// The static memory plan of a program: every intermediate buffer gets an
// offset in one arena, allocated once per Program. Two buffers may share
// bytes only when their lifetimes (the kernels from the one that writes it to
// the last one that reads it, inclusive) do not overlap.
//
// Placement is greedy by size (largest first, then earliest): each buffer
// goes to the lowest 64-byte-aligned offset that does not collide with an
// already placed buffer whose lifetime overlaps. check_memory_plan() verifies
// the result independently (tests run it on every plan).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace grokjit::codegen {

struct BufferLifetime {
  size_t bytes = 0;
  int first = 0;  // index of the first kernel that touches it
  int last = 0;   // index of the last kernel that touches it (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per buffer
  size_t arena_bytes = 0;       // the arena's size (what is allocated)
  size_t peak_live_bytes = 0;   // most bytes live at once (a lower bound for any plan)
  size_t unshared_bytes = 0;    // sum of all buffers (what no reuse would need)
};

constexpr size_t kArenaAlignment = 64;

MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers);

// Throws grokjit::Error naming two buffers that are live at the same time
// and overlap, or a misaligned offset.
void check_memory_plan(const std::vector<BufferLifetime>& buffers, const MemoryPlan& plan);

}  // namespace grokjit::codegen
