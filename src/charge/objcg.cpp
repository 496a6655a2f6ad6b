#include "charge/objcg.hpp"

#include "charge/charge.hpp"
#include "charge/stock.hpp"
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/meta_arena.hpp"

namespace memcg::detail {
namespace {

void lock_all(void* r) noexcept;
void unlock_all(void* r) noexcept;

struct ObjcgRuntime {
  SpinLock list_lock{LockRank::kObjcgList};  // every GroupImpl::objcgs list, `all`, creation, reparenting
  ListNode all MEMCG_GUARDED_BY(list_lock);  // every ObjCgroup (ObjCgroup::all_node)
  std::atomic<std::uint64_t> allocated{0};
  fork::HeldAcrossFork<SpinLock> list_fork{list_lock};
  // Every ObjCgroup's lock is held across fork() (the list lock, taken
  // earlier in the same fork, keeps `all` still).
  fork::Registration locks_fork{static_cast<int>(LockRank::kObjcg), lock_all, unlock_all, unlock_all, this};
};

template <class F>
void for_each_objcg(void* r, F&& f) MEMCG_NO_TSA {
  ListNode& all = static_cast<ObjcgRuntime*>(r)->all;
  for (ListNode* n = all.next; n != &all; n = n->next) f(*static_cast<ObjCgroup*>(n->owner));
}
void lock_all(void* r) noexcept MEMCG_NO_TSA {
  for_each_objcg(r, [](ObjCgroup& oc) MEMCG_NO_TSA { oc.lock.lock_untracked(); });
}
void unlock_all(void* r) noexcept MEMCG_NO_TSA {
  for_each_objcg(r, [](ObjCgroup& oc) MEMCG_NO_TSA { oc.lock.unlock_untracked(); });
}

ObjcgRuntime& rt() {
  static ObjcgRuntime* r = new ObjcgRuntime;  // leaked: exiting threads free objects
  return *r;
}

GroupImpl* nearest_online(GroupImpl* g) {
  while (!g->is_online()) g = g->parent;
  return g;
}

std::atomic<std::uint64_t>& slab_stat(GroupImpl* g, int reclaimable) {
  return reclaimable ? g->stats.slab_reclaimable : g->stats.slab_unreclaimable;
}

// Reads oc's group under its lock, with a reference for the caller.
GroupImpl* group_get_of(ObjCgroup* oc) {
  LockGuard<SpinLock> l(oc->lock);
  GroupImpl* g = oc->group.load(std::memory_order_relaxed);
  group_get(g);
  return g;
}

}  // namespace

ObjCgroup* objcg_of(GroupImpl* g) noexcept {
  if (ObjCgroup* oc = g->objcg.load(std::memory_order_acquire)) return oc;
  ObjcgRuntime& r = rt();
  LockGuard<SpinLock> l(r.list_lock);
  // Under the list lock, removal's reparenting is either over (g is not
  // online: use the ancestor's) or not begun (it will find the new one).
  GroupImpl* x = g;
  for (;;) {
    if (ObjCgroup* oc = x->objcg.load(std::memory_order_relaxed)) return oc;
    if (x->is_online()) break;
    x = x->parent;
  }
  auto* oc = meta::make<ObjCgroup>();
  if (!oc) return nullptr;
  oc->node.owner = oc->all_node.owner = oc;
  oc->rcu_head.arg = oc;
  r.all.push_back(&oc->all_node);
  group_get(x);  // the ObjCgroup's reference on the group it charges
  oc->group.store(x, std::memory_order_relaxed);
  x->objcgs.push_back(&oc->node);
  r.allocated.fetch_add(1, std::memory_order_relaxed);
  x->objcg.store(oc, std::memory_order_release);  // the group's reference (refs starts at 1)
  return oc;
}

void objcg_get(ObjCgroup* oc) noexcept { oc->refs.fetch_add(1, std::memory_order_relaxed); }

void objcg_put(ObjCgroup* oc) noexcept {
  const std::int64_t old = oc->refs.fetch_sub(1, std::memory_order_acq_rel);
  MEMCG_CHECK(old > 0, "object cgroup reference underflow");
  if (old != 1) return;
  // Nothing reaches oc: no group points at it, no stock holds it, no object
  // records it (charged is 0).
  ObjcgRuntime& r = rt();
  GroupImpl* g;
  {
    LockGuard<SpinLock> l(r.list_lock);
    oc->node.unlink();
    oc->all_node.unlink();
    g = oc->group.load(std::memory_order_relaxed);
  }
  group_put(g);
  r.allocated.fetch_sub(1, std::memory_order_relaxed);
  rcu::call(&oc->rcu_head, [](rcu::Head* h) { meta::destroy(static_cast<ObjCgroup*>(h->arg)); });
}

std::uint64_t objcg_charge_batch(ObjCgroup* oc, std::uint64_t bytes, std::uint64_t want) noexcept {
  GroupImpl* g = group_get_of(oc);
  // The surplus only from this thread's charge stock: it never reclaims,
  // never counts an event and never refuses what `bytes` alone would get.
  std::uint64_t got = 0;
  if (want > bytes && stock_consume(g, want))
    got = want;
  else if (try_charge_memcg(g, bytes))
    got = bytes;
  if (got) {
    bool first = false;
    {
      LockGuard<SpinLock> l(oc->lock);
      GroupImpl* now = oc->group.load(std::memory_order_relaxed);
      // Reparented while we charged: the bytes sit on g's levels below the
      // new owner; move them up, as reparenting moved the rest.
      if (now != g) g->counter.move_to_ancestor(got, &now->counter);
      first = oc->charged == 0;
      oc->charged += got;
      if (first) objcg_get(oc);  // outstanding charge holds a reference
    }
  }
  group_put(g);
  return got;
}

bool objcg_charge(ObjCgroup* oc, std::uint64_t bytes) noexcept { return objcg_charge_batch(oc, bytes, bytes) != 0 || bytes == 0; }

void objcg_uncharge(ObjCgroup* oc, std::uint64_t bytes) noexcept {
  if (bytes == 0) return;
  GroupImpl* g;
  bool last = false;
  {
    LockGuard<SpinLock> l(oc->lock);
    MEMCG_CHECK(oc->charged >= bytes, "object cgroup uncharge underflow");
    oc->charged -= bytes;
    last = oc->charged == 0;
    g = oc->group.load(std::memory_order_relaxed);
    group_get(g);
  }
  uncharge_walk(g, bytes);
  group_put(g);
  if (last) objcg_put(oc);
}

void objcg_account_slab(ObjCgroup* oc, const std::int64_t delta[2]) noexcept {
  if (!delta[0] && !delta[1]) return;
  LockGuard<SpinLock> l(oc->lock);
  GroupImpl* g = oc->group.load(std::memory_order_relaxed);
  for (int i = 0; i < 2; ++i) {
    if (!delta[i]) continue;
    oc->slab_bytes[i] += static_cast<std::uint64_t>(delta[i]);
    slab_stat(g, i).fetch_add(static_cast<std::uint64_t>(delta[i]), std::memory_order_relaxed);
  }
}

GroupImpl* objcg_reparent(GroupImpl* g) noexcept {
  ObjcgRuntime& r = rt();
  GroupImpl* p;
  int moved = 0;
  {
    LockGuard<SpinLock> l(r.list_lock);
    if (g->objcgs.empty()) return nullptr;
    // Chosen under the list lock: if p's own removal has begun, its
    // reparenting waits for this lock and finds what we move onto p.
    p = nearest_online(g->parent);
    while (!g->objcgs.empty()) {
      auto* oc = static_cast<ObjCgroup*>(g->objcgs.next->owner);
      {
        LockGuard<SpinLock> ol(oc->lock);
        g->counter.move_to_ancestor(oc->charged, &p->counter);
        for (int i = 0; i < 2; ++i) {
          slab_stat(g, i).fetch_sub(oc->slab_bytes[i], std::memory_order_relaxed);
          slab_stat(p, i).fetch_add(oc->slab_bytes[i], std::memory_order_relaxed);
        }
        group_get(p);  // before oc can be released and put its group
        oc->group.store(p, std::memory_order_release);
      }
      oc->node.unlink();
      p->objcgs.push_back(&oc->node);
      ++moved;
    }
  }
  for (int i = 0; i < moved; ++i) group_put(g);
  return p;  // alive: g's ancestors are pinned by g, which the caller holds
}

void objcg_release_group(GroupImpl* g) noexcept {
  if (ObjCgroup* oc = g->objcg.exchange(nullptr, std::memory_order_acq_rel)) objcg_put(oc);
}

namespace {
// What one ObjCgroup has charged its group, read under its lock.
struct ChargeFigures {
  std::uint64_t charged;
  std::uint64_t slab[2];
};
// Calls f(figures) for every ObjCgroup charging g.
template <class F>
void for_each_charging(GroupImpl* g, F&& f) {
  LockGuard<SpinLock> l(rt().list_lock);
  for (ListNode* n = g->objcgs.next; n != &g->objcgs; n = n->next) {
    auto* oc = static_cast<ObjCgroup*>(n->owner);
    ChargeFigures c;
    {
      LockGuard<SpinLock> ol(oc->lock);
      c = ChargeFigures{oc->charged, {oc->slab_bytes[0], oc->slab_bytes[1]}};
    }
    f(c);
  }
}
}  // namespace

std::uint64_t objcg_charged_bytes(GroupImpl* g) noexcept {
  std::uint64_t sum = 0;
  for_each_charging(g, [&](const ChargeFigures& c) { sum += c.charged; });
  return sum;
}

void objcg_slab_bytes(GroupImpl* g, std::uint64_t out[2]) noexcept {
  for_each_charging(g, [&](const ChargeFigures& c) {
    out[0] += c.slab[0];
    out[1] += c.slab[1];
  });
}

std::int64_t objcg_charge_beyond_stats(GroupImpl* g) noexcept {
  std::int64_t sum = 0;
  for_each_charging(g, [&](const ChargeFigures& c) {
    sum += static_cast<std::int64_t>(c.charged - c.slab[0] - c.slab[1]);
  });
  return sum;
}

std::uint64_t objcgs_allocated() noexcept { return rt().allocated.load(std::memory_order_relaxed); }

}  // namespace memcg::detail
