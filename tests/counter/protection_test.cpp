// Effective protection by the kernel's rules (mm/page_counter.c), on cases
// computed by hand in the comments.
#include "counter/protection.hpp"

#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "memcg/memcg.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1ull << 20;

TEST(EffectiveProtection, FormulaCases) {
  using detail::effective_protection;
  // Unprotected share: protected = min(usage, setting).
  EXPECT_EQ(effective_protection(10 * M, 30 * M, 100 * M, 20 * M), 10 * M);
  EXPECT_EQ(effective_protection(50 * M, 30 * M, 100 * M, 40 * M), 30 * M);
  // Overcommitted siblings: scaled by parent_effective / siblings_protected.
  EXPECT_EQ(effective_protection(50 * M, 75 * M, 50 * M, 75 * M), 50 * M * 50 / 75);
  EXPECT_EQ(effective_protection(50 * M, 25 * M, 50 * M, 75 * M), 25 * M * 50 / 75);
  // Parent has no protection: nothing is protected below it.
  EXPECT_EQ(effective_protection(50 * M, 25 * M, 0, 75 * M), 0u);
  // Products beyond 64 bits do not overflow.
  EXPECT_EQ(effective_protection(UINT64_MAX / 2, UINT64_MAX / 2, UINT64_MAX / 4, UINT64_MAX / 2), UINT64_MAX / 4);
}

// memory_recursiveprot: the parent's unclaimed protection is handed down in
// proportion to unprotected usage (mm/page_counter.c, by hand).
TEST(EffectiveProtection, RecursiveProtFormula) {
  using detail::effective_protection;
  // parent eX 100M, siblings claim 20M, parent usage 120M; this child uses
  // 50M and claims 10M: unclaimed 80M * (50 - 10) / (120 - 20) = 32M.
  EXPECT_EQ(effective_protection(50 * M, 120 * M, 10 * M, 100 * M, 20 * M, true), 10 * M + 32 * M);
  EXPECT_EQ(effective_protection(50 * M, 120 * M, 10 * M, 100 * M, 20 * M, false), 10 * M);
  // Fully claimed or overcommitted: no change.
  EXPECT_EQ(effective_protection(50 * M, 120 * M, 50 * M, 50 * M, 50 * M, true), 50 * M);
  EXPECT_EQ(effective_protection(50 * M, 150 * M, 75 * M, 50 * M, 75 * M, true), 50 * M * 50 / 75);
}

// A tenant's protection covers its unprotected queries with
// memory_recursiveprot, and not without (the option is process-wide).
TEST(EffectiveProtection, RecursiveProtProtectsLeavesWithoutSettings) {
  test::TempGroup t("recprot");
  Group tenant = t->create("tenant");
  tenant.set_min(100 * M);
  Group q1 = tenant.create("q1"), q2 = tenant.create("q2");
  Reservation r1 = Reservation::make(q1, 50 * M), r2 = Reservation::make(q2, 50 * M);
  EXPECT_EQ(q1.effective_min(*t), 0u) << "without the option a leaf needs its own min";
  set_memory_recursiveprot(true);
  EXPECT_TRUE(memory_recursiveprot());
  EXPECT_EQ(q1.effective_min(*t), 50 * M) << "half of the tenant's unclaimed 100M";
  EXPECT_EQ(q2.effective_min(*t), 50 * M);
  set_memory_recursiveprot(false);
  EXPECT_EQ(q1.effective_min(*t), 0u);
  r1.reset();
  r2.reset();
  q1.remove();
  q2.remove();
  tenant.remove();
}

// The cgroup selftest layout (tools/testing/selftests/cgroup test_memcg_min),
// reclaim rooted at A:
//   A/B      min 50M, usage 150M            -> emin = 50M (child of the root: its setting)
//   A/B/C    min 75M, usage 50M  protected 50M
//   A/B/D    min 25M, usage 50M  protected 25M
//   A/B/E    min 0,   usage 50M  protected 0
//   A/B/F    min 500M, usage 0
//   B.children_min_usage = 50 + 25 + 0 + 0 = 75M > B.emin = 50M, so scale 50/75:
//   C = 50M * 50/75 = 33.3M, D = 25M * 50/75 = 16.7M, E = 0, F = 0.
// Rooted at the tree root instead, A is the top level with min 0, so nothing
// below it is protected.
TEST(EffectiveProtection, SelftestTreeMin) {
  test::TempGroup a("A");
  Group b = a->create("B"), c = b.create("C"), d = b.create("D"), e = b.create("E"), f = b.create("F");
  b.set_min(50 * M);
  c.set_min(75 * M);
  d.set_min(25 * M);
  f.set_min(500 * M);
  // Same numbers for low, to check that elow follows the same rules.
  b.set_low(50 * M);
  c.set_low(75 * M);
  d.set_low(25 * M);
  f.set_low(500 * M);
  auto rc = Reservation::make(c, 50 * M), rd = Reservation::make(d, 50 * M), re = Reservation::make(e, 50 * M);
  EXPECT_EQ(b.current(), 150 * M);

  EXPECT_EQ(b.effective_min(*a), 50 * M);
  EXPECT_EQ(c.effective_min(*a), 50 * M * 50 * M / (75 * M));
  EXPECT_EQ(d.effective_min(*a), 25 * M * 50 * M / (75 * M));
  EXPECT_EQ(e.effective_min(*a), 0u);
  EXPECT_EQ(f.effective_min(*a), 0u);
  EXPECT_EQ(c.effective_low(*a), 50 * M * 50 * M / (75 * M));
  EXPECT_EQ(d.effective_low(*a), 25 * M * 50 * M / (75 * M));
  EXPECT_EQ(a->effective_min(*a), 0u);  // the reclaim root is never protected

  EXPECT_EQ(b.effective_min(), 0u);
  EXPECT_EQ(c.effective_min(), 0u);
  EXPECT_EQ(c.effective_low(), 0u);
  for (Group* g : {&c, &d, &e, &f}) g->remove();
  rc.reset(); rd.reset(); re.reset();
  b.remove();
}

// Three levels, overcommitted twice, reclaim rooted at the tree root:
//   P  low 60M, usage 100M                 -> elow 60M (top level: its setting)
//   P/Q  low 80M, usage 70M, protected 70M -> siblings 70+30 = 100 > 60: 70*60/100 = 42M
//   P/R  low 40M, usage 30M, protected 30M -> 30*60/100 = 18M
//   P/Q/Q1 low 50M, usage 50M              -> siblings 50+20 = 70 > 42: 50*42/70 = 30M
//   P/Q/Q2 low 50M, usage 20M              -> 20*42/70 = 12M
// And min, not overcommitted: P min 100M; Q min 30M (usage 70M -> 30M);
// R min 20M (usage 30M -> 20M); 30 + 20 = 50 <= 100, so no scaling.
TEST(EffectiveProtection, ThreeLevelsOvercommittedTwice) {
  test::TempGroup p("P");
  Group q = p->create("Q"), r = p->create("R"), q1 = q.create("Q1"), q2 = q.create("Q2");
  p.get().set_low(60 * M);
  q.set_low(80 * M);
  r.set_low(40 * M);
  q1.set_low(50 * M);
  q2.set_low(50 * M);
  p.get().set_min(100 * M);
  q.set_min(30 * M);
  r.set_min(20 * M);
  auto a = Reservation::make(q1, 50 * M), b = Reservation::make(q2, 20 * M), c = Reservation::make(r, 30 * M);
  EXPECT_EQ(p->current(), 100 * M);
  EXPECT_EQ(p->effective_low(), 60 * M);
  EXPECT_EQ(q.effective_low(), 42 * M);
  EXPECT_EQ(r.effective_low(), 18 * M);
  EXPECT_EQ(q1.effective_low(), 30 * M);
  EXPECT_EQ(q2.effective_low(), 12 * M);
  EXPECT_EQ(p->effective_min(), 100 * M);
  EXPECT_EQ(q.effective_min(), 30 * M);
  EXPECT_EQ(r.effective_min(), 20 * M);
  EXPECT_EQ(q1.effective_min(), 0u);  // Q1 has no min of its own
  // Rooted at P: Q and R are children of the reclaim root and get their settings.
  EXPECT_EQ(q.effective_low(*p), 80 * M);
  EXPECT_EQ(r.effective_low(*p), 40 * M);
  // Q1, Q2 under Q (elow 80M now): siblings 70M <= 80M, so unscaled.
  EXPECT_EQ(q1.effective_low(*p), 50 * M);
  EXPECT_EQ(q2.effective_low(*p), 20 * M);
  a.reset(); b.reset(); c.reset();
  q1.remove(); q2.remove(); q.remove(); r.remove();
}

TEST(EffectiveProtection, CalculateProtectionWritesCounterState) {
  using detail::PageCounter;
  PageCounter root{nullptr, nullptr}, p{&root, nullptr}, c1{&p, nullptr}, c2{&p, nullptr};
  p.set_min(10);
  c1.set_min(8);
  c2.set_min(8);
  PageCounter* fail;
  c1.try_charge(8, &fail);
  c2.try_charge(4, &fail);
  detail::calculate_protection(&root, &p);
  detail::calculate_protection(&root, &c1);
  detail::calculate_protection(&root, &c2);
  EXPECT_EQ(p.emin(), 10u);
  EXPECT_EQ(c1.emin(), 8u * 10 / 12);  // siblings 12 > 10
  EXPECT_EQ(c2.emin(), 4u * 10 / 12);
  c1.uncharge(8);
  c2.uncharge(4);
}

}  // namespace
}  // namespace memcg
