// ListLru: per-group intrusive lists (the kernel's list_lru with memcg
// awareness). Each list has its own lock; a hook records which list holds
// it, so del() needs no group. Removal of a group splices its list into the
// parent's (deeper list locked first, the parent's nested), repointing the
// hooks; the emptied list is kept (dead) until the ListLru dies, so a del()
// racing with the splice can still lock it and find out it moved.
#include "memcg/list_lru.hpp"

#include <algorithm>
#include <atomic>

#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/meta_arena.hpp"
#include "platform/ranked_mutex.hpp"
#include "reclaim/list_lru_internal.hpp"

namespace memcg::detail {

struct LruList {
  SpinLock lock{LockRank::kLruList};
  ListLruHook head;             // sentinel; head.next = oldest
  std::uint64_t nr = 0;         // lock
  bool dead = false;            // lock: spliced into the parent's, never used again
  LruList() noexcept { head.next = head.prev = &head; }
};

struct LruImpl {
  RankedMutex grow_mutex{LockRank::kLruGrow};  // array growth and list creation (never with a list lock)
  std::atomic<std::atomic<LruList*>*> slots{nullptr};
  std::atomic<std::uint32_t> capacity{0};
  // Replaced arrays and dead lists, freed with the ListLru.
  struct Retired {
    void* p;
    std::size_t bytes;
    Retired* next;
  };
  Retired* retired = nullptr;  // grow_mutex
  LruImpl* next = nullptr;     // registry
  LruImpl* prev = nullptr;
};

namespace {

struct LruRegistry {
  RankedMutex mutex{LockRank::kLruRegistry};
  LruImpl* head = nullptr;
};
LruRegistry& lru_registry() {
  static LruRegistry* r = new LruRegistry;
  return *r;
}

void retire(LruImpl* l, void* p, std::size_t bytes) {
  MEMCG_FAULT_SUPPRESS();  // fatal if it fails: no injected failure here
  auto* r = meta::make<LruImpl::Retired>();
  MEMCG_CHECK(r, "out of metadata memory");
  r->p = p;
  r->bytes = bytes;
  r->next = l->retired;
  l->retired = r;
}

LruList* list_at(LruImpl* l, std::uint32_t id) {
  if (id >= l->capacity.load(std::memory_order_acquire)) return nullptr;
  return l->slots.load(std::memory_order_acquire)[id].load(std::memory_order_acquire);
}

// The list for g, created on first use (grow_mutex).
LruList* list_for(LruImpl* l, GroupImpl* g) {
  if (LruList* x = list_at(l, g->id)) return x;
  LockGuard<RankedMutex> guard(l->grow_mutex);
  std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  if (g->id >= cap) {
    std::uint32_t ncap = std::max<std::uint32_t>(64, cap * 2);
    while (ncap <= g->id) ncap *= 2;
    auto* fresh = static_cast<std::atomic<LruList*>*>(meta::alloc(sizeof(std::atomic<LruList*>) * ncap));
    if (!fresh) return nullptr;
    auto* old = l->slots.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < cap; ++i) fresh[i].store(old[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    l->slots.store(fresh, std::memory_order_release);
    l->capacity.store(ncap, std::memory_order_release);
    if (old) retire(l, old, sizeof(std::atomic<LruList*>) * cap);
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

void link_tail(LruList* x, ListLruHook* h) {
  h->prev = x->head.prev;
  h->next = &x->head;
  x->head.prev->next = h;
  x->head.prev = h;
  reinterpret_cast<std::atomic<void*>*>(&h->list)->store(x, std::memory_order_release);
  ++x->nr;
}

void unlink(LruList* x, ListLruHook* h) {
  h->prev->next = h->next;
  h->next->prev = h->prev;
  h->next = h->prev = nullptr;
  reinterpret_cast<std::atomic<void*>*>(&h->list)->store(nullptr, std::memory_order_release);
  --x->nr;
}

LruList* hook_list(ListLruHook* h) {
  return static_cast<LruList*>(reinterpret_cast<std::atomic<void*>*>(&h->list)->load(std::memory_order_acquire));
}

}  // namespace

// Splices g's lists of every ListLru into g's parent's (offline, no lock held).
void reparent_list_lrus(GroupImpl* g) noexcept {
  LruRegistry& reg = lru_registry();
  LockGuard<RankedMutex> rl(reg.mutex);
  for (LruImpl* l = reg.head; l; l = l->next) {
    LruList* from = list_at(l, g->id);
    if (!from) continue;
    GroupImpl* p = g->parent;  // nearest online ancestor (see slab reparenting)
    while (!p->is_online()) p = p->parent;
    LruList* to = list_for(l, p);
    MEMCG_CHECK(to, "out of metadata memory while reparenting a ListLru");
    {
      LockGuard<SpinLock> a(from->lock);  // the deeper list first
      to->lock.lock_nested();
      while (from->head.next != &from->head) {
        ListLruHook* h = from->head.next;
        unlink(from, h);
        link_tail(to, h);
      }
      from->dead = true;
      to->lock.unlock();
    }
    // Free the slot for the id's next owner; keep the dead list for racing del()s.
    LockGuard<RankedMutex> guard(l->grow_mutex);
    l->slots.load(std::memory_order_relaxed)[g->id].store(nullptr, std::memory_order_release);
    retire(l, from, sizeof(LruList));
  }
}

ListLruBase::ListLruBase() {
  auto* l = meta::make<LruImpl>();
  MEMCG_CHECK(l, "out of metadata memory");
  impl_ = l;
  LruRegistry& reg = lru_registry();
  LockGuard<RankedMutex> rl(reg.mutex);
  l->next = reg.head;
  if (reg.head) reg.head->prev = l;
  reg.head = l;
}

ListLruBase::~ListLruBase() {
  auto* l = static_cast<LruImpl*>(impl_);
  {
    LruRegistry& reg = lru_registry();
    LockGuard<RankedMutex> rl(reg.mutex);
    if (l->prev) l->prev->next = l->next; else reg.head = l->next;
    if (l->next) l->next->prev = l->prev;
  }
  const std::uint32_t cap = l->capacity.load(std::memory_order_relaxed);
  if (auto* slots = l->slots.load(std::memory_order_relaxed)) {
    for (std::uint32_t i = 0; i < cap; ++i) meta::destroy(slots[i].load(std::memory_order_relaxed));
    meta::free(slots, sizeof(std::atomic<LruList*>) * cap);
  }
  for (auto* r = l->retired; r;) {
    auto* next = r->next;
    meta::free(r->p, r->bytes);
    meta::destroy(r);
    r = next;
  }
  meta::destroy(l);
}

bool ListLruBase::add(ListLruHook* h, GroupImpl* g) noexcept {
  auto* l = static_cast<LruImpl*>(impl_);
  if (!g) return false;
  for (;;) {
    GroupImpl* x = g;
    while (!x->is_online()) x = x->parent;  // a removed group's objects go to its ancestor's list
    LruList* list = list_for(l, x);
    if (!list) return false;
    LockGuard<SpinLock> guard(list->lock);
    if (list->dead) continue;  // spliced away meanwhile: look again
    if (hook_list(h)) return false;
    link_tail(list, h);
    return true;
  }
}

bool ListLruBase::del(ListLruHook* h) noexcept {
  for (;;) {
    LruList* list = hook_list(h);
    if (!list) return false;
    LockGuard<SpinLock> guard(list->lock);
    if (hook_list(h) != list) continue;  // moved by a reparent: follow it
    unlink(list, h);
    return true;
  }
}

std::uint64_t ListLruBase::count(GroupImpl* g) const noexcept {
  if (!g) return 0;
  LruList* list = list_at(static_cast<LruImpl*>(impl_), g->id);
  if (!list) return 0;
  LockGuard<SpinLock> guard(list->lock);
  return list->dead ? 0 : list->nr;
}

std::uint64_t ListLruBase::count_all() const noexcept {
  auto* l = static_cast<LruImpl*>(impl_);
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

std::uint64_t ListLruBase::walk(GroupImpl* g, LruStatus (*cb)(ListLruHook*, void*), void* arg,
                                std::uint64_t nr_to_walk) noexcept {
  if (!g) return 0;
  LruList* list = list_at(static_cast<LruImpl*>(impl_), g->id);
  if (!list) return 0;
  std::uint64_t removed = 0;
  LockGuard<SpinLock> guard(list->lock);
  ListLruHook* h = list->head.next;
  // Rotated items go behind the original tail; stop when we reach them.
  std::uint64_t budget = std::min(nr_to_walk, list->nr);
  while (budget-- && h != &list->head) {
    ListLruHook* next = h->next;
    switch (cb(h, arg)) {
      case LruStatus::removed:
        unlink(list, h);
        ++removed;
        break;
      case LruStatus::rotate:
        unlink(list, h);
        link_tail(list, h);
        break;
      case LruStatus::skip:
        break;
      case LruStatus::stop:
        return removed;
    }
    h = next;
  }
  return removed;
}

}  // namespace memcg::detail
