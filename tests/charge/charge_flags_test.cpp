// Charge flags (memcg/charge_flags.hpp): what a charge may do when memory is
// short, per call and scoped; and the memory.high throttle window of a
// ScopedGroup. The adopter scenarios of a query engine: charging under the
// lock its own shrinker takes, a query above high with nothing reclaimable,
// an allocation that must not fail.
#include "memcg/charge_flags.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"
#include "memcg/memcg.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t K = 1 << 10;

// A buffer cache whose shrinker takes the cache's lock, as real ones do.
struct LockedCache : Shrinker {
  std::mutex m;
  std::vector<Reservation> pages;
  std::atomic<int> calls{0};
  std::uint64_t count(const ShrinkControl&) override {
    calls++;
    std::lock_guard<std::mutex> l(m);  // would deadlock if reclaim ran under m
    return pages.size();
  }
  std::uint64_t scan(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(m);
    std::uint64_t n = 0;
    while (n < sc.nr_to_scan && !pages.empty()) {
      pages.pop_back();
      ++n;
    }
    return n;
  }
};

TEST(ChargeFlags, ScopedNoReclaimChargesUnderTheShrinkersLockWithoutDeadlock) {
  test::TempGroup t("cfnr");
  t.get().set_max(256 * K);
  LockedCache cache;
  auto reg = register_shrinker(cache, true);
  {
    std::lock_guard<std::mutex> l(cache.m);
    for (int i = 0; i < 4; ++i) cache.pages.push_back(Reservation::make(*t, 64 * K));  // full
  }
  detail::drain_own_stock();
  const int calls_before = cache.calls.load();
  std::error_code ec;
  {
    std::lock_guard<std::mutex> l(cache.m);  // the insert path holds the cache lock...
    ScopedChargeFlags nowait(ChargeFlags::no_reclaim);  // ...and says so once
    EXPECT_EQ(current_charge_flags(), ChargeFlags::no_reclaim);
    Reservation r = Reservation::make(*t, 64 * K, ec);
    EXPECT_FALSE(r);
    EXPECT_EQ(ec, std::errc::not_enough_memory) << "fails at once instead of reclaiming";
    void* p = kmalloc(4000, *t);
    EXPECT_EQ(p, nullptr) << "every charge of the scope, kmalloc too";
  }
  EXPECT_EQ(current_charge_flags(), ChargeFlags::none) << "the scope restores";
  EXPECT_EQ(cache.calls.load(), calls_before) << "no reclaim ran";
  EXPECT_GE(t->events().max, 1u);
  // Outside the lock and the scope the same charge reclaims and succeeds.
  Reservation r = Reservation::make(*t, 64 * K, ec);
  EXPECT_TRUE(r) << ec.message();
  EXPECT_GT(cache.calls.load(), calls_before);
  r.reset();
  reg.reset();
  std::lock_guard<std::mutex> l(cache.m);
  cache.pages.clear();
}

TEST(ChargeFlags, PerCallFlagsOnEveryChargingApi) {
  test::TempGroup t("cfapi");
  t.get().set_max(128 * K);
  std::vector<Reservation> held;
  for (int i = 0; i < 2; ++i) held.push_back(Reservation::make(*t, 64 * K));
  detail::drain_own_stock();
  std::atomic<int> oom_calls{0};
  t.get().set_oom_handler([&](const OomContext&) {
    oom_calls++;
    return false;
  });
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(*t, 16 * K, ChargeFlags::no_oom, ec));
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(kmalloc(100, *t, ChargeFlags::no_oom), nullptr);
  Cache c = Cache::create("cfapi", 48);
  EXPECT_EQ(c.alloc(*t, ChargeFlags::no_oom), nullptr);
  {
    ScopedGroup in(*t);
    EXPECT_EQ(kmalloc(100, ChargeFlags::no_reclaim), nullptr);
    EXPECT_EQ(c.alloc(ChargeFlags::no_reclaim), nullptr);
  }
  MemoryResource mr(*t, ChargeFlags::no_oom);
  EXPECT_THROW((void)mr.allocate(100), std::bad_alloc);
  Allocator<int> a(*t, ChargeFlags::no_oom);
  EXPECT_THROW((void)a.allocate(10), std::bad_alloc);
  EXPECT_EQ(oom_calls.load(), 0) << "no_oom and no_reclaim never call the OOM handler";
  // Without flags the handler runs.
  EXPECT_FALSE(Reservation::make(*t, 16 * K, ec));
  EXPECT_EQ(oom_calls.load(), 1);
  t.get().set_oom_handler(nullptr);
  c.destroy();
}

TEST(ChargeFlags, NoFailChargesPastMaxAndCountsAMaxEvent) {
  test::TempGroup t("cfnofail");
  t.get().set_max(64 * K);
  Reservation full = Reservation::make(*t, 64 * K);
  const std::uint64_t max_events = t->events().max;
  std::error_code ec;
  Reservation r = Reservation::make(*t, 32 * K, ChargeFlags::no_fail | ChargeFlags::no_reclaim, ec);
  ASSERT_TRUE(r) << ec.message();
  EXPECT_EQ(t->current(), 96 * K) << "charged past max";
  EXPECT_GT(t->events().max, max_events);
  void* p = kmalloc(1000, *t, ChargeFlags::no_fail);
  EXPECT_NE(p, nullptr);
  kfree(p);
  r.reset();
  full.reset();
  detail::flush_own_magazines();  // the object slot's bytes
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
}

// A query above high with nothing reclaimable: with fail_at_high it fails
// at once instead of sleeping; without, inside a ScopedGroup, all its
// charges together sleep at most the window's 2 s (each one used to sleep up
// to 2 s: 526 s for a large query).
TEST(ChargeFlags, AQueryAboveHighFailsFastOrSleepsAtMostTheWindow) {
  test::TempGroup t("cfhigh");
  t.get().set_high(256 * K);
  std::vector<Reservation> held;
  held.push_back(Reservation::make(*t, 512 * K, ChargeFlags::no_throttle));  // far above high, unreclaimable
  const std::uint64_t throttle0 = detail::reclaim_stats().throttle_us;
  std::error_code ec;
  Reservation r = Reservation::make(*t, 64 * K, ChargeFlags::fail_at_high, ec);
  EXPECT_FALSE(r);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(t->current(), 512 * K) << "the refused charge was undone";
  EXPECT_EQ(detail::reclaim_stats().throttle_us, throttle0) << "fail_at_high never sleeps";
  Reservation q = Reservation::make(*t, 64 * K, ChargeFlags::no_throttle, ec);
  EXPECT_TRUE(q) << "no_throttle: charged, no sleep";
  EXPECT_EQ(detail::reclaim_stats().throttle_us, throttle0);
  q.reset();
  {
    ScopedGroup query(*t);  // one window
    for (int i = 0; i < 8; ++i) held.push_back(Reservation::make(*t, 64 * K));
  }
  const std::uint64_t slept = detail::reclaim_stats().throttle_us - throttle0;
  std::printf("8 charges far above high slept %llu us in one window\n", static_cast<unsigned long long>(slept));
  EXPECT_GT(slept, 0u) << "memory.high still throttles";
  EXPECT_LE(slept, 2000000u) << "a window sleeps at most 2 s";
  held.clear();
  detail::drain_own_stock();
}

}  // namespace
}  // namespace memcg
