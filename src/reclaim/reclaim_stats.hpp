// Process-wide counters of the reclaim layer (detail::reclaim_stats(), src/testing_stats.hpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace memcg::detail {

struct ReclaimCounters {
  std::atomic<std::uint64_t> shrinker_calls{0};
  std::atomic<std::uint64_t> shrinker_skips{0};
  std::atomic<std::uint64_t> background_runs{0};
  std::atomic<std::uint64_t> throttle_us{0};
};

extern ReclaimCounters g_reclaim_stats;

}  // namespace memcg::detail
