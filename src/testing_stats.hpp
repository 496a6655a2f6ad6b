// Process-wide figures for tests, benchmarks, the soak harness and the
// demo's checks. Not public API: the installed headers hold only what a
// handle (a Group, a Cache, a path in the text tree) can see. These figures
// describe the whole process rather than any group, and are read only by
// programs built against the source tree (the memcg_internal target).
//
// The structs are snapshots: each field is read on its own (relaxed), so two
// fields need not be consistent with each other while other threads run.
#pragma once

#include <cstdint>

namespace memcg::detail {

/// Group lifecycle (core, charge).
struct RuntimeStats {
  std::uint64_t groups_allocated = 0;  ///< GroupImpl objects not yet freed (root included)
  std::uint64_t groups_freed = 0;      ///< freed since start
  std::uint64_t threads_with_stock = 0;
};
RuntimeStats runtime_stats() noexcept;

/// Memory of the slab layer (slab).
struct SlabRuntimeStats {
  std::uint64_t regions_mapped = 0;
  std::uint64_t slabs_in_use = 0;
  std::uint64_t slabs_free = 0;
  std::uint64_t regions_unmapped = 0;
  std::uint64_t map_failures = 0;
  std::uint64_t metadata_bytes = 0;  ///< child caches, magazines, tables
  std::uint64_t child_caches = 0;    ///< live ChildCache objects
};
SlabRuntimeStats slab_runtime_stats() noexcept;

/// The reclaim machinery (reclaim).
struct ReclaimStats {
  std::uint64_t shrinker_calls = 0;    ///< count + scan calls made
  std::uint64_t shrinker_skips = 0;    ///< skipped: too many reclaimers inside
  std::uint64_t rounds_completed = 0;  ///< full passes of shared iterators
  std::uint64_t background_runs = 0;   ///< background reclaimer wake-ups that reclaimed
  std::uint64_t throttle_us = 0;       ///< total memory.high throttling slept
};
ReclaimStats reclaim_stats() noexcept;

}  // namespace memcg::detail
