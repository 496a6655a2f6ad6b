// Group ids: small integers, recycled only after the group is freed. Lookup
// by id is lock-free under RCU (two-level table, chunks never move), so a
// root cache's per-group array can be indexed by id (per-group child caches).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "platform/thread_annotations.hpp"

namespace memcg::detail {

struct GroupImpl;

class IdTable {
 public:
  static constexpr std::uint32_t kChunkBits = 10;
  static constexpr std::uint32_t kChunk = 1u << kChunkBits;
  static constexpr std::uint32_t kMaxIds = kChunk * kChunk;  // 2^20 groups
  static constexpr std::uint32_t kNoId = UINT32_MAX;

  IdTable() = default;
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;

  /// Reserves the lowest free id (tree mutex held). kNoId when exhausted.
  std::uint32_t alloc();
  /// Publishes g at id (tree mutex held).
  void publish(std::uint32_t id, GroupImpl* g);
  /// Stops lookups from finding id (tree mutex held; at release).
  void unpublish(std::uint32_t id);
  /// Makes id reusable (tree mutex held; only after the group is freed).
  void release(std::uint32_t id);
  /// Under RCU read lock: the group published at id, or null.
  GroupImpl* lookup(std::uint32_t id) const noexcept;
  /// One past the highest id ever handed out (child-cache array sizing).
  std::uint32_t high_water() const noexcept { return high_water_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::atomic<GroupImpl*>*> chunks_[kChunk] = {};
  std::vector<std::uint32_t> free_;  // tree mutex; kept sorted descending (lowest at back)
  std::atomic<std::uint32_t> high_water_{0};
};

}  // namespace memcg::detail
