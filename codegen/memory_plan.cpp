#include "codegen/memory_plan.h"

#include <algorithm>
#include <numeric>

#include "ir/error.h"

namespace grokjit::codegen {

namespace {

size_t align_up(size_t x) { return (x + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool lifetimes_overlap(const BufferLifetime& a, const BufferLifetime& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers) {
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes) return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].first < buffers[b].first;
  });
  std::vector<size_t> placed;
  for (size_t i : order) {
    // Busy intervals of placed buffers that are live at the same time, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed)
      if (lifetimes_overlap(buffers[i], buffers[j])) busy.push_back({plan.offsets[j], plan.offsets[j] + buffers[j].bytes});
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + buffers[i].bytes <= lo) break;  // fits in the gap before this one
      offset = std::max(offset, align_up(hi));
    }
    plan.offsets[i] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, align_up(offset + buffers[i].bytes));
    placed.push_back(i);
    plan.unshared_bytes += align_up(buffers[i].bytes);
  }
  int last_kernel = 0;
  for (const auto& b : buffers) last_kernel = std::max(last_kernel, b.last);
  for (int k = 0; k <= last_kernel; ++k) {
    size_t live = 0;
    for (const auto& b : buffers)
      if (b.first <= k && k <= b.last) live += align_up(b.bytes);
    plan.peak_live_bytes = std::max(plan.peak_live_bytes, live);
  }
  return plan;
}

void check_memory_plan(const std::vector<BufferLifetime>& buffers, const MemoryPlan& plan) {
  if (plan.offsets.size() != buffers.size()) throw Error("memory plan: " + std::to_string(plan.offsets.size()) + " offsets for " + std::to_string(buffers.size()) + " buffers");
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (plan.offsets[i] % kArenaAlignment != 0) throw Error("memory plan: buffer " + std::to_string(i) + " is not aligned");
    if (plan.offsets[i] + buffers[i].bytes > plan.arena_bytes) throw Error("memory plan: buffer " + std::to_string(i) + " ends past the arena");
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (!lifetimes_overlap(buffers[i], buffers[j]) || buffers[i].bytes == 0 || buffers[j].bytes == 0) continue;
      size_t a0 = plan.offsets[i], a1 = a0 + buffers[i].bytes, b0 = plan.offsets[j], b1 = b0 + buffers[j].bytes;
      if (a0 < b1 && b0 < a1)
        throw Error("memory plan: buffers " + std::to_string(i) + " and " + std::to_string(j) +
                    " are live together (kernels " + std::to_string(buffers[i].first) + ".." + std::to_string(buffers[i].last) +
                    " and " + std::to_string(buffers[j].first) + ".." + std::to_string(buffers[j].last) + ") and overlap");
    }
  }
}

}  // namespace grokjit::codegen
