// memory.stat's event counters (pgscan, pgsteal, reclaimed, stock_drains) never go
// backwards, even while reclaimed children are removed and released under a
// reader. They used to: the release folds a child's counters into its
// parent while a reader walking the subtree could count the child twice or
// not at all. Bounded by MEMCG_STRESS_MS; no timing threshold.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "page_cache.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t kPage = 64 << 10;

std::chrono::milliseconds stress_duration() {
  const char* e = std::getenv("MEMCG_STRESS_MS");
  return std::chrono::milliseconds(e ? std::atoi(e) : 1500);
}

TEST(StatMonotonic, ReclaimCountersNeverGoBackwardsUnderRemoval) {
  test::TempGroup p("statmono");
  test::PageCache cache(kPage);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, backwards{0}, last_pgsteal{0};
  std::thread reader([&] {
    Stat prev = p->stat();
    while (!stop.load(std::memory_order_relaxed)) {
      const Stat s = p->stat();
      if (s.pgsteal < prev.pgsteal || s.pgscan < prev.pgscan || s.reclaimed < prev.reclaimed ||
          s.stock_drains < prev.stock_drains)
        backwards++;
      prev = s;
      reads++;
    }
    last_pgsteal = prev.pgsteal;
  });
  const auto end = std::chrono::steady_clock::now() + stress_duration();
  std::uint64_t rounds = 0, stolen = 0;
  while (std::chrono::steady_clock::now() < end || rounds < 20) {
    std::vector<Group> kids;
    for (int i = 0; i < 8; ++i) {
      kids.push_back(p->create("c" + std::to_string(i)));
      for (int k = 0; k < 2; ++k) ASSERT_TRUE(cache.add(kids.back()));
    }
    for (Group& k : kids) stolen += k.reclaim(2 * kPage);  // reclaimed, pgsteal and pgscan at each child
    for (Group& k : kids) k.remove();
    kids.clear();  // last references: released (folded into p) on the worker
    ++rounds;
  }
  barrier();
  stop = true;
  reader.join();
  std::printf("%llu rounds, %llu reads, %llu backwards\n", static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(reads.load()), static_cast<unsigned long long>(backwards.load()));
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(p->stat().reclaimed, stolen) << "every reclaimed byte counted once";
  EXPECT_EQ(p->stat().pgsteal * kPage, stolen) << "every freed page object counted once";
}

}  // namespace
}  // namespace memcg
