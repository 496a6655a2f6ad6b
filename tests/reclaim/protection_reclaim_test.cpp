// Protection under sustained pressure, computed by the kernel's rules.
#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "page_cache.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1 << 20;
constexpr std::uint64_t kPage = 256 << 10;

// The cgroup selftest layout (test_memcg_min), with A's max as the pressure:
//   A        max 200M
//   A/B      min 50M
//   A/B/C    min 75M,  50M charged
//   A/B/D    min 25M,  50M charged
//   A/B/E    min 0,    50M charged
//   A/B/F    min 500M, nothing charged
//   A/G      filler that keeps charging until it has 150M
// Reclaim is rooted at A. By the kernel's rules B's emin is its min (50M);
// C, D, E share it in proportion to min(usage, min) (E's share is 0, so E is
// reclaimed to nothing). With C and D at usage x each (both start at 50M and
// the shared walk takes one page from each in turn), siblings_protected =
// x + min(x, 25M) > 50M while x > 25M, so emin(C) = x*50/(x+25) < x and
// emin(D) = 25*50/(x+25) < x: both stay reclaimable, down to x = 25M where
// siblings_protected = 50M = B's emin and both are fully protected.
// Fixed point: B 50M, C 25M, D 25M, E 0, F 0; the filler G gets the other
// 150M of A's 200M.
TEST(ProtectionReclaim, MinProtectionUnderSustainedPressure) {
  test::TempGroup a("A");
  a.get().set_max(200 * M);
  Group b = a->create("B"), g = a->create("G");
  Group c = b.create("C"), d = b.create("D"), e = b.create("E"), f = b.create("F");
  b.set_min(50 * M);
  c.set_min(75 * M);
  d.set_min(25 * M);
  f.set_min(500 * M);
  test::PageCache cache(kPage);
  for (Group* x : {&c, &d, &e})
    for (std::uint64_t i = 0; i < 50 * M / kPage; ++i) ASSERT_TRUE(cache.add(*x));
  ASSERT_EQ(b.current(), 150 * M);
  // Pressure: the filler charges until it holds 150M; every charge over A's
  // max reclaims from A's subtree.
  for (int i = 0; i < 20000 && g.current() < 150 * M - kPage; ++i) cache.add(g);
  // The filler's own pages are reclaimable too; what it holds at the end:
  const std::uint64_t gl = g.current();
  EXPECT_LE(a->current(), 200 * M);
  // Within one page (the pressure loop stops when G is a page short).
  EXPECT_LE(e.current(), kPage) << "no protection: reclaimed to nothing";
  EXPECT_EQ(f.current(), 0u);
  EXPECT_GE(b.current(), 50 * M) << "B never goes below its min";
  EXPECT_LE(b.current(), 50 * M + kPage);
  EXPECT_EQ(c.current(), 25 * M);
  EXPECT_EQ(d.current(), 25 * M);
  EXPECT_GE(a->events().max, 1u);
  EXPECT_EQ(a->events().oom, 0u);
  EXPECT_GE(gl, 150 * M - kPage) << "the filler got the rest";
  std::printf("converged: B %.1fM C %.1fM D %.1fM E %.1fM G %.1fM\n", b.current() / double(M), c.current() / double(M),
              d.current() / double(M), e.current() / double(M), gl / double(M));
  for (Group* x : {&c, &d, &e, &f}) x->remove();
  b.remove();
  g.remove();
}

// memory.low: a group within its effective low is reclaimed only when
// nothing else can be, and then each such reclaim counts a low event.
TEST(ProtectionReclaim, LowIsBestEffort) {
  test::TempGroup a("L");
  Group p = a->create("protected"), u = a->create("unprotected");
  p.set_low(8 * M);
  test::PageCache cache(kPage);
  for (std::uint64_t i = 0; i < 8 * M / kPage; ++i) {
    ASSERT_TRUE(cache.add(p));
    ASSERT_TRUE(cache.add(u));
  }
  // Enough to reclaim from u alone: p untouched, no low event.
  a->reclaim(4 * M);
  EXPECT_EQ(p.current(), 8 * M);
  EXPECT_EQ(u.current(), 4 * M);
  EXPECT_EQ(p.events().low, 0u);
  // More than u has left: u is emptied, then p is reclaimed below its low.
  std::error_code ec;
  a->reclaim(8 * M, ec);
  EXPECT_EQ(u.current(), 0u);
  EXPECT_LT(p.current(), 8 * M);
  EXPECT_GE(p.events().low, 1u);
  EXPECT_GE(p.events_local().low, 1u);
  EXPECT_GE(a->events().low, 1u);  // hierarchical
  p.remove();
  u.remove();
}

TEST(ProtectionReclaim, MinIsNeverReclaimed) {
  test::TempGroup a("N");
  Group p = a->create("p"), u = a->create("u");
  p.set_min(4 * M);
  test::PageCache cache(kPage);
  for (std::uint64_t i = 0; i < 4 * M / kPage; ++i) {
    ASSERT_TRUE(cache.add(p));
    ASSERT_TRUE(cache.add(u));
  }
  std::error_code ec;
  const std::uint64_t got = a->reclaim(16 * M, ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  EXPECT_EQ(got, 4 * M);
  EXPECT_EQ(p.current(), 4 * M);
  EXPECT_EQ(u.current(), 0u);
  p.remove();
  u.remove();
}

}  // namespace
}  // namespace memcg
