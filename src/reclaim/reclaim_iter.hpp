// ReclaimIterator: a pre-order walk of a subtree whose cursor is shared by
// all concurrent reclaimers of the same root (the kernel's mem_cgroup_iter
// with a reclaim cookie), so that successive partial passes continue where
// the last one stopped and every group gets its turn.
//
//   cursor  root->reclaim_position: the last group handed out (weak pointer,
//           RCU-protected; never a freed group, see below)
//   round   ends when the walk falls off the subtree: the generation is
//           bumped and the cursor reset; a reclaimer whose cookie holds an
//           older generation stops (no one loops forever)
//
// Removal (targeted invalidation): removing group D touches only cursors whose
// position is D — on D's ancestors — and moves them to D's pre-order
// predecessor, a live neighbour, so the walk continues right after D instead
// of restarting from the root. The same targeted move runs again when D is
// released (its last reference gone), which closes the window in which a
// reclaimer that visited D before the removal stores it afterwards: after
// release nobody can take a reference on D, so nobody can store it; RCU
// keeps D's memory valid for a reader that loaded the old position.
//
// The scheme this replaced (any death anywhere makes every cursor restart
// from its root) lives only in bench/reclaim_iter/, on top of this walk.
#pragma once

#include <cstdint>

#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

struct GroupImpl;
RankedMutex& tree_mutex() noexcept;  // see core/group_impl.hpp

struct ReclaimCookie {
  std::uint32_t generation = 0;
  bool started = false;
};

/// The next group of root's subtree in pre-order (root itself first), with
/// a reference (tryget_online; the root is always returned referenced), or
/// nullptr when this reclaimer's round is over. Drops prev's reference.
/// With cookie == nullptr it is a private full walk (prev -> next).
GroupImpl* reclaim_iter(GroupImpl* root, GroupImpl* prev, ReclaimCookie* cookie) noexcept;
/// Stops a walk early: drops prev's reference (the cursor stays at prev).
void reclaim_iter_break(GroupImpl* root, GroupImpl* prev) noexcept;

/// Targeted invalidation: every ancestor cursor positioned at dead moves to
/// dead's pre-order predecessor. Tree mutex held.
void reclaim_iter_invalidate_locked(GroupImpl* dead) noexcept MEMCG_REQUIRES(tree_mutex());

std::uint64_t reclaim_rounds_completed() noexcept;

}  // namespace memcg::detail
