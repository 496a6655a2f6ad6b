// Reference counting, release and free of groups (deferred free):
//   last put -> worker: unlink, unpublish id, fold stats into parent ->
//   call_rcu -> RCU thread: queue free -> worker: free id, delete, put parent.
// The thread that drops the last reference only queues work.
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "core/upcalls.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/rcu.hpp"
#include "platform/worker.hpp"

namespace memcg::detail {
namespace {

void free_work(WorkItem* w) {
  MEMCG_CHECK(worker::on_worker_thread(), "a group freed outside the library worker");
  // Released, grace period over, not yet freed: tests pause here.
  MEMCG_FAULT_POINT(fault::Kind::kBeforeGroupFree);
  GroupImpl* g = static_cast<GroupImpl*>(w->arg);
  Runtime& rt = runtime();
  GroupImpl* parent = g->parent;
  MEMCG_CHECK(g->counter.usage() == 0, "freeing a group that still has charges");
  MEMCG_CHECK(g->pins.load() == 0, "freeing a group with live reservations");
  MEMCG_CHECK(g->nr_slab_caches.load(std::memory_order_relaxed) == 0, "freeing a group that still has slab caches");
  MEMCG_CHECK(g->objcgs.empty(), "freeing a group that object cgroups still charge");
  {
    LockGuard<RankedMutex> l(tree_mutex());
    rt.ids.release(g->id);
  }
  free_reclaim_state(g);
  free_charge_state(g);
  g->state.store(Lifecycle::freed, std::memory_order_release);
  g->magic.store(kGroupMagicFreed, std::memory_order_relaxed);
  delete g;
  rt.groups_allocated.fetch_sub(1, std::memory_order_relaxed);
  // The parent's put first: if it is the last, it counts the parent's
  // release. barrier() must never see this free counted without that
  // release (it would find freed == queued and return while the parent's
  // release is still to come): the release store publishes both.
  group_put(parent);
  rt.groups_freed.fetch_add(1, std::memory_order_release);
}

void free_rcu(rcu::Head* h) {
  // RCU callback context: hand over to the worker ("process context").
  GroupImpl* g = static_cast<GroupImpl*>(h->arg);
  worker::queue(&g->work, free_work);
}

void release_work(WorkItem* w) {
  MEMCG_CHECK(worker::on_worker_thread(), "a group released outside the library worker");
  GroupImpl* g = static_cast<GroupImpl*>(w->arg);
  Runtime& rt = runtime();
  {
    LockGuard<RankedMutex> l(tree_mutex());
    GroupImpl* parent = g->parent;
    GroupImpl* next = g->next_sibling.load(std::memory_order_relaxed);
    // Unlink for new readers; g->next_sibling stays valid for current ones.
    if (g->prev_sibling)
      g->prev_sibling->next_sibling.store(next, std::memory_order_release);
    else
      parent->first_child.store(next, std::memory_order_release);
    if (next)
      next->prev_sibling = g->prev_sibling;
    else
      parent->last_child = g->prev_sibling;
    rt.ids.unpublish(g->id);
    release_reclaim_locked(g);  // no reclaim cursor may name g once it can be freed
    // Nothing charges a released group any more: fold its statistics into
    // the parent now, in the same step that hides it from subtree walks.
    g->stats.add_into(parent->stats);
    for (GroupImpl* a = parent; a; a = a->parent)
      a->nr_dying_descendants.fetch_sub(1, std::memory_order_relaxed);
  }
  g->state.store(Lifecycle::released, std::memory_order_release);
  rcu::call(&g->rcu_head, free_rcu);
}

}  // namespace

bool group_tryget(GroupImpl* g) noexcept {
  std::uint64_t v = g->ref.load(std::memory_order_relaxed);
  do {
    if ((v & GroupImpl::kCountMask) == 0) return false;
  } while (!g->ref.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed));
  return true;
}

bool group_tryget_online(GroupImpl* g) noexcept {
  std::uint64_t v = g->ref.load(std::memory_order_relaxed);
  do {
    if ((v & GroupImpl::kKilled) || (v & GroupImpl::kCountMask) == 0) return false;
  } while (!g->ref.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed));
  return true;
}

void group_kill(GroupImpl* g) noexcept {
  std::uint64_t old = g->ref.fetch_or(GroupImpl::kKilled, std::memory_order_acq_rel);
  MEMCG_CHECK(!(old & GroupImpl::kKilled), "group killed twice");
}

void group_put(GroupImpl* g) noexcept {
  std::uint64_t old = g->ref.fetch_sub(1, std::memory_order_acq_rel);
  MEMCG_CHECK((old & GroupImpl::kCountMask) != 0, "group reference underflow");
  if ((old & GroupImpl::kCountMask) != 1) return;
  MEMCG_CHECK(!g->is_root(), "the root group lost its last reference");
  MEMCG_CHECK(old & GroupImpl::kKilled, "last reference dropped on a group that was never removed");
  // Counted with the queueing, under the worker's lock: a fork never leaves
  // the child with a release counted but not queued (barrier() would wait
  // for it for ever).
  worker::queue(&g->work, release_work, &runtime().releases_queued);
}

}  // namespace memcg::detail
