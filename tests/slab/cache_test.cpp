#include "memcg/cache.hpp"

#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "memcg/kmalloc.hpp"
#include "memcg/reservation.hpp"
#include "core/group_impl.hpp"
#include "slab/cache_impl.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_internal.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

using detail::kSlabSize;

// Drops this thread's magazines and stock so counters show slabs only.
void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

// Objects out of a shared cache's slabs: users' objects and rounds in
// magazines (thread's and depot's).
std::uint64_t inuse_of(detail::ChildCache* shared) {
  detail::LockGuard<detail::SpinLock> l(shared->lock);
  return shared->inuse;
}

TEST(Cache, CreateValidatesArguments) {
  std::error_code ec;
  EXPECT_FALSE(Cache::create("", 64, {}, ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_FALSE(Cache::create("bad name", 64, {}, ec));
  EXPECT_FALSE(Cache::create(std::string(65, 'x'), 64, {}, ec));
  EXPECT_FALSE(Cache::create("zero", 0, {}, ec));
  EXPECT_FALSE(Cache::create("huge", Cache::kMaxObjectSize + 1, {}, ec));
  CacheOptions o;
  o.align = 24;
  EXPECT_FALSE(Cache::create("align", 64, o, ec));
  o.align = 8192;
  EXPECT_FALSE(Cache::create("align", 64, o, ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_THROW(Cache::create("", 1), std::system_error);
  Cache c = Cache::create("ok", 24);
  EXPECT_TRUE(c);
  EXPECT_EQ(c.name(), "ok");
  EXPECT_EQ(c.object_size(), 24u);
  c.destroy();
}

CacheOptions isolated() {
  CacheOptions o;
  o.isolate = true;
  return o;
}

TEST(Cache, IsolatedAllocChargesTheCurrentGroupPerSlab) {
  test::TempGroup t("slabchg");
  Cache c = Cache::create("chg", 256, isolated());
  std::vector<void*> objs;
  {
    ScopedGroup s(*t);
    for (int i = 0; i < 10; ++i) objs.push_back(c.alloc());
  }
  for (void* p : objs) ASSERT_NE(p, nullptr);
  quiesce_thread();
  // One slab holds 10 objects of 256 bytes: one slab charged.
  EXPECT_EQ(t->current(), kSlabSize);
  EXPECT_EQ(t->stat().slab_unreclaimable, kSlabSize);
  EXPECT_EQ(t->stat().slab_reclaimable, 0u);
  std::set<void*> unique(objs.begin(), objs.end());
  EXPECT_EQ(unique.size(), objs.size());
  for (void* p : objs) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
    std::memset(p, 0xab, 256);
  }
  for (void* p : objs) Cache::free(p);
  c.shrink();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().slab(), 0u);
  c.destroy();
}

TEST(Cache, IsolatedReclaimableCachesCountAsSlabReclaimable) {
  test::TempGroup t("slabrec");
  CacheOptions o = isolated();
  o.reclaimable = true;
  Cache c = Cache::create("rec", 64, o);
  void* p = c.alloc(*t);
  ASSERT_TRUE(p);
  EXPECT_EQ(t->stat().slab_reclaimable, kSlabSize);
  Cache::free(p);
  c.shrink();
  EXPECT_EQ(t->stat().slab_reclaimable, 0u);
  c.destroy();
}

// ---- shared caches: objects charged one by one (charge/objcg.hpp) ----

TEST(Cache, SharedAllocChargesEachObjectInBytes) {
  test::TempGroup t("objchg");
  Cache c = Cache::create("objchg", 256);
  std::vector<void*> objs;
  {
    ScopedGroup s(*t);
    for (int i = 0; i < 10; ++i) objs.push_back(c.alloc());
  }
  for (void* p : objs) ASSERT_NE(p, nullptr);
  quiesce_thread();  // the object stock gives back what no object holds
  // Each object: its stride and its 8-byte ownership record.
  constexpr std::uint64_t kPerObject = 256 + sizeof(void*);
  EXPECT_EQ(t->current(), 10 * kPerObject);
  EXPECT_EQ(t->stat().slab_unreclaimable, 10 * kPerObject);
  EXPECT_EQ(t->stat().slab_reclaimable, 0u);
  EXPECT_EQ(c.slabinfo(*t).find("objchg"), std::string::npos) << "a shared cache has no per-group child";
  for (int i = 0; i < 4; ++i) Cache::free(objs[i]);
  quiesce_thread();
  EXPECT_EQ(t->current(), 6 * kPerObject);
  EXPECT_EQ(t->stat().slab_unreclaimable, 6 * kPerObject);
  for (int i = 4; i < 10; ++i) Cache::free(objs[i]);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().slab(), 0u);
  c.destroy();
}

TEST(Cache, SharedReclaimableObjectsCountAsSlabReclaimable) {
  test::TempGroup t("objrec");
  CacheOptions o;
  o.reclaimable = true;
  Cache c = Cache::create("objrec", 64, o);
  void* p = c.alloc(*t);
  ASSERT_TRUE(p);
  quiesce_thread();
  EXPECT_EQ(t->stat().slab_reclaimable, 64 + sizeof(void*));
  EXPECT_EQ(t->stat().slab_unreclaimable, 0u);
  Cache::free(p);
  quiesce_thread();
  EXPECT_EQ(t->stat().slab_reclaimable, 0u);
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Cache, SharedObjectsOfDifferentGroupsShareASlab) {
  test::TempGroup a("sharea"), b("shareb");
  Cache c = Cache::create("sharedslab", 128);
  void* pa = c.alloc(*a);
  void* pb = c.alloc(*b);
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(detail::Slab::of(pa), detail::Slab::of(pb));
  quiesce_thread();
  EXPECT_EQ(a->current(), 128 + sizeof(void*));
  EXPECT_EQ(b->current(), 128 + sizeof(void*));
  Cache::free(pb);
  Cache::free(pa);
  quiesce_thread();
  EXPECT_EQ(a->current(), 0u);
  EXPECT_EQ(b->current(), 0u);
  c.destroy();
}

TEST(Cache, SharedSmallGroupHoldsNearlyItsLimit) {
  test::TempGroup t("objmax");
  constexpr std::uint64_t kMax = 1 << 20;
  t.get().set_max(kMax);
  Cache c = Cache::create("objmax", 112);
  std::vector<void*> objs;
  for (;;) {
    void* p = c.alloc(*t);
    if (!p) break;
    objs.push_back(p);
    ASSERT_LT(objs.size(), 20000u);
  }
  EXPECT_LE(t->current(), kMax);
  EXPECT_GE(t->events().max, 1u);
  // Everything but the stocks' slack (at most an object-stock chunk and the
  // charge-stock remainder a failed charge drains) is charged to live
  // objects: 95% of the limit, where whole slabs gave 16 per group.
  EXPECT_GE(objs.size() * (112 + sizeof(void*)), kMax * 95 / 100);
  for (void* p : objs) Cache::free(p);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Cache, SharedCrossThreadFreeUnchargesTheOwner) {
  test::TempGroup a("xowner");
  Cache c = Cache::create("xowner", 192);
  std::vector<void*> objs;
  for (int i = 0; i < 1000; ++i) objs.push_back(c.alloc(*a));
  quiesce_thread();
  EXPECT_EQ(a->current(), 1000 * (192 + sizeof(void*)));
  std::thread([&] {
    for (void* p : objs) Cache::free(p);  // exit drains this thread's object stock
  }).join();
  EXPECT_EQ(a->current(), 0u);
  c.destroy();
}

// Page-sized and larger objects: a slab of several 64 KiB units is chosen
// so that the header, the alignment padding and the tail waste at most 2%
// of it (the ownership vector is charged to the objects, not waste), and
// objects spread over every unit are freed through the right slab.
TEST(Cache, BigObjectSlabsWasteAtMostTwoPercent) {
  for (bool isolate : {false, true}) {
    for (std::size_t size : {std::size_t{1000}, std::size_t{2048}, std::size_t{3000}, std::size_t{4096},
                             std::size_t{4608}, std::size_t{5120}, std::size_t{6144}, std::size_t{7168},
                             std::size_t{8192}, std::size_t{9000}, std::size_t{12288}, Cache::kMaxObjectSize}) {
      CacheOptions o;
      o.isolate = isolate;
      Cache c = Cache::create("big", size, o);
      const detail::RootCache* r = detail::Access::impl(c);
      const std::size_t per_object = r->stride + (r->charge_objects ? sizeof(void*) : 0);
      const std::size_t waste = r->slab_bytes() - r->capacity * per_object;
      EXPECT_LE(waste * 50, r->slab_bytes()) << size << (isolate ? " isolated" : " shared") << ": " << r->units
                                            << " units, " << r->capacity << " objects";
      test::TempGroup t("big");
      std::vector<void*> objs;
      for (std::uint32_t i = 0; i < 2 * r->capacity + 3; ++i) {
        void* p = c.alloc(*t);
        ASSERT_NE(p, nullptr);
        std::memset(p, 0x5a, size);
        EXPECT_EQ(detail::Slab::of(p)->cache->root, r);
        objs.push_back(p);
      }
      for (void* p : objs) Cache::free(p);
      c.shrink();
      quiesce_thread();
      EXPECT_EQ(t->current(), 0u);
      c.destroy();
    }
  }
}

TEST(Kmalloc, EverySizeClassWastesAtMostTwoPercentOfItsSlab) {
  for (std::size_t size = 8; size <= kMaxSmallSize; size = kmalloc_size_roundup(size) + 1) {
    void* p = kmalloc(size);
    ASSERT_NE(p, nullptr);
    const detail::RootCache* r = detail::Slab::of(p)->cache->root;
    const std::size_t waste = r->slab_bytes() - r->capacity * (r->stride + sizeof(void*));
    EXPECT_LE(waste * 50, r->slab_bytes()) << r->name << ": " << r->units << " units, " << r->capacity << " objects";
    kfree(p);
  }
}

TEST(Cache, UnaccountedCachesChargeNobody) {
  test::TempGroup t("unacc");
  CacheOptions o;
  o.account = false;
  Cache c = Cache::create("unacc", 64, o);
  void* p = c.alloc(*t);
  ASSERT_TRUE(p);
  EXPECT_EQ(t->current(), 0u);
  Cache::free(p);
  c.destroy();
}

TEST(Cache, ConstructorRunsOncePerCarvedObject) {
  static std::atomic<int> ctors{0};
  CacheOptions o;
  o.ctor = [](void* p) {
    ctors++;
    *static_cast<int*>(p) = 42;
  };
  Cache c = Cache::create("ctor", 64, o);
  test::TempGroup t("ctor");
  void* p = c.alloc(*t);
  ASSERT_TRUE(p);
  EXPECT_EQ(*static_cast<int*>(p), 42);
  const int after_first = ctors.load();
  EXPECT_GE(after_first, 1);
  Cache::free(p);
  void* q = c.alloc(*t);  // from the magazine: constructed state, no new ctor
  EXPECT_EQ(ctors.load(), after_first);
  Cache::free(q);
  c.destroy();
}

TEST(Cache, IsolatedAllocOverMaxFailsCleanly) {
  test::TempGroup t("slabmax");
  t.get().set_max(2 * kSlabSize);
  Cache c = Cache::create("max", 1024, isolated());
  std::vector<void*> objs;
  for (;;) {
    void* p = c.alloc(*t);
    if (!p) break;
    objs.push_back(p);
    ASSERT_LT(objs.size(), 1000u);
  }
  EXPECT_LE(t->current(), 2 * kSlabSize);
  EXPECT_GE(t->events().max, 1u);
  EXPECT_GE(objs.size(), 60u);  // two slabs of 63 objects, minus what the stock batch took
  for (void* p : objs) Cache::free(p);
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Cache, DestroyIsBusyWhileObjectsLive) {
  Cache c = Cache::create("busy", 128);
  test::TempGroup t("busy");
  void* p = c.alloc(*t);
  std::error_code ec;
  c.destroy(ec);
  EXPECT_EQ(ec, std::errc::device_or_resource_busy);
  EXPECT_TRUE(c);
  Cache::free(p);
  c.destroy(ec);
  EXPECT_FALSE(ec);
  EXPECT_FALSE(c);
}

TEST(Cache, IsolatedConcurrentFirstAllocationsCreateOneChild) {
  Cache c = Cache::create("first", 64, isolated());
  test::TempGroup t("first");
  const auto before = detail::slab_runtime_stats().child_caches;
  std::vector<std::thread> ts;
  std::vector<void*> got(8);
  std::atomic<int> go{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      go++;
      while (go < 8) {}
      got[i] = c.alloc(*t);
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(detail::slab_runtime_stats().child_caches, before + 1);
  for (void* p : got) {
    ASSERT_TRUE(p);
    Cache::free(p);
  }
  EXPECT_NE(c.slabinfo(*t).find("first"), std::string::npos);
  c.destroy();
}

// A thread's magazine entry holds its loaded magazine as a top pointer and
// swaps it with the previous one: random runs of allocations and frees
// (live counts crossing 0, 30 and 60 many times, with flushes between) never
// hand out a live object twice, and every object comes back.
// Objects of two groups, so that frees alternate owners and the object
// slot refuses some of them at every magazine state (full, swapped, empty).
TEST(Cache, MagazinesNeverLoseOrDuplicateAnObject) {
  test::TempGroup t("magrounds");
  test::TempGroup u("magrounds-other");
  for (bool isolate : {false, true}) {
    CacheOptions o;
    o.isolate = isolate;
    Cache c = Cache::create(isolate ? "magrounds-iso" : "magrounds", 48, o);
    std::set<void*> live;
    std::vector<void*> order;
    std::uint64_t rng = 12345;
    auto next = [&] { return rng = rng * 6364136223846793005ull + 1442695040888963407ull, rng >> 33; };
    for (int round = 0; round < 400; ++round) {
      const int run = static_cast<int>(next() % 70);
      if (next() % 2) {
        for (int i = 0; i < run; ++i) {
          void* p = c.alloc(next() % 3 ? *t : *u);
          ASSERT_NE(p, nullptr);
          ASSERT_TRUE(live.insert(p).second) << "a live object was handed out again";
          order.push_back(p);
        }
      } else {
        for (int i = 0; i < run && !order.empty(); ++i) {
          // Alternately the newest and a middle object: both sides see frees
          // of objects they did not just hand out.
          const std::size_t k = (i % 2) ? order.size() - 1 : order.size() / 2;
          void* p = order[k];
          order.erase(order.begin() + static_cast<std::ptrdiff_t>(k));
          live.erase(p);
          Cache::free(p);
        }
      }
      if (round % 97 == 0) detail::flush_own_magazines();
    }
    for (void* p : order) Cache::free(p);
    quiesce_thread();
    c.shrink();
    EXPECT_EQ(t->current(), 0u) << (isolate ? "isolated" : "shared");
    EXPECT_EQ(u->current(), 0u) << (isolate ? "isolated" : "shared");
    std::error_code ec;
    c.destroy(ec);
    EXPECT_FALSE(ec) << "every object is back in its slabs";
  }
}

// A batch of 1,600 small objects freed at once stays in magazines (the
// thread's and the depot's): none goes back to the slabs, whose free lists
// would be walked object by object to refill (slab_internal.hpp kDepotBytes).
// A depot of big objects stays small.
TEST(Cache, ABatchOfSmallObjectsFitsTheDepot) {
  // Every depot list, of any object size, holds at most kDepotBytes of
  // objects and magazine blocks; an isolated cache's lists at most
  // kDepotMaxIsolated magazines.
  for (std::size_t stride = 8; stride <= Cache::kMaxObjectSize; stride += 8) {
    EXPECT_LE(detail::depot_list_bytes(detail::depot_max_for(stride), stride), detail::kDepotBytes) << stride;
    EXPECT_LE(detail::depot_max_for(stride, true), detail::kDepotMaxIsolated) << stride;
  }
  EXPECT_GE(std::uint64_t{detail::depot_max_for(16)} * detail::kMagazineRounds, 3 * 1600u);
  test::TempGroup t("batch");
  Cache c = Cache::create("batch16", 16);
  detail::ChildCache* shared = detail::Access::impl(c)->shared;
  ASSERT_NE(shared, nullptr);
  std::thread([&] {
    std::vector<void*> objs;
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 1600; ++i) objs.push_back(c.alloc(*t));
      for (void* p : objs) Cache::free(p);
      objs.clear();
      const std::uint64_t inuse = inuse_of(shared);
      // Every freed object is still a round (plus what the last refill
      // left in the thread's magazine): none went back to a slab.
      EXPECT_GE(inuse, 1600u) << "round " << round << ": objects went back to the slabs";
    }
  }).join();
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

// A producer's batch of 4,096 64-byte objects freed by a consumer thread
// (xmalloc-test's pattern) goes through the depot: the producer's next
// batch comes back from it, and no object goes back to the slabs.
TEST(Cache, AConsumersBatchOfFreesFitsTheDepot) {
  EXPECT_GE(std::uint64_t{detail::depot_max_for(64)} * detail::kMagazineRounds, 4096u + 2 * detail::kMagazineRounds);
  test::TempGroup t("batch64");
  Cache c = Cache::create("batch64", 64);
  detail::ChildCache* shared = detail::Access::impl(c)->shared;
  ASSERT_NE(shared, nullptr);
  std::vector<void*> objs;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4096; ++i) objs.push_back(c.alloc(*t));
    std::thread([&] {
      for (void* p : objs) Cache::free(p);
    }).join();  // the consumer's exit returns its magazines to the depot
    objs.clear();
    const std::uint64_t inuse = inuse_of(shared);
    EXPECT_GE(inuse, 4096u) << "round " << round << ": objects went back to the slabs";
  }
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

// A magazine fill carves at most kFillCarveBytes of never-used objects:
// one allocation of a big object does not fault in pages for a magazine's
// worth of them.
TEST(Cache, AFillCarvesAtMostItsBudgetOfBigObjects) {
  test::TempGroup t("carve");
  Cache c = Cache::create("carve4k", 4096);
  void* p = c.alloc(*t);
  ASSERT_NE(p, nullptr);
  const detail::Slab* s = detail::Slab::of(p);
  const std::uint64_t carved = static_cast<std::uint64_t>(s->bump - static_cast<char*>(p));
  EXPECT_LE(carved, detail::kFillCarveBytes + s->stride) << "bytes of objects carved by the first fill";
  EXPECT_GE(carved, s->stride);
  Cache::free(p);
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Cache, CrossThreadFreesReturnToTheCache) {
  test::TempGroup t("xfree");
  Cache c = Cache::create("xfree", 96);
  std::vector<void*> objs;
  for (int i = 0; i < 5000; ++i) objs.push_back(c.alloc(*t));
  std::thread([&] {
    for (void* p : objs) Cache::free(p);
  }).join();  // the freeing thread's exit returns its magazines to the depot
  c.shrink();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST(Cache, IsolatedSlabinfoLayout) {
  test::TempGroup t("slabinfo");
  Cache c = Cache::create("infocache", 512, isolated());
  void* p = c.alloc(*t);
  std::string info = c.slabinfo(*t);
  EXPECT_EQ(info.rfind("slabinfo - version: 2.1\n", 0), 0u);
  EXPECT_NE(info.find("# name"), std::string::npos);
  EXPECT_NE(info.find("infocache"), std::string::npos);
  EXPECT_NE(info.find(": tunables"), std::string::npos);
  EXPECT_NE(info.find(": slabdata"), std::string::npos);
  std::string all = fs::read(t->path() + "/memory.kmem.slabinfo");
  EXPECT_NE(all.find("infocache"), std::string::npos);
  Cache::free(p);
  c.destroy();
}

TEST(TypedCache, MakesAndDestroys) {
  struct Node {
    int a;
    double b;
    explicit Node(int x) : a(x), b(x * 2.0) {}
  };
  TypedCache<Node> tc("nodes");
  test::TempGroup t("typed");
  Node* n = tc.make_in(*t, 7);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->a, 7);
  EXPECT_EQ(n->b, 14.0);
  TypedCache<Node>::destroy(n);
  tc.cache().destroy();
}

// Magazines hand objects out in slab order: a new child cache's first object
// is the one next to the slab header, so a one-object slab touches one page.
TEST(Cache, FirstObjectOfAFreshSlabIsItsFirstSlot) {
  test::TempGroup t("first");
  Cache c = Cache::create("first", 512);
  void* p = c.alloc(*t);
  ASSERT_NE(p, nullptr);
  const auto off = reinterpret_cast<std::uintptr_t>(p) & (kSlabSize - 1);
  EXPECT_EQ(off, detail::Access::impl(c)->data_offset);
  void* q = c.alloc(*t);
  EXPECT_EQ(static_cast<char*>(q) - static_cast<char*>(p), 512);  // then the next slot
  Cache::free(p);
  Cache::free(q);
  quiesce_thread();
  c.shrink();
  c.destroy();
}

// Magazine tables are keyed by the root's number: a number is reused only
// after destroy(), and the new root's allocations never see the old root's
// entries (they were flushed).
TEST(Cache, RootNumbersAreUniqueAndRecycledAfterDestroy) {
  std::vector<Cache> live;
  std::set<std::uint32_t> seqs;
  for (int i = 0; i < 50; ++i) {
    live.push_back(Cache::create("num" + std::to_string(i), 32 + i));
    EXPECT_NE(detail::Access::impl(live.back())->seq, 0u);
    seqs.insert(detail::Access::impl(live.back())->seq);
  }
  EXPECT_EQ(seqs.size(), live.size());
  test::TempGroup t("seq");
  ScopedGroup s(*t);
  Cache a = Cache::create("old", 64);
  void* p = a.alloc();
  ASSERT_NE(p, nullptr);
  Cache::free(p);  // the thread's table now has an entry for (a, t)
  const std::uint32_t seq = detail::Access::impl(a)->seq;
  a.destroy();
  Cache b = Cache::create("new", 512);
  EXPECT_EQ(detail::Access::impl(b)->seq, seq);  // recycled
  for (int i = 0; i < 100; ++i) {
    void* q = b.alloc();
    ASSERT_NE(q, nullptr);
    ASSERT_EQ(detail::Slab::of(q)->cache->root, detail::Access::impl(b));
    std::memset(q, 0x5b, 512);
    Cache::free(q);
  }
  b.destroy();
  for (Cache& c : live) c.destroy();
}

// Thread exit: allocations, frees and charges made after the library's
// thread-exit destructors ran (glibc's exit path, other libraries' key
// destructors) work, and do not register the dying thread again (its TLS
// is freed right after, a drain round would then touch freed memory).
pthread_key_t g_late_key;
Cache* g_late_cache;
Group* g_late_group;
void late_destructor(void*) {
  // glibc runs key destructors in rounds (PTHREAD_DESTRUCTOR_ITERATIONS) while
  // some key is set again: staying set runs this after the library's last
  // round too, as code on glibc's exit path would.
  pthread_setspecific(g_late_key, g_late_cache);
  ScopedGroup s(*g_late_group);
  void* p = g_late_cache->alloc();
  EXPECT_NE(p, nullptr);
  Cache::free(p);
  void* k = kmalloc(100);
  EXPECT_NE(k, nullptr);
  kfree(k);
  std::error_code ec;
  Reservation r = Reservation::make(*g_late_group, 1000, ec);  // charge via the stock path
  EXPECT_FALSE(ec);
}

TEST(Cache, AllocationsAfterThreadExitDestructorsDoNotReregister) {
#if defined(MEMCG_TSAN)
  // TSan finishes its own per-thread state in the last destructor round;
  // code that runs after it (as this test's destructor does) crashes TSan.
  GTEST_SKIP() << "not under TSan: code after TSan's thread finalization";
#endif
  test::TempGroup t("late");
  Cache c = Cache::create("late", 128);
  g_late_cache = &c;
  g_late_group = &t.get();
  {  // the library's keys exist before ours: its destructors run first
    ScopedGroup s(*t);
    Cache::free(c.alloc());
    std::error_code ec;
    Reservation r = Reservation::make(*t, 1000, ec);
  }
  ASSERT_EQ(pthread_key_create(&g_late_key, late_destructor), 0);
  quiesce_thread();
  const std::uint64_t mags_before = detail::threads_with_magazines();
  const std::uint64_t stocks_before = detail::threads_with_stock();
  std::thread th([&] {
    ScopedGroup s(*t);
    Cache::free(c.alloc());  // registers this thread
    std::error_code ec;
    Reservation r = Reservation::make(*t, 1000, ec);
    pthread_setspecific(g_late_key, &c);
  });
  th.join();
  pthread_key_delete(g_late_key);
  // The late destructor used RCU after the library's last round: the thread
  // must not have left an RCU registration behind (its TLS is gone; every
  // later grace period would wait on it forever). A liveness check, not a
  // timing one: the grace period takes microseconds, the bound is generous.
  {
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread([done] {
      barrier();
      done->store(true);
    }).detach();
    for (int i = 0; i < 600 && !done->load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(done->load()) << "no grace period completes after the exiting thread's late RCU use";
  }
  EXPECT_EQ(detail::threads_with_magazines(), mags_before);
  EXPECT_EQ(detail::threads_with_stock(), stocks_before);
  c.shrink();  // a drain round over every registered thread
  quiesce_thread();
  std::error_code ec;
  t->reclaim(UINT64_MAX, ec);  // kmalloc's empty slab (EAGAIN: less than asked)
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

}  // namespace
}  // namespace memcg
