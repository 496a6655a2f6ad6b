// Fault injection (src/platform/fault.hpp): each fault is turned on while a
// workload runs (allocation, reservations, removal, reclaim); the library
// must stay consistent and report clean errors.
//
// Invariants checked:
//   - allocation failures are clean (nullptr / ENOMEM / false), never a crash
//   - usage <= max at every sample for groups whose max is fixed
//   - at quiescence (workers joined, the main thread's stock and magazines
//     returned): memory.current == reservations + slab + kmalloc_large + stock
//     for every group (nothing else charges these groups)
//   - after everything is released: current == 0, every removed group is
//     freed (runtime_stats), the faults were actually injected
// Builds without MEMCG_FAULT_INJECTION (release) compile this file to a
// single skipped test.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "../reclaim/page_cache.hpp"
#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "platform/fault.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

#if !defined(MEMCG_FAULT_INJECTION)

TEST(FaultInjection, NotCompiledIn) { GTEST_SKIP() << "MEMCG_FAULT_INJECTION is off in this build"; }

#else

namespace fault = detail::fault;
using fault::Kind;

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

// memory.current is exactly what the accounted objects explain.
void expect_books(const Group& g, const char* where) {
  const Stat st = g.stat();
  EXPECT_EQ(g.current(), st.reservations + st.slab() + st.kmalloc_large + st.stock)
      << where << ": " << g.path() << " reservations=" << st.reservations << " slab=" << st.slab()
      << " large=" << st.kmalloc_large << " stock=" << st.stock;
}

// Samples usage <= max of fixed-limit groups while a workload runs.
class MaxWatcher {
 public:
  explicit MaxWatcher(std::vector<Group> gs) : gs_(std::move(gs)), t_([this] { run(); }) {}
  ~MaxWatcher() { stop(); }
  void stop() {
    if (!t_.joinable()) return;
    stop_ = true;
    t_.join();
  }
  std::uint64_t violations() const { return violations_; }
  std::uint64_t samples() const { return samples_; }

 private:
  void run() {
    while (!stop_) {
      for (auto& g : gs_) {
        const std::uint64_t max = g.max(), cur = g.current();
        ++samples_;
        if (cur > max) ++violations_;
      }
      std::this_thread::yield();
    }
  }
  std::vector<Group> gs_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> violations_{0}, samples_{0};
  std::thread t_;
};

std::chrono::milliseconds duration_ms(int def) {
  const char* e = std::getenv("MEMCG_STRESS_MS");
  return std::chrono::milliseconds(e ? std::atoi(e) : def);
}

// Threads allocate from a Cache and kmalloc (small and large) into a few
// limited groups, free half of what they hold at random; the main thread
// churns a short-lived group. Returns allocation failures seen.
std::uint64_t slab_workload(const Group& parent, int threads, std::chrono::milliseconds dur) {
  // Metadata failures may be armed already: creation fails cleanly (ENOMEM)
  // until one attempt gets its metadata.
  Cache c;
  for (int i = 0; i < 1000 && !c; ++i) {
    std::error_code ec;
    c = Cache::create("fault-obj", 96, {}, ec);
    if (!c) {
      EXPECT_EQ(ec, std::errc::not_enough_memory);
    }
  }
  EXPECT_TRUE(c);
  std::vector<Group> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(parent.create("s" + std::to_string(i)));
    gs.back().set_max(4 << 20);
  }
  MaxWatcher watch(gs);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> failures{0}, ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(t * 7919 + 1);
      std::vector<std::pair<void*, bool>> held;  // (object, from kmalloc)
      while (!stop) {
        const Group& g = gs[rng() % gs.size()];
        void* p;
        bool km = rng() % 2;
        if (!km) p = c.alloc(g);
        else p = kmalloc(rng() % 16 == 0 ? (rng() % 2 ? 100000 : 1u << 20) : 1 + rng() % 2000, g);  // medium or large
        if (!p) {
          ++failures;
        } else {
          ++ok;
          std::memset(p, 0x5a, km ? 1 : 96);
          held.emplace_back(p, km);
        }
        if (held.size() > 400 || rng() % 3 == 0) {
          while (!held.empty() && rng() % 2) {
            auto [q, k] = held.back();
            held.pop_back();
            if (k) kfree(q); else Cache::free(q);
          }
        }
      }
      for (auto [q, k] : held) {
        if (k) kfree(q); else Cache::free(q);
      }
    });
  const auto end = std::chrono::steady_clock::now() + dur;
  int n = 0;
  while (std::chrono::steady_clock::now() < end) {
    std::error_code ec;
    Group x = parent.create("churn" + std::to_string(n++), ec);
    if (!ec) {
      void* p = c.alloc(x);
      Reservation r = Reservation::make(x, 4096, ec);
      x.remove();
      if (p) Cache::free(p);
    }
  }
  stop = true;
  for (auto& t : ts) t.join();
  watch.stop();
  EXPECT_EQ(watch.violations(), 0u);
  EXPECT_GT(ok.load(), 0u);
  quiesce_thread();
  c.shrink();
  for (auto& g : gs) expect_books(g, "slab workload");
  expect_books(parent, "slab workload");
  for (auto& g : gs) g.remove();
  c.destroy();
  return failures;
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fault::clear_all();
    fault::seed(0x5eed + ::testing::UnitTest::GetInstance()->random_seed());
    base_ = test::settled_groups();
  }
  void TearDown() override {
    fault::clear_all();
    quiesce_thread();
    EXPECT_EQ(test::settled_groups(), base_) << "removed groups not freed";
  }
  std::uint64_t base_ = 0;
};

TEST_F(FaultTest, PageSourceAndLargeMapFailuresAreCleanNullptr) {
  test::TempGroup t("fps");
  fault::set(Kind::kPageSourceMap, 0.5);
  fault::set(Kind::kLargeMap, 0.3);
  const std::uint64_t before = fault::injected(Kind::kLargeMap);
  slab_workload(*t, 2, duration_ms(600));
  // The workload's large allocations may all be refused at its groups'
  // limits, or be few on a loaded machine: make sure the memory of a medium
  // block and of a large one is refused at least once here, in an unlimited
  // group, and the allocation returns nullptr.
  for (std::size_t n : {std::size_t{100000}, std::size_t{1} << 20}) {
    const std::uint64_t at = fault::injected(Kind::kLargeMap);
    for (int i = 0; i < 200 && fault::injected(Kind::kLargeMap) == at; ++i) kfree(kmalloc(n, *t));
    EXPECT_GT(fault::injected(Kind::kLargeMap), at) << n;
  }
  fault::clear_all();
  EXPECT_GT(fault::injected(Kind::kLargeMap), before);
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

TEST_F(FaultTest, EveryRegionMapFailsThenRecovers) {
  // Exhaust the mapped slabs with every mmap failing: allocation must end in
  // a clean nullptr, then work again once the fault is off.
  test::TempGroup t("fall");
  Cache c = Cache::create("fault-all", 4096);
  fault::set(Kind::kPageSourceMap, 1.0);
  std::vector<void*> held;
  for (;;) {
    void* p = c.alloc(*t);
    if (!p) break;
    held.push_back(p);
    ASSERT_LT(held.size(), 10'000'000u);
  }
  EXPECT_GT(fault::injected(Kind::kPageSourceMap), 0u);
  fault::clear_all();
  void* p = c.alloc(*t);
  ASSERT_NE(p, nullptr);
  held.push_back(p);
  for (void* q : held) Cache::free(q);
  quiesce_thread();
  c.shrink();
  expect_books(*t, "after map failures");
  EXPECT_EQ(t->current(), 0u);
  c.destroy();
}

TEST_F(FaultTest, MetadataArenaFailuresAreCleanNullptr) {
  test::TempGroup t("fmeta");
  fault::set(Kind::kMetaAlloc, 0.2);
  slab_workload(*t, 2, duration_ms(600));  // its books are checked inside
  fault::clear_all();
  EXPECT_GT(fault::injected(Kind::kMetaAlloc), 0u);
  // Shared caches allocate little metadata once warm (magazines recycle
  // through the depot), so whether the timed workload saw a failure depends
  // on the schedule. Each metadata need, deterministically: a new group's
  // object cgroup (its first per-object charge) and a new group's child
  // cache of an isolated cache.
  {
    Cache shared = Cache::create("fault-meta-shared", 64);
    CacheOptions iso;
    iso.isolate = true;
    Cache isolated = Cache::create("fault-meta-iso", 64, iso);
    ASSERT_TRUE(shared && isolated);
    void* warm = shared.alloc(*t);  // this thread's magazines of the shared cache exist
    ASSERT_NE(warm, nullptr);
    Group fresh = t->create("fresh");
    fault::set(Kind::kMetaAlloc, 1.0);
    EXPECT_EQ(shared.alloc(fresh), nullptr) << "no metadata for the group's object cgroup";
    EXPECT_EQ(isolated.alloc(fresh), nullptr) << "no metadata for the group's child cache";
    fault::clear_all();
    void* ok = shared.alloc(fresh);
    EXPECT_NE(ok, nullptr);
    Cache::free(ok);
    Cache::free(warm);
    quiesce_thread();
    EXPECT_EQ(fresh.current(), 0u);
    fresh.remove();
    shared.destroy();
    isolated.destroy();
  }
  // Cache creation itself under metadata failure: ENOMEM or a cache.
  Group fresh = t->create("fresh2");
  fault::set(Kind::kMetaAlloc, 1.0);
  std::error_code ec;
  Cache c = Cache::create("fault-meta", 64, {}, ec);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_FALSE(c);
  // A thread with no magazine table yet, for a group with no object cgroup
  // yet: the allocation fails cleanly.
  void* p = reinterpret_cast<void*>(1);
  std::thread([&] { p = kmalloc(64, fresh); }).join();
  EXPECT_EQ(p, nullptr);
  fault::clear_all();
  fresh.remove();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

// The shared reclaim iterator, tested as the kernel's targeted-invalidation
// patch was: reclaimers abandon their shared walk at random (2%), leaving the
// cursor at arbitrary positions while groups are removed.
TEST_F(FaultTest, ReclaimIteratorBreaksWhileGroupsDie) {
  test::TempGroup t("fiter");
  constexpr std::uint64_t kPage = 4096;
  {
    test::PageCache pc(kPage);
    fault::set(Kind::kReclaimIterBreak, 0.02);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> reclaimed{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 2; ++i)
      ts.emplace_back([&] {
        while (!stop) {
          std::error_code ec;
          reclaimed += t->reclaim(64 * kPage, ec);  // EAGAIN is fine
        }
      });
    const auto end = std::chrono::steady_clock::now() + duration_ms(800);
    std::vector<Group> live;
    std::mt19937 rng(4);
    int n = 0;
    while (std::chrono::steady_clock::now() < end) {
      if (live.size() < 24) {
        std::error_code ec;
        Group parent = live.empty() || rng() % 3 == 0 ? t.get() : live[rng() % live.size()];
        Group g = parent.create("g" + std::to_string(n++), ec);
        if (!ec) {
          for (int i = 0; i < 16; ++i) pc.add(g);
          live.push_back(g);
        }
      } else {
        // remove a leaf (a group with no online children)
        for (std::size_t i = 0; i < live.size(); ++i) {
          if (!live[i].children().empty()) continue;
          live[i].remove();
          live.erase(live.begin() + i);
          break;
        }
      }
    }
    stop = true;
    for (auto& x : ts) x.join();
    EXPECT_GT(fault::injected(Kind::kReclaimIterBreak), 0u);
    EXPECT_GT(reclaimed.load(), 0u);
    fault::clear_all();
    // Deepest first.
    while (!live.empty()) {
      for (std::size_t i = 0; i < live.size(); ++i)
        if (live[i].children().empty()) {
          live[i].remove();
          live.erase(live.begin() + i);
          break;
        }
    }
    quiesce_thread();
    expect_books(*t, "iterator breaks");
  }  // the page cache frees its pages
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

// Delays in every race window at once, under allocation, reservation and
// removal churn.
TEST_F(FaultTest, DelaysInLifecycleRaceWindows) {
  test::TempGroup t("fdelay");
  for (Kind k : {Kind::kAfterChildLookup, Kind::kPinMarkDead, Kind::kUnpinLast, Kind::kPinAfterGet,
                 Kind::kStockRefillOp, Kind::kStockDrainTake})
    fault::set(k, 0.05, 100);
  std::atomic<bool> stop{false};
  std::mutex m;
  std::vector<Group> pool;  // groups the workers charge; the main thread removes them
  std::vector<Reservation> orphans;  // reservations outliving their group's removal
  auto pick = [&](std::mt19937& rng) {
    std::lock_guard<std::mutex> l(m);
    return pool.empty() ? Group() : pool[rng() % pool.size()];
  };
  Cache c = Cache::create("fault-delay", 200);
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w)
    ts.emplace_back([&, w] {
      std::mt19937 rng(w + 11);
      while (!stop) {
        Group g = pick(rng);
        if (!g) {
          std::this_thread::yield();
          continue;
        }
        std::error_code ec;
        Reservation r = Reservation::make(g, 1 + rng() % 9000, ec);
        if (!r) {
          EXPECT_TRUE(ec == std::errc::no_such_file_or_directory || ec == std::errc::not_enough_memory) << ec.message();
        }
        void* p = c.alloc(g);
        void* q = kmalloc(1 + rng() % 500, g);
        if (r && rng() % 4 == 0) r.grow(rng() % 70000);
        if (r && rng() % 8 == 0) {
          std::lock_guard<std::mutex> l(m);
          orphans.push_back(std::move(r));  // released later, after the group died
        }
        Cache::free(p);
        kfree(q);
      }
    });
  const auto end = std::chrono::steady_clock::now() + duration_ms(800);
  int n = 0;
  while (std::chrono::steady_clock::now() < end) {
    Group g = t->create("d" + std::to_string(n++));
    g.set_max(1 << 20);
    {
      std::lock_guard<std::mutex> l(m);
      pool.push_back(g);
      if (pool.size() > 3) pool.erase(pool.begin());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    g.remove();  // workers may still hold handles and charge: ENOENT or the parent
    std::vector<Reservation> drop;
    {
      std::lock_guard<std::mutex> l(m);
      if (orphans.size() > 8) drop.swap(orphans);
    }
  }
  stop = true;
  for (auto& x : ts) x.join();
  {
    std::lock_guard<std::mutex> l(m);
    pool.clear();
    orphans.clear();
  }
  std::uint64_t delays = 0;
  for (Kind k : {Kind::kAfterChildLookup, Kind::kPinMarkDead, Kind::kUnpinLast, Kind::kPinAfterGet,
                 Kind::kStockRefillOp, Kind::kStockDrainTake})
    delays += fault::injected(k);
  fault::clear_all();
  EXPECT_GT(delays, 0u);
  EXPECT_GT(fault::injected(Kind::kStockRefillOp), 0u);
  quiesce_thread();
  c.shrink();
  expect_books(*t, "delays");
  // kmalloc's size-class caches keep depots and an empty slab per child
  // cache (Cache::shrink is per cache): only slabs remain charged.
  EXPECT_EQ(t->stat().reservations, 0u);
  EXPECT_EQ(t->stat().kmalloc_large, 0u);
  EXPECT_EQ(t->current(), t->stat().slab());
  c.destroy();
}

// The kmem pin protocol's window, made deterministic: remove() has set DEAD
// on the pin and not yet read the pin count while the last reservation is
// released.
std::atomic<int> g_phase{0};

// The first thread to reach fault point k stops there until resume_paused().
void pause_first_at(Kind k) {
  g_phase = 0;
  fault::set_point_hook(k, [](Kind) {
    int expected = 0;
    if (g_phase.compare_exchange_strong(expected, 1))
      while (g_phase.load() != 2) std::this_thread::yield();
  });
}
void wait_until_paused() {
  while (g_phase.load() != 1) std::this_thread::yield();
}
void resume_paused() { g_phase = 2; }
TEST_F(FaultTest, KmemPinLastUnchargeInsideMarkDeadWindow) {
  for (int round = 0; round < 2; ++round) {
    test::TempGroup t("fpin");
    Group g = t->create("g");
    Reservation r = Reservation::make(g, 10000);
    // round 0: remover paused after DEAD is set; round 1: releaser paused
    // after the pin count reached zero.
    pause_first_at(round == 0 ? Kind::kPinMarkDead : Kind::kUnpinLast);
    std::thread paused;
    if (round == 0) {
      paused = std::thread([&] { g.remove(); });
      wait_until_paused();
      r.reset();  // the last uncharge, inside remove()'s window
    } else {
      paused = std::thread([&] { r.reset(); });
      wait_until_paused();
      // remove() runs fully while the releaser sits between its decrement and its test
      std::thread([&] { g.remove(); }).join();
    }
    resume_paused();
    paused.join();
    fault::clear_all();
    EXPECT_EQ(g.state(), GroupState::dying);
    g = Group();
    quiesce_thread();
    barrier();
    EXPECT_EQ(t->current(), 0u);
    EXPECT_EQ(t->nr_dying_descendants(), 0u) << "round " << round << ": the pinned group was not freed";
  }
}

// A stale zero: the releaser of the only reservation sits between its
// decrement to zero and its test-and-clear; meanwhile a new reservation is
// taken (the group is still online), then the group is removed (remove()
// sees that pin and leaves the put to it) and its last handle dropped. The
// releaser's test-and-clear must not drop the pin reference while the new
// reservation lives (the group would be freed with charges).
TEST_F(FaultTest, KmemPinStaleZeroDoesNotDropTheReferenceOfALaterPin) {
  test::TempGroup t("fpinc");
  Group g = t->create("g");
  Reservation r1 = Reservation::make(g, 10000);
  pause_first_at(Kind::kUnpinLast);
  std::thread paused([&] { r1.reset(); });
  wait_until_paused();
  Reservation r2 = Reservation::make(g, 5000);  // online: a legitimate pin
  g.remove();
  g = Group();
  resume_paused();
  paused.join();
  fault::clear_all();
  quiesce_thread();
  barrier();
  EXPECT_EQ(t->nr_dying_descendants(), 1u) << "the group was released while a reservation pinned it";
  EXPECT_EQ(t->current(), 5000u);
  r2.reset();
  quiesce_thread();
  barrier();
  EXPECT_EQ(t->nr_dying_descendants(), 0u) << "the group was not released after its last pin";
  EXPECT_EQ(t->current(), 0u);
}

// The releaser sits between its decrement to zero and its test-and-clear
// while remove() runs and the last handle goes: remove() wins the put, and
// the group must stay allocated until the releaser is done with it (under
// ASan a premature free shows as a use after free in unpin_group).
TEST_F(FaultTest, KmemPinLastUnpinOutlivesTheLastHandle) {
  test::TempGroup t("fpinb");
  Group g = t->create("g");
  Reservation r = Reservation::make(g, 10000);
  pause_first_at(Kind::kUnpinLast);
  std::thread paused([&] { r.reset(); });
  wait_until_paused();
  std::thread([g = std::move(g)]() mutable {
    g.remove();
    g = Group();
  }).join();
  // Give the worker and the RCU threads time to free the group if nothing
  // holds it (they must not: the releaser is inside its read section).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  resume_paused();
  paused.join();
  fault::clear_all();
  quiesce_thread();
  barrier();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->nr_dying_descendants(), 0u);
}

// A refill paused inside its owner op while remove() drains: the drainer
// waits for the op, so the group's bytes never stay in a stock.
std::atomic<int> g_stock_phase{0};
TEST_F(FaultTest, StockRefillPausedWhileRemoveDrains) {
  test::TempGroup t("fstock");
  Group g = t->create("g");
  g_stock_phase = 0;
  fault::set_point_hook(Kind::kStockRefillOp, [](Kind) {
    int expected = 0;
    if (g_stock_phase.compare_exchange_strong(expected, 1))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // bounded: the drainer waits for us
  });
  std::atomic<bool> removed{false};
  std::uint64_t held = 0, stock_after = 1, after_reset = 1;
  std::thread owner([&] {
    std::error_code ec;
    Reservation r = Reservation::make(g, 100, ec);  // a batched walk refills the stock
    while (!removed) std::this_thread::yield();
    // Either the refill saw the group dying, or the drain took its slot:
    // no stock holds g's bytes now, in this thread or any other.
    held = g.current();
    stock_after = g.stat().stock;
    r.reset();
    after_reset = g.current();
  });
  while (g_stock_phase.load() == 0) std::this_thread::yield();
  g.remove();
  removed = true;
  owner.join();
  fault::clear_all();
  EXPECT_EQ(held, 100u);
  EXPECT_EQ(stock_after, 0u);
  EXPECT_EQ(after_reset, 0u);
  g = Group();
  EXPECT_EQ(t->current(), 0u);
}

TEST_F(FaultTest, CountersAndProbabilityControl) {
  const std::uint64_t before = fault::injected(Kind::kMetaAlloc);
  fault::set(Kind::kMetaAlloc, 1.0);
  EXPECT_TRUE(fault::armed(Kind::kMetaAlloc));
  EXPECT_TRUE(MEMCG_FAULT_FAIL(Kind::kMetaAlloc));
  {
    fault::Suppress s;
    EXPECT_FALSE(MEMCG_FAULT_FAIL(Kind::kMetaAlloc));
  }
  fault::set(Kind::kMetaAlloc, 0.0);
  EXPECT_FALSE(fault::armed(Kind::kMetaAlloc));
  EXPECT_FALSE(MEMCG_FAULT_FAIL(Kind::kMetaAlloc));
  EXPECT_EQ(fault::injected(Kind::kMetaAlloc), before + 1);
  fault::set(Kind::kMetaAlloc, 0.25);
  int hits = 0;
  for (int i = 0; i < 40000; ++i) hits += MEMCG_FAULT_FAIL(Kind::kMetaAlloc);
  fault::clear_all();
  EXPECT_NEAR(hits, 10000, 1000);
  EXPECT_STREQ(fault::name(Kind::kReclaimIterBreak), "reclaim_iter_break");
}

#endif  // MEMCG_FAULT_INJECTION

}  // namespace
}  // namespace memcg
