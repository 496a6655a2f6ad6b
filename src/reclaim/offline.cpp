// The reclaim layer's part of Group::remove() and of the release.
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/runtime.hpp"
#include "reclaim/list_lru_internal.hpp"
#include "reclaim/reclaim_iter.hpp"

namespace memcg::detail {

void offline_reclaim(GroupImpl* g) noexcept {
  // The kernel's mem_cgroup_css_offline: a removed group claims no
  // protection. A dying group pinned by its charges would otherwise keep its
  // share of its parent's effective min/low, taken from its live siblings.
  g->counter.set_min(0);
  g->counter.set_low(0);
  {
    LockGuard<RankedMutex> l(tree_mutex());
    reclaim_iter_invalidate_locked(g);  // targeted invalidation: only cursors at g move
  }
  reparent_list_lrus(g);
}

void release_reclaim_locked(GroupImpl* g) noexcept {
  MEMCG_ASSERT_HELD(tree_mutex());
  reclaim_iter_invalidate_locked(g);
}

}  // namespace memcg::detail
