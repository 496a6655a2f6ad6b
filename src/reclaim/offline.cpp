// The reclaim layer's part of Group::remove() and of the release.
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/runtime.hpp"
#include "reclaim/list_lru_internal.hpp"
#include "reclaim/reclaim_iter.hpp"

namespace memcg::detail {

void offline_reclaim(GroupImpl* g) noexcept {
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
