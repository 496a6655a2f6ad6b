// The slab layer proper: slab lists, the depot, taking and releasing slabs
// (which charge and uncharge the cache's group).
#include <new>

#include "charge/charge.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "platform/assert.hpp"
#include "platform/meta_arena.hpp"
#include "platform/worker.hpp"
#include "slab/cache_impl.hpp"
#include "slab/slab_internal.hpp"

namespace memcg::detail {
namespace {

std::atomic<std::uint64_t>& slab_stat(GroupImpl* g, const RootCache* r) {
  return r->options.reclaimable ? g->stats.slab_reclaimable : g->stats.slab_unreclaimable;
}

void list_move(ChildCache* c, Slab* s, std::uint8_t to) MEMCG_REQUIRES(c->lock) {
  MEMCG_ASSERT_HELD(c->lock);
  if (s->list == to) return;
  if (s->list == ChildCache::kEmpty) --c->nr_empty;
  if (to == ChildCache::kEmpty) ++c->nr_empty;
  s->node.unlink();
  ListNode& head = to == ChildCache::kPartial ? c->partial : to == ChildCache::kFull ? c->full : c->empty;
  head.push_back(&s->node);
  s->list = to;
}

// An object leaves slab s (cache lock held): list bookkeeping.
void after_pop(ChildCache* c, Slab* s) MEMCG_REQUIRES(c->lock) {
  ++c->inuse;
  list_move(c, s, s->full() ? ChildCache::kFull : ChildCache::kPartial);
}

// The next slab to allocate from: partial first, then empty.
Slab* source_slab(ChildCache* c) MEMCG_REQUIRES(c->lock) {
  if (!c->partial.empty()) return static_cast<Slab*>(c->partial.next->owner);
  if (!c->empty.empty()) return static_cast<Slab*>(c->empty.next->owner);
  return nullptr;
}

// Moves up to `room` objects from the slabs into m; returns a mask of the
// rounds that were never used before (they need the constructor).
// Fills m top down, so that allocations (which pop the top) take objects in
// the order the slabs gave them: a fresh slab's first object, next to its
// header, goes out first, and a slab holding one object touches one page.
// Carving (objects never used, whose pages may never have been touched)
// stops after kFillCarveBytes: a magazine of big objects does not fault in
// pages for dozens of objects the program may never ask for.
std::uint64_t fill_locked(ChildCache* c, Magazine* m) MEMCG_REQUIRES(c->lock) {
  MEMCG_ASSERT_HELD(c->lock);
  MEMCG_ASSERT(m->n == 0);
  std::uint64_t fresh = 0;
  std::uint64_t carved = 0;
  std::uint32_t i = kMagazineRounds;
  while (i > 0) {
    Slab* s = source_slab(c);
    if (!s) break;
    const bool carve = !s->freelist;
    if (carve && carved >= kFillCarveBytes) break;  // at least one object: i < kMagazineRounds
    if (carve) carved += s->stride;
    bool fresh_entry;
    void* o = s->pop(&fresh_entry);
    MEMCG_ASSERT(o);
    --i;
    if (carve) fresh |= std::uint64_t{1} << i;
    OwnerKey* owner = s->owner_slot(o);
    // A carved object's entry may hold a key of the memory's earlier life:
    // it starts at 0, and its round says so, so that its first owner goes
    // through note_owner (slab.hpp SOLE OWNER).
    if (carve && owner) *owner = 0;
    m->rounds[i] = Round::of(o, owner && fresh_entry);
    after_pop(c, s);
  }
  if (i > 0) {  // partly filled: move the rounds down to start at 0
    const std::uint32_t n = kMagazineRounds - i;
    for (std::uint32_t k = 0; k < n; ++k) m->rounds[k] = m->rounds[i + k];
    fresh >>= i;
  }
  m->n = kMagazineRounds - i;
  return fresh;
}

void run_ctor(ChildCache* c, Magazine* m, std::uint64_t fresh) {
  void (*ctor)(void*) = c->root->options.ctor;
  if (!ctor) return;
  for (std::uint32_t i = 0; i < m->n; ++i)
    if (fresh & (std::uint64_t{1} << i)) ctor(m->rounds[i].object());
}

// A fresh slab for c, charged to g (no locks held). nullptr: limit or mmap.
Slab* new_slab(ChildCache* c, GroupImpl* g) {
  RootCache* r = c->root;
  const std::size_t bytes = r->slab_bytes();
  if (g && !try_charge_memcg(g, bytes)) return nullptr;
  void* mem = page_source::take(r->units);
  if (!mem) {
    if (g) uncharge_memcg(g, bytes);
    return nullptr;
  }
  auto* s = new (mem) Slab;
  s->stride = static_cast<std::uint32_t>(r->stride);
  s->capacity = r->capacity;
  s->cache = c;
  s->bump = static_cast<char*>(mem) + r->data_offset;
  s->end = s->bump + std::size_t{r->capacity} * r->stride;
  s->units = static_cast<std::uint8_t>(r->units);
  s->mag_off = static_cast<std::uint16_t>(mag_off(c->mag_slot_));
  s->recip = Slab::recip_of(s->stride);
  if (r->charge_objects) {
    // Biased by the first object's index (Slab::index): as an integer, so
    // that no out-of-range pointer is formed.
    const std::uintptr_t vec = reinterpret_cast<std::uintptr_t>(mem) + sizeof(Slab);
    s->objcgs = reinterpret_cast<OwnerKey*>(vec - std::uintptr_t{s->index(s->bump)} * sizeof(OwnerKey));
    s->charge_bytes = r->charge_bytes;
    s->reclaimable = r->options.reclaimable ? 1 : 0;
  }
  s->node.owner = s;
  child_get(c);  // the slab's reference (cache reference chain)
  return s;
}

// Gives a slab that was never (or is no longer) on c's lists back, undoing
// its charge to g.
void discard_slab(ChildCache* c, Slab* s, GroupImpl* g) {
  const std::uint32_t units = s->units;
  page_source::give(s, units);
  // Straight to the counters, not into this thread's stock: a slab release
  // often runs on another thread (a remote free, the worker) than the one
  // that will charge next.
  if (g) uncharge_walk(g, std::size_t{units} * kSlabSize);
  child_put(c);
}

}  // namespace

Magazine* new_magazine() noexcept { return static_cast<Magazine*>(meta::alloc(sizeof(Magazine))); }
void free_magazine(Magazine* m) noexcept { meta::free(m, sizeof(Magazine)); }

RefillResult get_full_magazine(ChildCache* c, Magazine** out) noexcept {
  GroupImpl* g;
  Magazine* m = nullptr;
  std::uint64_t fresh = 0;
  {
    LockGuard<SpinLock> l(c->lock);
    if (c->dead.load(std::memory_order_relaxed)) return RefillResult::kRetry;
    if ((m = c->depot_full.pop())) {
      *out = m;
      return RefillResult::kOk;
    }
    m = c->depot_empty.pop();
    g = c->group.load(std::memory_order_relaxed);
    if (m) fresh = fill_locked(c, m);
  }
  if (!m && !(m = new_magazine())) return RefillResult::kNoMem;
  if (m->n == 0) {
    {
      LockGuard<SpinLock> l(c->lock);
      if (c->dead.load(std::memory_order_relaxed)) {  // killed meanwhile: never refill a dead cache
        free_magazine(m);
        return RefillResult::kRetry;
      }
      g = c->group.load(std::memory_order_relaxed);
      fresh = fill_locked(c, m);  // another thread may have added a slab meanwhile
    }
    if (m->n == 0) {
      Slab* s = new_slab(c, g);
      if (!s) {
        free_magazine(m);
        // A cache killed or reparented while we charged a removed group:
        // look again (the charge belongs to the new owner), not ENOMEM.
        if (c->dead.load(std::memory_order_acquire) || c->group.load(std::memory_order_acquire) != g)
          return RefillResult::kRetry;
        return RefillResult::kNoMem;
      }
      bool lost = false;
      {
        LockGuard<SpinLock> l(c->lock);
        // Reparented or killed while we charged: the charge went to the
        // wrong group or the cache takes no more slabs.
        lost = c->dead.load(std::memory_order_relaxed) || c->group.load(std::memory_order_relaxed) != g;
        if (!lost) {
          s->list = ChildCache::kEmpty;
          c->empty.push_back(&s->node);
          ++c->nr_empty;
          ++c->nr_slabs;
          if (g) slab_stat(g, c->root).fetch_add(c->root->slab_bytes(), std::memory_order_relaxed);
          fresh = fill_locked(c, m);
        }
      }
      if (lost) {
        discard_slab(c, s, g);
        free_magazine(m);
        return RefillResult::kRetry;
      }
    }
  }
  run_ctor(c, m, fresh);
  *out = m;
  return RefillResult::kOk;
}

void flush_magazine_locked(ChildCache* c, Magazine* m) noexcept {
  MEMCG_ASSERT_HELD(c->lock);
  for (std::uint32_t i = 0; i < m->n; ++i) {
    void* obj = m->rounds[i].object();
    Slab* s = Slab::of(obj);
    MEMCG_ASSERT(s->cache == c);
    s->push(obj, m->rounds[i].fresh_entry());
    --c->inuse;
    list_move(c, s, s->empty() ? ChildCache::kEmpty : ChildCache::kPartial);
  }
  m->n = 0;
}

void release_empty_slabs(ChildCache* c, std::uint64_t keep) noexcept {
  // Unlink under the lock, uncharge and unmap after it (never charge or
  // uncharge under a cache lock: lock_order.hpp).
  ListNode victims;
  GroupImpl* g;
  std::uint64_t n = 0;
  {
    LockGuard<SpinLock> l(c->lock);
    g = c->group.load(std::memory_order_relaxed);
    while (c->nr_empty > keep) {
      Slab* s = static_cast<Slab*>(c->empty.prev->owner);
      s->node.unlink();
      s->list = 0;
      victims.push_back(&s->node);
      --c->nr_empty;
      --c->nr_slabs;
      ++n;
    }
    if (!n) return;
    if (g) {
      slab_stat(g, c->root).fetch_sub(n * c->root->slab_bytes(), std::memory_order_relaxed);
      group_get(g);  // the cache may be reparented (and put g) once we unlock
    }
  }
  while (!victims.empty()) {
    Slab* s = static_cast<Slab*>(victims.next->owner);
    s->node.unlink();
    discard_slab(c, s, g);
  }
  if (g) group_put(g);
}

void return_magazine(ChildCache* c, Magazine* m) noexcept {
  if (!m) return;
  bool to_free = false, released = false;
  {
    LockGuard<SpinLock> l(c->lock);
    const bool dead = c->dead.load(std::memory_order_relaxed);
    if (m->empty()) {
      if (dead || c->depot_empty.count >= c->root->depot_max) to_free = true;
      else c->depot_empty.push(m);
    } else if (dead || c->depot_full.count >= c->root->depot_max) {
      flush_magazine_locked(c, m);
      to_free = true;
      released = true;
    } else {
      c->depot_full.push(m);
    }
  }
  if (to_free) free_magazine(m);
  if (released) {
    release_empty_slabs(c, c->dead.load(std::memory_order_relaxed) ? 0 : kEmptySlabsKept);
    maybe_queue_dead_destroy(c);
  }
}

void free_to_slab(ChildCache* c, void* obj) noexcept {
  {
    LockGuard<SpinLock> l(c->lock);
    Slab* s = Slab::of(obj);
    OwnerKey* e = s->owner_slot(obj);
    s->push(obj, e && *e == 0);  // 0: a refused object never handed out
    --c->inuse;
    list_move(c, s, s->empty() ? ChildCache::kEmpty : ChildCache::kPartial);
  }
  release_empty_slabs(c, c->dead.load(std::memory_order_relaxed) ? 0 : kEmptySlabsKept);
  maybe_queue_dead_destroy(c);
}

void shrink_child(ChildCache* c, std::uint64_t keep_empty) noexcept {
  MagazineStack empties;
  std::uint32_t fulls;
  {
    LockGuard<SpinLock> l(c->lock);
    fulls = c->depot_full.count;
    empties = c->depot_empty;
    c->depot_empty = MagazineStack{};
  }
  // One full magazine a lock section (a depot list may hold up to
  // kDepotMax): popped and flushed together, so the depot's invariants hold
  // whenever the lock is free. As many as the depot held: a dead cache's
  // depot takes no more (return_magazine), so it ends empty.
  for (; fulls > 0; --fulls) {
    Magazine* m;
    {
      LockGuard<SpinLock> l(c->lock);
      if ((m = c->depot_full.pop())) flush_magazine_locked(c, m);
    }
    if (!m) break;
    free_magazine(m);
  }
  while (Magazine* m = empties.pop()) free_magazine(m);
  release_empty_slabs(c, keep_empty);
}

void maybe_queue_dead_destroy(ChildCache* c) noexcept {
  if (!c->dead.load(std::memory_order_acquire)) return;
  {
    LockGuard<SpinLock> l(c->lock);
    if (c->inuse != 0 || c->destroy_queued) return;
    c->destroy_queued = true;
  }
  child_get(c);  // for the work item
  worker::queue(&c->destroy_work, destroy_dead_child_work);
}

}  // namespace memcg::detail
