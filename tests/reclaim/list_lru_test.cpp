#include "memcg/list_lru.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../test_util.hpp"
#include "platform/fault.hpp"
#include "platform/meta_arena.hpp"
#include "reclaim/list_lru_internal.hpp"

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

// Every object is on the list of its group's nearest online ancestor: walks
// of the online groups `gs` find each item exactly once, there.
void expect_reachable(Lru& lru, const std::vector<Group>& gs, const std::vector<Item*>& items,
                      const std::vector<Group>& added_to) {
  std::unordered_map<const Item*, Group> where;
  for (const Group& g : gs) {
    ASSERT_TRUE(g.online());
    lru.walk(g, [&](Item& it) {
      EXPECT_TRUE(where.emplace(&it, g).second) << "an item is on two lists";
      return LruStatus::skip;
    }, UINT64_MAX);
  }
  EXPECT_EQ(where.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    Group want = added_to[i];
    while (!want.online()) want = want.parent();
    auto it = where.find(items[i]);
    ASSERT_NE(it, where.end()) << "item " << i << " (added to " << added_to[i].path()
                               << ") is on no list of an online group";
    EXPECT_EQ(it->second, want) << "item " << i << " is on " << it->second.path() << ", not on "
                                << want.path() << " (nearest online ancestor of " << added_to[i].path() << ")";
  }
}

#if defined(MEMCG_FAULT_INJECTION)
// The audit's window, made deterministic: add() has found its group online,
// then the group is removed (list spliced into the parent's, slot cleared)
// before add() looks its list up. Round 0: the group had a list; round 1: it
// had none yet (the reparent found nothing to splice). The object must land
// on the parent's list, not on a fresh list in the removed group's slot.
Group* g_remove_in_window = nullptr;
std::atomic<int> g_window_calls{0};

TEST(ListLru, AddRacingWithRemovalLandsOnTheAncestor) {
  namespace fault = detail::fault;
  fault::ScopedClear clear;
  for (int round = 0; round < 2; ++round) {
    test::TempGroup t("lruwin");
    Group a = t->create("a"), b = a.create("b");
    Lru lru;
    Item first, late;
    if (round == 0) {
      ASSERT_TRUE(lru.add(first, b));
    }
    g_remove_in_window = &b;
    g_window_calls = 0;
    fault::set_point_hook(fault::Kind::kLruAddAfterOnlineCheck, [](fault::Kind) {
      if (g_window_calls.fetch_add(1) == 0) g_remove_in_window->remove();
    });
    ASSERT_TRUE(lru.add(late, b));
    fault::clear_all();
    EXPECT_GE(g_window_calls.load(), 2) << "the add did not retry after the removal";
    EXPECT_FALSE(b.online());
    const std::uint64_t n = round == 0 ? 2 : 1;
    EXPECT_EQ(lru.count(b), 0u) << "round " << round << ": an object was linked on the removed group's list";
    EXPECT_EQ(lru.count(a), n) << "round " << round;
    EXPECT_EQ(lru.count_all(), n);
    std::vector<Item*> items{&late};
    std::vector<Group> added{b};
    if (round == 0) {
      items.push_back(&first);
      added.push_back(b);
    }
    expect_reachable(lru, {*t, a}, items, added);
    // A group reusing b's id must start with an empty list.
    const std::uint32_t old_id = b.id();
    b = Group();
    barrier();
    for (int i = 0; i < 4; ++i) {
      Group c = a.create("c" + std::to_string(i));
      if (c.id() == old_id) {
        EXPECT_EQ(lru.count(c), 0u) << "a new group inherited a stranded list";
      }
      c.remove();
    }
    EXPECT_TRUE(lru.del(late));
    lru.del(first);
    EXPECT_EQ(lru.count_all(), 0u);
    a.remove();
  }
}

// The first add for a group allocates the lists of the group and of every
// ancestor that has none (the kernel's memcg_list_lru_alloc). When that
// allocation fails the add says so (ENOMEM) and the object is on no list;
// once the lists exist, adds and removals allocate nothing: a removal under
// permanent metadata failure still splices every list into the ancestor's.
TEST(ListLru, AddReportsOutOfMemoryAndRemovalNeverAllocates) {
  namespace fault = detail::fault;
  fault::ScopedClear clear;
  test::TempGroup t("lruenomem");
  Group a = t->create("a"), b = a.create("b");
  Lru lru;
  Item x, y, z;
  std::error_code ec;
  fault::set(fault::Kind::kMetaAlloc, 1.0);
  EXPECT_FALSE(lru.add(x, b, ec));
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_FALSE(lru.del(x)) << "a refused object is on a list";
  EXPECT_EQ(lru.count_all(), 0u);
  EXPECT_FALSE(lru.add(x, b)) << "the bool overload must refuse too";
  fault::clear_all();

  ASSERT_TRUE(lru.add(x, b, ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(lru.add(x, b, ec));
  EXPECT_EQ(ec, std::errc::file_exists);
  EXPECT_FALSE(lru.add(y, Group(), ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);

  fault::set(fault::Kind::kMetaAlloc, 1.0);
  const std::uint64_t injected = fault::injected(fault::Kind::kMetaAlloc);
  // Every ancestor got its list with b's: adding to them allocates nothing.
  EXPECT_TRUE(lru.add(y, a, ec)) << ec.message();
  EXPECT_TRUE(lru.add(z, *t, ec)) << ec.message();
  b.remove();  // splice b's list into a's: no allocation (no fault suppressed)
  EXPECT_EQ(lru.count(b), 0u);
  EXPECT_EQ(lru.count(a), 2u);
  a.remove();
  EXPECT_EQ(lru.count(*t), 3u);
  EXPECT_EQ(lru.count_all(), 3u);
  EXPECT_EQ(fault::injected(fault::Kind::kMetaAlloc), injected) << "adds or removals tried to allocate";
  fault::clear_all();
  EXPECT_TRUE(lru.del(x));
  EXPECT_TRUE(lru.del(y));
  EXPECT_TRUE(lru.del(z));
}
#endif

// Adds (to online, dying and removed groups) race with removals of two
// levels of groups: at the end every object is counted once and sits on the
// list of its group's nearest online ancestor.
TEST(ListLru, ConcurrentAddsWithRemovalsStayReachable) {
  test::TempGroup t("lrureach");
  Group a = t->create("a");
  Lru lru;
#if defined(MEMCG_FAULT_INJECTION)
  // Widen the window between add()'s online check and its list lookup.
  detail::fault::ScopedClear clear;
  detail::fault::set(detail::fault::Kind::kLruAddAfterOnlineCheck, 0.05, 50);
#endif
  constexpr int kSlots = 4, kAdders = 2, kPerAdder = 20000;
  std::mutex pool_m;
  std::vector<Group> pool;  // kSlots x (parent, child)
  for (int i = 0; i < kSlots; ++i) {
    pool.push_back(a.create("p" + std::to_string(i)));
    pool.push_back(pool.back().create("c"));
  }
  std::vector<std::vector<Item>> items(kAdders, std::vector<Item>(kPerAdder));
  std::vector<std::vector<Group>> added(kAdders, std::vector<Group>(kPerAdder));
  std::atomic<int> adders_done{0};
  std::atomic<std::uint64_t> failed{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < kAdders; ++w)
    ts.emplace_back([&, w] {
      unsigned x = w + 1;
      for (int i = 0; i < kPerAdder; ++i) {
        x = x * 1103515245 + 12345;
        {
          std::lock_guard<std::mutex> l(pool_m);
          added[w][i] = pool[(x >> 8) % pool.size()];
        }
        if (!lru.add(items[w][i], added[w][i])) failed.fetch_add(1);
        if (i % 64 == 0) std::this_thread::yield();
      }
      adders_done.fetch_add(1);
    });
  int removals = 0;
  for (int round = 0; adders_done.load() < kAdders || round < 8; ++round) {
    const std::size_t i = (round % kSlots) * 2;
    Group p, c;
    {
      std::lock_guard<std::mutex> l(pool_m);
      p = pool[i];
      c = pool[i + 1];
    }
    c.remove();  // adders may still hold p and c: theirs go up the tree
    std::this_thread::yield();
    p.remove();
    removals += 2;
    Group np = a.create("r" + std::to_string(round));
    Group nc = np.create("c");
    std::lock_guard<std::mutex> l(pool_m);
    pool[i] = np;
    pool[i + 1] = nc;
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_GE(removals, 16);
  EXPECT_EQ(lru.count_all(), std::uint64_t{kAdders} * kPerAdder);
  std::vector<Group> online{*t, a};
  online.insert(online.end(), pool.begin(), pool.end());
  std::vector<Item*> all;
  std::vector<Group> all_added;
  for (int w = 0; w < kAdders; ++w)
    for (int i = 0; i < kPerAdder; ++i) {
      all.push_back(&items[w][i]);
      all_added.push_back(added[w][i]);
    }
  expect_reachable(lru, online, all, all_added);
  for (auto& v : items)
    for (auto& it : v) EXPECT_TRUE(lru.del(it));
  EXPECT_EQ(lru.count_all(), 0u);
  all_added.clear();
  added.clear();
  for (std::size_t i = pool.size(); i-- > 0;) pool[i].remove();
  a.remove();
}

// A removal's dead list (and a replaced slot array) is freed after a grace
// period, not kept until the ListLru dies: churn does not accumulate memory.
TEST(ListLru, RetiredListsAreFreedUnderChurn) {
  test::TempGroup t("lruchurn");
  Lru lru;
  std::vector<Item> items(64);
  constexpr int kRounds = 2000, kBatch = 200;
  std::uint64_t meta_base = 0, max_pending = 0;
  for (int i = 0; i < kRounds; ++i) {
    Group g = t->create("g" + std::to_string(i));
    Item& it = items[i % items.size()];
    lru.del(it);
    ASSERT_TRUE(lru.add(it, g));
    g.remove();  // its list: spliced into t's, then retired
    if (i % kBatch == kBatch - 1) {
      g = Group();
      barrier();  // the batch's groups are freed: their ids are reused next
      max_pending = std::max(max_pending, detail::list_lru_retired_pending());
      // After the first batch the slot array covers every id the later
      // batches use; any growth from here on is retired memory kept.
      if (i == kBatch - 1) meta_base = detail::meta::bytes_in_use();
    }
  }
  barrier();
  EXPECT_EQ(detail::list_lru_retired_pending(), 0u) << "retired lists are not freed";
  EXPECT_EQ(max_pending, 0u);
  EXPECT_EQ(lru.count(*t), items.size());
  EXPECT_EQ(lru.count_all(), items.size());
  // Kept until the ListLru dies, 1800 dead lists would be over 100 KiB.
  const std::uint64_t meta_after = detail::meta::bytes_in_use();
  EXPECT_LT(meta_after, meta_base + 16 * 1024) << "metadata grew by " << meta_after - meta_base << " bytes";
  for (auto& it : items) lru.del(it);
}

}  // namespace
}  // namespace memcg
