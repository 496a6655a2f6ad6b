#include "charge/charge.hpp"

#include <optional>

#include "charge/charge_context.hpp"
#include "charge/stock.hpp"
#include "core/group_impl.hpp"
#include "core/psi.hpp"
#include "core/upcalls.hpp"
#include "platform/assert.hpp"

namespace memcg::detail {
namespace {

// After a successful hierarchical charge: a non-root ancestor left above
// memory.high makes this thread reclaim and maybe throttle (reclaim layer);
// the root above its high wakes the background reclaimer (and records the
// event here, the kernel having no root high). False: the charge must be
// undone (ChargeFlags::fail_at_high).
bool check_high(GroupImpl* g, std::uint64_t bytes, std::uint32_t flags) noexcept {
  bool over = false;
  for (GroupImpl* a = g; a; a = a->parent) {
    if (MEMCG_LIKELY(a->counter.usage() <= a->counter.high())) continue;
    if (a->is_root()) {
      record_event(a, Event::kHigh);
      wake_background_reclaim();
    } else {
      over = true;
    }
  }
  return !over || handle_over_high(g, bytes, flags);
}

// A charge that would fail at `over`'s `limit`: ChargeFlags::no_fail
// charges past it instead; otherwise the refusal is noted for a throwing
// caller (ChargeRefused).
bool refuse(GroupImpl* g, std::uint64_t bytes, std::uint32_t flags, GroupImpl* over, std::uint64_t limit) noexcept {
  if (!charge_flag(flags, ChargeFlags::no_fail)) {
    note_refusal(over, limit);
    return false;
  }
  g->counter.force_charge(bytes);
  return true;
}

// The non-root group nearest g whose usage is above its memory.high.
GroupImpl* over_high(GroupImpl* g) noexcept {
  for (GroupImpl* a = g; a && !a->is_root(); a = a->parent)
    if (a->counter.usage() > a->counter.high()) return a;
  return g;
}

}  // namespace

bool try_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes == 0) return true;
  const std::uint32_t flags = tls_charge_flags;  // ScopedChargeFlags and per-call flags (charge_context.hpp)
  const bool small = bytes <= kChargeBatch;
  std::uint64_t batch = small ? kChargeBatch : bytes;
  bool drained = false, own_drained = false;
  int retries = charge_flag(flags, ChargeFlags::no_oom) ? 0 : kMaxReclaimRetries;  // __GFP_NORETRY: one attempt
  OomRetry oom;
  std::optional<PsiStall> stall;
  for (;;) {
    if (small && stock_consume(g, bytes)) return true;
    PageCounter* fail = nullptr;
    if (g->counter.try_charge(batch, &fail)) {
      if (!check_high(g, batch, flags)) {  // fail_at_high: still above high after reclaim
        GroupImpl* h = over_high(g);  // named while the charge is in: what crossed high
        const std::uint64_t high = h->counter.high();
        g->counter.uncharge(batch);
        if (batch > bytes) {  // the stock's surplus may be what crossed high
          batch = bytes;
          continue;
        }
        return refuse(g, bytes, flags, h, high);
      }
      if (batch > bytes) stock_refill(g, batch - bytes, true);
      return true;
    }
    if (batch > bytes) {  // the batch did not fit; the request alone may
      batch = bytes;
      continue;
    }
    GroupImpl* over = group_of(fail);
    record_event(over, Event::kMax);
    // More than a usage can count (the page counter never reaches
    // UINT64_MAX): margin() below would say "fits" forever; fail now.
    if (MEMCG_UNLIKELY(bytes >= UINT64_MAX - fail->usage())) {
      record_event(over, Event::kOom);
      note_refusal(over, fail->max());
      return false;
    }
    if (in_reclaim()) {  // a shrinker's own allocation: never recurse, never fail
      g->counter.force_charge(bytes);
      return true;
    }
    // An OOM handler's own allocation: fail fast, never a nested OOM.
    // ChargeFlags::no_reclaim (GFP_NOWAIT): no reclaim, no drain of other
    // threads, no OOM; but what this thread itself holds of the subtree in
    // its object slot and charged rounds goes back first (nothing waits).
    if (in_oom_handler()) return refuse(g, bytes, flags, over, fail->max());
    if (charge_flag(flags, ChargeFlags::no_reclaim)) {
      if (!own_drained) {
        own_drained = true;
        if (drain_own_object_stocks_in_subtree(over)) continue;
      }
      return refuse(g, bytes, flags, over, fail->max());
    }
    if (!stall) stall.emplace(g);  // from here on this thread stalls (memory.pressure), until the charge returns
    const std::uint64_t reclaimed = reclaim_for_charge(over, bytes);
    if (over->counter.margin() >= bytes) continue;
    if (!drained) {
      drained = true;
      drain_stocks_in_subtree(over);
      continue;
    }
    if (charge_flag(flags, ChargeFlags::no_oom)) return refuse(g, bytes, flags, over, fail->max());  // one attempt, no OOM
    if (reclaimed && bytes <= kCostlyBytes) continue;
    if (retries-- > 0) continue;
    if (oom_for_charge(over, bytes, oom)) {
      retries = kMaxReclaimRetries;
      continue;
    }
    return refuse(g, bytes, flags, over, fail->max());
  }
}

void force_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes) g->counter.force_charge(bytes);
}

void uncharge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes == 0) return;
  if (MEMCG_UNLIKELY(in_reclaim())) {  // reclaim counts what it really uncharges
    uncharge_walk(g, bytes);
    return;
  }
  if (bytes <= kChargeBatch)
    stock_refill(g, bytes, false);  // into g's slot if this thread has one, else to the counters
  else
    g->counter.uncharge(bytes);
}

bool try_charge_walk(GroupImpl* g, std::uint64_t bytes) noexcept {
  PageCounter* fail;
  return g->counter.try_charge(bytes, &fail);
}

void uncharge_walk(GroupImpl* g, std::uint64_t bytes) noexcept {
  g->counter.uncharge(bytes);
  note_uncharged(bytes);
}

}  // namespace memcg::detail
