// Executed invariants of PageCounter (the equations at the top of
// page_counter.hpp). The counter layer does not know the tree: the caller
// (core/tree_check.cpp) walks it and hands each level its children's sums
// and the bytes charged at that level directly.
#pragma once

#include <cstdint>

#include "counter/page_counter.hpp"
#include "platform/invariant.hpp"

namespace memcg::detail {

/// Sums over the children of one level (read at quiescence).
struct CounterSums {
  std::uint64_t usage = 0;
  std::uint64_t min_usage = 0;
  std::uint64_t low_usage = 0;
  void add(const PageCounter& child) noexcept {
    usage += child.usage();
    min_usage += child.min_usage();
    low_usage += child.low_usage();
  }
};

/// Bounds that hold at any time, whatever runs concurrently.
void check_counter_live(const PageCounter& c, const char* name, std::uint32_t id) noexcept;

/// Quiescent (no charge, uncharge, limit write or reset_peak in flight):
///   usage == direct + children.usage            ("usage == bytes charged at
///                                               this level directly + Σ children.usage")
///   watermark >= usage                          (memory.peak >= memory.current)
///   children_min_usage >= children.min_usage    (and low: see the .cpp)
/// `name`/`id` name the level in the report.
void check_counter_quiescent(const PageCounter& c, const CounterSums& children, std::uint64_t direct,
                             const char* name, std::uint32_t id) noexcept;

}  // namespace memcg::detail
