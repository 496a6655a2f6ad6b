// memcg/types.hpp - value types shared by the public API.
#pragma once

#include <cstdint>
#include <string>

namespace memcg {

/// The value "max" in the text tree: no limit.
inline constexpr std::uint64_t unlimited = UINT64_MAX;

/// memory.events / memory.events.local. Hierarchical counts (events()) include
/// every descendant's events; local counts (events_local()) only the group's own.
struct Events {
  std::uint64_t low = 0;       ///< reclaimed while within its effective low
  std::uint64_t high = 0;      ///< a charge left the group over memory.high
  std::uint64_t max = 0;       ///< a charge hit memory.max (before reclaim/OOM)
  std::uint64_t oom = 0;       ///< a charge failed at max after every retry
  std::uint64_t oom_kill = 0;  ///< an OOM handler freed memory for the group
};

/// memory.stat: hierarchical (the group and all its descendants, dying ones
/// included), in bytes unless the name says otherwise.
struct Stat {
  std::uint64_t slab_reclaimable = 0;    ///< slabs of reclaimable caches
  std::uint64_t slab_unreclaimable = 0;  ///< slabs of other caches
  std::uint64_t kmalloc_large = 0;       ///< kmalloc allocations above the size classes
  std::uint64_t reservations = 0;        ///< bytes held by live Reservations
  std::uint64_t stock = 0;               ///< pre-charged bytes cached in thread stocks
  std::uint64_t stock_drains = 0;        ///< count: stocks drained by other threads
  std::uint64_t pgscan = 0;              ///< count: objects scanned by reclaim
  std::uint64_t pgsteal = 0;             ///< bytes reclaimed

  std::uint64_t slab() const noexcept { return slab_reclaimable + slab_unreclaimable; }
};

/// Lifecycle of a group (see memcg/group.hpp for the transition diagram).
enum class GroupState : std::uint8_t { online, dying, released, freed };

const char* to_string(GroupState) noexcept;

}  // namespace memcg
