// The background reclaimer keeps the root under its memory.high. Its own
// test binary: it changes the root's limits.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../test_util.hpp"
#include "page_cache.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1 << 20;
constexpr std::uint64_t kPage = 256 << 10;

TEST(Background, KeepsTheRootUnderItsHigh) {
  Group root = Group::root();
  test::TempGroup t("bg");
  test::PageCache cache(kPage);
  const std::uint64_t base = root.current();
  root.set_high(base + 8 * M);
  const auto runs0 = detail::reclaim_stats().background_runs;
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(cache.add(*t));  // 16M: 8M over
  // Charging threads are not throttled for the root; the reclaimer catches up.
  for (int i = 0; i < 500 && root.current() > base + 8 * M; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_LE(root.current(), base + 8 * M);
  EXPECT_GT(detail::reclaim_stats().background_runs, runs0);
  EXPECT_GE(root.events_local().high, 1u);
  root.set_high(unlimited);
}

}  // namespace
}  // namespace memcg
