// check_invariants() (src/core/invariants.hpp): passes on real trees, quiet
// and busy; aborts with the invariant's name when a counter, a link, an id,
// a descendant count or a reference count is corrupted through internals;
// checked builds run the live checks at every memcg::barrier().
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "core/group_impl.hpp"
#include "core/invariants.hpp"
#include "core/runtime.hpp"
#include "slab/cache_impl.hpp"

namespace memcg {
namespace {

using detail::CheckMode;
using detail::check_invariants;

// A tree with every kind of charge: reservations, slabs (and a cache
// reparented by a removal), small and large kmallocs, protection settings, a
// dying group pinned by a reservation, and bytes left in this thread's stock.
TEST(Invariants, HoldOnAQuietTreeWithEveryKindOfCharge) {
  test::TempGroup top("inv");
  Group a = top->create("a"), b = top->create("b");
  Group x = a.create("x"), y = a.create("y");
  a.set_min(1 << 20);
  x.set_low(64 << 10);
  Cache cache = Cache::create("inv-quiet", 100);
  std::vector<void*> objs;
  for (int i = 0; i < 500; ++i) objs.push_back(cache.alloc(i % 2 ? x : b));
  Reservation rx = Reservation::make(x, 12345), ry = Reservation::make(y, 4096), rb = Reservation::make(b, 100);
  void* small = nullptr;
  void* large = nullptr;
  {
    ScopedGroup sg(y);
    small = kmalloc(200);
    large = kmalloc(300 << 10);
  }
  ASSERT_TRUE(small && large);
  check_invariants(CheckMode::kQuiescent);

  y.remove();  // dying: the reservation and the large kmalloc pin it
  x.remove();  // its cache is reparented to a, objects still out
  EXPECT_EQ(y.state(), GroupState::dying);
  check_invariants(CheckMode::kQuiescent);

  for (void* p : objs) cache.free(p);
  kfree(small);
  kfree(large);
  rx = Reservation();
  ry = Reservation();
  rb = Reservation();
  check_invariants(CheckMode::kQuiescent);
  x = Group();
  y = Group();
  barrier();
  check_invariants(CheckMode::kQuiescent);
  cache.destroy();
  check_invariants(CheckMode::kQuiescent);
}

// Live checks taken while other threads charge, allocate, free and churn
// groups; the quiescent ones once they are joined.
TEST(Invariants, LiveChecksHoldWhileThreadsWorkAndQuiescentOnesAfter) {
  test::TempGroup top("inv-busy");
  Cache cache = Cache::create("inv-busy", 72);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < 3; ++w)
    ts.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      Group mine = top->create("w" + std::to_string(w));
      std::vector<void*> held;
      std::vector<Reservation> res;
      int churn = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        switch (rng() % 5) {
          case 0: case 1:
            if (void* p = cache.alloc(mine)) held.push_back(p);
            break;
          case 2:
            if (!held.empty()) {
              cache.free(held.back());
              held.pop_back();
            }
            break;
          case 3:
            if (res.size() < 50) res.push_back(Reservation::make(mine, 1 + rng() % 10000));
            else res.clear();
            break;
          case 4: {
            Group g = mine.create("c" + std::to_string(churn++));
            void* p = cache.alloc(g);
            g.remove();
            if (p) cache.free(p);
            break;
          }
        }
        ops.fetch_add(1, std::memory_order_relaxed);
      }
      for (void* p : held) cache.free(p);
      res.clear();
      mine.remove();
    });
  std::uint64_t checks = 0;
  test::run_for_at_least(std::chrono::milliseconds(300), [&] {
    check_invariants(CheckMode::kLive);
    return ++checks >= 20 && ops.load() > 2000;
  });
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_GE(checks, 20u);
  barrier();
  check_invariants(CheckMode::kQuiescent);
  cache.destroy();
}

class InvariantsDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(InvariantsDeathTest, UsageThatIsNotItsChildrensPlusDirectAborts) {
  test::TempGroup top("inv-d");
  Group p = top->create("p");
  Group leaf = p.create("leaf");
  Reservation r = Reservation::make(leaf, 8192);
  check_invariants(CheckMode::kQuiescent);
  const std::uint64_t usage = p.current();  // with the stock's batch
  const std::string want = "invariant violated: usage == direct \\+ sum of children.usage .*group [0-9]+ 'p': usage " +
                           std::to_string(usage) + " != direct 0 \\+ children " + std::to_string(usage - 8192);
  EXPECT_DEATH(
      {
        // The leaf forgets its charge; p still counts it.
        leaf.impl()->counter.move_to_ancestor(8192, &p.impl()->counter);
        check_invariants(CheckMode::kQuiescent);
      },
      want);
}

TEST_F(InvariantsDeathTest, WrongDescendantCountAborts) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  check_invariants(CheckMode::kLive);
  EXPECT_DEATH(
      {
        top->impl()->nr_descendants.fetch_add(1);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: nr_descendants counts the online groups below.*nr_descendants 2, online below 1");
}

TEST_F(InvariantsDeathTest, WrongDyingDescendantCountAborts) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  c.remove();  // our handle keeps it dying
  check_invariants(CheckMode::kLive);
  EXPECT_DEATH(
      {
        top->impl()->nr_dying_descendants.fetch_sub(1);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: nr_dying_descendants counts the dying groups below");
}

TEST_F(InvariantsDeathTest, BrokenSiblingLinkAborts) {
  test::TempGroup top("inv-d");
  Group c1 = top->create("c1"), c2 = top->create("c2");
  EXPECT_DEATH(
      {
        {
          detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
          c2.impl()->prev_sibling = nullptr;
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: prev_sibling mirrors next_sibling");
}

TEST_F(InvariantsDeathTest, LinkedGroupMissingFromTheIdTableAborts) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  EXPECT_DEATH(
      {
        {
          detail::LockGuard<detail::RankedMutex> l(detail::runtime().tree_mutex);
          detail::runtime().ids.unpublish(c.id());
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: IdTable\\[id\\] names every linked group");
}

TEST_F(InvariantsDeathTest, OnlineGroupWithTheKillBitAborts) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  EXPECT_DEATH(
      {
        c.impl()->ref.fetch_or(detail::GroupImpl::kKilled);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: state online => base reference held and kKilled clear");
}

TEST_F(InvariantsDeathTest, FewerReferencesThanChildrenAndBaseAborts) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  Group d1 = c.create("d1"), d2 = c.create("d2");
  // c: base + our handle + one per child = 4; the check needs 3.
  EXPECT_DEATH(
      {
        c.impl()->ref.fetch_sub(2);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: references >= linked children \\+ base \\+ pin.*count 2 < 3 known references");
}

TEST_F(InvariantsDeathTest, PinsWithoutTheActiveFlagAbort) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  EXPECT_DEATH(
      {
        c.impl()->pins.fetch_add(1);
        check_invariants(CheckMode::kQuiescent);
      },
      "invariant violated: pins > 0 => kPinActive");
}

#if defined(MEMCG_CHECKED)
// Checked builds run the live checks at every barrier().
TEST_F(InvariantsDeathTest, BarrierRunsTheLiveChecksInCheckedBuilds) {
  test::TempGroup top("inv-d");
  Group c = top->create("c");
  barrier();
  EXPECT_DEATH(
      {
        top->impl()->nr_descendants.fetch_add(1);
        barrier();
      },
      "invariant violated: nr_descendants counts the online groups below");
}
#endif

}  // namespace
}  // namespace memcg
