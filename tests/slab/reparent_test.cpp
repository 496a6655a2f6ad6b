// Group removal with live slab objects: caches are reparented, the group is
// freed, later frees uncharge the parent; memory.current stays exact.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/objcg.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "memcg/cache.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_internal.hpp"
#include "slab/testing.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

using detail::kSlabSize;

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

CacheOptions isolated() {
  CacheOptions o;
  o.isolate = true;
  return o;
}

// ---- shared caches: the group's object cgroup is re-pointed ----

TEST(Reparent, SharedRemovedGroupIsFreedAndItsBytesAppearOnTheParent) {
  const auto base = test::settled_groups();
  const auto objcgs_before = detail::objcgs_allocated();
  test::TempGroup t("objrep");
  Cache c = Cache::create("objrep", 192);
  std::vector<void*> objs;
  constexpr std::uint64_t kBytes = 400 * (192 + sizeof(void*));
  {
    Group a = t->create("a");
    for (int i = 0; i < 400; ++i) objs.push_back(c.alloc(a));
    quiesce_thread();
    EXPECT_EQ(a.current(), kBytes);
    EXPECT_EQ(t->current(), kBytes);
    a.remove();
    // a's object cgroup now charges t: a's level is empty, t's unchanged,
    // and the statistics moved with it.
    EXPECT_EQ(a.current(), 0u);
    EXPECT_EQ(a.stat().slab_unreclaimable, 0u);
    EXPECT_EQ(t->current(), kBytes);
    EXPECT_EQ(t->stat().slab_unreclaimable, kBytes);
    EXPECT_EQ(detail::objcg_charged_bytes(detail::Access::impl(*t)), kBytes);
  }
  EXPECT_EQ(test::settled_groups(), base + 1) << "a must be freed although its objects live";
  EXPECT_EQ(detail::objcgs_allocated(), objcgs_before + 1) << "a's, kept by its live objects (t never allocated)";
  std::thread([&] {
    for (void* p : objs) Cache::free(p);  // a free on another thread uncharges the new owner
  }).join();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().slab(), 0u);
  barrier();
  EXPECT_EQ(detail::objcgs_allocated(), objcgs_before) << "a's object cgroup goes with its last object";
  c.destroy();
}

TEST(Reparent, SharedChainsThroughSeveralRemovalsAndNewAllocationsGoUp) {
  const auto base = test::settled_groups();
  test::TempGroup t("objchain");
  Cache c = Cache::create("objchain", 128);
  constexpr std::uint64_t kObj = 128 + sizeof(void*);
  std::vector<void*> objs;
  {
    Group a = t->create("a");
    Group b = a.create("b");
    for (int i = 0; i < 100; ++i) objs.push_back(c.alloc(b));
    for (int i = 0; i < 100; ++i) objs.push_back(c.alloc(a));
    quiesce_thread();
    EXPECT_EQ(t->current(), 200 * kObj);
    b.remove();  // b's object cgroup -> a
    EXPECT_EQ(a.current(), 200 * kObj);
    EXPECT_EQ(b.current(), 0u);
    {
      ScopedGroup s(b);  // a thread still inside removed b charges a
      objs.push_back(c.alloc());
    }
    quiesce_thread();
    EXPECT_EQ(a.current(), 201 * kObj);
    a.remove();  // a's own and the inherited one -> t
    EXPECT_EQ(t->current(), 201 * kObj);
    EXPECT_EQ(a.current(), 0u);
  }
  EXPECT_EQ(test::settled_groups(), base + 1);
  for (void* p : objs) Cache::free(p);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Reparent, RemovedGroupIsFreedWhileItsObjectsLive) {
  const auto base = test::settled_groups();
  test::TempGroup t("rep");
  Cache c = Cache::create("rep", 200, isolated());
  std::vector<void*> objs;
  {
    Group a = t->create("a");
    for (int i = 0; i < 400; ++i) objs.push_back(c.alloc(a));
    quiesce_thread();
    const std::uint64_t slabs = a.current();
    EXPECT_EQ(slabs % kSlabSize, 0u);
    EXPECT_GT(slabs, 0u);
    EXPECT_EQ(t->current(), slabs);
    a.remove();
    // The charge moved to t: a's level is empty, t's unchanged.
    EXPECT_EQ(a.current(), 0u);
    EXPECT_EQ(t->current(), slabs);
    EXPECT_EQ(t->stat().slab_unreclaimable, slabs);
    EXPECT_NE(fs::read(t->path() + "/memory.kmem.slabinfo").find("rep"), std::string::npos);
  }
  EXPECT_EQ(test::settled_groups(), base + 1) << "a must be freed although its objects live";
  for (void* p : objs) Cache::free(p);
  barrier();  // the emptied dead cache is destroyed on the worker
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().slab(), 0u);
  c.destroy();
}

TEST(Reparent, EmptyCachesAreDestroyedAtRemoval) {
  test::TempGroup t("repempty");
  Cache c = Cache::create("repempty", 64, isolated());
  Group a = t->create("a");
  void* p = c.alloc(a);
  Cache::free(p);
  const auto before = detail::slab_runtime_stats().child_caches;
  a.remove();
  EXPECT_EQ(detail::slab_runtime_stats().child_caches, before - 1);
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Reparent, ChainsThroughSeveralRemovals) {
  const auto base = test::settled_groups();
  test::TempGroup t("repchain");
  Cache c = Cache::create("repchain", 128, isolated());
  std::vector<void*> objs;
  {
    Group a = t->create("a");
    Group b = a.create("b");
    for (int i = 0; i < 100; ++i) objs.push_back(c.alloc(b));
    for (int i = 0; i < 100; ++i) objs.push_back(c.alloc(a));
    quiesce_thread();
    const std::uint64_t total = t->current();
    b.remove();  // b's cache -> a (a now has its own and b's)
    EXPECT_EQ(a.current(), total);
    a.remove();  // both -> t
    EXPECT_EQ(t->current(), total);
    EXPECT_EQ(a.current(), 0u);
  }
  EXPECT_EQ(test::settled_groups(), base + 1);
  for (void* p : objs) Cache::free(p);
  barrier();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Reparent, AllocationForARemovedGroupGoesToItsParent) {
  test::TempGroup t("repalloc");
  Cache c = Cache::create("repalloc", 64, isolated());
  Group a = t->create("a");
  a.remove();
  void* p;
  {
    ScopedGroup s(a);  // a thread still inside a removed group
    p = c.alloc();
  }
  ASSERT_TRUE(p);
  EXPECT_EQ(a.current(), 0u);
  EXPECT_EQ(t->current(), kSlabSize);
  Cache::free(p);
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

#if defined(MEMCG_FAULT_INJECTION)  // the delay hook exists in fault-injection builds only
// The cache reference chain: a thread looks up a group's child cache, then
// is delayed (as if stuck in reclaim) while the group is removed. It must
// never use a destroyed cache: the slow path holds a reference on the cache
// itself.
std::atomic<int> g_phase{0};
void hook(detail::testing::Point p) {
  if (p != detail::testing::Point::kAfterChildLookup) return;
  int expected = 1;
  if (g_phase.compare_exchange_strong(expected, 2))
    while (g_phase.load() != 3) std::this_thread::yield();  // remover runs now
}

TEST(CacheReferenceChain, DelayedThreadNeverUsesADestroyedCache) {
  const auto base = test::settled_groups();
  test::TempGroup t("refchain");
  Cache c = Cache::create("refchain", 64, isolated());
  Group a = t->create("a");
  detail::testing::set_delay_hook(hook);
  g_phase = 1;
  void* obj = nullptr;
  std::thread allocator([&] { obj = c.alloc(a); });  // first alloc: slow path, delayed
  while (g_phase.load() != 2) std::this_thread::yield();
  a.remove();  // kills a's (empty) child cache while the allocator holds it
  g_phase = 3;
  allocator.join();
  detail::testing::set_delay_hook(nullptr);
  // The allocation either failed over to the parent or was charged properly;
  // either way nothing was used after free (ASan) and the books balance.
  ASSERT_TRUE(obj);
  Cache::free(obj);
  a = Group();
  c.shrink();
  barrier();
  EXPECT_EQ(test::settled_groups(), base + 1);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}
#endif

}  // namespace
}  // namespace memcg
