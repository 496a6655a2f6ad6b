// reclaim_iter_bench: the shared reclaim iterator with targeted invalidation
// against the scheme it replaced. A reclaimer walks every group of a subtree
// with the shared, resumable reclaim iterator while groups are destroyed at a
// steady rate. The old scheme (Scheme::kOld, reclaim_iter/old_scheme.hpp,
// kept only here) restarts every cursor from the root on ANY group
// destruction, so with ~1000+ groups and one destruction per millisecond the
// walk never gets past the first few hundred groups: rounds never finish and
// the rest starve. The targeted scheme (Scheme::kTargeted, the library's
// reclaim_iter) only moves cursors positioned at the dying group, so rounds
// complete.
//
// Files: reclaim_iter/phase.* (one phase: tree, reclaimers, churn),
// reclaim_iter/tracker.hpp (what a phase measures), reclaim_iter/report.*
// (the tables), reclaim_iter/old_scheme.* (the old invalidation); this file
// registers the phases and parses the flags.
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
//       for (g = step(nullptr, &cookie); g; g = step(g, &cookie)) visit(g);
//     step = reclaim_iter(root, ...) (targeted) or OldScheme::next (old).
//     visit(g) records the visit and busy-waits `--work-us` (default 1.5 us:
//     a round of 10,000 groups costs ~15 ms of reclaim work).
//   churn thread: every `--churn-us` (default 1000 us = one destruction per
//     ms) picks a random leaf, remove()s it, drops the handle and creates a
//     new leaf under the same parent (appended last), so N stays constant.
//     remove() runs the library's targeted invalidation; the churn thread
//     then counts the death for OldScheme. The walk alone differs between
//     the schemes.
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
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "harness/command_line.hpp"
#include "memcg/group.hpp"
#include "reclaim_iter/phase.hpp"
#include "reclaim_iter/report.hpp"

namespace {

using namespace reclaim_iter_bench;

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

void BM_phase(benchmark::State& state, int index, int n, int threads, Scheme scheme) {
  if (!g_api_error.empty()) {
    state.SkipWithError("skipped: an earlier phase failed with a group API error");
    return;
  }
  PhaseResult r;
  bool ran = false;
  for (auto _ : state) {
    try {
      r = run_phase(index, g_runs++, n, threads, scheme, g_opt, state);
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
  memcg_bench::CommandLine cl(argc, argv);
  while (cl.next()) {
    const char* v;
    if (cl.flag("--smoke")) {
      opt.smoke = true;
    } else if ((v = cl.value("--seconds"))) {
      opt.seconds = std::atof(v);
      seconds_given = true;
      if (opt.seconds <= 0) return usage(argv[0]);
    } else if ((v = cl.value("--work-us"))) {
      opt.work_us = std::atof(v);
      if (opt.work_us < 0) return usage(argv[0]);
    } else if ((v = cl.value("--churn-us"))) {
      opt.churn_us = std::atof(v);
      if (opt.churn_us <= 0) return usage(argv[0]);
    } else if ((v = cl.value("--sizes"))) {
      if (!parse_list(v, &opt.sizes)) return usage(argv[0]);
      sizes_given = true;
    } else if ((v = cl.value("--threads"))) {
      if (!parse_list(v, &opt.threads)) return usage(argv[0]);
    } else if ((v = cl.value("--seed"))) {
      opt.seed = std::strtoull(v, nullptr, 0);
    }
  }
  // No warm-up, whatever the flags or BENCHMARK_MIN_WARMUP_TIME say (a
  // forced flag comes last, and the last one wins): a warm-up would run whole
  // extra phases. --smoke: as every bench program, --benchmark_min_time=0.01
  // (moot here: one iteration per phase); the phases themselves get short.
  cl.add_forced(memcg_bench::kNoWarmup);
  if (opt.smoke) {
    cl.add_forced(memcg_bench::kSmokeMinTime);
    if (!sizes_given) opt.sizes = {200, 2000};
    if (!seconds_given) opt.seconds = 0.2;
  }
  for (int& n : opt.sizes) n = std::max(kParents, n / kParents * kParents);
  if (!cl.initialize()) return usage(argv[0]);

  // Registration, in the old phase order: N, then reclaimer threads, then
  // targeted before old.
  int index = 0;
  for (int n : opt.sizes)
    for (int t : opt.threads)
      for (Scheme p : {Scheme::kTargeted, Scheme::kOld}) {
        const std::string name = "reclaim_iter/N:" + std::to_string(n) + "/threads:" + std::to_string(t) + "/" +
                                 scheme_name(p);
        benchmark::RegisterBenchmark(name.c_str(), BM_phase, index++, n, t, p)
            ->Iterations(1)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }

  const std::uint64_t groups_before = memcg::runtime_stats().groups_allocated;
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
                  r.n, scheme_name(r.scheme), r.premature, r.premature_missing);
      ok = false;
    }
  memcg::barrier();
  const std::uint64_t groups_after = memcg::runtime_stats().groups_allocated;
  const bool freed = groups_after == groups_before;
  std::printf("\ngroups: %" PRIu64 " allocated before, %" PRIu64 " after teardown: %s\n", groups_before,
              groups_after, freed ? "all freed: OK" : "NOT ALL FREED: FAIL");
  if (opt.smoke) std::printf("(smoke mode: %.2f s per phase; numbers are rough)\n", opt.seconds);
  return ok && freed ? 0 : 1;
}
