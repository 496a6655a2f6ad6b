#include "memcg/list_lru.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "../test_util.hpp"

namespace memcg {
namespace {

struct Item {
  int v = 0;
  ListLruHook hook;
};
using Lru = ListLru<Item, &Item::hook>;

TEST(ListLru, AddDelCountWalkInOrder) {
  test::TempGroup t("lru");
  Group a = t->create("a");
  Lru lru;
  std::vector<Item> items(10);
  for (int i = 0; i < 10; ++i) {
    items[i].v = i;
    ASSERT_TRUE(lru.add(items[i], i < 6 ? a : *t));
  }
  EXPECT_FALSE(lru.add(items[0], a)) << "already on a list";
  EXPECT_EQ(lru.count(a), 6u);
  EXPECT_EQ(lru.count(*t), 4u);
  EXPECT_EQ(lru.count_all(), 10u);
  EXPECT_TRUE(lru.del(items[2]));
  EXPECT_FALSE(lru.del(items[2]));
  EXPECT_EQ(lru.count(a), 5u);
  std::vector<int> seen;
  lru.walk(a, [&](Item& it) { seen.push_back(it.v); return LruStatus::skip; }, 100);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 3, 4, 5}));  // oldest first
  // Rotate the first, remove the second, stop at the third.
  int n = 0;
  const auto removed = lru.walk(a, [&](Item&) {
    switch (n++) {
      case 0: return LruStatus::rotate;
      case 1: return LruStatus::removed;
      default: return LruStatus::stop;
    }
  }, 100);
  EXPECT_EQ(removed, 1u);
  seen.clear();
  lru.walk(a, [&](Item& it) { seen.push_back(it.v); return LruStatus::skip; }, 100);
  EXPECT_EQ(seen, (std::vector<int>{3, 4, 5, 0}));
  // walk honours nr_to_walk
  seen.clear();
  lru.walk(a, [&](Item& it) { seen.push_back(it.v); return LruStatus::skip; }, 2);
  EXPECT_EQ(seen.size(), 2u);
  for (auto& it : items) lru.del(it);
  EXPECT_EQ(lru.count_all(), 0u);
  a.remove();
}

TEST(ListLru, RemovedGroupsListIsReparented) {
  test::TempGroup t("lrurep");
  Group a = t->create("a"), b = a.create("b");
  Lru lru;
  std::vector<Item> items(6);
  for (int i = 0; i < 6; ++i) {
    items[i].v = i;
    lru.add(items[i], i < 3 ? b : a);
  }
  b.remove();
  EXPECT_EQ(lru.count(b), 0u);
  EXPECT_EQ(lru.count(a), 6u);  // b's items appended to a's list
  std::vector<int> seen;
  lru.walk(a, [&](Item& it) { seen.push_back(it.v); return LruStatus::skip; }, 100);
  EXPECT_EQ(seen, (std::vector<int>{3, 4, 5, 0, 1, 2}));
  // Adds to the removed group go to its nearest online ancestor.
  Item late;
  lru.add(late, b);
  EXPECT_EQ(lru.count(a), 7u);
  a.remove();
  EXPECT_EQ(lru.count(*t), 7u);
  EXPECT_TRUE(lru.del(items[0]));
  EXPECT_EQ(lru.count(*t), 6u);
  for (auto& it : items) lru.del(it);
  lru.del(late);
}

TEST(ListLru, ConcurrentAddDelAndRemoval) {
  test::TempGroup t("lrustress");
  Lru lru;
  std::atomic<bool> stop{false};
  std::mutex pool_m;
  std::vector<Group> pool;
  for (int i = 0; i < 4; ++i) pool.push_back(t->create("p" + std::to_string(i)));
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      std::vector<Item> mine(200);
      unsigned x = w + 1;
      while (!stop) {
        for (auto& it : mine) {
          x = x * 1103515245 + 12345;
          Group g;
          {
            std::lock_guard<std::mutex> l(pool_m);
            g = pool[x % pool.size()];
          }
          if (!lru.del(it)) lru.add(it, g);
        }
      }
      for (auto& it : mine) lru.del(it);
    });
  for (int round = 0; round < 200; ++round) {
    std::lock_guard<std::mutex> l(pool_m);
    std::size_t i = round % pool.size();
    pool[i].remove();
    pool[i] = t->create("r" + std::to_string(round));
  }
  stop = true;
  for (auto& th : ts) th.join();
  EXPECT_EQ(lru.count_all(), 0u);
  for (auto& g : pool) g.remove();
}

}  // namespace
}  // namespace memcg
