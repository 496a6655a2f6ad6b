// CaptureReporter: Google Benchmark's console output as usual, plus every
// run kept as a Sample for the program's own tables (RATIOS, TARGETS, ...),
// looked up by (benchmark function name, threads).
//
// With --benchmark_repetitions=R a case has R samples and get() returns the
// one of median throughput; with --benchmark_report_aggregates_only only the
// "median" aggregate arrives, and get() falls back to it.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace memcg_bench {

struct Sample {
  double real_ns = 0;      // real time per iteration as reported (wall / total iterations)
  double cpu_ns = 0;       // cpu time per iteration as reported (summed over threads)
  double items_per_s = 0;  // aggregate throughput over all threads
  double ns_per_op = 0;    // per-thread latency: threads / items_per_s
  int threads = 1;
  std::map<std::string, double> counters;
};

class CaptureReporter : public benchmark::ConsoleReporter {
 public:
  /// timeline: when non-null, "<epoch seconds> <benchmark name>" is appended
  /// as each benchmark ends, to match the runs against a monitor of the
  /// machine's load.
  explicit CaptureReporter(std::FILE* timeline = nullptr);

  void ReportRuns(const std::vector<Run>& runs) override;

  /// The median-throughput sample of `name` run with `threads` threads.
  bool get(const std::string& name, int threads, Sample* out) const;
  /// Runs that ended with an error (SkipWithError).
  int errors() const { return errors_; }

 private:
  using Key = std::pair<std::string, int>;  // (function name, threads)
  std::map<Key, std::vector<Sample>> samples_;  // one per repetition
  std::map<Key, std::vector<Sample>> medians_;  // "median" aggregates
  int errors_ = 0;
  std::FILE* timeline_ = nullptr;
};

}  // namespace memcg_bench
