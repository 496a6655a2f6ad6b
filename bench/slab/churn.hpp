// The group churn workload of slab_bench: create a group, allocate from a
// Cache in it, free, remove (or remove first: the reparenting path), drop the
// handle.
#pragma once

#include <cstdint>

#include "harness/capture_reporter.hpp"

namespace slab_bench {

/// Registers churn/free_then_remove, churn/remove_then_free and their iso_
/// forms (an isolated Cache).
void register_churn(long long fixed_iters);
/// The CHURN table; groups_after/child_caches_after are read after the run
/// and memcg::barrier().
void print_churn_table(const memcg_bench::CaptureReporter& rep, std::uint64_t groups_baseline,
                       std::uint64_t groups_after, std::uint64_t child_caches_after);

}  // namespace slab_bench
