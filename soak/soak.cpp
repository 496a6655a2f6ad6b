// memcg_soak: runs the whole system for a given time with continuous
// invariant checks.
//
//   memcg_soak [--seconds N] [--threads T] [--seed S] [--checkpoint-ms M] [--no-faults]
//
// Workload (T worker threads, a churn/coordinator thread, a watcher thread):
// allocation from two Caches (one shared, one isolated) and kmalloc (small and large) into fixed-limit
// groups and churned groups, frees of own objects and of objects handed over
// by other threads, Reservations, a page-cache-like shrinker on a ListLru
// (tests/reclaim/page_cache.hpp), memory.reclaim, limit changes, group
// creation and removal, ScopedGroup allocation, and - in fault-injection
// builds (MEMCG_FAULT_INJECTION) - page-source/metadata/large-map failures,
// reclaim-iterator breaks and delays in the lifecycle race windows. Some
// kmalloc calls carry charge flags. Event subscriptions, an events fd,
// memory.pressure reads, a PSI trigger and OOM handlers run beside them
// (soak/pressure_load.hpp, which lists their checks).
//
// Checks:
//   continuously  memory.current <= memory.max of the fixed-limit groups and
//                 of a sample of the churned groups with a limit (set at
//                 creation, never changed)
//   checkpoints   workers pause at a barrier and drain their stocks and
//                 magazines; then
//                 - fixed groups, the churn parent and the top group:
//                   memory.current == reservations + slab + kmalloc_large
//                   (memory.stat), stock 0;
//                 - what the workers hold, exactly: per fixed group and for
//                   the churned subtree, kmalloc_large == the large objects
//                   charged there (held or in the cross-thread mailbox) and
//                   reservations == the Reservations held + page-cache pages;
//                 - every removed group is freed unless something still pins
//                   it: after barrier(), the churn parent's dying descendants
//                   <= the removed groups that held large objects,
//                   Reservations or pages still name;
//                 - the fixed groups' memory.events never decrease
//   the end       everything released: no reservation, large object or page
//                 left; after a full reclaim of the top group, memory.current
//                 is 0 (no stray charge, slab included); every group freed
//                 (runtime_stats) after removal; faults were injected (fault
//                 builds); heap leaks are LSan's job
// Prints a summary; exit status 0 on success, 1 on a violated check.
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unistd.h>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../tests/reclaim/page_cache.hpp"
#include "charge/stock.hpp"
#include "core/invariants.hpp"
#include "memcg/memcg.hpp"
#include "platform/fault.hpp"
#include "slab/slab_internal.hpp"
#include "check.hpp"
#include "pressure_load.hpp"
#include "testing_stats.hpp"

namespace {

using namespace memcg;
using Clock = std::chrono::steady_clock;

using soak::g_failures;

struct Options {
  int seconds = 10;
  int threads = 3;
  std::uint64_t seed = 1;
  int checkpoint_ms = 1000;
  bool faults = true;
};

constexpr int kFixed = 3;
constexpr std::uint64_t kFixedMax = 8 << 20;
constexpr std::uint64_t kPage = 16 << 10;

// The large path charges the mapping: the usable size plus its header room
// (kLargeMinOffset in src/slab/kmalloc.cpp), page-rounded like ksize().
constexpr std::uint64_t kLargeHeader = 64;
constexpr int kWatchSample = 8;  // churned groups the watcher holds at once

struct Held {
  void* p;
  int kind;             // 0/1 cache, 2 kmalloc
  int fixed;            // fixed[] index, or -1: a churned group
  int churn;            // the churned group's number (name "g<n>"), or -1
  std::uint64_t large;  // bytes a large kmalloc charged (0 otherwise)
};

struct Mailbox {  // objects handed to other threads to free
  std::mutex m;
  std::vector<Held> items;
};

struct ChurnGroup {
  Group g;
  int n;             // name "g<n>", never reused
  std::uint64_t max; // set at creation and never changed; 0 = none
  Subscription sub;  // maybe none; dropped before or after the removal
};

struct Res {
  Reservation r;
  int fixed;  // index in fixed[], or -1
  int churn;  // churned group number, or -1
};

// A worker's holdings, read by the coordinator only while every worker waits
// at a checkpoint barrier (the barrier orders the accesses).
struct WorkerState {
  std::vector<Held> held;
  std::vector<Res> res;
};

struct Shared {
  Options opt;
  Group top, churn_parent;
  Group fixed[kFixed];
  std::mutex churn_m;
  std::vector<ChurnGroup> churn;    // online churned groups (workers pick from it)
  std::vector<char> churn_removed;  // by number: removed (churn_m)
  std::vector<WorkerState> workers;
  Cache caches[2];
  test::PageCache* pc = nullptr;
  Mailbox mail;
  std::atomic<std::int64_t> fixed_res[kFixed] = {};  // reservation bytes workers hold in fixed[i]
  std::atomic<std::int64_t> fixed_large[kFixed] = {};  // large kmalloc bytes charged to fixed[i]
  std::atomic<std::int64_t> churn_res{0}, churn_large{0};  // the same for the churned subtree
  std::atomic<bool> stop{false}, pause{false};
  std::unique_ptr<std::barrier<>> sync;
  std::unique_ptr<soak::PressureLoad> pressure;  // notifications, PSI, OOM handlers
  std::atomic<std::uint64_t> ops{0}, alloc_fail{0}, churned{0}, checkpoints{0}, reclaims{0};
};

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

std::atomic<std::int64_t>& large_books(Shared& s, const Held& h) {
  return h.fixed >= 0 ? s.fixed_large[h.fixed] : s.churn_large;
}

void free_held(Shared& s, const Held& h) {
  if (h.kind == 2) {
    if (h.large) large_books(s, h).fetch_sub(static_cast<std::int64_t>(h.large));
    kfree(h.p);
  } else {
    Cache::free(h.p);
  }
}

std::atomic<std::int64_t>& res_books(Shared& s, const Res& r) {
  return r.fixed >= 0 ? s.fixed_res[r.fixed] : s.churn_res;
}

void worker(Shared& s, int id) {
  std::mt19937_64 rng(s.opt.seed * 1000 + id);
  std::vector<Held>& held = s.workers[id].held;
  std::vector<Res>& res = s.workers[id].res;
  auto free_one = [&](const Held& h) { free_held(s, h); };
  while (!s.stop.load(std::memory_order_relaxed)) {
    if (s.pause.load(std::memory_order_acquire)) {
      s.sync->arrive_and_wait();  // 1: everyone stopped
      quiesce_thread();
      s.sync->arrive_and_wait();  // 2: everyone drained; the coordinator checks
      s.sync->arrive_and_wait();  // 3: checks done
      continue;
    }
    s.ops.fetch_add(1, std::memory_order_relaxed);
    // The target: a fixed group (2/3) or a churned one (maybe removed meanwhile).
    int fi = static_cast<int>(rng() % (kFixed + 1));
    int cn = -1;
    Group g;
    if (fi < kFixed) {
      g = s.fixed[fi];
    } else {
      fi = -1;
      std::lock_guard<std::mutex> l(s.churn_m);
      if (!s.churn.empty()) {
        const ChurnGroup& c = s.churn[rng() % s.churn.size()];
        g = c.g;
        cn = c.n;
      }
    }
    if (!g) g = s.fixed[0], fi = 0;
    switch (rng() % 12) {
      case 0: case 1: case 2: {
        int k = rng() % 2;
        void* p = s.caches[k].alloc(g);
        if (p) {
          std::memset(p, 0x5a, k ? 700 : 48);
          held.push_back({p, k, fi, cn, 0});
        } else {
          s.alloc_fail.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      case 3: case 4: {
        const std::size_t size = rng() % 20 == 0 ? 20000 + rng() % 200000 : 1 + rng() % 4000;
        // Some charges restrict their slow path (never no_fail: the watcher
        // checks current <= max).
        constexpr ChargeFlags kFlags[] = {ChargeFlags::none, ChargeFlags::none, ChargeFlags::none,
                                          ChargeFlags::no_reclaim, ChargeFlags::no_oom, ChargeFlags::no_throttle};
        const ChargeFlags flags = kFlags[rng() % (sizeof(kFlags) / sizeof(kFlags[0]))];
        void* p;
        if (rng() % 4 == 0) {
          ScopedGroup sg(g);
          ScopedChargeFlags sf(flags);
          p = kmalloc(size);
        } else {
          p = kmalloc(size, g, flags);
        }
        if (p) {
          static_cast<char*>(p)[size - 1] = 1;
          Held h{p, 2, fi, cn, size > kMaxSmallSize ? ksize(p) + kLargeHeader : 0};
          if (h.large) large_books(s, h).fetch_add(static_cast<std::int64_t>(h.large));
          held.push_back(h);
        } else {
          s.alloc_fail.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      case 5: case 6:  // free some, hand some to other threads
        for (int n = rng() % 16; n > 0 && !held.empty(); --n) {
          const std::size_t i = rng() % held.size();
          Held h = held[i];
          held[i] = held.back();
          held.pop_back();
          if (rng() % 3 == 0) {
            std::lock_guard<std::mutex> l(s.mail.m);
            s.mail.items.push_back(h);
          } else {
            free_one(h);
          }
        }
        break;
      case 7: {  // frees from the mailbox (cross-thread)
        std::vector<Held> take;
        {
          std::lock_guard<std::mutex> l(s.mail.m);
          for (int n = 0; n < 32 && !s.mail.items.empty(); ++n) {
            take.push_back(s.mail.items.back());
            s.mail.items.pop_back();
          }
        }
        for (const Held& h : take) free_one(h);
        break;
      }
      case 8: {  // reservations
        if (res.size() > 32 || (rng() % 2 && !res.empty())) {
          const std::size_t i = rng() % res.size();
          res_books(s, res[i]).fetch_sub(static_cast<std::int64_t>(res[i].r.size()));
          res[i] = std::move(res.back());
          res.pop_back();
        } else {
          std::error_code ec;
          const std::uint64_t bytes = 1 + rng() % (256 << 10);
          Reservation r = Reservation::make(g, bytes, ec);
          if (r) {
            res.push_back({std::move(r), fi, cn});
            res_books(s, res.back()).fetch_add(static_cast<std::int64_t>(bytes));
          } else {
            SOAK_CHECK(ec == std::errc::not_enough_memory || ec == std::errc::no_such_file_or_directory,
                       "reservation: %s", ec.message().c_str());
          }
        }
        break;
      }
      case 9:
        for (int n = 0; n < 8; ++n) s.pc->add(g);
        break;
      case 10: {
        std::error_code ec;
        g.reclaim(256 << 10, ec);
        s.reclaims.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case 11:
        if (held.size() > 3000)
          while (held.size() > 1000) {
            free_one(held.back());
            held.pop_back();
          }
        break;
    }
  }
  for (auto& h : held) free_one(h);
  held.clear();
  for (auto& r : res) res_books(s, r).fetch_sub(static_cast<std::int64_t>(r.r.size()));
  res.clear();
}

void watcher(Shared& s) {
  std::mt19937_64 rng(s.opt.seed + 7);
  std::vector<std::pair<Group, std::uint64_t>> sample;
  auto check = [](const Group& g, std::uint64_t max) {
    const std::uint64_t cur = g.current();
    SOAK_CHECK(cur <= max, "%s: current %llu > max %llu", g.path().c_str(), (unsigned long long)cur,
               (unsigned long long)max);
  };
  while (!s.stop.load(std::memory_order_relaxed)) {
    for (auto& g : s.fixed) check(g, g.max());
    {
      std::lock_guard<std::mutex> l(s.churn_m);
      for (int k = 0; k < kWatchSample && !s.churn.empty(); ++k) {
        const ChurnGroup& c = s.churn[rng() % s.churn.size()];
        if (c.max) sample.emplace_back(c.g, c.max);
      }
    }
    for (auto& [g, max] : sample) check(g, max);
    sample.clear();  // at most kWatchSample handles held at a time
    s.pressure->poll();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void books(const Group& g) {
  const Stat st = g.stat();
  SOAK_CHECK(st.stock == 0, "%s: stock %llu at a checkpoint", g.path().c_str(), (unsigned long long)st.stock);
  SOAK_CHECK(g.current() == st.reservations + st.slab() + st.kmalloc_large,
             "%s: current %llu != reservations %llu + slab %llu + large %llu", g.path().c_str(),
             (unsigned long long)g.current(), (unsigned long long)st.reservations, (unsigned long long)st.slab(),
             (unsigned long long)st.kmalloc_large);
}

void checkpoint(Shared& s, Events* last) {
  s.pause.store(true, std::memory_order_release);
  s.sync->arrive_and_wait();  // 1
  quiesce_thread();
  s.sync->arrive_and_wait();  // 2: every participant drained
  // Every layer's invariants, the exact equations included (the workers
  // wait; the watcher only reads and copies handles). Aborts on a violation.
  detail::check_invariants(detail::CheckMode::kQuiescent);
  // The library worker and the background reclaimer charge nothing.
  for (int i = 0; i < kFixed; ++i) {
    books(s.fixed[i]);
    const Stat st = s.fixed[i].stat();
    const std::uint64_t want = static_cast<std::uint64_t>(s.fixed_res[i].load()) +
                               s.pc->pages(s.fixed[i]) * s.pc->page_bytes();
    SOAK_CHECK(st.reservations == want, "%s: reservations %llu, held %llu", s.fixed[i].path().c_str(),
               (unsigned long long)st.reservations, (unsigned long long)want);
    const Events e = s.fixed[i].events();
    SOAK_CHECK(e.max >= last[i].max && e.oom >= last[i].oom && e.high >= last[i].high && e.low >= last[i].low,
               "%s: events went backwards", s.fixed[i].path().c_str());
    last[i] = e;
  }
  books(s.churn_parent);
  books(s.top);
  // What the workers hold, exactly (objects in the mailbox included).
  const Stat cst = s.churn_parent.stat();
  std::uint64_t fixed_pages = 0;
  for (auto& g : s.fixed) fixed_pages += s.pc->pages(g);
  const std::uint64_t churn_pages = s.pc->pages_all() - fixed_pages;
  SOAK_CHECK(cst.kmalloc_large == static_cast<std::uint64_t>(s.churn_large.load()),
             "churned subtree: kmalloc_large %llu, held %lld", (unsigned long long)cst.kmalloc_large,
             (long long)s.churn_large.load());
  // Exact: a page whose ListLru add fails (injected kMetaAlloc) is dropped
  // by the page cache, so every charged page is on a list.
  SOAK_CHECK(cst.reservations == static_cast<std::uint64_t>(s.churn_res.load()) + churn_pages * s.pc->page_bytes(),
             "churned subtree: reservations %llu, held %lld + %llu pages", (unsigned long long)cst.reservations,
             (long long)s.churn_res.load(), (unsigned long long)churn_pages);
  for (int i = 0; i < kFixed; ++i) {
    const std::uint64_t large = s.fixed[i].stat().kmalloc_large;
    SOAK_CHECK(large == static_cast<std::uint64_t>(s.fixed_large[i].load()), "%s: kmalloc_large %llu, held %lld",
               s.fixed[i].path().c_str(), (unsigned long long)large, (long long)s.fixed_large[i].load());
  }
  // Every removed group is freed unless something still pins it.
  barrier();
  std::set<int> pinned;
  {
    std::lock_guard<std::mutex> l(s.churn_m);
    auto note = [&](int n) {
      if (n >= 0 && s.churn_removed[n]) pinned.insert(n);
    };
    for (auto& w : s.workers) {
      for (const Held& h : w.held)
        if (h.large) note(h.churn);
      for (const Res& r : w.res) note(r.churn);
    }
    {
      std::lock_guard<std::mutex> lm(s.mail.m);
      for (const Held& h : s.mail.items)
        if (h.large) note(h.churn);
    }
    s.pc->for_each_page([&](const Reservation& r) {
      const std::string name = r.group().name();
      if (name.size() > 1 && name[0] == 'g') note(std::atoi(name.c_str() + 1));
    });
  }
  const std::uint64_t dying = s.churn_parent.nr_dying_descendants();
  SOAK_CHECK(dying <= pinned.size() + kWatchSample,
             "%llu removed groups not freed, only %zu pinned by live objects (+%d watcher handles)",
             (unsigned long long)dying, pinned.size(), kWatchSample);
  s.checkpoints.fetch_add(1);
  s.pause.store(false, std::memory_order_release);
  s.sync->arrive_and_wait();  // 3
}

void arm_faults() {
#if defined(MEMCG_FAULT_INJECTION)
  namespace f = detail::fault;
  f::set(f::Kind::kPageSourceMap, 0.05);
  f::set(f::Kind::kMetaAlloc, 0.001);
  f::set(f::Kind::kLargeMap, 0.01);
  f::set(f::Kind::kReclaimIterBreak, 0.02);
  for (auto k : {f::Kind::kAfterChildLookup, f::Kind::kPinMarkDead, f::Kind::kUnpinLast, f::Kind::kPinAfterGet,
                 f::Kind::kStockRefillOp, f::Kind::kStockDrainTake})
    f::set(k, 0.01, 50);
#endif
}

std::uint64_t faults_injected() {
#if defined(MEMCG_FAULT_INJECTION)
  return detail::fault::injected_total();
#else
  return 0;
#endif
}

void disarm_faults() {
#if defined(MEMCG_FAULT_INJECTION)
  detail::fault::clear_all();
#endif
}

int run(const Options& opt) {
  barrier();
  const std::uint64_t base_groups = detail::runtime_stats().groups_allocated;
  Shared s;
  s.opt = opt;
  s.top = Group::root().create("soak-" + std::to_string(::getpid()));
  s.churn_parent = s.top.create("churn");
  s.churn_parent.set_max(64 << 20);
  for (int i = 0; i < kFixed; ++i) {
    s.fixed[i] = s.top.create("fixed" + std::to_string(i));
    s.fixed[i].set_max(kFixedMax);
  }
  s.fixed[2].set_low(2 << 20);
  // Tighter limits where the OOM handlers are (PressureLoad): reservations,
  // which reclaim cannot take, fill them.
  s.fixed[1].set_max(kFixedMax / 4);
  s.fixed[2].set_max(kFixedMax / 4);
  s.pressure = std::make_unique<soak::PressureLoad>(s.top, s.fixed, kFixed);
  s.caches[0] = Cache::create("soak-small", 48);
  // One shared cache (objects charged one by one) and one isolated (per-group
  // child caches charged per slab, reparented on removal).
  s.caches[1] = Cache::create("soak-big", 700, CacheOptions{.reclaimable = true, .isolate = true});
  auto pc = std::make_unique<test::PageCache>(kPage);
  s.pc = pc.get();
  s.sync = std::make_unique<std::barrier<>>(opt.threads + 1);
  s.workers.resize(opt.threads);
  if (opt.faults) arm_faults();

  std::vector<std::thread> ts;
  for (int i = 0; i < opt.threads; ++i) ts.emplace_back(worker, std::ref(s), i);
  std::thread watch(watcher, std::ref(s));

  // Coordinator: group churn, limit changes, checkpoints.
  std::mt19937_64 rng(opt.seed);
  Events last[kFixed] = {};
  const auto end = Clock::now() + std::chrono::seconds(opt.seconds);
  auto next_cp = Clock::now() + std::chrono::milliseconds(opt.checkpoint_ms);
  int n = 0;
  while (Clock::now() < end) {
    if (Clock::now() >= next_cp) {
      checkpoint(s, last);
      next_cp = Clock::now() + std::chrono::milliseconds(opt.checkpoint_ms);
    }
    std::error_code ec;
    std::size_t nchurn;
    {
      std::lock_guard<std::mutex> l(s.churn_m);
      nchurn = s.churn.size();
    }
    switch (nchurn >= 128 ? 2 : rng() % 4) {  // at most ~128 churned groups online
      case 0: case 1: {
        const int num = n++;
        Group g = s.churn_parent.create("g" + std::to_string(num), ec);
        if (!ec) {
          std::uint64_t max = 0;
          if (rng() % 2) g.set_max(max = (1 + rng() % 8) << 20);
          Subscription sub = rng() % 2 ? s.pressure->subscribe_churned(g) : Subscription();
          std::lock_guard<std::mutex> l(s.churn_m);
          s.churn.push_back({g, num, max, std::move(sub)});
          s.churn_removed.resize(num + 1, 0);
        }
        break;
      }
      case 2: {
        Group victim;
        Subscription sub;
        {
          std::lock_guard<std::mutex> l(s.churn_m);
          if (s.churn.size() > 4) {
            const std::size_t i = rng() % s.churn.size();
            victim = s.churn[i].g;
            sub = std::move(s.churn[i].sub);
            s.churn_removed[s.churn[i].n] = 1;
            s.churn.erase(s.churn.begin() + i);
          }
        }
        if (rng() % 2) sub.reset();  // else after the removal
        if (victim) {
          victim.remove(ec);
          SOAK_CHECK(!ec, "remove: %s", ec.message().c_str());
          s.churned.fetch_add(1);
        }
        break;
      }
      case 3:  // limit changes on the churn parent (lowered below usage at times)
        s.churn_parent.set_max((16 + rng() % 64) << 20);
        if (rng() % 8 == 0) s.churn_parent.reclaim(1 << 20, ec);
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  checkpoint(s, last);
  s.stop = true;
  // Workers may be waiting at a barrier only inside a checkpoint, which has
  // completed; they exit their loop now.
  for (auto& t : ts) t.join();
  watch.join();
  disarm_faults();
  s.pressure->finish();
  s.pressure.reset();  // its handles and subscriptions, before the groups are removed
  for (const Held& h : s.mail.items) free_held(s, h);
  s.mail.items.clear();
  const std::uint64_t lru_refused = pc->lru_add_failures();
  pc.reset();  // frees every page (uncharges its reservation)
  for (auto& c : s.caches) c.shrink();
  quiesce_thread();
  SOAK_CHECK(s.churn_res.load() == 0 && s.churn_large.load() == 0, "churned subtree bookkeeping");
  for (int i = 0; i < kFixed; ++i) {
    SOAK_CHECK(s.fixed_res[i].load() == 0 && s.fixed_large[i].load() == 0, "reservation/large bookkeeping");
    SOAK_CHECK(s.fixed[i].stat().reservations == 0, "%s: reservations left", s.fixed[i].path().c_str());
    SOAK_CHECK(s.fixed[i].stat().kmalloc_large == 0, "%s: large allocations left", s.fixed[i].path().c_str());
  }
  {
    const Stat st = s.top.stat();
    SOAK_CHECK(st.reservations == 0 && st.kmalloc_large == 0, "%s: reservations %llu, large %llu left",
               s.top.path().c_str(), (unsigned long long)st.reservations, (unsigned long long)st.kmalloc_large);
    // Only empty slabs (and stocks) can be left: a full reclaim takes them.
    std::error_code ec;
    s.top.reclaim(s.top.current(), ec);
    SOAK_CHECK(s.top.current() == 0, "%s: %llu bytes still charged after everything was freed (slab %llu)",
               s.top.path().c_str(), (unsigned long long)s.top.current(), (unsigned long long)s.top.stat().slab());
  }
  const detail::SlabRuntimeStats before_destroy = detail::slab_runtime_stats();
  {
    std::lock_guard<std::mutex> l(s.churn_m);
    for (auto& c : s.churn) c.g.remove();
    s.churn.clear();
  }
  for (auto& g : s.fixed) g.remove();
  s.churn_parent.remove();
  s.top.remove();
  for (auto& g : s.fixed) g = Group();
  s.churn_parent = Group();
  s.top = Group();
  for (auto& c : s.caches) {
    std::error_code ec;
    c.destroy(ec);
    SOAK_CHECK(!ec, "cache destroy: %s (objects leaked)", ec.message().c_str());
  }
  barrier();
  const std::uint64_t left = detail::runtime_stats().groups_allocated;
  if (opt.faults && detail::fault::kEnabled)
    SOAK_CHECK(faults_injected() > 0, "fault injection armed but nothing was injected");
  SOAK_CHECK(left == base_groups, "groups not freed: %llu allocated, %llu at start", (unsigned long long)left,
             (unsigned long long)base_groups);
  std::printf(
      "memcg_soak: %d s, %d workers: ops %llu, allocation failures %llu, reclaims %llu, checkpoints passed %llu, "
      "groups churned %llu, faults injected %llu%s, LRU adds refused %llu, child caches before teardown %llu, "
      "check failures %llu\n",
      opt.seconds, opt.threads, (unsigned long long)s.ops.load(), (unsigned long long)s.alloc_fail.load(),
      (unsigned long long)s.reclaims.load(), (unsigned long long)s.checkpoints.load(),
      (unsigned long long)s.churned.load(), (unsigned long long)faults_injected(),
      detail::fault::kEnabled ? "" : " (fault injection not compiled in)", (unsigned long long)lru_refused,
      (unsigned long long)before_destroy.child_caches, (unsigned long long)g_failures.load());
  return g_failures.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (arg("--seconds")) opt.seconds = std::atoi(argv[++i]);
    else if (arg("--threads")) opt.threads = std::atoi(argv[++i]);
    else if (arg("--seed")) opt.seed = std::strtoull(argv[++i], nullptr, 0);
    else if (arg("--checkpoint-ms")) opt.checkpoint_ms = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--no-faults") == 0) opt.faults = false;
    else {
      std::fprintf(stderr, "usage: memcg_soak [--seconds N] [--threads T] [--seed S] [--checkpoint-ms M] [--no-faults]\n");
      return 2;
    }
  }
  if (opt.seconds < 0 || opt.threads < 1) return 2;
  return run(opt);
}
