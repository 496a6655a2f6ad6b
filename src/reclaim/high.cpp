// memory.high: the charging thread reclaims the overage before its charge
// returns and, when reclaim cannot keep up, sleeps in proportion to how far
// over it is (the kernel's mem_cgroup_handle_over_high and
// calculate_high_delay). Never OOM.
#include <algorithm>
#include <chrono>
#include <thread>

#include "core/group_impl.hpp"
#include "core/upcalls.hpp"
#include "reclaim/high.hpp"
#include "reclaim/reclaim.hpp"
#include "reclaim/reclaim_stats.hpp"

namespace memcg::detail {

std::uint64_t calculate_overage(std::uint64_t usage, std::uint64_t high) noexcept {
  if (usage <= high) return 0;
  high = std::max<std::uint64_t>(high, 1);
  const unsigned __int128 over = static_cast<unsigned __int128>(usage - high) << kDelayPrecisionShift;
  const unsigned __int128 q = over / high;
  return q > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(q);
}

std::uint64_t max_overage(GroupImpl* g) noexcept {
  std::uint64_t m = 0;
  for (GroupImpl* a = g; a && !a->is_root(); a = a->parent)
    m = std::max(m, calculate_overage(a->counter.usage(), a->counter.high()));
  return m;
}

std::uint64_t high_delay_us(std::uint64_t overage, std::uint64_t bytes) noexcept {
  if (!overage) return 0;
  // penalty = overage^2 * HZ >> 20 >> 14, with HZ = 10^6 (microseconds),
  // scaled by this charge's size relative to a batch.
  unsigned __int128 p = static_cast<unsigned __int128>(overage) * overage;
  p >>= kDelayPrecisionShift;
  p *= 1000000;
  p >>= kDelayScalingShift;
  p = p * bytes / kNominalBatch;
  return p > kMaxHighDelayUs ? kMaxHighDelayUs : static_cast<std::uint64_t>(p);
}

namespace {
// reclaim_high: every non-root ancestor above high records a high event and
// is reclaimed by `bytes`.
std::uint64_t reclaim_high(GroupImpl* g, std::uint64_t bytes) {
  std::uint64_t got = 0;
  for (GroupImpl* a = g; a && !a->is_root(); a = a->parent) {
    if (a->counter.usage() <= a->counter.high()) continue;
    record_event(a, Event::kHigh);
    got += try_to_free(a, bytes, ReclaimReason::kHigh);
  }
  return got;
}
}  // namespace

void handle_over_high(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (in_reclaim()) return;
  int retries = kMaxReclaimRetries;
  bool in_retry = false;
  // Bounded: with other threads charging, reclaim can keep "making progress"
  // without ever getting below high.
  for (int round = 0; round < 4 * kMaxReclaimRetries; ++round) {
    const std::uint64_t got = reclaim_high(g, in_retry ? kReclaimMinBytes : bytes);
    const std::uint64_t delay = high_delay_us(max_overage(g), bytes);
    if (delay <= kMinHighDelayUs) return;  // not worth sleeping for
    if (got || retries-- > 0) {            // reclaim still helps: prefer it to throttling
      in_retry = true;
      continue;
    }
    break;
  }
  const std::uint64_t delay = high_delay_us(max_overage(g), bytes);
  if (delay <= kMinHighDelayUs) return;
  g_reclaim_stats.throttle_us.fetch_add(delay, std::memory_order_relaxed);
  std::this_thread::sleep_for(std::chrono::microseconds(delay));
}

}  // namespace memcg::detail
