// The alloc_free, alloc_free_empty and burst workloads of slab_bench and
// their tables (RATIOS, BURST).
#pragma once

#include <string>
#include <vector>

#include "harness/capture_reporter.hpp"

namespace slab_bench {

/// Registers alloc_free/<impl>/<size>, alloc_free_empty/... and burst/...
/// (1 and 2 threads, real time), in that order, for the available impls.
void register_alloc_free(long long fixed_iters);

struct TargetResult {
  std::string what;
  double limit = 0, value = -1;
  double cpu_value = -1;  // the same ratio on cpu time per op (2-thread cases: robust to descheduling)
};

/// Whether any case of kind ("alloc_free", ...) ran (a --benchmark_filter
/// may have left it out).
bool af_measured(const memcg_bench::CaptureReporter& rep, const char* kind);

/// One table of ns/op per size and threads for a kind ("alloc_free", ...),
/// with the cache, cache_iso and kmalloc ratios over mimalloc. With a
/// target_label, the rows of 64 and 256 B carry PASS/MISS marks against
/// kTargetShared / kTargetIsolated / kTargetKmalloc, and with targets those
/// ratios are appended there too (labelled with target_label);
/// min_concurrency takes the lowest cpu/real of the 2-thread cache,
/// cache_iso and kmalloc runs.
void print_af_table(const memcg_bench::CaptureReporter& rep, const char* kind, const char* target_label,
                    std::vector<TargetResult>* targets, double* min_concurrency);

}  // namespace slab_bench
