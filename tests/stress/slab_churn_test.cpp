// Stress: threads allocate from several caches and kmalloc into stable and
// churned groups, hand objects to other threads which free them, while a
// churn thread creates and removes groups (their caches get reparented).
//
// Oracle, at quiescence (workers joined: their stocks and magazines are
// returned; every cache shrunk):
//   - with objects live: the bytes charged through object cgroups in the
//     subtree equal the live shared objects' charges (stride + 8 each): no
//     byte is charged that no live object holds (slots were given back)
//   - each group's slab statistics equal its memory.current (only slabs and
//     kmalloc charge these groups), and are a multiple of the slab size;
//     nothing is left charged through object cgroups
//   - after every object is freed and every group removed: all removed
//     groups are freed, every child cache destroyed, no slab in use that the
//     test created (ASan/LSan also report leaks)
// Bounded by time (MEMCG_STRESS_MS, default 1500 ms).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "core/invariants.hpp"
#include "charge/objcg.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "slab/page_source.hpp"
#include "slab/slab_internal.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

std::chrono::milliseconds stress_duration() {
  const char* e = std::getenv("MEMCG_STRESS_MS");
  return std::chrono::milliseconds(e ? std::atoi(e) : 1500);
}

// A bounded multi-producer multi-consumer handoff of objects to free.
struct Mailbox {
  std::mutex m;
  std::vector<void*> items;
  void put(void* p) {
    std::lock_guard<std::mutex> l(m);
    items.push_back(p);
  }
  void* take() {
    std::lock_guard<std::mutex> l(m);
    if (items.empty()) return nullptr;
    void* p = items.back();
    items.pop_back();
    return p;
  }
};

struct Obj {  // what we write into each object to detect corruption
  std::uint64_t magic;
  std::uint64_t size;
};

// The bytes an object of a per-object charging (shared) cache is charged:
// its stride and its ownership record; 0 for isolated caches and medium or
// large kmallocs (charged per slab, per block).
std::uint64_t object_charge(void* p) {
  if (detail::span_kind(p) != detail::kRegionKind) return 0;  // a large kmalloc
  const detail::Slab* s = detail::Slab::of(p);
  if (s->kind == detail::kMediumKind) return 0;
  return s->objcgs ? s->charge_bytes : 0;
}
constexpr std::uint64_t kMagic = 0x0b1ec7c0ffee1234;

TEST(Stress, SlabAllocCrossThreadFreeAndGroupChurn) {
  // kmalloc's shared caches live as long as the process: create every class
  // the workers use before counting.
  for (std::size_t size = 16; size <= 16 + 3000; size += 8) kfree(kmalloc(size));
  const auto base_groups = test::settled_groups();
  const auto base_children = detail::slab_runtime_stats().child_caches;
  CacheOptions isolated;
  isolated.isolate = true;
  // Two shared caches (objects charged one by one) and one isolated cache
  // (a child cache per group, reparented on removal).
  Cache caches[3] = {Cache::create("st-64", 64), Cache::create("st-200", 200), Cache::create("st-1k", 1024, isolated)};
  auto top = std::make_unique<test::TempGroup>("slabstress");
  std::vector<Group> stable;
  for (int i = 0; i < 16; ++i) stable.push_back(top->get().create("s" + std::to_string(i)));
  stable[0].set_max(4 * detail::kSlabSize);  // one limited group: allocations fail cleanly there
  std::mutex pool_m;
  std::vector<Group> churned;
  Mailbox mail;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> allocs{0}, failed{0}, corrupt{0}, removed{0};

  auto fill = [](void* p, std::size_t size) {
    auto* o = static_cast<Obj*>(p);
    o->magic = kMagic;
    o->size = size;
  };
  auto check_free = [&](void* p) {
    auto* o = static_cast<Obj*>(p);
    if (o->magic != kMagic) corrupt++;
    o->magic = 0;
    if (o->size) kfree(p);
    else Cache::free(p);
  };

  std::mutex survivors_m;
  std::vector<void*> survivors;  // objects still live at the checkpoint
  auto worker = [&](int w) {
    std::mt19937_64 rng(w * 7919 + 1);
    std::vector<void*> mine;
    while (!stop.load(std::memory_order_relaxed)) {
      Group g;
      if (rng() % 3 == 0) {
        std::lock_guard<std::mutex> l(pool_m);
        if (!churned.empty()) g = churned[rng() % churned.size()];
      }
      if (!g) g = stable[rng() % stable.size()];
      void* p;
      std::size_t size = 0;
      if (rng() % 4 == 0) {
        size = 16 + rng() % 3000;
        p = kmalloc(size, g);
      } else {
        p = caches[rng() % 3].alloc(g);
      }
      if (!p) {
        failed++;
        continue;
      }
      fill(p, size);
      allocs++;
      if (rng() % 2) mail.put(p);  // another thread frees it
      else mine.push_back(p);
      if (mine.size() > 256) {
        for (int k = 0; k < 128; ++k) {
          check_free(mine.back());
          mine.pop_back();
        }
      }
      if (void* q = mail.take()) check_free(q);
    }
    std::lock_guard<std::mutex> l(survivors_m);  // freed after the checkpoint
    survivors.insert(survivors.end(), mine.begin(), mine.end());
  };

  auto churner = [&] {
    std::mt19937_64 rng(5);
    int n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      Group g = top->get().create("c" + std::to_string(n++));
      std::lock_guard<std::mutex> l(pool_m);
      churned.push_back(g);
      if (churned.size() > 6) {
        std::size_t i = rng() % churned.size();
        churned[i].remove();  // objects live on in reparented caches
        churned.erase(churned.begin() + i);
        removed++;
      }
    }
  };

  std::vector<std::thread> ts;
  for (int w = 0; w < 3; ++w) ts.emplace_back(worker, w);
  ts.emplace_back(churner);
  test::run_for_at_least(stress_duration(), [&] { return allocs.load() > 1000u && removed.load() > 0u; });
  stop = true;
  for (auto& t : ts) t.join();
  while (void* q = mail.take()) survivors.push_back(q);

  // Checkpoint with objects live (the workers exited: their object slots and
  // magazines are given back; this thread's too): every byte charged
  // through an object cgroup is a live object's. The groups the objects
  // were charged to may be removed: their object cgroups then charge `top`,
  // so compare over the whole subtree.
  detail::flush_own_magazines();
  detail::drain_own_stock();
  std::uint64_t live_object_bytes = 0;
  for (void* p : survivors) live_object_bytes += object_charge(p);
  std::uint64_t charged_through_objcgs = detail::objcg_charged_bytes(detail::Access::impl(top->get()));
  for (const Group& g : stable) charged_through_objcgs += detail::objcg_charged_bytes(detail::Access::impl(g));
  {
    std::lock_guard<std::mutex> l(pool_m);
    for (const Group& g : churned) charged_through_objcgs += detail::objcg_charged_bytes(detail::Access::impl(g));
  }
  EXPECT_EQ(charged_through_objcgs, live_object_bytes) << survivors.size() << " live objects";
  EXPECT_GT(live_object_bytes, 0u);
  std::printf("checkpoint: %zu live objects, %llu bytes charged through object cgroups\n", survivors.size(),
              (unsigned long long)live_object_bytes);
  detail::check_invariants(detail::CheckMode::kQuiescent);
  for (void* q : survivors) check_free(q);
  survivors.clear();

  EXPECT_EQ(corrupt.load(), 0u);
  EXPECT_GT(allocs.load(), 1000u);
  EXPECT_GT(removed.load(), 0u);

  // Quiescence: everything freed, caches shrunk (kmalloc caches too: shrink
  // every child through a drain round), stocks drained.
  for (auto& c : caches) c.shrink();
  detail::flush_own_magazines();
  detail::drain_own_stock();
  // Checkpoint: every layer's invariants, the exact equations included.
  detail::check_invariants(detail::CheckMode::kQuiescent);
  for (const Group& g : stable) {
    const Stat s = g.stat();
    // Every object is freed and every stock drained: what is left is the
    // isolated cache's slabs (shrunk: none); objects charged one by one
    // left nothing behind.
    EXPECT_EQ(g.current(), s.slab() + s.kmalloc_large) << g.path();
    EXPECT_EQ(g.current() % detail::kSlabSize, 0u) << g.path();
    EXPECT_EQ(detail::objcg_charged_bytes(detail::Access::impl(g)), 0u) << g.path();
  }
  {
    std::lock_guard<std::mutex> l(pool_m);
    for (auto& g : churned) g.remove();
    churned.clear();
  }
  for (auto& g : stable) g.remove();
  stable.clear();
  top.reset();
  barrier();
  EXPECT_EQ(test::settled_groups(), base_groups) << "a removed group was never freed";
  for (auto& c : caches) c.destroy();
  barrier();
  // Every child cache the test created is gone: the test caches' with their
  // roots, kmalloc's of the removed groups at removal (empty) or, reparented,
  // when their last object was freed.
  EXPECT_EQ(detail::slab_runtime_stats().child_caches, base_children);
  std::printf("slab stress: %llu allocs, %llu failed, %llu groups removed\n", (unsigned long long)allocs.load(),
              (unsigned long long)failed.load(), (unsigned long long)removed.load());
}

}  // namespace
}  // namespace memcg
