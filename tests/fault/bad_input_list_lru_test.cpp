// Bad inputs: ListLru (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- ListLru / shrinkers -----------------------------------------------------------

struct Item {
  ListLruHook hook;
};

TEST(BadInput, ListLruDoubleAddDelAndRemovedGroup) {
  test::TempGroup t("bi");
  ListLru<Item, &Item::hook> lru;
  Item a;
  EXPECT_FALSE(lru.del(a));  // on no list
  EXPECT_TRUE(lru.add(a, *t));
  EXPECT_FALSE(lru.add(a, *t));  // already on a list
  EXPECT_TRUE(lru.del(a));
  EXPECT_FALSE(lru.del(a));
  Group g = t->create("g");
  g.remove();
  EXPECT_TRUE(lru.add(a, g));  // goes to the nearest online ancestor
  EXPECT_EQ(lru.count(*t), 1u);
  EXPECT_TRUE(lru.del(a));
}

// count/count_all/walk with a null or removed group, nr_to_walk 0 and UINT64_MAX.
TEST(BadInput, ListLruNullRemovedGroupAndWalkBounds) {
  test::TempGroup t("bi");
  ListLru<Item, &Item::hook> lru;
  EXPECT_EQ(lru.count_all(), 0u);  // nothing added yet
  Item items[4];
  for (Item& it : items) ASSERT_TRUE(lru.add(it, *t));
  Item stray;
  EXPECT_FALSE(lru.add(stray, Group()));  // the null group: refused
  EXPECT_FALSE(lru.del(stray));
  int calls = 0;
  // (walk takes the callable by forwarding reference but only compiles with
  // an rvalue: each walk gets a fresh one)
  auto visit = [&calls] { return [&calls](Item&) { ++calls; return LruStatus::skip; }; };
  // the null group: nothing counted or visited
  EXPECT_EQ(lru.count(Group()), 0u);
  EXPECT_EQ(lru.walk(Group(), visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 0);
  // a removed group: its objects are on its parent's list now
  Group g = t->create("g");
  Item gi;
  ASSERT_TRUE(lru.add(gi, g));
  EXPECT_EQ(lru.count(g), 1u);
  g.remove();
  EXPECT_EQ(lru.count(g), 0u);
  EXPECT_EQ(lru.walk(g, visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(lru.count(*t), 5u);
  EXPECT_EQ(lru.count_all(), 5u);
  // nr_to_walk 0: nothing visited
  EXPECT_EQ(lru.walk(*t, visit(), 0), 0u);
  EXPECT_EQ(calls, 0);
  // UINT64_MAX: every object once, rotated ones are not visited again
  EXPECT_EQ(lru.walk(*t, visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 5);
  calls = 0;
  EXPECT_EQ(lru.walk(*t, [&](Item&) { ++calls; return LruStatus::rotate; }, UINT64_MAX), 0u);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(lru.count(*t), 5u);
  EXPECT_EQ(lru.walk(*t, [](Item&) { return LruStatus::removed; }, UINT64_MAX), 5u);
  EXPECT_EQ(lru.count(*t), 0u);
  EXPECT_EQ(lru.count_all(), 0u);
  EXPECT_FALSE(lru.del(gi));  // taken off by the walk
}

// A shrinker of `n` objects of 4 KiB each (Reservations of g), with knobs
// for the bad behaviours.

}  // namespace
}  // namespace memcg
