// ListLru: per-group intrusive lists (the kernel's list_lru with memcg
// awareness). Each list has its own lock; a hook records which list holds
// it, so del() needs no group. Removal of a group splices its list into the
// nearest online ancestor's (deeper list locked first, the ancestor's
// nested), repointing the hooks; the emptied list is marked dead, its slot
// cleared, and it is freed after an RCU grace period, like a replaced slot
// array (the kernel frees its list_lru_memcg with kvfree_rcu).
//
// Invariants (lock order: registry -> grow_mutex -> list lock -> nested list lock):
//  (1) A list is created in slot[id] only by add(), under grow_mutex, and
//      only while the group it is for is online or has a descendant that is
//      (an ancestor of one: its reparent, which needs grow_mutex, is still to
//      come). A reparent creates nothing (5).
//  (2) A group's reparent is marked dying before reparent_list_lrus() runs
//      (Group::remove), and looks up, splices, marks dead and clears the slot
//      of its list all under grow_mutex. By (1), once it has looked, no list
//      can appear in that slot until the id is reused by a new group (which
//      happens only after the group is freed). So every list that is not
//      dead is either spliced later by its group's reparent or belongs to an
//      online group: an object is never stranded in a slot nobody walks.
//  (3) Objects are linked only under the lock of a list seen not dead; dead
//      is set under that lock by the splice, so a racing add() either links
//      before the splice (and is moved) or sees dead and retries from the
//      group's nearest online ancestor (mirroring child caches of the slab
//      layer, child_cache.cpp get_child_cache()).
//  (4) Lifetime: list and slot-array pointers are loaded inside an RCU read
//      section (slots, hooks); retired memory is passed to call_rcu only
//      after it became unreachable (slot cleared, every hook repointed).
//      Holding the lock of a list that is not dead pins it: it can only be
//      retired after its splice, which takes that lock first; so walk()
//      leaves the read section before calling user code.
//  (5) Every online ancestor of a group that has a list has a list (add()
//      creates the whole chain from the root down). So a reparent finds its
//      target list and never allocates: removal cannot fail for memory.
#include "memcg/list_lru.hpp"

#include <algorithm>
#include <atomic>

#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/fork.hpp"
#include "platform/meta_arena.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"
#include "reclaim/list_lru_internal.hpp"

namespace memcg::detail {

// A hook's links are private to the public header; only this file uses them.
inline ListLruHook*& next_of(ListLruHook* h) noexcept { return Access::next(*h); }
inline ListLruHook*& prev_of(ListLruHook* h) noexcept { return Access::prev(*h); }

struct LruList {
  SpinLock lock{LockRank::kLruList};
  ListLruHook head MEMCG_GUARDED_BY(lock);  // sentinel; next_of(&head) = oldest
  std::uint64_t nr MEMCG_GUARDED_BY(lock) = 0;
  bool dead MEMCG_GUARDED_BY(lock) = false;  // spliced into an ancestor's, never used again
  rcu::Head rcu{};              // frees it a grace period after it died
  LruList() noexcept { next_of(&head) = prev_of(&head) = &head; }
};

// A replaced slot array, freed after a grace period.
struct RetiredSlots {
  rcu::Head rcu{};
  void* p = nullptr;
  std::size_t bytes = 0;
};

namespace {
RankedMutex& lru_registry_mutex() noexcept;  // the registry's list of every ListLru
}  // namespace

struct LruImpl {
  RankedMutex grow_mutex{LockRank::kLruGrow};  // array growth, list creation, reparenting
  std::atomic<std::atomic<LruList*>*> slots{nullptr};
  std::atomic<std::uint32_t> capacity{0};
  LruImpl* next MEMCG_GUARDED_BY(lru_registry_mutex()) = nullptr;  // registry
  LruImpl* prev MEMCG_GUARDED_BY(lru_registry_mutex()) = nullptr;
};

namespace {

// Dead lists and replaced arrays (of every ListLru) waiting for their grace period.
std::atomic<std::uint64_t> g_retired_pending{0};

void fork_lock_all(void* r) noexcept;
void fork_unlock_all(void* r) noexcept;

// Fork (platform/fork.hpp): the registry mutex, every ListLru's grow mutex
// and every list's lock are held across fork(), in that order (kLruRegistry
// < kLruGrow < kLruList); the registry keeps the instances still and each
// grow mutex keeps its slot array still while its lists are locked.
struct LruRegistry {
  RankedMutex mutex{LockRank::kLruRegistry};
  LruImpl* head MEMCG_GUARDED_BY(lru_registry_mutex()) = nullptr;
  fork::Participant fork;
  LruRegistry() noexcept {
    fork.order = static_cast<int>(LockRank::kLruRegistry);
    fork.prepare = fork_lock_all;
    fork.parent = fork.child = fork_unlock_all;
    fork.arg = this;
    fork::add(&fork);
  }
};

template <class F>
void for_each_list(LruImpl* l, F&& f) MEMCG_NO_TSA {
  std::atomic<LruList*>* slots = l->slots.load(std::memory_order_relaxed);
  const std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; slots && i < cap; ++i)
    if (LruList* list = slots[i].load(std::memory_order_relaxed)) f(*list);
}

void fork_lock_all(void* p) noexcept MEMCG_NO_TSA {
  auto* r = static_cast<LruRegistry*>(p);
  r->mutex.lock();
  for (LruImpl* l = r->head; l; l = l->next) l->grow_mutex.lock_untracked();
  for (LruImpl* l = r->head; l; l = l->next)
    for_each_list(l, [](LruList& list) MEMCG_NO_TSA { list.lock.lock_untracked(); });
}

void fork_unlock_all(void* p) noexcept MEMCG_NO_TSA {
  auto* r = static_cast<LruRegistry*>(p);
  for (LruImpl* l = r->head; l; l = l->next)
    for_each_list(l, [](LruList& list) MEMCG_NO_TSA { list.lock.unlock_untracked(); });
  for (LruImpl* l = r->head; l; l = l->next) l->grow_mutex.unlock_untracked();
  r->mutex.unlock();
}
LruRegistry& lru_registry() {
  static LruRegistry* r = new LruRegistry;
  return *r;
}
RankedMutex& lru_registry_mutex() noexcept { return lru_registry().mutex; }

void free_list_rcu(rcu::Head* h) {
  meta::destroy(static_cast<LruList*>(h->arg));
  g_retired_pending.fetch_sub(1, std::memory_order_release);
}

void free_slots_rcu(rcu::Head* h) {
  auto* r = static_cast<RetiredSlots*>(h->arg);
  meta::free(r->p, r->bytes);
  meta::destroy(r);
  g_retired_pending.fetch_sub(1, std::memory_order_release);
}

// x is unreachable (dead, its slot cleared, no hook on it): free it once
// every reader that may have loaded it has left its read section.
void retire_list(LruList* x) {
  g_retired_pending.fetch_add(1, std::memory_order_relaxed);
  x->rcu.arg = x;
  rcu::call(&x->rcu, free_list_rcu);
}

// Caller holds an RCU read section or grow_mutex.
LruList* list_at(LruImpl* l, std::uint32_t id) {
  if (id >= l->capacity.load(std::memory_order_acquire)) return nullptr;
  return l->slots.load(std::memory_order_acquire)[id].load(std::memory_order_acquire);
}

// The list for g, created if it has none (grow_mutex held). nullptr: out of
// metadata memory. The caller establishes invariant (1).
LruList* list_for_locked(LruImpl* l, GroupImpl* g) MEMCG_REQUIRES(l->grow_mutex) {
  MEMCG_ASSERT_HELD(l->grow_mutex);
  std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  if (g->id >= cap) {
    std::uint32_t ncap = std::max<std::uint32_t>(64, cap * 2);
    while (ncap <= g->id) ncap *= 2;
    auto* old = l->slots.load(std::memory_order_relaxed);
    RetiredSlots* r = nullptr;
    if (old) {
      r = meta::make<RetiredSlots>();
      if (!r) return nullptr;
    }
    auto* fresh = static_cast<std::atomic<LruList*>*>(meta::alloc(sizeof(std::atomic<LruList*>) * ncap));
    if (!fresh) {
      if (r) meta::destroy(r);
      return nullptr;
    }
    for (std::uint32_t i = 0; i < cap; ++i) fresh[i].store(old[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    l->slots.store(fresh, std::memory_order_release);
    l->capacity.store(ncap, std::memory_order_release);
    if (r) {  // readers may still index the old array: free it after a grace period
      r->p = old;
      r->bytes = sizeof(std::atomic<LruList*>) * cap;
      r->rcu.arg = r;
      g_retired_pending.fetch_add(1, std::memory_order_relaxed);
      rcu::call(&r->rcu, free_slots_rcu);
    }
  }
  auto* slots = l->slots.load(std::memory_order_relaxed);
  LruList* x = slots[g->id].load(std::memory_order_relaxed);
  if (!x) {
    x = meta::make<LruList>();
    if (!x) return nullptr;
    slots[g->id].store(x, std::memory_order_release);
  }
  return x;
}

enum class Made { kOk, kOffline, kNoMemory };

// add()'s slow path: creates the lists of x and of every ancestor that has
// none, root first (the kernel's memcg_list_lru_alloc), unless x stopped
// being online (then its reparent may already have looked at the slot:
// invariant (1)). An online group's ancestors are online (remove() refuses
// a group with online children), so this keeps invariant (5). On kNoMemory
// the lists made so far stay: they are a prefix of the chain from the root.
Made make_list(LruImpl* l, GroupImpl* x) {
  LockGuard<RankedMutex> guard(l->grow_mutex);
  if (!x->is_online()) return Made::kOffline;
  for (;;) {
    // The topmost group of x's chain without a list (those with one are a
    // prefix from the root, by (5)); one list per round, no scratch memory.
    GroupImpl* top = nullptr;
    for (GroupImpl* a = x; a && !list_at(l, a->id); a = a->parent) top = a;
    if (!top) return Made::kOk;
    if (!list_for_locked(l, top)) return Made::kNoMemory;
  }
}

void link_tail(LruList* x, ListLruHook* h) MEMCG_REQUIRES(x->lock) {
  MEMCG_ASSERT_HELD(x->lock);
  prev_of(h) = prev_of(&x->head);
  next_of(h) = &x->head;
  next_of(prev_of(&x->head)) = h;
  prev_of(&x->head) = h;
  Access::list(*h).store(x, std::memory_order_release);
  ++x->nr;
}

void unlink(LruList* x, ListLruHook* h) MEMCG_REQUIRES(x->lock) {
  MEMCG_ASSERT_HELD(x->lock);
  next_of(prev_of(h)) = next_of(h);
  prev_of(next_of(h)) = prev_of(h);
  next_of(h) = prev_of(h) = nullptr;
  Access::list(*h).store(nullptr, std::memory_order_release);
  --x->nr;
}

LruList* hook_list(ListLruHook* h) {
  return static_cast<LruList*>(Access::list(*h).load(std::memory_order_acquire));
}

}  // namespace

std::uint64_t list_lru_retired_pending() noexcept { return g_retired_pending.load(std::memory_order_acquire); }

// Splices g's lists of every ListLru into g's nearest online ancestor's
// (g is dying; no lock held on entry).
void reparent_list_lrus(GroupImpl* g) noexcept {
  LruRegistry& reg = lru_registry();
  LockGuard<RankedMutex> rl(lru_registry_mutex());  // one reparent at a time: see invariant (1)
  for (LruImpl* l = reg.head; l; l = l->next) {
    LockGuard<RankedMutex> guard(l->grow_mutex);
    LruList* from = list_at(l, g->id);
    if (!from) continue;  // and none can be created any more: g is not online
    GroupImpl* p = g->parent;  // nearest online ancestor (see slab reparenting)
    while (!p->is_online()) p = p->parent;
    // p may start dying now; its reparent comes after ours and moves this on.
    LruList* to = list_at(l, p->id);  // exists by invariant (5): nothing to allocate
    MEMCG_CHECK(to, "ListLru: the reparent target has no list (invariant 5)");
    {
      LockGuard<SpinLock> a(from->lock);  // the deeper list first
      to->lock.lock_nested();
      MEMCG_CHECK(!to->dead, "ListLru: the reparent target's list is dead (invariant 5)");
      while (next_of(&from->head) != &from->head) {
        ListLruHook* h = next_of(&from->head);
        unlink(from, h);
        link_tail(to, h);
      }
      from->dead = true;
      to->lock.unlock();
    }
    // Free the slot for the id's next owner; the dead list goes after a
    // grace period (a racing add()/del()/walk() may have loaded it).
    l->slots.load(std::memory_order_relaxed)[g->id].store(nullptr, std::memory_order_release);
    retire_list(from);
  }
}

ListLruBase::ListLruBase() {
  auto* l = meta::make<LruImpl>();
  MEMCG_CHECK(l, "out of metadata memory");
  impl_ = l;
  LruRegistry& reg = lru_registry();
  LockGuard<RankedMutex> rl(lru_registry_mutex());
  l->next = reg.head;
  if (reg.head) reg.head->prev = l;
  reg.head = l;
}

ListLruBase::~ListLruBase() {
  auto* l = static_cast<LruImpl*>(impl_);
  {
    LruRegistry& reg = lru_registry();
    LockGuard<RankedMutex> rl(lru_registry_mutex());
    if (l->prev) l->prev->next = l->next; else reg.head = l->next;
    if (l->next) l->next->prev = l->prev;
  }
  // Retired lists and arrays are freed by their RCU callbacks, which do not
  // touch *l.
  const std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  if (auto* slots = l->slots.load(std::memory_order_relaxed)) {
    for (std::uint32_t i = 0; i < cap; ++i) meta::destroy(slots[i].load(std::memory_order_relaxed));
    meta::free(slots, sizeof(std::atomic<LruList*>) * cap);
  }
  meta::destroy(l);
}

bool ListLruBase::add(ListLruHook* h, const Group& group, std::error_code& ec) noexcept {
  auto* l = static_cast<LruImpl*>(impl_);
  GroupImpl* const g = Access::impl(group);
  if (!g) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  for (;;) {
    GroupImpl* x = g;
    while (!x->is_online()) x = x->parent;  // a removed group's objects go to its ancestor's list
    MEMCG_FAULT_POINT(fault::Kind::kLruAddAfterOnlineCheck);
    {
      rcu::ReadGuard rg;
      if (LruList* list = list_at(l, x->id)) {
        LockGuard<SpinLock> guard(list->lock);
        if (list->dead) continue;  // spliced away meanwhile: x is dying, look again
        if (hook_list(h)) {
          ec = std::make_error_code(std::errc::file_exists);
          return false;
        }
        link_tail(list, h);
        ec.clear();
        return true;
      }
    }
    if (make_list(l, x) == Made::kNoMemory) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return false;
    }
    // kOk: use it; kOffline: x was removed meanwhile, go to its ancestor.
  }
}

bool ListLruBase::del(ListLruHook* h) noexcept {
  for (;;) {
    rcu::ReadGuard rg;  // the list may be retired once the hook left it
    LruList* list = hook_list(h);
    if (!list) return false;
    LockGuard<SpinLock> guard(list->lock);
    if (hook_list(h) != list) continue;  // moved by a reparent: follow it
    unlink(list, h);
    return true;
  }
}

std::uint64_t ListLruBase::count(const Group& group) const noexcept {
  GroupImpl* const g = Access::impl(group);
  if (!g) return 0;
  rcu::ReadGuard rg;
  LruList* list = list_at(static_cast<LruImpl*>(impl_), g->id);
  if (!list) return 0;
  LockGuard<SpinLock> guard(list->lock);
  return list->dead ? 0 : list->nr;
}

std::uint64_t ListLruBase::count_all() const noexcept {
  auto* l = static_cast<LruImpl*>(impl_);
  // grow_mutex excludes reparenting: an object being moved is counted once.
  LockGuard<RankedMutex> guard(l->grow_mutex);
  std::uint64_t n = 0;
  const std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  auto* slots = l->slots.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < cap; ++i)
    if (LruList* x = slots[i].load(std::memory_order_relaxed)) {
      LockGuard<SpinLock> lg(x->lock);
      n += x->nr;
    }
  return n;
}

std::uint64_t ListLruBase::walk(const Group& group, LruStatus (*cb)(ListLruHook*, void*), void* arg,
                                std::uint64_t nr_to_walk) noexcept {
  GroupImpl* const g = Access::impl(group);
  if (!g) return 0;
  LruList* list;
  {
    rcu::ReadGuard rg;
    list = list_at(static_cast<LruImpl*>(impl_), g->id);
    if (!list) return 0;
    list->lock.lock();
    if (list->dead) {  // g was reparented meanwhile: its objects are its ancestor's now
      list->lock.unlock();
      return 0;
    }
  }
  // Invariant (4): a live list whose lock we hold cannot be retired, so the
  // callback runs outside the read section.
  std::uint64_t removed = 0;
  ListLruHook* h = next_of(&list->head);
  // Rotated items go behind the original tail; stop when we reach them.
  std::uint64_t budget = std::min(nr_to_walk, list->nr);
  while (budget-- && h != &list->head) {
    ListLruHook* next = next_of(h);
    const LruStatus st = cb(h, arg);
    if (st == LruStatus::stop) break;
    switch (st) {
      case LruStatus::removed:
        unlink(list, h);
        ++removed;
        break;
      case LruStatus::rotate:
        unlink(list, h);
        link_tail(list, h);
        break;
      case LruStatus::skip:
      case LruStatus::stop:
        break;
    }
    h = next;
  }
  list->lock.unlock();
  return removed;
}

}  // namespace memcg::detail
