// The slab layer's process-wide state.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

struct SlabRuntime {
  // Seed 003's memcg_slab_mutex: serialises child-cache creation and
  // destruction, guards the root caches' arrays and lists and every group's
  // slab_caches list.
  RankedMutex slab_mutex{LockRank::kSlab};
  ListNode roots;  // all root caches (slab mutex)
  std::atomic<std::uint64_t> child_caches{0};
};

SlabRuntime& slab_runtime() noexcept;

}  // namespace memcg::detail
