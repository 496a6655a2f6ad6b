#include "slab/slab_reclaim.hpp"

#include <vector>

#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "platform/rcu.hpp"
#include "slab/slab_internal.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg::detail {
namespace {

constexpr int kBatch = 32;

bool in_subtree(ChildCache* c, void* root) {
  GroupImpl* g = c->group.load(std::memory_order_relaxed);
  return g && g->is_descendant_of(static_cast<GroupImpl*>(root));
}
bool of_group(ChildCache* c, void* g) { return c->group.load(std::memory_order_relaxed) == g; }

// Shrinks every cache of g, taking references under the slab mutex and
// shrinking without it (reclaimers must not serialise on the global mutex).
// A group that inherited its removed children's caches can hold many; all
// are visited (the array is sized before the lock is taken: nothing
// allocates under the slab mutex; caches added meanwhile wait for the next
// reclaim).
void shrink_caches_of(GroupImpl* g) {
  std::vector<ChildCache*> batch;
  batch.reserve(g->nr_slab_caches.load(std::memory_order_relaxed) + kBatch);
  {
    LockGuard<RankedMutex> l(slab_mutex());
    for (ListNode* x = g->slab_caches.next; x != &g->slab_caches && batch.size() < batch.capacity(); x = x->next) {
      auto* c = static_cast<ChildCache*>(x->owner);
      child_get(c);
      batch.push_back(c);
    }
  }
  for (ChildCache* c : batch) {
    shrink_child(c, 0);
    maybe_queue_dead_destroy(c);
    child_put(c);
  }
}

}  // namespace

void reclaim_group_slabs(GroupImpl* g, bool own_magazines, bool all_threads) noexcept {
  if (all_threads) flush_thread_magazines(of_group, g);
  else if (own_magazines) flush_own_magazines();
  shrink_caches_of(g);
}

void reclaim_group_slabs_subtree(GroupImpl* g) noexcept {
  flush_thread_magazines(in_subtree, g);
  // Visit the subtree under RCU, holding a reference on each group we shrink.
  std::vector<GroupImpl*> groups;
  {
    rcu::ReadGuard rg;
    std::vector<GroupImpl*> stack{g};
    while (!stack.empty()) {
      GroupImpl* x = stack.back();
      stack.pop_back();
      if (x->nr_slab_caches.load(std::memory_order_relaxed) && group_tryget(x)) groups.push_back(x);
      for (GroupImpl* c = x->first_child.load(std::memory_order_acquire); c;
           c = c->next_sibling.load(std::memory_order_acquire))
        stack.push_back(c);
    }
  }
  for (GroupImpl* x : groups) {
    shrink_caches_of(x);
    group_put(x);
  }
}

}  // namespace memcg::detail
