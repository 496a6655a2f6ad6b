// (d) Per-thread groups on a threaded program: density_threads_prog
// (bench/density/threads_prog.cpp: THREADS threads at a time, ROUNDS rounds,
// objects outliving their thread) runs as a child process three ways:
// without memcg-run (glibc; peak RSS only), under `memcg-run`, and under
// `memcg-run --per-thread`. memcg-run writes its text report to a temporary
// file; the figure compared is memory.peak of /run (with --per-thread it is
// hierarchical over the per-thread groups). Peak RSS is wait4's ru_maxrss.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "density/report.hpp"

namespace density_bench {

inline constexpr double kPerThreadTarget = 1.10;  // per-thread peak / plain peak, at most

struct ThreadsParams {
  int threads = 64;
  int rounds = 4;
  int ops = 40000;
};

struct ThreadsRun {
  std::string mode;              // "glibc", "memcg-run", "memcg-run --per-thread"
  bool ran = false;              // false: skipped (skip_reason) or failed (error)
  std::string skip_reason;
  std::uint64_t peak = 0;        // memory.peak of /run (memcg-run only)
  std::uint64_t current = 0;     // memory.current of /run at exit
  int thread_groups = 0;         // per-thread groups listed in the report
  long maxrss_kib = 0;
  double seconds = 0;
};

struct PerThreadResult {
  ThreadsParams params;
  std::vector<ThreadsRun> runs;  // glibc, memcg-run, memcg-run --per-thread
  bool error = false;            // a child failed, or its report could not be read
};

PerThreadResult run_per_thread(const ThreadsParams& p);
void print_per_thread(const PerThreadResult& r, std::vector<TargetRow>* targets);

}  // namespace density_bench
