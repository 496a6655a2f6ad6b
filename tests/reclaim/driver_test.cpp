// The reclaim driver's mechanics: scan targets per priority (the kernel's
// get_scan_count with do_shrink_slab's seeks scaling), batches, early stop
// of limit reclaim, unregistration while a reclaimer is inside a shrinker,
// and the memory.high penalty curve.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "memcg/memcg.hpp"
#include "page_cache.hpp"
#include "reclaim/high.hpp"
#include "reclaim/shrinker_registry.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1 << 20;

// Reports `objects` for one group, frees nothing, and records every call.
class RecordingShrinker : public Shrinker {
 public:
  RecordingShrinker(Group g, std::uint64_t objects) : g_(std::move(g)), objects_(objects) {}
  std::uint64_t count(const ShrinkControl& sc) override { return sc.group.id() == g_.id() ? objects_ : 0; }
  std::uint64_t scan(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(m_);
    calls_.push_back({sc.priority, sc.nr_to_scan});
    return 0;
  }
  struct Call {
    int priority;
    std::uint64_t nr_to_scan;
  };
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> l(m_);
    return calls_;
  }

 private:
  Group g_;
  std::uint64_t objects_;
  std::mutex m_;
  std::vector<Call> calls_;
};

// What the kernel's formulas give for one shrinker call at `priority`:
// scan = size - size * protection / (usage + 1), size = count * 4 / seeks;
// max(scan, SWAP_CLUSTER_MAX) >> priority, at most twice the count.
std::uint64_t kernel_scan(std::uint64_t count, unsigned seeks, std::uint64_t usage, std::uint64_t protection,
                          int priority) {
  const unsigned __int128 size = static_cast<unsigned __int128>(count) * 4 / seeks;
  unsigned __int128 scan = size;
  if (protection) scan -= size * protection / (std::max(usage, protection) + static_cast<unsigned __int128>(1));
  scan = std::max<unsigned __int128>(scan, 32) >> priority;
  return static_cast<std::uint64_t>(std::min<unsigned __int128>(scan, 2 * static_cast<unsigned __int128>(count)));
}

// Sums the first attempt's calls per priority (12 down to 0, in order).
std::map<int, std::uint64_t> first_attempt(const std::vector<RecordingShrinker::Call>& calls) {
  std::map<int, std::uint64_t> per;
  int last = 13;
  for (const auto& c : calls) {
    if (c.priority > last) break;  // the next attempt starts again at 12
    EXPECT_LE(c.nr_to_scan, kShrinkBatch) << "batches of at most kShrinkBatch";
    EXPECT_GT(c.nr_to_scan, 0u);
    per[c.priority] += c.nr_to_scan;
    last = c.priority;
  }
  return per;
}

TEST(Driver, ScanTargetsAreTheKernelsPerPriority) {
  test::TempGroup t("drv");
  constexpr std::uint64_t kObjects = 100000;
  RecordingShrinker s(*t, kObjects);
  auto reg = register_shrinker(s, /*group_aware=*/true);
  std::error_code ec;
  EXPECT_EQ(t->reclaim(1 * M, ec), 0u);  // frees nothing: every priority runs
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  const auto per = first_attempt(s.calls());
  // The reclaim root is unprotected: 200000 >> p objects, 0 at priority 13+.
  for (int p = 12; p >= 0; --p) {
    const std::uint64_t want = kernel_scan(kObjects, 2, 0, 0, p);
    EXPECT_EQ(per.count(p) ? per.at(p) : 0, want) << "priority " << p;
  }
  EXPECT_EQ(per.at(12), 48u);      // 200000 >> 12
  EXPECT_EQ(per.at(0), 200000u);   // twice the count is the cap
  // Pressure never falls as priority drops.
  for (int p = 11; p >= 0; --p) EXPECT_GE(per.at(p), per.at(p + 1));
}

TEST(Driver, ProtectionScalesTheWholeCountBeforeThePriorityShift) {
  test::TempGroup t("drvp");
  Group c = t->create("c");
  std::error_code ec;
  Reservation r = Reservation::make(c, 8 * M, ec);  // usage 8M, min 6M: emin 6M
  ASSERT_FALSE(ec);
  c.set_min(6 * M);
  constexpr std::uint64_t kObjects = 50000;
  RecordingShrinker s(c, kObjects);
  auto reg = register_shrinker(s, true);
  t->reclaim(1 * M, ec);
  const auto per = first_attempt(s.calls());
  // size 100000; scan = 100000 - 100000 * 6M / (8M + 1) = 25001 (by hand:
  // 100000 * 6291456 / 8388609 = 74999.99..., floored to 74999).
  EXPECT_EQ(kernel_scan(kObjects, 2, 8 * M, 6 * M, 0), 25001u);
  for (int p = 12; p >= 0; --p)
    EXPECT_EQ(per.count(p) ? per.at(p) : 0, kernel_scan(kObjects, 2, 8 * M, 6 * M, p)) << "priority " << p;
  EXPECT_EQ(per.at(12), 6u) << "25001 >> 12";
  c.remove();
}

TEST(Driver, ScanFloorKeepsSmallGroupsMovingAtLowPriorities) {
  test::TempGroup t("drvf");
  RecordingShrinker s(*t, 3);  // 3 objects: size 6, floored to 32
  auto reg = register_shrinker(s, true);
  std::error_code ec;
  t->reclaim(1 * M, ec);
  const auto per = first_attempt(s.calls());
  for (int p = 12; p >= 6; --p) EXPECT_EQ(per.count(p), 0u) << "32 >> " << p << " is 0";
  EXPECT_EQ(per.at(5), 1u);
  EXPECT_EQ(per.at(1), 6u) << "16, capped at twice the count";
  EXPECT_EQ(per.at(0), 6u);
}

TEST(Driver, LimitReclaimStopsOnceItsTargetIsMet) {
  test::TempGroup t("drvl");
  constexpr std::uint64_t kPage = 4 << 10;
  test::PageCache cache(kPage);
  for (int i = 0; i < 1024; ++i) ASSERT_TRUE(cache.add(*t));  // 4M of page cache
  t.get().set_max(4 * M);
  // A 64K charge at max: the charging thread reclaims at least 64K, and
  // stops at the priority that met it instead of walking on.
  std::error_code ec;
  Reservation r = Reservation::make(*t, 64 << 10, ec);
  ASSERT_FALSE(ec) << ec.message();
  const std::uint64_t freed = 1024 - cache.pages(*t);
  EXPECT_GE(freed * kPage, 64u << 10);
  // 2048 >> 6 = 32 pages is the first priority's scan above 16 pages.
  EXPECT_LE(freed, 32u) << "reclaim walked on after its target";
  EXPECT_GE(t->events().max, 1u);
}

// A reclaimer is inside scan(); unregistering waits for it to leave, and the
// shrinker is never called after reset() returns.
TEST(Driver, UnregisterWaitsForAReclaimerInsideTheShrinker) {
  test::TempGroup t("drvu");
  struct Blocking : Shrinker {
    std::atomic<bool> inside{false}, release{false}, returned{false};
    std::atomic<int> calls_after_reset{0};
    std::atomic<bool> reset_done{false};
    std::uint64_t count(const ShrinkControl&) override { return 1000; }
    std::uint64_t scan(const ShrinkControl&) override {
      if (reset_done.load()) calls_after_reset.fetch_add(1);
      if (!inside.exchange(true)) {
        while (!release.load()) std::this_thread::yield();
        returned = true;
      }
      return kShrinkStop;
    }
  } s;
  auto reg = register_shrinker(s, true);
  std::thread reclaimer([&] {
    std::error_code ec;
    t->reclaim(1 * M, ec);
  });
  while (!s.inside.load()) std::this_thread::yield();
  std::thread unregister([&] {
    reg.reset();
    s.reset_done = true;
  });
  // reset() cannot return while the reclaimer is inside.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(s.reset_done.load());
  s.release = true;
  unregister.join();
  EXPECT_TRUE(s.returned.load()) << "reset() returned before the reclaimer left scan()";
  reclaimer.join();
  std::error_code ec;
  t->reclaim(1 * M, ec);
  EXPECT_EQ(s.calls_after_reset.load(), 0);
}

// calculate_high_delay by hand: overage = ((usage - high) << 20) / high;
// delay = overage^2 >> 20 * 10^6 >> 14 * bytes / 64K microseconds,
// clamped to 2 s.
TEST(Driver, HighPenaltyCurveIsQuadraticAndClampedAtTwoSeconds) {
  using detail::calculate_overage;
  using detail::high_delay_us;
  EXPECT_EQ(calculate_overage(1000000, 1000000), 0u);
  EXPECT_EQ(high_delay_us(0, 64 << 10), 0u);
  // 10% over: overage 104857 (0.1 * 2^20, floored).
  EXPECT_EQ(calculate_overage(1100000, 1000000), 104857u);
  // 104857^2 = 10994990449; >> 20 = 10485; * 10^6 >> 14 = 639953 us.
  EXPECT_EQ(high_delay_us(104857, 64 << 10), 639953u);
  EXPECT_EQ(high_delay_us(104857, 32 << 10), 319976u);  // half a batch: half the delay
  // 5% over: a quarter of the 10% delay (quadratic), give or take rounding.
  const std::uint64_t five = high_delay_us(calculate_overage(1050000, 1000000), 64 << 10);
  EXPECT_NEAR(static_cast<double>(five), 639953 / 4.0, 639953 * 0.001);
  // 100% over: 64 s by the formula, clamped to 2 s.
  EXPECT_EQ(calculate_overage(2000000, 1000000), 1u << 20);
  EXPECT_EQ(high_delay_us(1u << 20, 64 << 10), detail::kMaxHighDelayUs);
  EXPECT_EQ(detail::kMaxHighDelayUs, 2000000u);
  // Below 10 ms the charging thread does not sleep at all (kMinHighDelayUs).
  EXPECT_LT(high_delay_us(calculate_overage(1010000, 1000000), 64 << 10), detail::kMinHighDelayUs);
}

}  // namespace
}  // namespace memcg
