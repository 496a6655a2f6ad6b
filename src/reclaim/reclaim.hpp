// The reclaim driver (the kernel's try_to_free_mem_cgroup_pages and
// shrink_node_memcgs, with shrinkers and empty slabs as the only sources).
//
// A reclaim of `bytes` from root's subtree walks it with the shared
// ReclaimIterator at priorities 12 down to 0. For each group visited:
//   - its effective protection is computed (top-down: pre-order visits
//     parents first);
//   - within emin (usage <= emin): never reclaimed;
//   - within elow: skipped, unless a whole attempt found nothing else, in
//     which case reclaim retries with low reclaim allowed and counts a low
//     event for each such group;
//   - otherwise shrinkers are called with scan pressure (count >> priority)
//     reduced by the protected share of usage (proportional protection), and
//     the group's child caches are shrunk;
//   - limit and high reclaim stop as soon as `bytes` were reclaimed.
// Reclaimed bytes are what this thread actually uncharged meanwhile (the
// kernel's reclaim_state), so the figure is exact.
#pragma once

#include <cstdint>

#include "core/upcalls.hpp"

namespace memcg::detail {

struct GroupImpl;

enum class ReclaimReason { kLimit, kHigh, kProactive, kBackground };

inline constexpr int kDefPriority = 12;
inline constexpr std::uint64_t kReclaimMinBytes = 64 * 1024;   // one slab (SWAP_CLUSTER_MAX)

std::uint64_t try_to_free(GroupImpl* root, std::uint64_t bytes, ReclaimReason why) noexcept;

/// memcg::Group::reclaim: batches of a quarter of what is left, retried;
/// the last attempt first drains every thread's magazines of the subtree.
std::uint64_t proactive_reclaim(GroupImpl* g, std::uint64_t bytes) noexcept;

}  // namespace memcg::detail
