// reclaim_iter_bench: seed 004 reproduction. A reclaimer walks every group of
// a subtree with the shared, resumable reclaim iterator while groups are
// destroyed at a steady rate. The old scheme (kRestartOnAnyDeath) restarts
// every cursor from the root on ANY group destruction, so with ~1000+ groups
// and one destruction per millisecond the walk never gets past the first few
// hundred groups: rounds never finish and the rest starve. The targeted scheme
// (kTargeted, the library's default) only moves cursors positioned at the
// dying group, so rounds complete.
//
// A Google Benchmark program, one benchmark per phase with the peer scheme in
// the same run: reclaim_iter/N:<N>/threads:<T>/{targeted,old}, registered
// with Iterations(1), UseRealTime, milliseconds, no warm-up. A phase is
// a multi-second steady-state run of several cooperating threads, not a loop
// to time, so one iteration = one phase: the tree is built and torn down with
// the timer paused, and the measured region is the phase itself (its real
// time is about --seconds). The phase's metrics are the benchmark's counters
// (full_rounds_per_s, shared_rounds_started, shared_rounds_completed,
// premature, root_only, longest_round_ms, max_gap_ms, median_gap_ms,
// p90_gap_ms, starved, whole_phase_groups, destructions_per_s, visits_per_s,
// reclaimer_cpus), so --benchmark_format=json / --benchmark_out carry them.
// Every --benchmark_* flag works; --benchmark_filter runs a subset (RATIOS
// and ACCEPTANCE then skip pairs with a side not run). With
// --benchmark_repetitions=R each phase runs R times: SUMMARY and DETAIL list
// every run, RATIOS and ACCEPTANCE use each phase's last run.
//
// Tree (one fresh tree per phase, so no cursor state carries over):
//   /bench-iter-<k>  the reclaim root
//     p00 .. p99     100 parents (never destroyed)
//       l<serial>    N/100 leaves each: N leaves in all
//   so one full round visits N + 101 groups (root and parents included).
//
// Phase = (N, reclaimer threads, scheme), `--seconds` long (default 5 s):
//   reclaimers (1, or 2 sharing the cursor) loop
//       ReclaimCookie cookie;
//       for (g = reclaim_iter(root, nullptr, &cookie, policy); g;
//            g = reclaim_iter(root, g, &cookie, policy)) visit(g);
//     visit(g) records the visit and busy-waits `--work-us` (default 1.5 us:
//     a round of 10,000 groups costs ~15 ms of reclaim work).
//   churn thread: every `--churn-us` (default 1000 us = one destruction per
//     ms) picks a random leaf, remove()s it, drops the handle and creates a
//     new leaf under the same parent (appended last), so N stays constant.
//     remove() runs the library's targeted invalidation and counts a death
//     for the old scheme; the `policy` argument alone selects the scheme.
//
// Measures (per phase):
//   full rounds/s   coverage rounds, independent of the iterator: a round is
//                   complete when every group alive for the whole round (born
//                   before it started, not destroyed before it ended) has been
//                   visited since it started; then the next one starts.
//   shared rounds   the iterator's own rounds (generations): started = the
//                   generations the reclaimers walked in; completed = ended
//                   by the walk falling off the subtree (reclaim_iter ->
//                   nullptr); one is always in progress when the phase stops.
//                   premature = completed rounds that missed a group alive
//                   throughout. A visit belongs to the generations the root
//                   shows right before and right after the reclaim_iter call
//                   that handed the group out; it may be recorded after its
//                   round ended (the reclaimer was preempted or waited for the
//                   tracker's lock), so misses stay pending until the phase
//                   end. With 1 reclaimer this check is exact and a miss is a
//                   library bug (the run fails). With 2, a round that misses
//                   only the root is the shared cursor's known boundary fuzz
//                   (see Tracker::finish): counted apart, not premature.
//   gaps            per group: the longest interval without a visit, counting
//                   the open intervals from max(phase start, creation) to the
//                   first visit and from the last visit to min(phase end,
//                   removal); a group never visited thus has gap = its
//                   lifetime in the phase (= the phase length if it lived
//                   through it). max gap = max over groups; median gap =
//                   median over groups of that per-group longest gap.
//   starved         groups alive for the whole phase and never visited.
//
// After benchmark::RunSpecifiedBenchmarks(), from the results the phases
// collected: SUMMARY, DETAIL, RATIOS (targeted/old full rounds/s, both from
// this run) and ACCEPTANCE (with the largest N: targeted completes every
// round it starts, old completes few or none). Verdicts are informational;
// the exit code is nonzero only for correctness failures: a premature round
// with 1 reclaimer, a group API error (the failing phase reports the error,
// the later ones are skipped, no tables), or groups not all freed after the
// run; 2 for a bad flag.
//
// Flags (parsed and removed before benchmark::Initialize; the rest goes to
// Google Benchmark):
//   --seconds S      phase length (default 5)
//   --work-us U      simulated reclaim work per visited group (default 1.5)
//   --churn-us P     one destruction every P us (default 1000)
//   --sizes a,b      N values (default 1000,10000; multiples of 100)
//   --threads a,b    reclaimer thread counts (default 1,2)
//   --seed X         churn RNG seed
//   --smoke          sizes 200,2000, 0.2 s per phase (and, as every bench
//                    program, --benchmark_min_time=0.01): what ctest runs
//                    (bench.reclaim_iter_smoke, ~2 s); still prints the tables
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "memcg/group.hpp"
#include "reclaim/reclaim_iter.hpp"
#include "testing_stats.hpp"

namespace {

using memcg::detail::GroupImpl;
using memcg::detail::InvalidationPolicy;
using memcg::detail::ReclaimCookie;
using Clock = std::chrono::steady_clock;

constexpr int kParents = 100;

std::int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Names built with snprintf (GCC 12 warns falsely, -Wrestrict, on
// "literal" + std::string).
std::string numbered(const char* prefix, std::uint64_t n) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%" PRIu64, prefix, n);
  return buf;
}

const char* scheme_name(InvalidationPolicy p) {
  return p == InvalidationPolicy::kTargeted ? "targeted" : "old";
}

struct Options {
  double seconds = 5.0;
  double work_us = 1.5;
  double churn_us = 1000.0;
  std::vector<int> sizes{1000, 10000};
  std::vector<int> threads{1, 2};
  std::uint64_t seed = 0x5eed004;
  bool smoke = false;
};

// Simulated reclaim work: spin on the clock (a preempted spin still ends on
// time, so a noisy machine does not stretch the per-group cost).
void spin_for(std::int64_t ns) {
  const std::int64_t end = now_ns() + ns;
  while (now_ns() < end) {
  }
}

// ---------------------------------------------------------------------------
// Tracker: every group of the phase's tree, keyed by id. Ids are recycled only
// after a group is freed, and a visited group is referenced (so not freed), so
// slot[g->id] names g if it names anyone; the stored pointer tells a group the
// churn thread has not registered yet (created a moment ago: its visit is not
// counted) from the registered one. The churn thread unregisters a leaf before
// calling remove(), so a visit of a dying group is not counted either. One
// mutex for all of it: a visit costs ~1.5 us of work, the lock ~50 ns.

struct Slot {
  GroupImpl* g = nullptr;
  bool alive = false;
  bool whole_phase = false;      // registered before the phase started
  std::uint64_t born_cov = 0;    // coverage epoch at registration
  std::uint64_t visited_cov = 0; // last coverage epoch it was visited in
  std::uint64_t born_gen = 0;    // shared-round epoch at registration
  std::uint64_t visited_gen = 0; // last shared-round epoch it was visited in
  std::int64_t since_ns = 0;     // start of gap accounting
  std::int64_t last_ns = -1;     // last visit
  std::int64_t max_gap_ns = 0;
  std::uint64_t visits = 0;
  std::uint64_t serial = 0;      // unique per registration
};

struct PhaseResult {
  int n = 0;
  int threads = 0;
  InvalidationPolicy policy = InvalidationPolicy::kTargeted;
  double seconds = 0;
  std::uint64_t full_rounds = 0;        // coverage rounds
  std::uint64_t shared_started = 0;     // generations walked in
  std::uint64_t shared_completed = 0;   // generations ended by the walk
  std::uint64_t premature = 0;          // completed but missed a group (root-only misses excluded)
  std::uint64_t premature_missing = 0;  // groups those missed, summed
  std::uint64_t premature_max = 0;      // most groups one of them missed
  std::uint64_t root_only = 0;          // completed rounds whose only miss is the reclaim root
  std::uint64_t root_mid_loop = 0;      // root handed out after a loop's first group (restart / straggler)
  std::uint64_t late_visits = 0;        // misses cleared by a visit recorded after its round ended
  double reclaimer_cpus = 0;            // reclaimer threads' CPU time / phase length
  double longest_shared_ms = 0;         // longest shared round, the one open at the end included
  double open_round_ms = 0;             // age of the shared round open at the phase end
  std::uint64_t loops_started = 0;      // per-reclaimer cookie loops
  std::uint64_t loops_completed = 0;    // ... ended by reclaim_iter -> nullptr
  std::uint64_t lib_rounds = 0;         // reclaim_rounds_completed() delta
  std::uint64_t visits = 0;             // counted visits
  std::uint64_t uncounted_visits = 0;   // dying or not yet registered
  std::uint64_t destructions = 0;
  std::uint64_t groups_seen = 0;        // groups that lived in the phase
  std::uint64_t starved = 0;            // alive all phase, never visited
  std::uint64_t whole_phase_groups = 0;
  double max_gap_ms = 0;
  double median_gap_ms = 0;
  double p90_gap_ms = 0;
  double median_round_ms = 0;           // coverage round duration
};

class Tracker {
 public:
  void add(GroupImpl* g) {
    std::lock_guard<std::mutex> l(mu_);
    if (g->id >= slots_.size()) slots_.resize(std::max<std::size_t>(g->id + 1, slots_.size() * 2));
    Slot& s = slots_[g->id];
    if (s.alive) {
      std::fprintf(stderr, "reclaim_iter_bench: id %u registered twice\n", g->id);
      std::abort();
    }
    s = Slot{};
    s.g = g;
    s.alive = true;
    s.whole_phase = !started_;
    s.born_cov = cov_epoch_;
    s.born_gen = gen_epoch_;
    s.since_ns = started_ ? now_ns() : 0;
    s.serial = ++serials_;
    if (!root_) root_ = g;
    ++alive_;
  }

  void remove(GroupImpl* g) {
    std::lock_guard<std::mutex> l(mu_);
    Slot& s = slots_.at(g->id);
    if (!s.alive || s.g != g) {
      std::fprintf(stderr, "reclaim_iter_bench: removing an unregistered group (id %u)\n", g->id);
      std::abort();
    }
    const std::int64_t t = now_ns();
    close_gaps(s, t);
    s.alive = false;
    s.whole_phase = false;
    --alive_;
    if (s.born_cov < cov_epoch_) {  // it was required by the coverage round
      --cov_need_;
      if (s.visited_cov == cov_epoch_) --cov_covered_;
      maybe_complete_cov(t);
    }
    if (s.born_gen < gen_epoch_) {
      --gen_need_;
      if (s.visited_gen == gen_epoch_) --gen_covered_;
    }
  }

  void start(std::uint32_t generation) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    phase_start_ = t;
    started_ = true;
    for (Slot& s : slots_)
      if (s.alive) s.since_ns = t;
    open_cov(t);
    open_gen(generation, t);
  }

  // g was handed out by reclaim_iter in generation lo..hi: the root's
  // generation read right before and right after the call.
  void visit(GroupImpl* g, std::uint32_t lo, std::uint32_t hi) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    // A visit in a newer generation: the round before it ended (its ender
    // may not have reported it yet).
    while (static_cast<std::int32_t>(hi - open_gen_) > 0) close_gen();
    Slot* s = g->id < slots_.size() ? &slots_[g->id] : nullptr;
    if (s && s->g == g && !pending_.empty()) clear_pending(s->serial, lo, hi);
    if (!s || !s->alive || s->g != g) {
      ++uncounted_;
      return;
    }
    ++visits_;
    ++s->visits;
    s->max_gap_ns = std::max(s->max_gap_ns, t - (s->last_ns >= 0 ? s->last_ns : s->since_ns));
    s->last_ns = t;
    if (s->born_cov < cov_epoch_ && s->visited_cov != cov_epoch_) {
      s->visited_cov = cov_epoch_;
      ++cov_covered_;
      maybe_complete_cov(t);
    }
    if (hi == open_gen_ && s->born_gen < gen_epoch_ && s->visited_gen != gen_epoch_) {
      s->visited_gen = gen_epoch_;
      ++gen_covered_;
    }
  }

  // A reclaimer's loop ended (reclaim_iter returned nullptr) in generation gen.
  void round_end(std::uint32_t gen) {
    std::lock_guard<std::mutex> l(mu_);
    if (gen == open_gen_) close_gen();
  }

  void finish(PhaseResult* r) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    for (Slot& s : slots_) {
      if (!s.alive) continue;
      close_gaps(s, t);
      if (!s.whole_phase) continue;
      ++r->whole_phase_groups;
      if (s.visits == 0) ++r->starved;
    }
    r->seconds = static_cast<double>(t - phase_start_) / 1e9;
    r->full_rounds = cov_rounds_;
    r->shared_started = gen_started_;
    r->shared_completed = gen_completed_;
    std::uint64_t root_serial = 0;
    for (const Slot& sl : slots_)
      if (sl.g == root_) root_serial = sl.serial;
    for (const Pending& pd : pending_) {
      if (pd.missed.empty()) continue;
      // A 2-reclaimer artefact misses exactly the root: B, still in the old
      // generation, reads the reset cursor between A's cursor reset and A's
      // generation bump (two steps in reclaim_iter, as in the kernel), takes
      // the root under the old generation, and the new round starts after
      // it. The root was visited, by a straggler of the round before.
      if (pd.missed.size() == 1 && pd.missed[0] == root_serial) {
        ++r->root_only;
        continue;
      }
      ++r->premature;
      r->premature_missing += pd.missed.size();
      r->premature_max = std::max<std::uint64_t>(r->premature_max, pd.missed.size());
    }
    r->late_visits = late_cleared_;
    r->longest_shared_ms = static_cast<double>(std::max(gen_longest_ns_, t - gen_open_ns_)) / 1e6;
    r->open_round_ms = static_cast<double>(t - gen_open_ns_) / 1e6;
    r->visits = visits_;
    r->uncounted_visits = uncounted_;
    r->groups_seen = gaps_.size();
    if (!gaps_.empty()) {
      std::vector<std::int64_t> v = gaps_;
      std::sort(v.begin(), v.end());
      r->max_gap_ms = static_cast<double>(v.back()) / 1e6;
      r->median_gap_ms = static_cast<double>(v[v.size() / 2]) / 1e6;
      r->p90_gap_ms = static_cast<double>(v[std::min(v.size() - 1, v.size() * 9 / 10)]) / 1e6;
    }
    if (!round_ns_.empty()) {
      std::vector<std::int64_t> v = round_ns_;
      std::sort(v.begin(), v.end());
      r->median_round_ms = static_cast<double>(v[v.size() / 2]) / 1e6;
    }
  }

 private:
  // Gap accounting ends for s at t (removal or phase end); starved groups
  // (never visited) get their whole lifetime in the phase.
  void close_gaps(Slot& s, std::int64_t t) {
    if (!started_) return;
    s.max_gap_ns = std::max(s.max_gap_ns, t - (s.last_ns >= 0 ? s.last_ns : s.since_ns));
    gaps_.push_back(s.max_gap_ns);
  }

  void clear_pending(std::uint64_t serial, std::uint32_t lo, std::uint32_t hi) {
    for (Pending& pd : pending_) {
      if (static_cast<std::int32_t>(pd.gen - lo) < 0 || static_cast<std::int32_t>(hi - pd.gen) < 0) continue;
      auto it = std::find(pd.missed.begin(), pd.missed.end(), serial);
      if (it == pd.missed.end()) continue;
      pd.missed.erase(it);
      ++late_cleared_;
    }
  }

  void open_cov(std::int64_t t) {
    ++cov_epoch_;
    cov_need_ = alive_;
    cov_covered_ = 0;
    cov_start_ = t;
  }
  void maybe_complete_cov(std::int64_t t) {
    if (cov_covered_ < cov_need_) return;
    ++cov_rounds_;
    round_ns_.push_back(t - cov_start_);
    open_cov(t);
  }

  void open_gen(std::uint32_t gen, std::int64_t t) {
    open_gen_ = gen;
    gen_open_ns_ = t;
    ++gen_epoch_;
    ++gen_started_;
    gen_need_ = alive_;
    gen_covered_ = 0;
  }
  void close_gen() {
    const std::int64_t t = now_ns();
    ++gen_completed_;
    gen_longest_ns_ = std::max(gen_longest_ns_, t - gen_open_ns_);
    if (gen_covered_ < gen_need_) {
      // Not final yet: a reclaimer may have been handed a group in this
      // round and not recorded the visit yet (preempted, or waiting for this
      // mutex, between reclaim_iter and visit()). Its late visit clears the
      // group from the list; whatever is left at the phase end was skipped.
      Pending pd;
      pd.gen = open_gen_;
      for (const Slot& sl : slots_)
        if (sl.alive && sl.born_gen < gen_epoch_ && sl.visited_gen != gen_epoch_) pd.missed.push_back(sl.serial);
      pending_.push_back(std::move(pd));
    }
    open_gen(open_gen_ + 1, t);
  }

  std::mutex mu_;
  std::vector<Slot> slots_;
  bool started_ = false;
  std::int64_t phase_start_ = 0;
  std::uint64_t alive_ = 0;
  std::uint64_t visits_ = 0, uncounted_ = 0;
  std::vector<std::int64_t> gaps_;  // per group: longest gap (closed at removal / phase end)
  // coverage rounds
  std::uint64_t cov_epoch_ = 0, cov_need_ = 0, cov_covered_ = 0, cov_rounds_ = 0;
  std::int64_t cov_start_ = 0;
  std::vector<std::int64_t> round_ns_;
  // shared rounds (the iterator's generations)
  std::uint32_t open_gen_ = 0;
  std::int64_t gen_open_ns_ = 0, gen_longest_ns_ = 0;
  std::uint64_t gen_epoch_ = 0, gen_need_ = 0, gen_covered_ = 0;
  std::uint64_t gen_started_ = 0, gen_completed_ = 0;
  GroupImpl* root_ = nullptr;  // the first group registered: the reclaim root
  std::uint64_t serials_ = 0;
  // Completed rounds that had not seen every required group when they ended.
  struct Pending {
    std::uint32_t gen = 0;
    std::vector<std::uint64_t> missed;  // slot serials
  };
  std::vector<Pending> pending_;
  std::uint64_t late_cleared_ = 0;  // groups cleared from a pending list by a late visit
};

// ---------------------------------------------------------------------------
// One phase.

struct Leaf {
  memcg::Group group;
  int parent = 0;
};

// index: the phase's place in the registration order (seeds its churn RNG);
// run: the how-many-th phase this process runs (names its root, so a repeated
// phase never meets its predecessor's name). state: the benchmark's timer is
// paused while the tree is built and torn down, so the measured region is the
// phase itself.
PhaseResult run_phase(int index, std::uint64_t run, int n, int threads, InvalidationPolicy policy,
                      const Options& opt, benchmark::State& state) {
  state.PauseTiming();
  PhaseResult r;
  r.n = n;
  r.threads = threads;
  r.policy = policy;

  Tracker tracker;
  memcg::Group root = memcg::Group::root().create(numbered("bench-iter-", run));
  std::vector<memcg::Group> parents;
  std::vector<Leaf> leaves;
  parents.reserve(kParents);
  leaves.reserve(static_cast<std::size_t>(n));
  std::uint64_t serial = 0;
  tracker.add(memcg::detail::Access::impl(root));
  for (int p = 0; p < kParents; ++p) {
    char name[16];
    std::snprintf(name, sizeof name, "p%02d", p);
    parents.push_back(root.create(name));
    tracker.add(memcg::detail::Access::impl(parents.back()));
  }
  for (int p = 0; p < kParents; ++p) {
    for (int i = 0; i < n / kParents; ++i) {
      leaves.push_back(Leaf{parents[p].create(numbered("l", serial++)), p});
      tracker.add(memcg::detail::Access::impl(leaves.back().group));
    }
  }
  GroupImpl* const rroot = memcg::detail::Access::impl(root);

  std::atomic<bool> go{false}, stop{false};
  std::atomic<std::uint64_t> loops_started{0}, loops_completed{0}, root_mid_loop{0};
  std::atomic<std::int64_t> reclaimer_cpu_ns{0};
  const auto work_ns = static_cast<std::int64_t>(opt.work_us * 1000.0);

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
      for (GroupImpl* g = memcg::detail::reclaim_iter(rroot, nullptr, &cookie, policy); g;
           lo = rroot->reclaim_generation.load(std::memory_order_acquire),
                      g = memcg::detail::reclaim_iter(rroot, g, &cookie, policy)) {
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
        tracker.remove(memcg::detail::Access::impl(l.group));
        l.group.remove();
        l.group = memcg::Group();  // drop the handle
        l.group = parents[l.parent].create(numbered("l", serial++));
        tracker.add(memcg::detail::Access::impl(l.group));
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

// ---------------------------------------------------------------------------
// Report.

std::string fmt_ratio(double a, double b, double floor_b) {
  char buf[64];
  if (b > 0)
    std::snprintf(buf, sizeof buf, "%.1fx", a / b);
  else if (a > 0)
    std::snprintf(buf, sizeof buf, "> %.0fx (old: 0)", a / floor_b);
  else
    std::snprintf(buf, sizeof buf, "n/a (both 0)");
  return buf;
}

// The phase's last run (--benchmark_repetitions runs a phase more than once).
const PhaseResult* find(const std::vector<PhaseResult>& rs, int n, int t, InvalidationPolicy p) {
  const PhaseResult* last = nullptr;
  for (const PhaseResult& r : rs)
    if (r.n == n && r.threads == t && r.policy == p) last = &r;
  return last;
}

void print_report(const std::vector<PhaseResult>& rs, const Options& opt) {
  std::printf(
      "\nSUMMARY  tree: /bench-iter-<k> -> %d parents -> N/%d leaves each (N + %d groups per round);\n"
      "         churn: 1 leaf destroyed + recreated every %.0f us; reclaim work %.2f us/group; phase %.2f s\n",
      kParents, kParents, kParents + 1, opt.churn_us, opt.work_us, opt.seconds);
  std::printf("%-6s %3s %-8s | %10s | %8s %9s %9s %10s | %8s %8s %8s %11s | %7s %9s\n", "N", "thr", "scheme",
              "full rnd/s", "started", "completed", "premature", "longest", "max gap", "median", "p90", "starved",
              "destr/s", "visits/s");
  std::printf("%-6s %3s %-8s | %10s | %8s %9s %9s %10s | %8s %8s %8s %11s | %7s %9s\n", "", "", "", "(coverage)",
              "<------", "shared rounds", "------>", "round ms", "ms", "gap ms", "gap ms", "groups", "", "");
  for (const PhaseResult& r : rs) {
    const double s = r.seconds > 0 ? r.seconds : 1;
    char starved[32];
    std::snprintf(starved, sizeof starved, "%" PRIu64 "/%" PRIu64, r.starved, r.whole_phase_groups);
    std::printf("%-6d %3d %-8s | %10.1f | %8" PRIu64 " %9" PRIu64 " %9" PRIu64 " %10.1f | %8.1f %8.1f %8.1f %11s"
                " | %7.0f %9.0f\n",
                r.n, r.threads, scheme_name(r.policy), static_cast<double>(r.full_rounds) / s, r.shared_started,
                r.shared_completed, r.premature, r.longest_shared_ms, r.max_gap_ms, r.median_gap_ms, r.p90_gap_ms,
                starved, static_cast<double>(r.destructions) / s, static_cast<double>(r.visits) / s);
  }
  std::printf("  started = the iterator's rounds (generations) walked in, the one open at the phase end included;\n"
              "  completed = ended by the walk falling off the subtree; premature = completed without visiting every\n"
              "  group alive throughout (root-only misses: see DETAIL); longest round = longest shared round, the open one's age included;\n"
              "  starved = alive for the whole phase and never visited / alive for the whole phase\n");

  std::printf("\nDETAIL   reclaimer loops (cookie loops started / ended by reclaim_iter -> nullptr), library round\n"
              "         counter delta, age of the shared round open at the end, median coverage round, visits not\n"
              "         counted (group dying or not yet registered), completed rounds that missed only the root (a\n"
              "         2-reclaimer straggler took it under the old generation: not a skip, not premature), groups\n"
              "         missed by premature rounds (sum, max in one round), groups that lived in the phase, root\n"
              "         handed out after a loop's first group (old: restarts; targeted: straggler took a reset cursor),\n"
              "         late = visits recorded after their round had ended (they count for it; 2 reclaimers),\n"
              "         CPUs = the reclaimer threads' CPU time / phase length (2 reclaimers on a busy machine: < 2)\n");
  std::printf("%-6s %3s %-8s | %8s %9s %10s %9s %10s | %10s %9s %7s %7s %8s %9s %5s %5s\n", "N", "thr", "scheme", "loops",
              "loops end", "lib rounds", "open ms", "cov rnd ms", "uncounted", "root-only", "missed", "max", "groups", "root mid", "late", "CPUs");
  for (const PhaseResult& r : rs)
    std::printf("%-6d %3d %-8s | %8" PRIu64 " %9" PRIu64 " %10" PRIu64 " %9.1f %10.2f | %10" PRIu64 " %9" PRIu64
                " %7" PRIu64 " %7" PRIu64 " %8" PRIu64 " %9" PRIu64 " %5" PRIu64 " %5.2f\n",
                r.n, r.threads, scheme_name(r.policy), r.loops_started, r.loops_completed, r.lib_rounds,
                r.open_round_ms, r.median_round_ms, r.uncounted_visits, r.root_only, r.premature_missing,
                r.premature_max, r.groups_seen, r.root_mid_loop, r.late_visits, r.reclaimer_cpus);

  std::printf("\nRATIOS   targeted / old, full rounds per second\n");
  for (int n : opt.sizes)
    for (int t : opt.threads) {
      const PhaseResult* a = find(rs, n, t, InvalidationPolicy::kTargeted);
      const PhaseResult* b = find(rs, n, t, InvalidationPolicy::kRestartOnAnyDeath);
      if (!a || !b) continue;
      const double ra = static_cast<double>(a->full_rounds) / a->seconds;
      const double rb = static_cast<double>(b->full_rounds) / b->seconds;
      std::printf("  N=%-6d %d thr: targeted %8.1f/s  old %8.1f/s  ratio %s;  max gap %.1f ms vs %.1f ms\n", n, t,
                  ra, rb, fmt_ratio(ra, rb, 1.0 / b->seconds).c_str(), a->max_gap_ms, b->max_gap_ms);
    }

  // Acceptance (seed 004): with the largest N at one destruction per ms, the
  // targeted scheme completes every round it starts (all but the one the
  // phase end cuts, none premature); the old one completes few or none
  // (here: at most 10% of the targeted scheme's full rounds).
  const int big = *std::max_element(opt.sizes.begin(), opt.sizes.end());
  std::printf("\nACCEPTANCE (N=%d, one destruction every %.0f us; informational)\n", big, opt.churn_us);
  for (int t : opt.threads) {
    const PhaseResult* a = find(rs, big, t, InvalidationPolicy::kTargeted);
    const PhaseResult* b = find(rs, big, t, InvalidationPolicy::kRestartOnAnyDeath);
    if (!a || !b) {
      std::printf("  %d thr: not run (--benchmark_filter left out a side)\n", t);
      continue;
    }
    // Every round it starts completes: none premature, and no round (the
    // one open at the end included) lasted more than a quarter of the phase.
    const bool a_ok = a->premature == 0 && a->shared_completed > 0 && a->longest_shared_ms < a->seconds * 250.0;
    const bool b_ok = b->full_rounds * 10 <= a->full_rounds && b->shared_completed * 10 <= a->shared_completed;
    std::printf("  %d thr: targeted completed %" PRIu64 " of %" PRIu64 " shared rounds started (the last one cut by the"
                " phase end), %" PRIu64 " premature, longest round %.1f ms, %" PRIu64 " full rounds: %s\n",
                t, a->shared_completed, a->shared_started, a->premature, a->longest_shared_ms, a->full_rounds,
                a_ok ? "PASS" : "MISS");
    std::printf("  %d thr: old      completed %" PRIu64 " of %" PRIu64 " shared rounds started, longest round %.1f ms,"
                " %" PRIu64 " full rounds, %" PRIu64 "/%" PRIu64 " groups never visited: %s\n",
                t, b->shared_completed, b->shared_started, b->longest_shared_ms, b->full_rounds, b->starved,
                b->whole_phase_groups, b_ok ? "PASS (few or none)" : "MISS");
  }
}

bool parse_list(const char* s, std::vector<int>* out) {
  out->clear();
  while (*s) {
    char* end;
    long v = std::strtol(s, &end, 10);
    if (end == s || v <= 0) return false;
    out->push_back(static_cast<int>(v));
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return false;
  }
  return !out->empty();
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--smoke] [--seconds S] [--work-us U] [--churn-us P] [--sizes a,b] [--threads a,b]"
               " [--seed X] [--benchmark_...]\n",
               argv0);
  return 2;
}

// ---------------------------------------------------------------------------
// Benchmarks: one per phase, one iteration each.

Options g_opt;
std::vector<PhaseResult> g_results;  // every phase run, in run order
std::uint64_t g_runs = 0;            // phases started (names the trees)
std::string g_api_error;             // the first group API error: later phases skip

void BM_phase(benchmark::State& state, int index, int n, int threads, InvalidationPolicy policy) {
  if (!g_api_error.empty()) {
    state.SkipWithError("skipped: an earlier phase failed with a group API error");
    return;
  }
  PhaseResult r;
  bool ran = false;
  for (auto _ : state) {
    try {
      r = run_phase(index, g_runs++, n, threads, policy, g_opt, state);
      ran = true;
    } catch (const std::exception& e) {
      g_api_error = e.what();
      state.SkipWithError(("group API error: " + g_api_error).c_str());
      break;
    }
  }
  if (!ran) return;
  memcg::barrier();  // the phase's groups are freed before the next one

  const double s = r.seconds > 0 ? r.seconds : 1;
  auto& c = state.counters;
  c["full_rounds_per_s"] = static_cast<double>(r.full_rounds) / s;
  c["shared_rounds_started"] = static_cast<double>(r.shared_started);
  c["shared_rounds_completed"] = static_cast<double>(r.shared_completed);
  c["premature"] = static_cast<double>(r.premature);
  c["root_only"] = static_cast<double>(r.root_only);
  c["longest_round_ms"] = r.longest_shared_ms;
  c["max_gap_ms"] = r.max_gap_ms;
  c["median_gap_ms"] = r.median_gap_ms;
  c["p90_gap_ms"] = r.p90_gap_ms;
  c["starved"] = static_cast<double>(r.starved);
  c["whole_phase_groups"] = static_cast<double>(r.whole_phase_groups);
  c["destructions_per_s"] = static_cast<double>(r.destructions) / s;
  c["visits_per_s"] = static_cast<double>(r.visits) / s;
  c["reclaimer_cpus"] = r.reclaimer_cpus;
  g_results.push_back(r);
}

}  // namespace

int main(int argc, char** argv) {
  // Own flags first, removed from argv; the rest goes to Google Benchmark.
  Options& opt = g_opt;
  bool sizes_given = false, seconds_given = false;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::size_t len = std::strlen(name);
      if (std::strncmp(a, name, len) != 0) return nullptr;
      if (a[len] == '=') return a + len + 1;
      if (a[len] == '\0' && i + 1 < argc) return argv[++i];
      return nullptr;
    };
    const char* v;
    if (std::strcmp(a, "--smoke") == 0) {
      opt.smoke = true;
    } else if ((v = value("--seconds"))) {
      opt.seconds = std::atof(v);
      seconds_given = true;
      if (opt.seconds <= 0) return usage(argv[0]);
    } else if ((v = value("--work-us"))) {
      opt.work_us = std::atof(v);
      if (opt.work_us < 0) return usage(argv[0]);
    } else if ((v = value("--churn-us"))) {
      opt.churn_us = std::atof(v);
      if (opt.churn_us <= 0) return usage(argv[0]);
    } else if ((v = value("--sizes"))) {
      if (!parse_list(v, &opt.sizes)) return usage(argv[0]);
      sizes_given = true;
    } else if ((v = value("--threads"))) {
      if (!parse_list(v, &opt.threads)) return usage(argv[0]);
    } else if ((v = value("--seed"))) {
      opt.seed = std::strtoull(v, nullptr, 0);
    } else {
      args.push_back(argv[i]);
    }
  }
  // No warm-up, whatever the flags or BENCHMARK_MIN_WARMUP_TIME say (the
  // last flag wins): a warm-up would run whole extra phases. --smoke: as every
  // bench program, --benchmark_min_time=0.01 (moot here: one iteration per
  // phase); the phases themselves get short.
  static char no_warmup_flag[] = "--benchmark_min_warmup_time=0";
  static char smoke_min_time_flag[] = "--benchmark_min_time=0.01";
  args.push_back(no_warmup_flag);
  if (opt.smoke) {
    args.push_back(smoke_min_time_flag);
    if (!sizes_given) opt.sizes = {200, 2000};
    if (!seconds_given) opt.seconds = 0.2;
  }
  for (int& n : opt.sizes) n = std::max(kParents, n / kParents * kParents);
  int nargs = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return usage(argv[0]);

  // Registration, in the old phase order: N, then reclaimer threads, then
  // targeted before old.
  int index = 0;
  for (int n : opt.sizes)
    for (int t : opt.threads)
      for (InvalidationPolicy p : {InvalidationPolicy::kTargeted, InvalidationPolicy::kRestartOnAnyDeath}) {
        const std::string name = "reclaim_iter/N:" + std::to_string(n) + "/threads:" + std::to_string(t) + "/" +
                                 scheme_name(p);
        benchmark::RegisterBenchmark(name.c_str(), BM_phase, index++, n, t, p)
            ->Iterations(1)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }

  const std::uint64_t groups_before = memcg::detail::runtime_stats().groups_allocated;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::fflush(stdout);

  if (!g_api_error.empty()) {
    std::printf("\nFAIL: group API error: %s\n", g_api_error.c_str());
    return 1;
  }
  const std::vector<PhaseResult>& results = g_results;
  if (!results.empty()) print_report(results, opt);

  bool ok = true;
  for (const PhaseResult& r : results)
    if (r.threads == 1 && r.premature) {
      std::printf("FAIL: N=%d, 1 reclaimer, %s: %" PRIu64 " shared round(s) ended without visiting every group"
                  " alive throughout (%" PRIu64 " missed): the iterator skipped live groups\n",
                  r.n, scheme_name(r.policy), r.premature, r.premature_missing);
      ok = false;
    }
  memcg::barrier();
  const std::uint64_t groups_after = memcg::detail::runtime_stats().groups_allocated;
  const bool freed = groups_after == groups_before;
  std::printf("\ngroups: %" PRIu64 " allocated before, %" PRIu64 " after teardown: %s\n", groups_before,
              groups_after, freed ? "all freed: OK" : "NOT ALL FREED: FAIL");
  if (opt.smoke) std::printf("(smoke mode: %.2f s per phase; numbers are rough)\n", opt.seconds);
  return ok && freed ? 0 : 1;
}
