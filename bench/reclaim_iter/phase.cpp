#include "reclaim_iter/phase.hpp"

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "core/group_impl.hpp"
#include "memcg/group.hpp"
#include "reclaim/reclaim_iter.hpp"
#include "reclaim_iter/old_scheme.hpp"
#include "reclaim_iter/tracker.hpp"

namespace reclaim_iter_bench {
namespace {

using memcg::detail::ReclaimCookie;
using Clock = std::chrono::steady_clock;

std::int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Names built with snprintf (GCC 12 warns falsely, -Wrestrict, on
// "literal" + std::string).
std::string numbered(const char* prefix, std::uint64_t n) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%" PRIu64, prefix, n);
  return buf;
}

// Simulated reclaim work: spin on the clock (a preempted spin still ends on
// time, so a noisy machine does not stretch the per-group cost).
void spin_for(std::int64_t ns) {
  const std::int64_t end = now_ns() + ns;
  while (now_ns() < end) {
  }
}

struct Leaf {
  memcg::Group group;
  int parent = 0;
};

}  // namespace

PhaseResult run_phase(int index, std::uint64_t run, int n, int threads, Scheme scheme, const Options& opt,
                      benchmark::State& state) {
  state.PauseTiming();
  PhaseResult r;
  r.n = n;
  r.threads = threads;
  r.scheme = scheme;

  Tracker tracker;
  OldScheme old;  // walks only when scheme == kOld; counts the churn's deaths either way
  memcg::Group root = memcg::Group::root().create(numbered("bench-iter-", run));
  std::vector<memcg::Group> parents;
  std::vector<Leaf> leaves;
  parents.reserve(kParents);
  leaves.reserve(static_cast<std::size_t>(n));
  std::uint64_t serial = 0;
  tracker.add(root.impl());
  for (int p = 0; p < kParents; ++p) {
    char name[16];
    std::snprintf(name, sizeof name, "p%02d", p);
    parents.push_back(root.create(name));
    tracker.add(parents.back().impl());
  }
  for (int p = 0; p < kParents; ++p) {
    for (int i = 0; i < n / kParents; ++i) {
      leaves.push_back(Leaf{parents[p].create(numbered("l", serial++)), p});
      tracker.add(leaves.back().group.impl());
    }
  }
  GroupImpl* const rroot = root.impl();

  std::atomic<bool> go{false}, stop{false};
  std::atomic<std::uint64_t> loops_started{0}, loops_completed{0}, root_mid_loop{0};
  std::atomic<std::int64_t> reclaimer_cpu_ns{0};
  const auto work_ns = static_cast<std::int64_t>(opt.work_us * 1000.0);

  // One step of the walk with the phase's scheme.
  auto step = [&](GroupImpl* prev, ReclaimCookie* cookie) {
    return scheme == Scheme::kTargeted ? memcg::detail::reclaim_iter(rroot, prev, cookie)
                                       : old.next(rroot, prev, cookie);
  };
  auto reclaimer = [&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    const std::int64_t cpu0 = thread_cpu_ns();
    while (!stop.load(std::memory_order_relaxed)) {
      ReclaimCookie cookie;
      loops_started.fetch_add(1, std::memory_order_relaxed);
      bool cut = false, first = true;
      // lo: the root's generation before each reclaim_iter call; read again
      // after it, the pair brackets the generation the group was handed out in.
      std::uint32_t lo = rroot->reclaim_generation.load(std::memory_order_acquire);
      for (GroupImpl* g = step(nullptr, &cookie); g;
           lo = rroot->reclaim_generation.load(std::memory_order_acquire),
                      g = step(g, &cookie)) {
        // The root after the first group of a loop: the old scheme's restart,
        // or (targeted) a round's reset cursor taken by this straggler.
        if (g == rroot && !first) root_mid_loop.fetch_add(1, std::memory_order_relaxed);
        first = false;
        tracker.visit(g, lo, rroot->reclaim_generation.load(std::memory_order_acquire));
        spin_for(work_ns);
        if (stop.load(std::memory_order_relaxed)) {
          memcg::detail::reclaim_iter_break(rroot, g);
          cut = true;
          break;
        }
      }
      if (!cut) {
        loops_completed.fetch_add(1, std::memory_order_relaxed);
        tracker.round_end(cookie.generation);
      }
    }
    reclaimer_cpu_ns.fetch_add(thread_cpu_ns() - cpu0);
  };

  std::uint64_t destructions = 0;
  std::exception_ptr churn_error;
  auto churn = [&] {
    std::mt19937_64 rng(opt.seed + static_cast<std::uint64_t>(index));
    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(opt.churn_us * 1000.0));
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    auto next = Clock::now();
    try {
      for (;;) {
        next += period;
        // A preempted churn thread catches up (steady average rate), but
        // never bursts more than 20 periods.
        const auto now = Clock::now();
        if (now - next > 20 * period) next = now;
        std::this_thread::sleep_until(next);
        if (stop.load(std::memory_order_relaxed)) break;
        Leaf& l = leaves[rng() % leaves.size()];
        tracker.remove(l.group.impl());
        l.group.remove();
        old.count_death();
        l.group = memcg::Group();  // drop the handle
        l.group = parents[l.parent].create(numbered("l", serial++));
        tracker.add(l.group.impl());
        ++destructions;
      }
    } catch (...) {
      churn_error = std::current_exception();
      stop.store(true);
    }
  };

  const std::uint64_t lib_rounds0 = memcg::detail::reclaim_rounds_completed();
  state.ResumeTiming();
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back(reclaimer);
  std::thread ct(churn);
  tracker.start(rroot->reclaim_generation.load(std::memory_order_acquire));
  go.store(true, std::memory_order_release);
  const auto deadline = Clock::now() + std::chrono::nanoseconds(static_cast<std::int64_t>(opt.seconds * 1e9));
  while (!stop.load() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop.store(true);
  ct.join();
  for (auto& t : ts) t.join();
  state.PauseTiming();
  tracker.finish(&r);
  r.lib_rounds = memcg::detail::reclaim_rounds_completed() - lib_rounds0;
  r.loops_started = loops_started.load();
  r.loops_completed = loops_completed.load();
  r.root_mid_loop = root_mid_loop.load();
  r.reclaimer_cpus = static_cast<double>(reclaimer_cpu_ns.load()) / 1e9 / r.seconds;
  r.destructions = destructions;
  if (churn_error) std::rethrow_exception(churn_error);

  // Teardown: leaves, parents, root; the caller waits for the frees.
  for (Leaf& l : leaves) l.group.remove();
  leaves.clear();
  for (memcg::Group& p : parents) p.remove();
  parents.clear();
  root.remove();
  state.ResumeTiming();
  return r;
}

}  // namespace reclaim_iter_bench
