// The tables reclaim_iter_bench prints after the benchmarks: SUMMARY,
// DETAIL, RATIOS (targeted / old, same run) and ACCEPTANCE.
#pragma once

#include <vector>

#include "reclaim_iter/phase.hpp"

namespace reclaim_iter_bench {

/// rs: every phase run, in run order (a phase repeated by
/// --benchmark_repetitions is in it once per run; RATIOS and ACCEPTANCE use
/// its last run).
void print_report(const std::vector<PhaseResult>& rs, const Options& opt);

}  // namespace reclaim_iter_bench
