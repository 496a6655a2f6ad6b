#include "charge/stock.hpp"

#include "charge/obj_stock.hpp"
#include "charge/objcg.hpp"
#include "charge/thread_stock.hpp"

#include <atomic>
#include <cstddef>
#include <thread>

#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"
#include "platform/thread_registry.hpp"

namespace memcg::detail {

constinit thread_local ThreadStock tls_stock __attribute__((tls_model("initial-exec"))){};

namespace {


void stock_thread_exit(ThreadNode* n) noexcept;
ThreadNode* own_stock() noexcept { return &tls_stock; }

// The registry mutex serialises drain rounds and the list of stocks; the
// drain mutex lets at most one best-effort subtree drainer queue up.
struct StockRegistry {
  ThreadRegistry threads{LockRank::kStockRegistry, {own_stock, stock_thread_exit, nullptr},
                         static_cast<int>(fault::Kind::kStockDrainTake)};
  RankedMutex drain_mutex{LockRank::kStockDrain};
  fork::HeldAcrossFork<RankedMutex> drain_fork{drain_mutex};
};

StockRegistry& registry() {
  static StockRegistry* r = new StockRegistry;  // leaked: exiting threads use it
  return *r;
}

inline StockSlot* find_slot(ThreadStock& s, GroupImpl* g) {
  for (auto& slot : s.slots)
    if (slot.group.load(std::memory_order_relaxed) == g) return &slot;
  return nullptr;
}

struct Taken {
  GroupImpl* group = nullptr;
  std::uint64_t bytes = 0;
};

// What was taken out of an object slot.
struct ObjTaken {
  ObjCgroup* objcg = nullptr;
  std::uint32_t bytes = 0;
  std::int64_t slab[2] = {};
};

// Empties the object slot (gate op or gate lock held).
ObjTaken take_obj(ObjSlot& o) {
  ObjTaken t{o.objcg.load(std::memory_order_relaxed), o.bytes.load(std::memory_order_relaxed),
             {o.slab[0].load(std::memory_order_relaxed), o.slab[1].load(std::memory_order_relaxed)}};
  o.bytes.store(0, std::memory_order_relaxed);
  o.slab[0].store(0, std::memory_order_relaxed);
  o.slab[1].store(0, std::memory_order_relaxed);
  o.objcg.store(nullptr, std::memory_order_release);
  return t;
}

// Takes the statistics out of the slot, leaving its bytes (gate op).
void take_obj_stats(ObjSlot& o, std::int64_t out[2]) {
  for (int i = 0; i < 2; ++i) {
    out[i] += o.slab[i].load(std::memory_order_relaxed);
    o.slab[i].store(0, std::memory_order_relaxed);
  }
}

// Adds what an object slot held back to its ObjCgroup and drops the slot's
// reference. Straight to the counters (never into a stock: this runs on
// exit and in remote drains).
void give_back_obj(const ObjTaken& t) {
  if (!t.objcg) return;
  objcg_account_slab(t.objcg, t.slab);
  objcg_uncharge(t.objcg, t.bytes, false);
  objcg_put(t.objcg);
}

// Uncharges what a drain or eviction took out of a slot and drops the slot's
// reference. Never under a stock lock held by the owner fast path.
void give_back(const Taken& t) {
  if (!t.group) return;
  if (t.bytes) t.group->counter.uncharge(t.bytes);
  group_put(t.group);
}

// Takes the slots matching pred out of s (gate lock held, owner excluded).
template <class Pred>
int take_matching_locked(ThreadStock& s, Pred&& pred, Taken* out) {
  int n = 0;
  for (auto& slot : s.slots) {
    GroupImpl* g = slot.group.load(std::memory_order_relaxed);
    if (!g || !pred(g)) continue;
    out[n++] = Taken{g, slot.bytes.load(std::memory_order_relaxed)};
    slot.bytes.store(0, std::memory_order_relaxed);
    slot.group.store(nullptr, std::memory_order_release);
  }
  return n;
}

// A drain round over every registered stock (registry mutex held): takes
// the slots matching pred, then gives them back outside the gate lock.
template <class Pred, class ObjPred>
void drain_all_locked(ThreadRegistry& r, Pred&& pred, ObjPred&& obj_pred, GroupImpl* account_to)
    MEMCG_REQUIRES(r.mutex()) {
  Taken taken[kStockSlots];
  ObjTaken obj;
  int n = 0;
  r.drain_round(
      [&](ThreadNode& t) {
        auto& s = static_cast<ThreadStock&>(t);
        n = take_matching_locked(s, pred, taken);
        ObjCgroup* oc = s.obj.objcg.load(std::memory_order_relaxed);
        if (oc && obj_pred(oc)) obj = take_obj(s.obj);
      },
      [&](ThreadNode&) {
        if ((n || obj.objcg) && account_to) account_to->stats.stock_drains.fetch_add(1, std::memory_order_relaxed);
        for (int i = 0; i < n; ++i) give_back(taken[i]);
        give_back_obj(obj);
        obj = ObjTaken{};
        n = 0;
      });
}

// The exiting thread's node is its own stock: everything goes back.
void stock_thread_exit(ThreadNode*) noexcept { drain_own_stock(); }

}  // namespace

bool stock_consume(GroupImpl* g, std::uint64_t bytes) noexcept {
  ThreadStock& s = tls_stock;
  bool ok = false;
  s.gate.run([&] {
    StockSlot* slot = find_slot(s, g);
    if (!slot) return;
    std::uint64_t have = slot->bytes.load(std::memory_order_relaxed);
    if (have < bytes) return;
    slot->bytes.store(have - bytes, std::memory_order_relaxed);
    ok = true;
  });
  return ok;
}

void stock_refill(GroupImpl* g, std::uint64_t bytes) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.registered) && !registry().threads.enrol(s)) {  // exited thread
    g->counter.uncharge(bytes);
    return;
  }
  Taken evicted;
  std::uint64_t excess = bytes;  // what is not stocked gets uncharged
  s.gate.run([&] {
    // Checked inside the op: remove() sets dying before it drains, so either
    // we see dying here or its drain sees the slot we fill (stock.hpp).
    if (!g->is_online()) return;
    MEMCG_FAULT_POINT(fault::Kind::kStockRefillOp);  // a remote drain announces meanwhile
    StockSlot* slot = find_slot(s, g);
    if (!slot) {
      slot = find_slot(s, nullptr);
      if (!slot) {
        slot = &s.slots[s.victim];
        s.victim = (s.victim + 1) % kStockSlots;
        evicted = Taken{slot->group.load(std::memory_order_relaxed), slot->bytes.load(std::memory_order_relaxed)};
      }
      group_get(g);
      slot->bytes.store(0, std::memory_order_relaxed);
      slot->group.store(g, std::memory_order_release);
    }
    std::uint64_t b = slot->bytes.load(std::memory_order_relaxed) + bytes;
    // Above one batch, keep half a batch: alternating charge/uncharge around
    // the bound does not walk the hierarchy every time.
    excess = b > kChargeBatch ? b - kChargeBatch / 2 : 0;
    slot->bytes.store(b - excess, std::memory_order_relaxed);
  });
  if (excess) g->counter.uncharge(excess);
  give_back(evicted);
}

void drain_stocks_of(GroupImpl* g, GroupImpl* heir) noexcept {
  ThreadRegistry& r = registry().threads;
  // Object slots: every ObjCgroup that charged g before its removal now
  // charges heir and is not heir's own.
  ObjCgroup* heirs_own = heir ? heir->objcg.load(std::memory_order_acquire) : nullptr;
  LockGuard<RankedMutex> l(r.mutex());
  drain_all_locked(
      r, [g](GroupImpl* x) { return x == g; },
      [heir, heirs_own](ObjCgroup* oc) {
        return heir && oc != heirs_own && oc->group.load(std::memory_order_acquire) == heir;
      },
      nullptr);
}

bool drain_stocks_in_subtree(GroupImpl* over) noexcept {
  StockRegistry& r = registry();
  if (!r.drain_mutex.try_lock()) return false;
  {
    rcu::ReadGuard rg;  // an ObjCgroup's group may move up and be freed while we look
    LockGuard<RankedMutex> l(r.threads.mutex());
    drain_all_locked(
        r.threads, [over](GroupImpl* x) { return x->is_descendant_of(over); },
        [over](ObjCgroup* oc) { return oc->group.load(std::memory_order_acquire)->is_descendant_of(over); }, over);
  }
  r.drain_mutex.unlock();
  return true;
}

void drain_own_stock() noexcept {
  ThreadStock& s = tls_stock;
  Taken taken[kStockSlots];
  ObjTaken obj;
  int n;
  {
    LockGuard<SpinLock> l(s.gate.lock());
    n = take_matching_locked(s, [](GroupImpl*) { return true; }, taken);
    obj = take_obj(s.obj);
  }
  give_back_obj(obj);  // first: its uncharge goes to the counters, never to a slot
  for (int i = 0; i < n; ++i) give_back(taken[i]);
}

// ---- the object slot's slow paths (obj_stock.hpp) ----

namespace {

// A thread that cannot keep a stock (it exited): exact charges, no slot.
bool obj_charge_unstocked(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) {
  if (!objcg_charge(oc, bytes)) return false;
  std::int64_t d[2] = {};
  d[reclaimable] = bytes;
  objcg_account_slab(oc, d);
  return true;
}

void obj_uncharge_unstocked(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) {
  std::int64_t d[2] = {};
  d[reclaimable] = -static_cast<std::int64_t>(bytes);
  objcg_account_slab(oc, d);
  objcg_uncharge(oc, bytes, false);
}

}  // namespace

bool obj_charge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.registered) && !registry().threads.enrol(s)) return obj_charge_unstocked(oc, bytes, reclaimable);
  bool done = false;  // the fast path's try, serialised with a pending drainer
  s.gate.run([&] {
    ObjSlot& o = s.obj;
    const std::uint32_t have = o.bytes.load(std::memory_order_relaxed);
    if (o.objcg.load(std::memory_order_relaxed) != oc || have < bytes) return;
    o.bytes.store(have - bytes, std::memory_order_relaxed);
    o.slab[reclaimable].store(o.slab[reclaimable].load(std::memory_order_relaxed) + static_cast<std::int32_t>(bytes),
                              std::memory_order_relaxed);
    done = true;
  });
  if (done) return true;
  // Whole chunks, as the kernel charges whole pages: the rest stays in the slot.
  const std::uint64_t chunk = (std::uint64_t{bytes} + kObjStockChunk - 1) / kObjStockChunk * kObjStockChunk;
  if (!objcg_charge(oc, chunk)) return false;
  ObjTaken evicted;
  std::int64_t stats[2] = {};
  std::uint64_t excess = 0;
  s.gate.run([&] {
    ObjSlot& o = s.obj;
    if (o.objcg.load(std::memory_order_relaxed) != oc) {
      evicted = take_obj(o);
      objcg_get(oc);  // alive: we hold a charge through it
      o.objcg.store(oc, std::memory_order_release);
    }
    const std::uint64_t b = o.bytes.load(std::memory_order_relaxed) + chunk - bytes;
    excess = b > kObjStockMax ? b - kObjStockMax : 0;
    o.bytes.store(static_cast<std::uint32_t>(b - excess), std::memory_order_relaxed);
    take_obj_stats(o, stats);
  });
  stats[reclaimable] += bytes;
  objcg_account_slab(oc, stats);
  objcg_uncharge(oc, excess, true);
  give_back_obj(evicted);
  return true;
}

void obj_uncharge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.registered) && !registry().threads.enrol(s))
    return obj_uncharge_unstocked(oc, bytes, reclaimable);
  ObjTaken evicted;
  std::int64_t stats[2] = {};
  std::uint64_t excess = 0;
  s.gate.run([&] {
    ObjSlot& o = s.obj;
    if (o.objcg.load(std::memory_order_relaxed) != oc) {
      evicted = take_obj(o);
      objcg_get(oc);  // alive: the object being freed is still charged through it
      o.objcg.store(oc, std::memory_order_release);
    }
    const std::uint64_t b = o.bytes.load(std::memory_order_relaxed) + bytes;
    // Above the bound keep one chunk: alternating frees and allocations
    // around it do not reach the group every time.
    excess = b > kObjStockMax ? b - kObjStockChunk : 0;
    o.bytes.store(static_cast<std::uint32_t>(b - excess), std::memory_order_relaxed);
    take_obj_stats(o, stats);
  });
  stats[reclaimable] -= bytes;
  objcg_account_slab(oc, stats);
  objcg_uncharge(oc, excess, true);
  give_back_obj(evicted);
}

ObjStockSum obj_stock_in_subtree(GroupImpl* g) noexcept {
  ThreadRegistry& r = registry().threads;
  ObjStockSum sum;
  rcu::ReadGuard rg;  // slot ObjCgroups' groups may move up and be freed while we look
  LockGuard<RankedMutex> l(r.mutex());
  r.for_each_locked([&](ThreadNode& t) {
    const ObjSlot& o = static_cast<ThreadStock&>(t).obj;
    ObjCgroup* oc = o.objcg.load(std::memory_order_acquire);
    if (!oc || !oc->group.load(std::memory_order_acquire)->is_descendant_of(g)) return;
    sum.bytes += o.bytes.load(std::memory_order_relaxed);
    sum.slab[0] += o.slab[0].load(std::memory_order_relaxed);
    sum.slab[1] += o.slab[1].load(std::memory_order_relaxed);
  });
  return sum;
}

std::uint64_t threads_with_stock() noexcept { return registry().threads.count(); }

std::uint64_t stock_bytes_in_subtree(GroupImpl* g) noexcept {
  ThreadRegistry& r = registry().threads;
  std::uint64_t sum = 0;
  rcu::ReadGuard rg;  // slot groups may be evicted and freed while we look
  LockGuard<RankedMutex> l(r.mutex());
  r.for_each_locked([&](ThreadNode& t) {
    for (auto& slot : static_cast<ThreadStock&>(t).slots) {
      GroupImpl* x = slot.group.load(std::memory_order_acquire);
      if (x && x->is_descendant_of(g)) sum += slot.bytes.load(std::memory_order_relaxed);
    }
  });
  return sum;
}

}  // namespace memcg::detail
