// Upcalls from the core into higher layers, called by Group::remove() after
// the group is marked dying and killed, without the tree mutex held, in the
// order listed (the kernel's per-subsystem css_offline). Each layer defines
// its function; the core calls them and nothing else of theirs.
#pragma once

#include <cstdint>

#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

struct GroupImpl;
RankedMutex& tree_mutex() noexcept;  // see core/group_impl.hpp

/// charge/: re-point the ObjCgroups charging g to its nearest online
/// ancestor (with their charges); drain every thread's stock of g; mark g's reservation pin dead
/// (kmem pin protocol) and drop it if no reservation is live.
void offline_charge(GroupImpl* g) noexcept;

/// charge/: at free (worker, nothing can reach g): drop g's reference on
/// its own ObjCgroup.
void free_charge_state(GroupImpl* g) noexcept;

/// slab/: unpublish g's child caches, flush every thread's magazines of
/// them, shrink them; destroy the empty ones and reparent the others (and
/// the reparented caches g inherited) to g's parent.
void offline_slab(GroupImpl* g) noexcept;

/// reclaim/: move the reclaim cursors positioned at g (targeted invalidation),
/// splice g's ListLru lists into its parent's.
void offline_reclaim(GroupImpl* g) noexcept;
/// reclaim/: at release (tree mutex held): move any cursor still at g.
void release_reclaim_locked(GroupImpl* g) noexcept MEMCG_REQUIRES(tree_mutex());

/// charge/: bytes of thread stocks held for groups in g's subtree (stat).
std::uint64_t stock_bytes_in_subtree(GroupImpl* g) noexcept;
/// charge/: what the ObjCgroups charging g have charged it beyond the slab
/// statistics they added (object-stock bytes and statistics not yet added;
/// invariant checks).
std::int64_t objcg_charge_beyond_stats(GroupImpl* g) noexcept;

}  // namespace memcg::detail
