// Lowered limits, memory.reclaim and the reclaim statistics.
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/upcalls.hpp"
#include "charge/stock.hpp"
#include "memcg/group.hpp"
#include "memcg/shrinker.hpp"
#include "reclaim/reclaim.hpp"
#include "reclaim/reclaim_iter.hpp"
#include "reclaim/reclaim_stats.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace detail {

ReclaimCounters g_reclaim_stats;

bool run_oom(GroupImpl* over, std::uint64_t bytes, OomRetry& retry) noexcept;

// memory_max_write: drain stocks once, reclaim with retries, then OOM until
// the handler gives up or stalls (oom.cpp's retry rule).
void enforce_max(GroupImpl* g) noexcept {
  bool drained = false;
  int reclaims = kMaxReclaimRetries;
  OomRetry oom;
  for (;;) {
    const std::uint64_t usage = g->counter.usage(), max = g->counter.max();
    if (usage <= max) return;
    if (!drained) {
      drained = true;
      drain_stocks_in_subtree(g);
      continue;
    }
    if (reclaims) {
      if (!try_to_free(g, usage - max, ReclaimReason::kLimit)) --reclaims;
      continue;
    }
    if (!run_oom(g, 0, oom)) return;
  }
}

// memory_high_write: drain once, then reclaim until below or out of retries.
void enforce_high(GroupImpl* g) noexcept {
  bool drained = false;
  int retries = kMaxReclaimRetries;
  for (;;) {
    const std::uint64_t usage = g->counter.usage(), high = g->counter.high();
    if (usage <= high) return;
    if (!drained) {
      drained = true;
      drain_stocks_in_subtree(g);
      continue;
    }
    if (!try_to_free(g, usage - high, ReclaimReason::kHigh) && !retries--) return;
  }
}

}  // namespace detail

std::uint64_t Group::reclaim(Bytes bytes, std::error_code& ec) const noexcept {
  if (!p_) {
    ec = detail::make_err(std::errc::invalid_argument);
    return 0;
  }
  const std::uint64_t got = detail::proactive_reclaim(p_, bytes);
  if (got < bytes) ec = detail::make_err(std::errc::resource_unavailable_try_again);
  else ec.clear();
  return got;
}

std::uint64_t Group::reclaim(Bytes bytes) const {
  std::error_code ec;
  const std::uint64_t got = reclaim(bytes, ec);
  detail::throw_if(ec, "memcg::Group::reclaim");
  return got;
}

detail::ReclaimStats detail::reclaim_stats() noexcept {
  auto& s = detail::g_reclaim_stats;
  ReclaimStats r;
  r.shrinker_calls = s.shrinker_calls.load();
  r.shrinker_skips = s.shrinker_skips.load();
  r.rounds_completed = detail::reclaim_rounds_completed();
  r.background_runs = s.background_runs.load();
  r.throttle_us = s.throttle_us.load();
  return r;
}

}  // namespace memcg
