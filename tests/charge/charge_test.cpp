// The charge policy: batching through the stock, refusal at max, events,
// drain-and-retry.
#include "charge/charge.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/upcalls.hpp"
#include "memcg/shrinker.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

using detail::kChargeBatch;

TEST(Charge, SmallChargeRefillsABatchAndIsServedFromStock) {
  test::TempGroup t("batch");
  auto* g = detail::Access::impl(*t);
  ASSERT_TRUE(detail::try_charge_memcg(g, 1024));
  // One batch was charged; the rest sits in this thread's stock.
  EXPECT_EQ(t->current(), kChargeBatch);
  EXPECT_EQ(t->stat().stock, kChargeBatch - 1024);
  ASSERT_TRUE(detail::try_charge_memcg(g, 1024));
  EXPECT_EQ(t->current(), kChargeBatch);  // served from the stock
  EXPECT_EQ(t->stat().stock, kChargeBatch - 2048);
  detail::uncharge_memcg(g, 2048);
  EXPECT_EQ(t->stat().stock, kChargeBatch);
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().stock, 0u);
}

TEST(Charge, LargeChargesBypassTheStock) {
  test::TempGroup t("large");
  auto* g = detail::Access::impl(*t);
  ASSERT_TRUE(detail::try_charge_memcg(g, kChargeBatch + 1));
  EXPECT_EQ(t->current(), kChargeBatch + 1);
  EXPECT_EQ(t->stat().stock, 0u);
  detail::uncharge_memcg(g, kChargeBatch + 1);
  EXPECT_EQ(t->current(), 0u);
}

TEST(Charge, RefusedBatchFallsBackToExactBytes) {
  test::TempGroup t("exact");
  t.get().set_max(10000);
  auto* g = detail::Access::impl(*t);
  ASSERT_TRUE(detail::try_charge_memcg(g, 4000));  // batch refused, 4000 fits
  EXPECT_EQ(t->current(), 4000u);
  EXPECT_EQ(t->events().max, 0u) << "a refused batch is not a max event";
  EXPECT_EQ(t->failcnt(), 1u) << "but it counts in failcnt, as in the kernel";
  ASSERT_TRUE(detail::try_charge_memcg(g, 6000));
  EXPECT_FALSE(detail::try_charge_memcg(g, 1));
  EXPECT_EQ(t->current(), 10000u);
  // The kernel's try_charge loop with nothing reclaimable: a max event
  // before the stock drain, one after it, one per retry; then OOM (no
  // handler: the charge fails).
  Events e = t->events();
  EXPECT_EQ(e.max, 2u + detail::kMaxReclaimRetries);
  EXPECT_EQ(e.oom, 1u);
  detail::uncharge_memcg(g, 10000);
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
}

TEST(Charge, EventsAreHierarchicalAndLocal) {
  test::TempGroup t("ev");
  Group a = t->create("a");
  Group b = a.create("b");
  const Events root_before = Group::root().events();
  a.set_max(4000);
  ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(b), 3000));  // fits: 1000 left
  EXPECT_FALSE(detail::try_charge_memcg(detail::Access::impl(b), 2000)); // could fit, refused
  // Refused at a: a's local and hierarchical counts, t's hierarchical only.
  const std::uint64_t n = 2 + detail::kMaxReclaimRetries;
  EXPECT_EQ(a.events_local().max, n);
  EXPECT_EQ(a.events().max, n);
  EXPECT_EQ(b.events().max, 0u);
  EXPECT_EQ(t->events().max, n);
  EXPECT_EQ(t->events_local().max, 0u);
  EXPECT_EQ(t->events().oom, 1u);
  // The kernel's propagation stops below the root.
  EXPECT_EQ(Group::root().events().max, root_before.max) << "a descendant's event reached the root";
  EXPECT_EQ(Group::root().events().oom, root_before.oom);
  detail::uncharge_memcg(detail::Access::impl(b), 3000);
  detail::drain_own_stock();
  b.remove();
  a.remove();
}

TEST(Charge, HighEventWhenAChargeLeavesAnAncestorOverHigh) {
  test::TempGroup t("high");
  Group a = t->create("a");
  t.get().set_high(196 * 1024);
  const auto throttled = detail::reclaim_stats().throttle_us;
  ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(a), 200 * 1024));
  // Nothing to reclaim: reclaim_high runs once and retries 16 times (a high
  // event each), then the thread is throttled: overage 4K/196K of 2^20,
  // squared, scaled: about 27 ms per nominal batch, x 200K/64K = ~83 ms.
  EXPECT_EQ(t->events_local().high, 1u + detail::kMaxReclaimRetries);
  EXPECT_EQ(a.events_local().high, 0u);
  EXPECT_GE(detail::reclaim_stats().throttle_us - throttled, 80000u);
  EXPECT_LE(detail::reclaim_stats().throttle_us - throttled, 90000u);
  EXPECT_EQ(t->current(), 200u * 1024);  // high never refuses
  detail::uncharge_memcg(detail::Access::impl(a), 200 * 1024);
  a.remove();
}

TEST(Charge, DrainsOtherThreadsStocksBeforeFailingAtMax) {
  test::TempGroup t("drainmax");
  t.get().set_max(kChargeBatch);
  auto* g = detail::Access::impl(*t);
  std::atomic<int> phase{0};
  std::thread holder([&] {
    ASSERT_TRUE(detail::try_charge_memcg(g, 1024));  // stocks kChargeBatch - 1024
    detail::uncharge_memcg(g, 1024);                  // all of it is in the stock now
    phase = 1;
    while (phase != 2) std::this_thread::yield();    // keep the thread (and stock) alive
  });
  while (phase != 1) std::this_thread::yield();
  EXPECT_EQ(t->current(), kChargeBatch);
  // Nothing is really used, but the holder's stock has every byte under max.
  ASSERT_TRUE(detail::try_charge_memcg(g, 4096));
  EXPECT_EQ(t->events().max, 1u);
  EXPECT_GE(t->stat().stock_drains, 1u);
  EXPECT_EQ(t->events().oom, 0u);
  detail::uncharge_memcg(g, 4096);
  phase = 2;
  holder.join();
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
}

}  // namespace
}  // namespace memcg
