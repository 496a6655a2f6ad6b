// Protection under sustained pressure, computed by the kernel's rules.
#include <gtest/gtest.h>

#include <vector>

#include "../test_util.hpp"

#include "page_cache.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1 << 20;
constexpr std::uint64_t kPage = 4 << 10;  // page-cache pages as small as the kernel's: pressure spreads

// The kernel's values_close(a, b, err): |a - b| <= (a + b) / 100 * err.
bool values_close(std::uint64_t a, std::uint64_t b, std::uint64_t err) {
  const std::uint64_t d = a > b ? a - b : b - a;
  return d <= (a + b) / 100 * err;
}

// Anonymous memory of the cgroup selftest: charged, never reclaimable.
std::vector<Reservation> alloc_anon(const Group& g, std::uint64_t bytes, std::error_code& ec) {
  std::vector<Reservation> v;
  for (std::uint64_t done = 0; done < bytes; done += 64 << 10) {
    Reservation r = Reservation::make(g, 64 << 10, ec);
    if (ec) return v;
    v.push_back(std::move(r));
  }
  return v;
}

// The cgroup selftest's test_memcg_min / test_memcg_low
// (tools/testing/selftests/cgroup/test_memcontrol.c), with page-cache pages
// on a ListLru and Reservations as anonymous memory:
//   A        max 200M
//   A/B      protection 50M
//   A/B/C    protection 75M,  50M of page cache
//   A/B/D    protection 25M,  50M of page cache
//   A/B/E    protection 0,    50M of page cache
//   A/B/F    protection 500M, nothing
//   A/G      allocates 148M of anonymous memory, then frees it
// "protection" is memory.min or memory.low. The kernel's expected outcome
// (its model is memcg_protection.m): B ~50M, C ~29M, D ~21M, E ~0, F 0.
// Why not 25/25: C and D share B's 50M in proportion to min(usage,
// protection); at the start emin(C) = 50*50/75 = 33.3M and emin(D) = 16.7M,
// so D has twice C's unprotected share (33.3M against 16.7M) and, with
// pressure proportional to the unprotected share, shrinks twice as fast;
// every fixed point has C + D = 50M (then both are exactly at their
// effective protection), and the path decides which one: about 29/21.
struct SelftestTree {
  test::TempGroup a{"A"};
  Group b, g, c, d, e, f;
  test::PageCache cache{kPage};

  explicit SelftestTree(bool min) {
    a.get().set_max(200 * M);
    b = a->create("B");
    g = a->create("G");
    c = b.create("C");
    d = b.create("D");
    e = b.create("E");
    f = b.create("F");
    auto protect = [&](Group& x, std::uint64_t bytes) { min ? x.set_min(bytes) : x.set_low(bytes); };
    protect(b, 50 * M);
    protect(c, 75 * M);
    protect(d, 25 * M);
    protect(f, 500 * M);
    for (Group* x : {&c, &d, &e})
      for (std::uint64_t i = 0; i < 50 * M / kPage; ++i) EXPECT_TRUE(cache.add(*x));
    EXPECT_EQ(b.current(), 150 * M);
  }
  ~SelftestTree() {
    for (Group* x : {&c, &d, &e, &f}) x->remove();
    b.remove();
    g.remove();
  }
  void expect_kernel_outcome() const {
    std::printf("B %.1fM C %.1fM D %.1fM E %.1fM F %.1fM\n", b.current() / double(M), c.current() / double(M),
                d.current() / double(M), e.current() / double(M), f.current() / double(M));
    // The selftest's own tolerances.
    EXPECT_TRUE(values_close(b.current(), 50 * M, 3)) << b.current();
    EXPECT_TRUE(values_close(c.current(), 29 * M, 15)) << c.current();
    EXPECT_TRUE(values_close(d.current(), 21 * M, 20)) << d.current();
    EXPECT_LT(e.current(), d.current()) << "E has no protection";
    EXPECT_EQ(f.current(), 0u);
  }
};

TEST(ProtectionReclaim, MinSelftestTreeConvergesAsTheKernel) {
  SelftestTree t(/*min=*/true);
  {
    std::error_code ec;
    auto anon = alloc_anon(t.g, 148 * M, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_LE(t.a->current(), 200 * M);
  }
  t.expect_kernel_outcome();
  // 170M cannot fit: B's 50M are min-protected, so G's charge fails (OOM at A).
  const std::uint64_t b_before = t.b.current();
  std::error_code ec;
  auto anon = alloc_anon(t.g, 170 * M, ec);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_GE(t.b.current(), 50 * M) << "min is never reclaimed";
  EXPECT_LE(t.b.current(), b_before);
  EXPECT_GE(t.a->events_local().oom, 1u);
  for (const Group* x : {&t.c, &t.d, &t.e, &t.f}) EXPECT_EQ(x->events().oom, 0u) << x->path();
  // min reclaim never breaches low (there is none here): no low events.
  EXPECT_EQ(t.b.events().low, 0u);
}

TEST(ProtectionReclaim, LowSelftestTreeConvergesAsTheKernel) {
  SelftestTree t(/*min=*/false);
  {
    std::error_code ec;
    auto anon = alloc_anon(t.g, 148 * M, ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  t.expect_kernel_outcome();
  // 166M fits only by reclaiming below low: it succeeds, and C and D, the
  // groups reclaimed within their effective low, count low events; E (no
  // protection) and F (nothing charged) count none.
  std::error_code ec;
  auto anon = alloc_anon(t.g, 166 * M, ec);
  EXPECT_FALSE(ec) << "memory.low prevents the allocation: " << ec.message();
  EXPECT_GT(t.c.events().low, 0u);
  EXPECT_GT(t.d.events().low, 0u);
  EXPECT_EQ(t.e.events().low, 0u);
  EXPECT_EQ(t.f.events().low, 0u);
  for (const Group* x : {&t.c, &t.d, &t.e, &t.f}) EXPECT_EQ(x->events().oom, 0u) << x->path();
}

// A removed group claims no protection (the kernel's css_offline zeroes
// min and low): a dying sibling pinned by its pages must not take half of
// the parent's effective min from the live one.
//   T      max 150M
//   T/P    min 50M
//   T/P/L  min 50M, 50M of page cache
//   T/P/D  min 50M, 50M of page cache, then removed (its pages keep it)
//   T/G    allocates 90M of anonymous memory: 40M must be reclaimed
// With D's claim gone L's effective min is all of P's 50M and D's pages go
// first; with it, L and D would split P's 50M and L would lose about 20M.
TEST(ProtectionReclaim, ARemovedGroupNoLongerClaimsItsShareOfProtection) {
  test::TempGroup t("offmin");
  t.get().set_max(150 * M);
  test::PageCache cache{kPage};
  Group p = t->create("P");
  p.set_min(50 * M);
  Group l = p.create("L"), d = p.create("D");
  l.set_min(50 * M);
  d.set_min(50 * M);
  for (Group* x : {&l, &d})
    for (std::uint64_t i = 0; i < 50 * M / kPage; ++i) ASSERT_TRUE(cache.add(*x));
  d.remove();
  EXPECT_EQ(d.min(), 0u) << "removal zeroes memory.min";
  EXPECT_EQ(d.low(), 0u) << "removal zeroes memory.low";
  EXPECT_EQ(p.current(), 100 * M) << "D's pages still charge it";
  Group g = t->create("G");
  std::error_code ec;
  auto anon = alloc_anon(g, 90 * M, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::printf("L %.1fM, P %.1fM\n", l.current() / double(M), p.current() / double(M));
  EXPECT_GE(l.current(), 48 * M) << "the live sibling lost its protection to a removed one";
  anon.clear();
  g.remove();
  l.remove();
  p.remove();
}

// Whole-page expectations below: pages of 256K, so one scan batch is exact.
constexpr std::uint64_t kBigPage = 256 << 10;

// memory.low: a group within its effective low is reclaimed only when
// nothing else can be, and then each such reclaim counts a low event.
TEST(ProtectionReclaim, LowIsBestEffort) {
  test::TempGroup a("L");
  Group p = a->create("protected"), u = a->create("unprotected");
  p.set_low(8 * M);
  test::PageCache cache(kBigPage);
  for (std::uint64_t i = 0; i < 8 * M / kBigPage; ++i) {
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
  test::PageCache cache(kBigPage);
  for (std::uint64_t i = 0; i < 4 * M / kBigPage; ++i) {
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
