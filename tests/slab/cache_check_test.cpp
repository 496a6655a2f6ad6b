// The slab layer's executed invariants (src/slab/cache_check.cpp): they hold
// on caches with live, reparented and unaccounted children, and abort with
// the invariant's name when a cache's counts, a slab's list or objects, a
// group's cache list or its slab statistics are corrupted through internals.
#include <gtest/gtest.h>

#include <vector>

#include "../test_util.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/invariants.hpp"
#include "slab/cache_impl.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

using detail::CheckMode;
using detail::check_invariants;
using detail::ChildCache;
using detail::LockGuard;
using detail::SpinLock;

ChildCache* cache_of(void* obj) { return detail::Slab::of(obj)->cache; }

TEST(CacheCheck, HoldsForLiveReparentedAndUnaccountedCaches) {
  test::TempGroup top("cc");
  Group a = top->create("a");
  Group b = a.create("b");
  CacheOptions iso;
  iso.isolate = true;
  Cache acc = Cache::create("cc-acc", 200, iso);
  Cache shared = Cache::create("cc-shared", 96);
  for (int i = 0; i < 500; ++i) shared.free(shared.alloc(i % 2 ? b : a));
  std::vector<void*> shared_objs;
  for (int i = 0; i < 700; ++i) shared_objs.push_back(shared.alloc(i % 3 ? b : a));
  CacheOptions o;
  o.account = false;
  Cache unacc = Cache::create("cc-unacc", 40, o);
  std::vector<void*> objs;
  for (int i = 0; i < 2000; ++i) objs.push_back(acc.alloc(i % 3 ? b : a));
  for (int i = 0; i < 300; ++i) objs.push_back(unacc.alloc());
  for (std::size_t i = 0; i < objs.size(); i += 3) {  // partial slabs, free lists
    (i < 2000 ? acc : unacc).free(objs[i]);
    objs[i] = nullptr;
  }
  check_invariants(CheckMode::kQuiescent);
  b.remove();  // b's cache is reparented to a with objects out; so is b's object cgroup
  check_invariants(CheckMode::kQuiescent);
  for (void* p : shared_objs) shared.free(p);
  check_invariants(CheckMode::kQuiescent);
  shared.destroy();
  for (std::size_t i = 0; i < objs.size(); ++i)
    if (objs[i]) (i < 2000 ? acc : unacc).free(objs[i]);
  barrier();
  check_invariants(CheckMode::kQuiescent);
  acc.destroy();
  unacc.destroy();
  check_invariants(CheckMode::kQuiescent);
}

CacheOptions isolated() {
  CacheOptions o;
  o.isolate = true;
  return o;
}

class CacheCheckDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
  void TearDown() override {
    for (void* p : objs_) cache_.free(p);
    cache_.destroy();
  }
  // Some objects of a fresh cache charged to a fresh group.
  ChildCache* setup(int n) {
    for (int i = 0; i < n; ++i) objs_.push_back(cache_.alloc(*group_));
    check_invariants(CheckMode::kQuiescent);
    return cache_of(objs_.front());
  }
  test::TempGroup group_{"ccd"};
  Cache cache_ = Cache::create("cc-death", 64, isolated());
  std::vector<void*> objs_;
};

TEST_F(CacheCheckDeathTest, InuseThatIsNotTheSlabsAborts) {
  ChildCache* c = setup(10);
  EXPECT_DEATH(
      {
        {
          LockGuard<SpinLock> l(c->lock);
          ++c->inuse;
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: inuse == objects out of the cache's slabs");
}

TEST_F(CacheCheckDeathTest, SlabCountThatIsNotTheListsAborts) {
  ChildCache* c = setup(10);
  EXPECT_DEATH(
      {
        {
          LockGuard<SpinLock> l(c->lock);
          ++c->nr_slabs;
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: nr_slabs / nr_empty count the slab lists");
}

TEST_F(CacheCheckDeathTest, SlabOnTheWrongListAborts) {
  ChildCache* c = setup(10);
  EXPECT_DEATH(
      {
        {
          LockGuard<SpinLock> l(c->lock);
          detail::Slab::of(objs_.front())->list = ChildCache::kFull;
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: a slab's list tag names the list it is on");
}

TEST_F(CacheCheckDeathTest, ObjectOnTheFreeListAndOutAborts) {
  ChildCache* c = setup(10);
  EXPECT_DEATH(
      {
        {
          // An object handed out also sits on its slab's free list (the
          // state a double free would leave).
          LockGuard<SpinLock> l(c->lock);
          detail::Slab* s = detail::Slab::of(objs_.back());
          auto* o = static_cast<detail::FreeObject*>(objs_.back());
          o->next = s->freelist;
          s->freelist = o;
        }
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: inuse \\+ free list \\+ uncarved == capacity");
}

TEST_F(CacheCheckDeathTest, GroupCacheCountThatIsNotItsListAborts) {
  setup(1);
  EXPECT_DEATH(
      {
        detail::Access::impl(*group_)->nr_slab_caches.fetch_add(1);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: nr_slab_caches is the length of slab_caches");
}

TEST_F(CacheCheckDeathTest, DeadCacheStillPublishedAborts) {
  ChildCache* c = setup(1);
  EXPECT_DEATH(
      {
        c->dead.store(true);
        check_invariants(CheckMode::kLive);
      },
      "invariant violated: a published cache is registered, alive and its group's");
}

TEST_F(CacheCheckDeathTest, SlabStatisticsThatAreNotTheSlabsAbortAtQuiescence) {
  setup(1);
  EXPECT_DEATH(
      {
        // Charged and counted as one more slab that no cache holds: the
        // counter equation still balances, the slab equation does not.
        detail::GroupImpl* g = detail::Access::impl(*group_);
        g->counter.force_charge(detail::kSlabSize);
        g->stats.slab_unreclaimable.fetch_add(detail::kSlabSize);
        check_invariants(CheckMode::kLive);  // a quiescent-only equation
        check_invariants(CheckMode::kQuiescent);
      },
      "invariant violated: slab statistics == slabs of the caches charging the group");
}

}  // namespace
}  // namespace memcg
