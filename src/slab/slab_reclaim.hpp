// What reclaim can take back from the slab layer: empty slabs of a group's
// child caches, after returning cached objects (magazines, depot) to them.
#pragma once

namespace memcg::detail {

struct GroupImpl;

/// Shrinks g's own child caches (depots flushed, every empty slab released).
/// own_magazines: first return the calling thread's magazines;
/// all_threads: first run a drain round over every thread's magazines of
/// g's caches (one membarrier; for desperate reclaim).
void reclaim_group_slabs(GroupImpl* g, bool own_magazines, bool all_threads) noexcept;
/// The same for every group of g's subtree, with a drain round.
void reclaim_group_slabs_subtree(GroupImpl* g) noexcept;

}  // namespace memcg::detail
