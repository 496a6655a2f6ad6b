#include "memcg/kmalloc.hpp"

#include <gtest/gtest.h>

#include "memcg/cache.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "core/upcalls.hpp"
#include "slab/thread_mags.hpp"
#include "slab/cache_impl.hpp"
#include "slab/kfree_one_owner.hpp"
#include "slab/slab.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

// A kmalloc class's cache lives as long as the process: its slow paths
// (every magazine exchanged with the depot, every new slab) leave its
// reference count alone, so threads do not write that line for every 31
// objects they allocate or free.
TEST(Kmalloc, AClassCacheIsNotReferenceCounted) {
  test::TempGroup t("immortal");
  std::vector<void*> objs;
  {
    ScopedGroup sg(*t);
    for (int i = 0; i < 5000; ++i) objs.push_back(kmalloc(64));
  }
  detail::ChildCache* c = detail::Slab::of(objs.front())->cache;
  EXPECT_TRUE(c->immortal);
  std::thread([&] {
    for (std::size_t i = 0; i < objs.size(); i += 2) kfree(objs[i]);
  }).join();
  for (std::size_t i = 1; i < objs.size(); i += 2) kfree(objs[i]);
  EXPECT_EQ(c->refs.load(), 1) << "1 whatever its slabs and holders";
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

// A slab whose objects all belong to one group says so in its header
// (slab.hpp SOLE OWNER): a free then reads no owner entry. An object of
// another group in the same slab makes it "mixed" for good, and frees stay
// exact either way.
TEST(Kmalloc, ASlabOfOneOwnerKnowsItsSoleOwner) {
  test::TempGroup a("sole-a"), b("sole-b");
  std::vector<void*> objs;
  {
    ScopedGroup sg(*a);
    for (int i = 0; i < 200; ++i) objs.push_back(kmalloc(48));
  }
  detail::Slab* s = detail::Slab::of(objs.front());
  const detail::OwnerKey sole = s->sole.load();
  EXPECT_GT(sole, detail::kOwnersMixed) << "a slab of one group's objects has a sole owner";
  for (void* p : objs) {
    if (detail::Slab::of(p) == s) {
      EXPECT_EQ(s->objcgs[s->index(p)], sole);
    }
  }
  void* other;
  {
    ScopedGroup sg(*b);
    do other = kmalloc(48);  // until b gets an object of a's slab
    while (detail::Slab::of(other) != s && (objs.push_back(other), true) && objs.size() < 100000);
  }
  ASSERT_EQ(detail::Slab::of(other), s);
  EXPECT_EQ(s->sole.load(), detail::kOwnersMixed);
  EXPECT_GT(b->current(), 0u);
  kfree(other);
  for (void* p : objs) kfree(p);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
  EXPECT_EQ(b->current(), 0u);
}

// The interposer's free (kfree_one_owner.hpp) lays out the slab's sole
// owner in line where kfree lays out the object's entry: both keep exact
// books on slabs of one owner and of several, on the allocating thread and
// on another.
TEST(Kmalloc, TheOneOwnerFreeIsExactOnSlabsOfOneOwnerAndOfSeveral) {
  quiesce_thread();
  test::TempGroup a("one-owner-a"), b("one-owner-b");
  std::vector<void*> objs;
  {
    ScopedGroup sg(*a);
    for (int i = 0; i < 300; ++i) objs.push_back(kmalloc(96));
  }
  ASSERT_GT(detail::Slab::of(objs.front())->sole.load(), detail::kOwnersMixed);
  for (int i = 0; i < 100; ++i) {  // slabs of one owner
    detail::kfree_one_owner(objs.back());
    objs.pop_back();
  }
  {
    ScopedGroup sg(*b);  // takes a's freed objects: their slabs get a second owner
    for (int i = 0; i < 100; ++i) objs.push_back(kmalloc(96));
  }
  const auto mixed = std::count_if(objs.begin(), objs.end(), [](void* p) {
    return detail::Slab::of(p)->sole.load() == detail::kOwnersMixed;
  });
  EXPECT_GT(mixed, 0) << "some objects lie in slabs of both groups";
  EXPECT_GT(a->current(), 0u);
  EXPECT_GT(b->current(), 0u);
  std::thread([&] {
    for (std::size_t i = 0; i < objs.size(); i += 2) detail::kfree_one_owner(objs[i]);
  }).join();
  for (std::size_t i = 1; i < objs.size(); i += 2) detail::kfree_one_owner(objs[i]);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
  EXPECT_EQ(b->current(), 0u);
  EXPECT_EQ(a->stat().slab(), 0u);
  EXPECT_EQ(b->stat().slab(), 0u);
}

// An object whose charge is refused goes back to the magazines before it
// was ever handed out: its owner entry still holds 0, and its round says
// so, so the allocation that hands it out later records its owner even
// where the slab's sole owner is already that group's.
TEST(Kmalloc, ARefusedObjectRecordsItsOwnerWhenHandedOutLater) {
  test::TempGroup a("refused-a"), b("refused-b");
  Cache c = Cache::create("refused", 80);  // a fresh slab: every object carved
  void* warm = c.alloc(*b);                // the slab's sole owner is b
  ASSERT_NE(warm, nullptr);
  a.get().set_max(1);
  EXPECT_EQ(c.alloc(*a), nullptr);  // pops an object, its charge refused
  void* p = c.alloc(*b);  // the fast path (b's bytes are in the object slot): the refused object

  ASSERT_NE(p, nullptr);
  detail::Slab* s = detail::Slab::of(p);
  ASSERT_EQ(s, detail::Slab::of(warm));
  EXPECT_EQ(s->objcgs[s->index(p)], s->objcgs[s->index(warm)]) << "the object's entry names its owner";
  EXPECT_GT(s->objcgs[s->index(p)], detail::kOwnersMixed);
  Cache::free(p);
  Cache::free(warm);
  a.get().set_max(unlimited);
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
  EXPECT_EQ(b->current(), 0u);
  c.destroy();
}

TEST(Kmalloc, SizesAlignmentAndKsize) {
  for (std::size_t n : {0, 1, 7, 8, 9, 16, 17, 100, 128, 129, 1000, 4096, 5000, 8192, 8193, 100000}) {
    void* p = kmalloc(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_GE(ksize(p), n);
    EXPECT_EQ(ksize(p), kmalloc_size_roundup(n)) << n;
    if (n > 8) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u) << n;
    std::memset(p, 0x5a, n);
    kfree(p);
  }
  kfree(nullptr);
  EXPECT_EQ(ksize(nullptr), 0u);
}

TEST(Kmalloc, SizeRoundupIsTheClassOrThePageRoundedLargeSize) {
  EXPECT_EQ(kmalloc_size_roundup(0), 8u);
  EXPECT_EQ(kmalloc_size_roundup(8), 8u);
  EXPECT_EQ(kmalloc_size_roundup(9), 16u);
  EXPECT_EQ(kmalloc_size_roundup(60), 64u);
  EXPECT_EQ(kmalloc_size_roundup(257), 288u);    // eight classes per power of two above 256
  EXPECT_EQ(kmalloc_size_roundup(4097), 4608u);
  EXPECT_EQ(kmalloc_size_roundup(8192), 8192u);
  EXPECT_EQ(kmalloc_size_roundup(8193), 10240u);  // four classes from 8 to 16 KiB
  EXPECT_EQ(kmalloc_size_roundup(16384), 16384u);
  EXPECT_EQ(kmalloc_size_roundup(16385), 5u * 4096 - 64);  // a medium block: pages minus its header
  void* p = kmalloc(12000);  // a slab object of class 12 KiB, not a medium block
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ksize(p), 12288u);
  kfree(p);
  EXPECT_EQ(kmalloc_size_roundup(std::size_t{1} << 50), 0u);
  for (std::size_t n = 1; n <= kMaxSmallSize; ++n) {
    const std::size_t r = kmalloc_size_roundup(n);
    ASSERT_GE(r, n);
    ASSERT_LE(r - n, n <= 256 ? 15 : n <= 8192 ? n / 8 : n / 4) << n;  // the documented waste bound
  }
}

TEST(Kmalloc, AlignedAllocations) {
  for (std::size_t align : {32, 64, 256, 4096, 16384}) {
    for (std::size_t n : {1, 100, 5000, 20000}) {
      void* p = kmalloc_aligned(n, align);
      ASSERT_NE(p, nullptr) << n << " " << align;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << n << " " << align;
      EXPECT_GE(ksize(p), n);
      kfree(p);
    }
  }
  EXPECT_EQ(kmalloc_aligned(10, 48), nullptr);  // not a power of two
}

TEST(Kmalloc, ChargesTheGroupAndLargeAllocationsShowInStat) {
  test::TempGroup t("kmal");
  void* small = kmalloc(100, *t);
  void* big = kmalloc(1 << 20, *t);
  quiesce_thread();
  EXPECT_EQ(t->stat().kmalloc_large, (1u << 20) + 4096);  // header page included
  // The small object: its size class (112) and its ownership record.
  EXPECT_EQ(t->current(), 112 + sizeof(void*) + (1u << 20) + 4096);
  kfree(big);
  kfree(small);
  EXPECT_EQ(t->stat().kmalloc_large, 0u);
  quiesce_thread();
}

// The object slot refills to about kObjStockRefill when the charge stock
// has it, and gives back down to it above kObjStockMax: objects of a few
// KiB are taken from it and given back to it many times before the group's
// ObjCgroup is reached again. It never holds more than kObjStockMax.
TEST(Kmalloc, TheObjectSlotRefillsMidWayAndStaysBounded) {
  test::TempGroup t("slotmid");
  detail::GroupImpl* g = detail::Access::impl(*t);
  constexpr std::size_t kSize = 2048;  // stride 2048 + the 8-byte owner record
  constexpr std::uint64_t kCharge = kSize + sizeof(void*);
  std::vector<void*> objs;
  std::uint64_t most = 0;
  for (int i = 0; i < 8; ++i) {
    objs.push_back(kmalloc(kSize, *t));
    ASSERT_NE(objs.back(), nullptr);
    most = std::max(most, detail::object_slots_in_subtree(g).bytes);
  }
  // The first refill finds the charge stock empty (one chunk); the second
  // takes the surplus from the batch that first charge put in the stock.
  EXPECT_GE(most, detail::kObjStockRefill) << "a refill leaves about kObjStockRefill in the slot";
  EXPECT_GT(detail::object_slots_in_subtree(g).bytes, detail::kObjStockChunk)
      << "six more allocations of 2 KiB came from the slot";
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 24; ++i) objs.push_back(kmalloc(kSize, *t));
    for (void* p : objs) {
      kfree(p);
      EXPECT_LE(detail::object_slots_in_subtree(g).bytes, detail::kObjStockMax);
    }
    objs.clear();
  }
  const std::uint64_t left = detail::object_slots_in_subtree(g).bytes;
  EXPECT_GE(left, detail::kObjStockRefill - kCharge) << "a free above the bound keeps about kObjStockRefill";
  EXPECT_LE(left, detail::kObjStockMax);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

TEST(Kmalloc, LargeAllocationPinsARemovedGroup) {
  const auto base = test::settled_groups();
  test::TempGroup t("kmalpin");
  void* big;
  {
    Group a = t->create("a");
    big = kmalloc(300000, a);
    ASSERT_TRUE(big);
    a.remove();
  }
  EXPECT_EQ(test::settled_groups(), base + 2);  // a pinned by the allocation
  EXPECT_GT(t->current(), 300000u);
  kfree(big);
  EXPECT_EQ(test::settled_groups(), base + 1);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

TEST(Kmalloc, LimitMakesItReturnNull) {
  test::TempGroup t("kmallim");
  t.get().set_max(100000);
  EXPECT_EQ(kmalloc(200000, *t), nullptr);
  EXPECT_EQ(t->current(), 0u);
}

TEST(Allocator, StlContainersChargeTheirGroup) {
  test::TempGroup t("stl");
  {
    std::vector<int, Allocator<int>> v{Allocator<int>(*t)};
    for (int i = 0; i < 100000; ++i) v.push_back(i);
    EXPECT_GE(t->current(), 400000u);
    std::map<int, int, std::less<int>, Allocator<std::pair<const int, int>>> m{
        Allocator<std::pair<const int, int>>(*t)};
    for (int i = 0; i < 1000; ++i) m[i] = i;
    EXPECT_EQ(m.size(), 1000u);
  }
  quiesce_thread();
  Cache dummy;  // (no caches to shrink here: kmalloc caches keep one empty slab)
  EXPECT_LE(t->current(), 40 * detail::kSlabSize);
}

TEST(Allocator, ThrowsBadAllocOverLimit) {
  test::TempGroup t("stllim");
  t.get().set_max(64 << 10);
  std::vector<char, Allocator<char>> v{Allocator<char>(*t)};
  EXPECT_THROW(v.resize(1 << 20), std::bad_alloc);
}

TEST(MemoryResource, PmrContainersChargeTheirGroup) {
  test::TempGroup t("pmr");
  MemoryResource mr(*t);
  {
    std::pmr::vector<std::pmr::string> v(&mr);
    for (int i = 0; i < 1000; ++i) v.emplace_back(std::string(100, 'x'));
    EXPECT_GT(t->current(), 0u);
    void* p = mr.allocate(100, 256);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
    mr.deallocate(p, 100, 256);
  }
  EXPECT_TRUE(mr.is_equal(mr));
  MemoryResource other(Group::root());
  EXPECT_FALSE(mr.is_equal(other));
  t.get().set_max(1);
  EXPECT_THROW(mr.allocate(1 << 20), std::bad_alloc);
  t.get().set_max(unlimited);
  quiesce_thread();
}

}  // namespace
}  // namespace memcg
