// The registry of shrinkers.
//
// Registration and unregistration are safe while reclaim runs: a reclaimer
// takes a shrinker out of the registry only by raising its `active` count
// (under the registry mutex), then calls it with no lock held; unregister
// unlinks it and waits until `active` drops to zero. A shrinker with
// kMaxConcurrentCalls reclaimers inside is skipped by the others.
#pragma once

#include <cstdint>

#include "memcg/shrinker.hpp"

namespace memcg::detail {

struct GroupImpl;

inline constexpr int kMaxConcurrentCalls = 2;

/// The least scan target before the priority shift (the kernel's
/// SWAP_CLUSTER_MAX): at priority 0 every visited group with objects gets
/// at least this much pressure, however protected.
inline constexpr std::uint64_t kScanFloor = 32;

/// Calls every registered shrinker for group g (group-aware ones with g,
/// global ones only when g is the tree's root, `is_root`), with scan pressure from
/// `priority` scaled down by `protection` (bytes of g's usage protected),
/// in batches. Returns the number of objects freed; *freeable gets the sum
/// of the counts seen.
std::uint64_t shrink_group_objects(GroupImpl* g, bool is_root, int priority, std::uint64_t protection,
                                   std::uint64_t* freeable) noexcept;

bool any_shrinkers() noexcept;

}  // namespace memcg::detail
