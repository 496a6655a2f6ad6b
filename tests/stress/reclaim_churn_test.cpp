// Stress: reclaim, allocation and group churn together. Page-cache pages
// (Reservations on a ListLru, a group-aware shrinker) and slab objects
// (a reclaimable Cache whose objects sit on a second ListLru) are added
// into a churned tree under a limited parent; charges over max reclaim
// synchronously, another thread runs memory.reclaim, limits move, groups are
// created and removed (their LRU lists and caches reparented), and shrinkers
// register and unregister.
//
// Oracle at quiescence: every group's memory.current equals its pages' bytes
// plus its slabs (after shrinking), the limited parent never exceeded max,
// and after teardown every group is freed. Bounded by MEMCG_STRESS_MS.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "../reclaim/page_cache.hpp"
#include "../test_util.hpp"
#include "core/invariants.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t kPage = 128 << 10;

std::chrono::milliseconds stress_duration() {
  const char* e = std::getenv("MEMCG_STRESS_MS");
  return std::chrono::milliseconds(e ? std::atoi(e) : 1500);
}

// Reclaimable slab objects: a Cache plus a ListLru, freed by a shrinker.
struct Obj {
  ListLruHook hook;
  char payload[200];
};
class ObjCache : public Shrinker {
 public:
  ObjCache() {
    CacheOptions o;
    o.reclaimable = true;
    cache_ = Cache::create("stress-objs", sizeof(Obj), o);
    reg_ = register_shrinker(*this, true);
  }
  ~ObjCache() override {
    drain_all();  // through our shrinker: before unregistering it
    reg_.reset();
    cache_.destroy();
  }
  bool add(const Group& g) {
    void* p = cache_.alloc(g);
    if (!p) return false;
    auto* o = new (p) Obj;
    lru_.add(*o, g);
    live_++;
    return true;
  }
  std::uint64_t count(const ShrinkControl& sc) override { return lru_.count(sc.group); }
  std::uint64_t scan(const ShrinkControl& sc) override {
    std::vector<Obj*> dispose;
    lru_.walk(sc.group, [&](Obj& o) { dispose.push_back(&o); return LruStatus::removed; }, sc.nr_to_scan);
    for (Obj* o : dispose) {
      o->~Obj();
      Cache::free(o);
      live_--;
    }
    return dispose.size();
  }
  // Frees every object through reclaim from the root (which visits every
  // group's list). Bounded: a failure shows as live objects left.
  void drain_all() {
    for (int i = 0; i < 1000 && lru_.count_all() != 0; ++i) Group::root().reclaim(64 << 20, ec_);
    EXPECT_EQ(lru_.count_all(), 0u);
  }
  Cache& cache() { return cache_; }
  std::int64_t live() const { return live_.load(); }

 private:
  Cache cache_;
  ListLru<Obj, &Obj::hook> lru_;
  std::atomic<std::int64_t> live_{0};
  ShrinkerRegistration reg_;
  std::error_code ec_;
};

TEST(Stress, ReclaimAllocationAndChurnTogether) {
  const auto base_groups = test::settled_groups();
  auto top = std::make_unique<test::TempGroup>("reclaimstress");
  Group limited = top->get().create("limited");
  limited.set_max(8 << 20);
  auto pages = std::make_unique<test::PageCache>(kPage);
  auto objs = std::make_unique<ObjCache>();
  std::mutex pool_m;
  std::vector<Group> pool;
  for (int i = 0; i < 8; ++i) pool.push_back(limited.create("g" + std::to_string(i)));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> over{0}, adds{0}, refused{0}, churned{0};

  auto pick = [&](std::mt19937_64& rng) {
    std::lock_guard<std::mutex> l(pool_m);
    return pool[rng() % pool.size()];
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      std::mt19937_64 rng(w + 11);
      while (!stop) {
        Group g = pick(rng);
        bool ok = (rng() % 3) ? pages->add(g) : objs->add(g);
        if (ok) adds++;
        else refused++;
      }
    });
  ts.emplace_back([&] {  // proactive reclaim and limit changes
    std::mt19937_64 rng(3);
    std::error_code ec;
    while (!stop) {
      limited.reclaim(1 << 20, ec);
      Group g = pick(rng);
      g.set_high((rng() % 2) ? unlimited : (2 << 20), ec);  // ENOENT if churned meanwhile
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  ts.emplace_back([&] {  // churn: remove a group (lists and caches reparented), add another
    std::mt19937_64 rng(4);
    int n = 0;
    while (!stop) {
      {
        std::lock_guard<std::mutex> l(pool_m);
        std::size_t i = rng() % pool.size();
        pool[i].remove();
        pool[i] = limited.create("c" + std::to_string(n++));
      }
      churned++;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  ts.emplace_back([&] {  // shrinker registration churn
    while (!stop) {
      test::PageCache transient(kPage);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  ts.emplace_back([&] {  // sampler
    while (!stop)
      if (limited.current() > limited.max()) over++;
  });
  test::run_for_at_least(stress_duration(), [&] { return adds.load() > 100u && churned.load() > 0u; });
  stop = true;
  for (auto& t : ts) t.join();

  EXPECT_EQ(over.load(), 0u);
  EXPECT_GT(adds.load(), 100u);
  EXPECT_GT(churned.load(), 0u);
  // Quiescence: shrink the object cache so only slabs with live objects
  // remain, then the limited subtree holds exactly pages + slabs.
  objs->cache().shrink();
  detail::flush_own_magazines();
  detail::drain_own_stock();
  // Checkpoint: every layer's invariants, the exact equations included.
  detail::check_invariants(detail::CheckMode::kQuiescent);
  const Stat st = limited.stat();
  EXPECT_EQ(limited.current(), st.reservations + st.slab()) << "pages " << st.reservations << " slab " << st.slab();
  // Teardown: every page and object is freed by reclaim, every group removed.
  pages.reset();
  objs.reset();
  {
    std::lock_guard<std::mutex> l(pool_m);
    for (auto& g : pool) g.remove();
    pool.clear();
  }
  limited.remove();
  limited = Group();
  top.reset();
  EXPECT_EQ(test::settled_groups(), base_groups) << "a removed group was never freed";
  std::printf("reclaim stress: %llu adds, %llu refused, %llu groups churned\n", (unsigned long long)adds.load(),
              (unsigned long long)refused.load(), (unsigned long long)churned.load());
}

}  // namespace
}  // namespace memcg
