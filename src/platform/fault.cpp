// Fault injection control (see fault.hpp). The whole file is empty unless
// MEMCG_FAULT_INJECTION is defined.
#include "platform/fault.hpp"

#if defined(MEMCG_FAULT_INJECTION)

#include <sched.h>
#include <time.h>

namespace memcg::detail::fault {
namespace {

constexpr unsigned kN = static_cast<unsigned>(Kind::kCount);

struct Slot {
  std::atomic<std::uint64_t> threshold{0};  // inject when rand64 < threshold
  std::atomic<std::uint32_t> max_delay_us{0};
  std::atomic<bool (*)()> fail_hook{nullptr};
  std::atomic<void (*)(Kind)> point_hook{nullptr};
  std::atomic<std::uint64_t> injected{0};
};

Slot g_slots[kN];
std::atomic<std::uint64_t> g_seed{0x9e3779b97f4a7c15ull};
std::atomic<std::uint64_t> g_thread_counter{0};

struct Rng {
  std::uint64_t s = 0;
  std::uint64_t next() noexcept {
    if (s == 0) {
      s = g_seed.load(std::memory_order_relaxed) ^
          ((g_thread_counter.fetch_add(1, std::memory_order_relaxed) + 1) * 0xbf58476d1ce4e5b9ull);
      if (s == 0) s = 1;
    }
    // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
};
thread_local Rng t_rng;
thread_local int t_suppress = 0;

Slot& slot(Kind k) { return g_slots[static_cast<unsigned>(k)]; }

void arm(Kind k) { g_armed.fetch_or(1u << static_cast<unsigned>(k), std::memory_order_release); }

}  // namespace

std::atomic<std::uint32_t> g_armed{0};

const char* name(Kind k) noexcept {
  switch (k) {
    case Kind::kPageSourceMap: return "page_source_map";
    case Kind::kMetaAlloc: return "meta_alloc";
    case Kind::kLargeMap: return "large_map";
    case Kind::kReclaimIterBreak: return "reclaim_iter_break";
    case Kind::kAfterChildLookup: return "after_child_lookup";
    case Kind::kPinMarkDead: return "pin_mark_dead";
    case Kind::kUnpinLast: return "unpin_last";
    case Kind::kPinAfterGet: return "pin_after_get";
    case Kind::kStockRefillOp: return "stock_refill_op";
    case Kind::kStockDrainTake: return "stock_drain_take";
    case Kind::kLruAddAfterOnlineCheck: return "lru_add_after_online_check";
    case Kind::kBeforeGroupFree: return "before_group_free";
    case Kind::kObjSlotGiveBack: return "obj_slot_give_back";
    case Kind::kObjectFreePublished: return "object_free_published";
    case Kind::kCount: break;
  }
  return "?";
}

void suppress_push() noexcept { ++t_suppress; }
void suppress_pop() noexcept { --t_suppress; }

bool fail_slow(Kind k) noexcept {
  if (t_suppress) return false;
  Slot& s = slot(k);
  bool fail;
  if (bool (*h)() = s.fail_hook.load(std::memory_order_acquire)) {
    fail = h();
  } else {
    fail = t_rng.next() < s.threshold.load(std::memory_order_relaxed);
  }
  if (fail) s.injected.fetch_add(1, std::memory_order_relaxed);
  return fail;
}

void point_slow(Kind k) noexcept {
  Slot& s = slot(k);
  if (void (*h)(Kind) = s.point_hook.load(std::memory_order_acquire)) {
    s.injected.fetch_add(1, std::memory_order_relaxed);
    h(k);
    return;
  }
  if (t_rng.next() >= s.threshold.load(std::memory_order_relaxed)) return;
  s.injected.fetch_add(1, std::memory_order_relaxed);
  const std::uint32_t max_us = s.max_delay_us.load(std::memory_order_relaxed);
  if (max_us == 0) {
    for (int i = 0; i < 4; ++i) sched_yield();
    return;
  }
  const std::uint64_t us = t_rng.next() % (std::uint64_t{max_us} + 1);
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
  nanosleep(&ts, nullptr);
}

void set(Kind k, double p, std::uint32_t max_delay_us) noexcept {
  Slot& s = slot(k);
  std::uint64_t th;
  if (p <= 0) th = 0;
  else if (p >= 1) th = ~std::uint64_t{0};
  else th = static_cast<std::uint64_t>(p * 18446744073709551616.0);
  s.threshold.store(th, std::memory_order_relaxed);
  s.max_delay_us.store(max_delay_us, std::memory_order_relaxed);
  s.fail_hook.store(nullptr, std::memory_order_relaxed);
  s.point_hook.store(nullptr, std::memory_order_relaxed);
  if (th) arm(k); else clear(k);
}

void set_fail_hook(Kind k, bool (*hook)()) noexcept {
  if (!hook) return clear(k);
  slot(k).fail_hook.store(hook, std::memory_order_release);
  arm(k);
}

void set_point_hook(Kind k, void (*hook)(Kind)) noexcept {
  if (!hook) return clear(k);
  slot(k).point_hook.store(hook, std::memory_order_release);
  arm(k);
}

void clear(Kind k) noexcept {
  g_armed.fetch_and(~(1u << static_cast<unsigned>(k)), std::memory_order_release);
  Slot& s = slot(k);
  s.threshold.store(0, std::memory_order_relaxed);
  s.fail_hook.store(nullptr, std::memory_order_release);
  s.point_hook.store(nullptr, std::memory_order_release);
}

void clear_all() noexcept {
  for (unsigned i = 0; i < kN; ++i) clear(static_cast<Kind>(i));
}

void seed(std::uint64_t s) noexcept {
  g_seed.store(s ? s : 1, std::memory_order_relaxed);
  t_rng.s = 0;
}

std::uint64_t injected(Kind k) noexcept { return slot(k).injected.load(std::memory_order_relaxed); }

std::uint64_t injected_total() noexcept {
  std::uint64_t n = 0;
  for (unsigned i = 0; i < kN; ++i) n += g_slots[i].injected.load(std::memory_order_relaxed);
  return n;
}

}  // namespace memcg::detail::fault

#endif  // MEMCG_FAULT_INJECTION
