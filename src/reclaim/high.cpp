// memory.high: the charging thread reclaims the overage before its charge
// returns and, when reclaim cannot keep up, sleeps in proportion to how far
// over it is (the kernel's mem_cgroup_handle_over_high and
// calculate_high_delay). Never OOM.
#include <algorithm>
#include <chrono>
#include <thread>

#include "charge/charge_context.hpp"
#include "core/group_impl.hpp"
#include "core/psi.hpp"
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

namespace {
// Sleeps `delay` microseconds of throttling, within what the thread's
// window has left (charge_context.hpp): a window sleeps at most
// kThrottleWindowUs in all; outside windows each charge is its own.
void throttle(std::uint64_t delay) {
  std::int64_t& left = tls_throttle_left_us;
  if (left != kNoThrottleWindow) {
    delay = std::min<std::uint64_t>(delay, static_cast<std::uint64_t>(left));
    left -= static_cast<std::int64_t>(delay);
  }
  if (delay <= kMinHighDelayUs) return;  // not worth sleeping for
  g_reclaim_stats.throttle_us.fetch_add(delay, std::memory_order_relaxed);
  std::this_thread::sleep_for(std::chrono::microseconds(delay));
}

bool still_over_high(GroupImpl* g) {
  for (GroupImpl* a = g; a && !a->is_root(); a = a->parent)
    if (a->counter.usage() > a->counter.high()) return true;
  return false;
}
}  // namespace

bool handle_over_high(GroupImpl* g, std::uint64_t bytes, std::uint32_t flags) noexcept {
  const bool fail_at_high = charge_flag(flags, ChargeFlags::fail_at_high);
  if (in_reclaim()) return true;
  if (charge_flag(flags, ChargeFlags::no_reclaim)) {  // GFP_NOWAIT: the kernel skips high handling
    if (!fail_at_high) return true;
    for (GroupImpl* a = g; a && !a->is_root(); a = a->parent)
      if (a->counter.usage() > a->counter.high()) record_event(a, Event::kHigh);
    return !still_over_high(g);
  }
  PsiStall stall(g);  // reclaiming the overage and sleeping count in memory.pressure
  int retries = kMaxReclaimRetries;
  bool in_retry = false;
  // Bounded: with other threads charging, reclaim can keep "making progress"
  // without ever getting below high.
  for (int round = 0; round < 4 * kMaxReclaimRetries; ++round) {
    const std::uint64_t got = reclaim_high(g, in_retry ? kReclaimMinBytes : bytes);
    if (fail_at_high) {
      if (!still_over_high(g)) return true;
    } else if (high_delay_us(max_overage(g), bytes) <= kMinHighDelayUs) {
      return true;  // not worth sleeping for
    }
    if (got || retries-- > 0) {  // reclaim still helps: prefer it to throttling
      in_retry = true;
      continue;
    }
    break;
  }
  if (fail_at_high) return !still_over_high(g);
  if (charge_flag(flags, ChargeFlags::no_throttle)) return true;
  throttle(high_delay_us(max_overage(g), bytes));
  return true;
}

}  // namespace memcg::detail
