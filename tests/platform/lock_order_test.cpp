#include <gtest/gtest.h>

#include "platform/ranked_mutex.hpp"

namespace memcg::detail {
namespace {

TEST(LockOrder, IncreasingRanksAreAllowed) {
  RankedMutex a(LockRank::kTree), b(LockRank::kStockRegistry);
  SpinLock c(LockRank::kThreadStock);
  LockGuard<RankedMutex> la(a);
  LockGuard<RankedMutex> lb(b);
  LockGuard<SpinLock> lc(c);
  SUCCEED();
}

#if defined(MEMCG_CHECKED)
TEST(LockOrderDeathTest, DecreasingRankAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto wrong_order = [] {
    RankedMutex hi(LockRank::kWorkerQueue);
    RankedMutex lo(LockRank::kTree);
    LockGuard<RankedMutex> l1(hi);
    LockGuard<RankedMutex> l2(lo);
  };
  EXPECT_DEATH(wrong_order(), "lock order violated");
}

TEST(LockOrderDeathTest, HeldRanksAreTracked) {
  RankedMutex m(LockRank::kTree);
  EXPECT_FALSE(lock_rank_held(LockRank::kTree));
  {
    LockGuard<RankedMutex> l(m);
    EXPECT_TRUE(lock_rank_held(LockRank::kTree));
  }
  EXPECT_FALSE(lock_rank_held(LockRank::kTree));
}
#endif

}  // namespace
}  // namespace memcg::detail
