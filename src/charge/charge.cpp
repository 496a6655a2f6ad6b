#include "charge/charge.hpp"

#include "charge/stock.hpp"
#include "core/group_impl.hpp"
#include "platform/assert.hpp"

namespace memcg::detail {
namespace {

// Every ancestor left above memory.high records a high event (the kernel
// counts them where it reclaims the overage; reclaim comes with the reclaim
// layer, the event is counted here from the start).
void check_high(GroupImpl* g) noexcept {
  for (GroupImpl* a = g; a; a = a->parent)
    if (MEMCG_UNLIKELY(a->counter.usage() > a->counter.high())) record_event(a, Event::kHigh);
}

}  // namespace

bool try_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes == 0) return true;
  const bool small = bytes <= kChargeBatch;
  if (small && stock_consume(g, bytes)) return true;
  std::uint64_t batch = small ? kChargeBatch : bytes;
  bool drained = false;
  for (;;) {
    PageCounter* fail = nullptr;
    if (g->counter.try_charge(batch, &fail)) {
      if (batch > bytes) stock_refill(g, batch - bytes);
      check_high(g);
      return true;
    }
    if (batch > bytes) {  // the batch did not fit; the request alone may
      batch = bytes;
      continue;
    }
    GroupImpl* over = group_of(fail);
    record_event(over, Event::kMax);
    if (!drained) {
      drained = true;
      drain_stocks_in_subtree(over);
      if (small && stock_consume(g, bytes)) return true;
      continue;
    }
    record_event(over, Event::kOom);
    return false;
  }
}

void force_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes) g->counter.force_charge(bytes);
}

void uncharge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept {
  if (bytes == 0) return;
  if (bytes <= kChargeBatch)
    stock_refill(g, bytes);  // stocks it, or uncharges if g is not online
  else
    g->counter.uncharge(bytes);
}

bool try_charge_walk(GroupImpl* g, std::uint64_t bytes) noexcept {
  PageCounter* fail;
  return g->counter.try_charge(bytes, &fail);
}

void uncharge_walk(GroupImpl* g, std::uint64_t bytes) noexcept { g->counter.uncharge(bytes); }

}  // namespace memcg::detail
