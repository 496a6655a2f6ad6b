// The slab layer's fork participant for cache locks (platform/fork.hpp):
// every child cache's lock is held across fork(), so the child never finds
// a cache locked by a thread that does not exist there. The slab mutex
// (taken earlier in the same fork, kSlab < kCache) keeps the lists still.
#include "slab/cache_impl.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg::detail {
namespace {

template <class F>
void for_each_cache(SlabRuntime& rt, F&& f) MEMCG_NO_TSA {
  for (ListNode* n = rt.roots.next; n != &rt.roots; n = n->next) {
    auto* r = static_cast<RootCache*>(n->owner);
    for (ListNode* m = r->all_children.next; m != &r->all_children; m = m->next)
      f(*static_cast<ChildCache*>(m->owner));
  }
}

void lock_caches(void* rt) noexcept MEMCG_NO_TSA {
  for_each_cache(*static_cast<SlabRuntime*>(rt), [](ChildCache& c) MEMCG_NO_TSA { c.lock.lock_untracked(); });
}

void unlock_caches(void* rt) noexcept MEMCG_NO_TSA {
  for_each_cache(*static_cast<SlabRuntime*>(rt), [](ChildCache& c) MEMCG_NO_TSA { c.lock.unlock_untracked(); });
}

}  // namespace

SlabRuntime::SlabRuntime() noexcept {
  caches_fork.order = static_cast<int>(LockRank::kCache);
  caches_fork.prepare = lock_caches;
  caches_fork.parent = unlock_caches;
  caches_fork.child = unlock_caches;
  caches_fork.arg = this;
  fork::add(&caches_fork);
}

}  // namespace memcg::detail
