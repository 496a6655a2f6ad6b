// Per-group child caches: creation on a group's first allocation, lookup,
// reference counting, and what group removal does to them.
#include <algorithm>
#include <cstring>

#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "platform/assert.hpp"
#include "platform/meta_arena.hpp"
#include "slab/slab_internal.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg::detail {

SlabRuntime& slab_runtime() noexcept {
  static SlabRuntime* rt = new SlabRuntime;  // leaked: outlives static destructors
  return *rt;
}

RankedMutex& slab_mutex() noexcept { return slab_runtime().slab_mutex; }

void child_get(ChildCache* c) noexcept {
  if (c->immortal) return;
  c->refs.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// Not analysed: c's last reference is gone, nothing else can take its lock.
bool unshared_is_empty(const ChildCache* c) MEMCG_NO_TSA { return c->nr_slabs == 0 && c->inuse == 0; }
}  // namespace

void child_put(ChildCache* c) noexcept {
  if (c->immortal) return;
  const std::int64_t old = c->refs.fetch_sub(1, std::memory_order_acq_rel);
  MEMCG_CHECK(old > 0, "child cache reference underflow");
  if (old != 1) return;
  // Nothing reaches c any more: unpublished, flushed from every thread
  // table, no slab, no holder.
  MEMCG_CHECK(unshared_is_empty(c), "child cache freed with slabs");
  if (GroupImpl* g = c->group.load(std::memory_order_relaxed)) group_put(g);
  slab_runtime().child_caches.fetch_sub(1, std::memory_order_relaxed);
  meta::destroy(c);
}

namespace {

// Makes root's array hold index id (slab mutex held). Readers never block:
// the new array is published whole; old arrays are kept until the root dies.
bool ensure_capacity_locked(RootCache* root, std::uint32_t id) MEMCG_REQUIRES(slab_mutex()) {
  MEMCG_ASSERT_HELD(slab_mutex());
  ChildArray* cur = root->children.load(std::memory_order_relaxed);
  if (cur && id < cur->capacity) return true;
  std::uint32_t cap = std::max<std::uint32_t>(64, cur ? cur->capacity * 2 : 0);
  while (cap <= id) cap *= 2;
  auto* arr = static_cast<ChildArray*>(meta::alloc(ChildArray::bytes_for(cap)));
  if (!arr) return false;
  arr->capacity = cap;  // slots are zeroed by meta::alloc
  if (cur) {
    for (std::uint32_t i = 0; i < cur->capacity; ++i)
      arr->slot[i].store(cur->slot[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    arr->retired_next = cur;
  }
  root->children.store(arr, std::memory_order_release);
  return true;
}

ChildCache* create_locked(RootCache* root, GroupImpl* g) MEMCG_REQUIRES(slab_mutex()) {
  MEMCG_ASSERT_HELD(slab_mutex());
  if (!ensure_capacity_locked(root, g->id)) return nullptr;
  ChildCache* c = meta::make<ChildCache>(root, g);
  if (!c) return nullptr;
  group_get(g);  // the cache's one reference on its group
  root->all_children.push_back(&c->root_node);
  g->slab_caches.push_back(&c->group_node);
  g->nr_slab_caches.fetch_add(1, std::memory_order_relaxed);
  slab_runtime().child_caches.fetch_add(1, std::memory_order_relaxed);
  // Publish last: a reader that finds it sees it constructed.
  root->children.load(std::memory_order_relaxed)->slot[g->id].store(c, std::memory_order_release);
  return c;
}

}  // namespace

ChildCache* get_child_cache(RootCache* root, GroupImpl* g) noexcept {
  if (!root->per_group) {
    child_get(root->shared);
    return root->shared;
  }
  for (;;) {
    GroupImpl* x = g;
    while (!x->is_online()) x = x->parent;  // a removed group charges its nearest online ancestor
    ChildCache* found = nullptr;
    {
      // The lock-free lookup is tried first by the caller (thread_mags.cpp,
      // inside its gate); here, under the mutex, creation has one winner.
      LockGuard<RankedMutex> l(slab_mutex());
      if (!x->is_online()) continue;  // removed meanwhile: its caches are going
      ChildArray* arr = root->children.load(std::memory_order_relaxed);
      if (arr && x->id < arr->capacity) found = arr->slot[x->id].load(std::memory_order_relaxed);
      if (!found) found = create_locked(root, x);  // one creator under the mutex
      if (found) child_get(found);
    }
    return found;
  }
}

namespace {

bool cache_of_group(ChildCache* c, void* g) { return c->group.load(std::memory_order_relaxed) == g; }

// Takes c off every list and drops its registration reference (slab mutex).
void destroy_locked(ChildCache* c) MEMCG_REQUIRES(slab_mutex()) {
  MEMCG_ASSERT_HELD(slab_mutex());
  if (!c->listed) return;
  c->listed = false;
  c->root_node.unlink();
  c->group_node.unlink();
  if (GroupImpl* g = c->group.load(std::memory_order_relaxed)) g->nr_slab_caches.fetch_sub(1, std::memory_order_relaxed);
  child_put(c);
}

// Moves a dead, non-empty cache from g to g's nearest online ancestor p: its
// slab charge leaves the levels below p (p and above already count it) and
// its statistics follow. Not simply g's parent: the parent may have been
// removed already (a dying child does not block its parent's removal), and
// a cache parked on a removed group would keep it alive. p's own removal,
// later, finds the cache on p's list (slab mutex).
void reparent_locked(ChildCache* c, GroupImpl* g) MEMCG_REQUIRES(slab_mutex()) {
  MEMCG_ASSERT_HELD(slab_mutex());
  GroupImpl* p = g->parent;
  while (!p->is_online()) p = p->parent;
  group_get(p);
  {
    LockGuard<SpinLock> l(c->lock);
    const std::uint64_t bytes = c->nr_slabs * c->root->slab_bytes();
    g->counter.move_to_ancestor(bytes, &p->counter);
    auto& from = c->root->options.reclaimable ? g->stats.slab_reclaimable : g->stats.slab_unreclaimable;
    auto& to = c->root->options.reclaimable ? p->stats.slab_reclaimable : p->stats.slab_unreclaimable;
    from.fetch_sub(bytes, std::memory_order_relaxed);
    to.fetch_add(bytes, std::memory_order_relaxed);
    c->group.store(p, std::memory_order_release);
  }
  c->group_node.unlink();
  p->slab_caches.push_back(&c->group_node);
  g->nr_slab_caches.fetch_sub(1, std::memory_order_relaxed);
  p->nr_slab_caches.fetch_add(1, std::memory_order_relaxed);
  group_put(g);  // the cache's old reference
}

}  // namespace

void offline_slab(GroupImpl* g) noexcept {
  LockGuard<RankedMutex> l(slab_mutex());
  if (g->slab_caches.empty()) return;
  // 1. Unpublish and kill g's own caches (reparented ones are dead already).
  for (ListNode* n = g->slab_caches.next; n != &g->slab_caches; n = n->next) {
    auto* c = static_cast<ChildCache*>(n->owner);
    if (c->dead.load(std::memory_order_relaxed)) continue;
    ChildArray* arr = c->root->children.load(std::memory_order_relaxed);
    MEMCG_ASSERT(arr && g->id < arr->capacity && arr->slot[g->id].load() == c);
    arr->slot[g->id].store(nullptr, std::memory_order_release);
    c->dead.store(true, std::memory_order_seq_cst);
  }
  // 2. One drain round: every thread's magazines of them go back to the slabs.
  flush_thread_magazines(cache_of_group, g);
  // 3. Shrink each; destroy the empty ones, reparent the rest.
  ListNode* n = g->slab_caches.next;
  while (n != &g->slab_caches) {
    auto* c = static_cast<ChildCache*>(n->owner);
    n = n->next;
    child_get(c);
    shrink_child(c, 0);
    bool empty;
    {
      LockGuard<SpinLock> cl(c->lock);
      empty = c->inuse == 0;
    }
    if (empty) destroy_locked(c);
    else reparent_locked(c, g);
    child_put(c);
  }
}

void destroy_dead_child_work(WorkItem* w) {
  auto* c = static_cast<ChildCache*>(w->arg);
  {
    LockGuard<RankedMutex> l(slab_mutex());
    shrink_child(c, 0);
    bool empty;
    {
      LockGuard<SpinLock> cl(c->lock);
      empty = c->inuse == 0;
      if (!empty) c->destroy_queued = false;  // objects came back: the next emptying re-queues
    }
    if (empty) destroy_locked(c);
  }
  child_put(c);  // the work item's reference
}

// ---- used by the root cache (cache.cpp) ----

bool cache_of_root(ChildCache* c, void* root) { return c->root == root; }

void destroy_child_locked(ChildCache* c) MEMCG_REQUIRES(slab_mutex()) { destroy_locked(c); }

}  // namespace memcg::detail
