// Per-thread charge stocks: multi-group slots, remote drains on remove,
// drain at thread exit, and the overstatement bound.
#include "charge/stock.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/charge.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"

namespace memcg {
namespace {

using detail::kChargeBatch;
using detail::kStockSlots;

TEST(Stock, AThreadAlternatingAmongSevenGroupsKeepsHittingItsStock) {
  test::TempGroup t("seven");
  std::vector<Group> gs;
  for (int i = 0; i < kStockSlots; ++i) gs.push_back(t->create("g" + std::to_string(i)));
  for (auto& g : gs) ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(g), 512));  // warm up
  const std::uint64_t charged = t->current();
  const std::uint64_t fails = t->failcnt();
  for (int round = 0; round < 1000; ++round)
    for (auto& g : gs) {
      ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(g), 512));
      detail::uncharge_memcg(detail::Access::impl(g), 512);
    }
  // No hierarchical charge happened: every operation was served by a slot.
  EXPECT_EQ(t->current(), charged);
  EXPECT_EQ(t->failcnt(), fails);
  for (auto& g : gs) detail::uncharge_memcg(detail::Access::impl(g), 512);
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  for (auto& g : gs) g.remove();
}

TEST(Stock, AnEighthGroupEvictsASlot) {
  test::TempGroup t("eight");
  std::vector<Group> gs;
  for (int i = 0; i < kStockSlots + 1; ++i) gs.push_back(t->create("g" + std::to_string(i)));
  for (auto& g : gs) ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(g), 512));
  // Eight batches were charged, one slot was evicted (its stock returned).
  std::uint64_t in_stock = t->stat().stock;
  EXPECT_EQ(in_stock, kStockSlots * (kChargeBatch - 512));
  EXPECT_EQ(t->current(), in_stock + (kStockSlots + 1) * 512);
  for (auto& g : gs) detail::uncharge_memcg(detail::Access::impl(g), 512);
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  for (auto& g : gs) g.remove();
}

// A thread that frees what other threads' groups charged (a remote free)
// must not fill its slots with those groups: with per-thread groups, every
// thread would keep up to kStockSlots batches of other threads' groups.
TEST(Stock, AnUnchargeOfAGroupWithoutASlotGoesToTheCounters) {
  test::TempGroup t("remote");
  Group a = t->create("a");
  Group b = t->create("b");
  detail::GroupImpl* ai = detail::Access::impl(a);
  detail::GroupImpl* bi = detail::Access::impl(b);
  std::thread([&] { ASSERT_TRUE(detail::try_charge_walk(bi, 4096)); }).join();  // charged elsewhere
  ASSERT_TRUE(detail::try_charge_memcg(ai, 512));  // this thread's slot: a
  const std::uint64_t a_stock = a.stat().stock;
  EXPECT_EQ(b.current(), 4096u);
  detail::uncharge_memcg(bi, 4096);  // b has no slot here: straight to the counters
  EXPECT_EQ(b.current(), 0u);
  EXPECT_EQ(b.stat().stock, 0u);
  EXPECT_EQ(a.stat().stock, a_stock) << "a's slot was not evicted";
  detail::uncharge_memcg(ai, 512);  // a has a slot: into it
  EXPECT_EQ(a.stat().stock, a_stock + 512);
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  a.remove();
  b.remove();
}

TEST(Stock, RemoveDrainsEveryThreadsStockOfTheGroup) {
  const auto base = test::settled_groups();
  test::TempGroup t("rmdrain");
  Group a = t->create("a");
  std::atomic<int> phase{0};
  std::vector<std::thread> holders;
  for (int i = 0; i < 3; ++i)
    holders.emplace_back([&, i] {
      detail::try_charge_memcg(detail::Access::impl(a), 100 + i);
      detail::uncharge_memcg(detail::Access::impl(a), 100 + i);
      phase++;
      while (phase < 10) std::this_thread::yield();  // alive, idle, holding stock
    });
  while (phase < 3) std::this_thread::yield();
  EXPECT_EQ(a.current(), 3 * kChargeBatch);
  a.remove();
  // Nothing is charged any more, although the holders have not run since.
  EXPECT_EQ(a.current(), 0u);
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(a.stat().stock, 0u);
  a = Group();
  EXPECT_EQ(test::settled_groups(), base + 1);  // only t left: a was freed
  phase = 10;
  for (auto& h : holders) h.join();
}

TEST(Stock, ChargesToADyingGroupAreNotStocked) {
  test::TempGroup t("dying");
  Group a = t->create("a");
  a.remove();
  ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(a), 100));  // accounting still works
  EXPECT_EQ(a.current(), 100u);                            // but no batch was stocked
  detail::uncharge_memcg(detail::Access::impl(a), 100);
  EXPECT_EQ(a.current(), 0u);
}

TEST(Stock, ThreadExitDrainsItsStock) {
  test::TempGroup t("exit");
  std::thread([&] {
    ASSERT_TRUE(detail::try_charge_memcg(detail::Access::impl(*t), 1000));
    detail::uncharge_memcg(detail::Access::impl(*t), 1000);
    EXPECT_EQ(t->current(), kChargeBatch);
  }).join();
  EXPECT_EQ(t->current(), 0u);
}

TEST(Stock, OverstatementIsBoundedByThreadsTimesBatch) {
  test::TempGroup t("bound");
  constexpr int kThreads = 4;
  std::atomic<int> phase{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) {
        detail::try_charge_memcg(detail::Access::impl(*t), 1 + k % 3000);
        detail::uncharge_memcg(detail::Access::impl(*t), 1 + k % 3000);
      }
      phase++;
      while (phase < 100) std::this_thread::yield();
    });
  while (phase < kThreads) std::this_thread::yield();
  // Nothing is really charged; current is all stock, at most threads x batch.
  EXPECT_LE(t->current(), kThreads * kChargeBatch);
  EXPECT_EQ(t->current(), t->stat().stock);
  phase = 100;
  for (auto& th : ts) th.join();
  EXPECT_EQ(t->current(), 0u);
}

}  // namespace
}  // namespace memcg
