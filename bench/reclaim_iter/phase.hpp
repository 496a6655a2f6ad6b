// One phase of reclaim_iter_bench (see reclaim_iter_bench.cpp): a fresh
// tree, reclaimers walking it with one scheme while a churn thread destroys
// and recreates leaves, and what the Tracker measured.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace reclaim_iter_bench {

constexpr int kParents = 100;

// kTargeted: the library's walk as it is; kOld: the same walk through
// OldScheme (any death restarts the cursor).
enum class Scheme { kTargeted, kOld };

inline const char* scheme_name(Scheme p) { return p == Scheme::kTargeted ? "targeted" : "old"; }

struct Options {
  double seconds = 5.0;
  double work_us = 1.5;
  double churn_us = 1000.0;
  std::vector<int> sizes{1000, 10000};
  std::vector<int> threads{1, 2};
  std::uint64_t seed = 0x5eed004;
  bool smoke = false;
};


struct PhaseResult {
  int n = 0;
  int threads = 0;
  Scheme scheme = Scheme::kTargeted;
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

// index: the phase's place in the registration order (seeds its churn RNG);
// run: the how-many-th phase this process runs (names its root, so a repeated
// phase never meets its predecessor's name). state: the benchmark's timer is
// paused while the tree is built and torn down, so the measured region is the
// phase itself. Throws what the group API throws.
PhaseResult run_phase(int index, std::uint64_t run, int n, int threads, Scheme scheme, const Options& opt,
                      benchmark::State& state);

}  // namespace reclaim_iter_bench
