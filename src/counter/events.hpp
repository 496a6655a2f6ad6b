// memory.events counters: local (the group's own) and hierarchical (its own
// plus every descendant's). An event at G increments G.local and the
// hierarchical count of G and every ancestor below the root, as the
// kernel's memcg_memory_event stops below the root memcg. The root's
// counters hold only the root's own events (the kernel has no root
// memory.events; we expose the root's because the root can carry a
// process-wide limit).
#pragma once

#include <atomic>
#include <cstdint>

#include "memcg/types.hpp"

namespace memcg::detail {

enum class Event : int { kLow = 0, kHigh, kMax, kOom, kOomKill, kCount };

struct EventCounters {
  std::atomic<std::uint64_t> v[static_cast<int>(Event::kCount)] = {};

  void inc(Event e) noexcept { v[static_cast<int>(e)].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t get(Event e) const noexcept { return v[static_cast<int>(e)].load(std::memory_order_relaxed); }
  Events snapshot() const noexcept {
    return Events{get(Event::kLow), get(Event::kHigh), get(Event::kMax), get(Event::kOom), get(Event::kOomKill)};
  }
};

}  // namespace memcg::detail
