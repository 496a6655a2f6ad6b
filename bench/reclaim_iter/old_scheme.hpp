// OldScheme: the reclaim-iterator invalidation the library replaced, kept
// here only so that reclaim_iter_bench can measure the two side by side.
// Any group death anywhere makes the shared cursor restart from its root:
// with ~1000+ groups and one destruction per millisecond a walk never gets
// past the first few hundred groups, rounds never finish and the rest
// starve. The library's scheme (targeted invalidation, reclaim/reclaim_iter)
// moves only the cursors positioned at the dying group.
//
// It is a thin layer over the library's walk: before each step it resets
// the root's shared cursor (GroupImpl::reclaim_position) to "start from the
// root" if a death was counted since the last step that looked, then calls
// memcg::detail::reclaim_iter. The library's targeted invalidation still
// runs on every removal and release, so the cursor never names a freed group
// whichever scheme walks; resetting it to nullptr is always safe (the walk
// then starts at the root).
//
// Deaths are counted by whoever removes groups (the benchmark's churn
// thread calls count_death() after each Group::remove()); one OldScheme
// serves one reclaim root.
#pragma once

#include <atomic>
#include <cstdint>

#include "reclaim/reclaim_iter.hpp"

namespace reclaim_iter_bench {

class OldScheme {
 public:
  /// A group died (call after its Group::remove() returned). Any thread.
  void count_death() noexcept { deaths_.fetch_add(1, std::memory_order_acq_rel); }

  /// memcg::detail::reclaim_iter(root, prev, cookie), restarted from the
  /// root when a death was counted since the last call that checked. The
  /// check is skipped when the cookie's round is already over (the walk
  /// returns nullptr anyway). cookie must not be null.
  memcg::detail::GroupImpl* next(memcg::detail::GroupImpl* root, memcg::detail::GroupImpl* prev,
                                 memcg::detail::ReclaimCookie* cookie) noexcept;

 private:
  std::atomic<std::uint64_t> deaths_{0};
  std::atomic<std::uint64_t> seen_{0};  // deaths_ as of the last reset check
};

}  // namespace reclaim_iter_bench
