// Effective protection, as the kernel computes it (mm/page_counter.c
// effective_protection / page_counter_calculate_protection), with the
// memory_recursiveprot extension as a process-wide option.
//
// For a reclaim rooted at R, walking top-down (parents before children):
//   - R itself and groups with no usage are skipped (R's effective values are
//     never used; a group without usage keeps its old values);
//   - a child of R gets emin = min, elow = low (its settings, unscaled);
//   - deeper groups get, for each of min/low:
//       protected = min(usage, setting)
//       if parent.children_X_usage > parent.eX:
//           eX = protected * parent.eX / parent.children_X_usage
//       else eX = protected (+ the unclaimed share with memory_recursiveprot)
#pragma once

#include <atomic>
#include <cstdint>

#include "counter/page_counter.hpp"

namespace memcg::detail {

/// memory_recursiveprot (the cgroup2 mount option), process-wide: a
/// parent's protection that its children do not claim is handed down to
/// them in proportion to their unprotected usage:
///   if parent.eX > siblings_protected && parent.usage > siblings_protected
///      && usage > protected:
///     eX += (parent.eX - siblings_protected) * (usage - protected)
///           / (parent.usage - siblings_protected)
extern std::atomic<bool> g_memory_recursiveprot;

std::uint64_t effective_protection(std::uint64_t usage, std::uint64_t parent_usage, std::uint64_t setting,
                                   std::uint64_t parent_effective, std::uint64_t siblings_protected,
                                   bool recursive) noexcept;
/// Without memory_recursiveprot.
inline std::uint64_t effective_protection(std::uint64_t usage, std::uint64_t setting, std::uint64_t parent_effective,
                                          std::uint64_t siblings_protected) noexcept {
  return effective_protection(usage, 0, setting, parent_effective, siblings_protected, false);
}

/// Computes counter's emin/elow for a reclaim rooted at `root`. The parent's
/// values must already be computed for the same root (top-down walk).
void calculate_protection(const PageCounter* root, PageCounter* counter) noexcept;

}  // namespace memcg::detail
