#include "core/id_table.hpp"

#include <algorithm>
#include <functional>

#include "platform/assert.hpp"

namespace memcg::detail {

std::uint32_t IdTable::alloc() {
  if (!free_.empty()) {
    std::uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  std::uint32_t id = high_water_.load(std::memory_order_relaxed);
  if (id >= kMaxIds) return kNoId;
  std::uint32_t c = id >> kChunkBits;
  if (!chunks_[c].load(std::memory_order_relaxed)) {
    auto* chunk = new std::atomic<GroupImpl*>[kChunk];
    for (std::uint32_t i = 0; i < kChunk; ++i) chunk[i].store(nullptr, std::memory_order_relaxed);
    chunks_[c].store(chunk, std::memory_order_release);  // chunks are never freed
  }
  high_water_.store(id + 1, std::memory_order_release);
  return id;
}

void IdTable::publish(std::uint32_t id, GroupImpl* g) {
  chunks_[id >> kChunkBits].load(std::memory_order_relaxed)[id & (kChunk - 1)].store(g, std::memory_order_release);
}

void IdTable::unpublish(std::uint32_t id) {
  chunks_[id >> kChunkBits].load(std::memory_order_relaxed)[id & (kChunk - 1)].store(nullptr, std::memory_order_release);
}

void IdTable::release(std::uint32_t id) {
  MEMCG_ASSERT(lookup(id) == nullptr);
  // Keep the lowest id at the back so ids stay dense.
  auto pos = std::lower_bound(free_.begin(), free_.end(), id, std::greater<>());
  free_.insert(pos, id);
}

GroupImpl* IdTable::lookup(std::uint32_t id) const noexcept {
  if (id >= kMaxIds) return nullptr;
  auto* chunk = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
  if (!chunk) return nullptr;
  return chunk[id & (kChunk - 1)].load(std::memory_order_acquire);
}

}  // namespace memcg::detail
