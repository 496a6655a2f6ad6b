// What starts reclaim: a charge over max, over high, a lowered limit, OOM.
#include <gtest/gtest.h>

#include <memory>

#include "../test_util.hpp"
#include "page_cache.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t M = 1 << 20;
constexpr std::uint64_t kPage = 256 << 10;

TEST(Triggers, ChargeOverMaxReclaimsSynchronously) {
  test::TempGroup t("tmax");
  t.get().set_max(4 * M);
  test::PageCache cache(kPage);
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(cache.add(*t));
  EXPECT_EQ(t->current(), 4 * M);
  // Full; a new charge succeeds because reclaim frees old pages.
  std::error_code ec;
  auto r = Reservation::make(*t, M, ec);
  ASSERT_TRUE(r) << ec.message();
  EXPECT_LE(t->current(), 4 * M);
  EXPECT_GE(t->events().max, 1u);
  EXPECT_EQ(t->events().oom, 0u);
  EXPECT_LT(cache.pages(*t), 16u);
}

TEST(Triggers, ChargeOverHighReclaimsTheOverage) {
  test::TempGroup t("thigh");
  test::PageCache cache(kPage);
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(cache.add(*t));
  t.get().set_high(2 * M);  // lowering high reclaims towards it at once
  EXPECT_LE(t->current(), 2 * M);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(cache.add(*t));  // each charge over high reclaims
  EXPECT_LE(t->current(), 2 * M + kPage);
  EXPECT_GE(t->events().high, 1u);
}

TEST(Triggers, LoweringMaxReclaimsThenCallsOom) {
  test::TempGroup t("tlower");
  test::PageCache cache(kPage);
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(cache.add(*t));
  t.get().set_max(2 * M);
  EXPECT_LE(t->current(), 2 * M);
  // Unreclaimable memory: set_max cannot get below, the OOM handler is asked.
  auto pinned = Reservation::make(*t, M);
  int calls = 0;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    ++calls;
    EXPECT_EQ(*ctx.group, *t);
    return false;
  });
  t.get().set_max(kPage);
  EXPECT_GT(t->current(), kPage);
  EXPECT_GE(calls, 1);
  EXPECT_GE(t->events().oom, 1u);
}

TEST(Oom, HandlerIsDestroyedWhenItsGroupIsFreed) {
  auto token = std::make_shared<int>(7);
  {
    test::TempGroup t("oomfree");
    t.get().set_oom_handler([token](const OomContext&) { return false; });
    t.get().set_oom_handler([token](const OomContext&) { return *token == 7; });  // replaces: the first is destroyed
    EXPECT_EQ(token.use_count(), 2);
  }  // removed and its handle dropped
  barrier();  // the group is freed
  EXPECT_EQ(token.use_count(), 1) << "the OOM handler of a freed group leaked";
}

TEST(Oom, HandlerGetsTheHeaviestDescendantAndCanFreeMemory) {
  test::TempGroup t("oom");
  Group light = t->create("light"), heavy = t->create("heavy"), hh = heavy.create("hh");
  t.get().set_max(4 * M);
  std::vector<Reservation> held;
  held.push_back(Reservation::make(light, M));
  held.push_back(Reservation::make(hh, 2 * M));
  held.push_back(Reservation::make(hh, 1 * M - 4096));
  std::string victim_path;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    victim_path = ctx.victim->path();
    EXPECT_EQ(ctx.requested, 16384u);
    held.pop_back();  // "kill": free the victim's newest reservation
    return true;
  });
  std::error_code ec;
  auto r = Reservation::make(light, 16384, ec);  // small: OOM applies
  ASSERT_TRUE(r) << ec.message();
  EXPECT_EQ(victim_path, hh.path());
  EXPECT_EQ(t->events_local().oom, 1u);
  EXPECT_EQ(hh.events_local().oom_kill, 1u);
  EXPECT_EQ(t->events().oom_kill, 1u);
  r.reset();
  held.clear();
  hh.remove();
  heavy.remove();
  light.remove();
}

TEST(Oom, NearestAncestorHandlerAppliesAndFailureIsClean) {
  test::TempGroup t("oomnear");
  Group a = t->create("a");
  a.set_max(M);
  int outer = 0;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    ++outer;
    EXPECT_EQ(*ctx.group, a);  // the group whose max failed
    return false;              // nothing freed: the charge fails
  });
  auto big = Reservation::make(a, M);
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(a, 4096, ec));
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(outer, 1);
  EXPECT_EQ(a.events_local().oom, 1u);
  EXPECT_EQ(a.events_local().oom_kill, 0u);
  // Costly charges (above one slab) never call the OOM handler (the
  // kernel's order check).
  EXPECT_FALSE(Reservation::make(a, 128 * 1024, ec));
  EXPECT_EQ(outer, 1);
  t.get().set_oom_handler(nullptr);
  big.reset();
  a.remove();
}

// The victim is the group with the largest own usage, not the end of the
// largest-child path: A = 10M (A1 5M, A2 5M) and B 9M suggest B (the old
// rule, descending into A, suggested A1).
TEST(Oom, VictimIsTheGroupWithTheLargestOwnUsage) {
  test::TempGroup t("oomown");
  Group a = t->create("A"), a1 = a.create("A1"), a2 = a.create("A2"), b = t->create("B");
  std::vector<Reservation> held;
  held.push_back(Reservation::make(a1, 5 * M));
  held.push_back(Reservation::make(a2, 5 * M));
  held.push_back(Reservation::make(b, 9 * M));
  t.get().set_max(19 * M);
  std::vector<std::string> victims;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    victims.push_back(ctx.victim->path());
    return false;
  });
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(a1, 16384, ec));
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0], b.path());
  // The group itself, when its own usage is the largest (charges of a
  // removed child count as its parent's own).
  t.get().set_max(unlimited);
  held.push_back(Reservation::make(a, 2 * M));  // A's own: 2M; A1 5M is still larger
  Group gone = b.create("gone");
  held.push_back(Reservation::make(gone, 4 * M));
  gone.remove();  // its 4M stays charged: B's own is now 13M
  t.get().set_max(t->current());
  EXPECT_FALSE(Reservation::make(a2, 16384, ec));
  ASSERT_EQ(victims.size(), 2u);
  EXPECT_EQ(victims[1], b.path());
  // Ties go to the first in pre-order: A1 before A2.
  held.clear();
  held.push_back(Reservation::make(a1, 3 * M));
  held.push_back(Reservation::make(a2, 3 * M));
  t.get().set_max(6 * M);
  EXPECT_FALSE(Reservation::make(b, 16384, ec));
  ASSERT_EQ(victims.size(), 3u);
  EXPECT_EQ(victims[2], a1.path());
  EXPECT_EQ(t->events().oom_kill, 0u);  // the handler freed nothing
  t.get().set_oom_handler(nullptr);
  held.clear();
  gone = Group();
  for (Group* g : {&a1, &a2, &a, &b}) g->remove();
}

TEST(Oom, LeafVictimIsTheGroupItself) {
  test::TempGroup t("oomleaf");
  Group leaf = t->create("leaf");
  leaf.set_max(M);
  auto held = Reservation::make(leaf, M);
  std::string group, victim;
  t.get().set_oom_handler([&](const OomContext& ctx) {  // the nearest handler: an ancestor's
    group = ctx.group->path();
    victim = ctx.victim->path();
    return false;
  });
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(leaf, 4096, ec));
  EXPECT_EQ(group, leaf.path());
  EXPECT_EQ(victim, leaf.path());
  // An OOM at the parent of empty groups suggests the parent itself.
  Group e1 = t->create("e1");
  held.reset();
  auto own = Reservation::make(*t, M);
  t.get().set_max(M);
  EXPECT_FALSE(Reservation::make(e1, 4096, ec));
  EXPECT_EQ(group, t->path());
  EXPECT_EQ(victim, t->path());
  t.get().set_oom_handler(nullptr);
  own.reset();
  e1.remove();
  leaf.remove();
}

// oom_kill is counted where the handler says it freed memory.
TEST(Oom, KillIsCountedWhereTheHandlerActed) {
  test::TempGroup t("oomkilled");
  Group light = t->create("light"), heavy = t->create("heavy");
  t.get().set_max(4 * M);
  Reservation l = Reservation::make(light, M);
  Reservation h = Reservation::make(heavy, 3 * M);
  std::string victim;
  t.get().set_oom_handler([&](const OomContext& ctx) {
    victim = ctx.victim->path();
    l.reset();  // frees the light group's memory, not the victim's
    ctx.killed(light);
    return true;
  });
  std::error_code ec;
  auto r = Reservation::make(heavy, 16384, ec);
  ASSERT_TRUE(r) << ec.message();
  EXPECT_EQ(victim, heavy.path());
  EXPECT_EQ(light.events_local().oom_kill, 1u);
  EXPECT_EQ(heavy.events_local().oom_kill, 0u);
  EXPECT_EQ(t->events().oom_kill, 1u);
  EXPECT_EQ(t->events_local().oom_kill, 0u);
  t.get().set_oom_handler(nullptr);
  r.reset();
  h.reset();
  light.remove();
  heavy.remove();
}

}  // namespace
}  // namespace memcg
