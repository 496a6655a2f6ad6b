// The object slot of the slab layer's per-thread state (slab/thread_mags.hpp):
// byte-precise charging of objects through ObjCgroups (charge/objcg.hpp),
// the kernel's obj_stock. The fast paths are in thread_mags.cpp, in the
// same gate operation as the magazine; here are the slow paths, the drains
// and the statistics.
//
// The slot is emptied when the thread switches ObjCgroup (or statistics
// kind), when a group is removed (its ObjCgroups' slots, now charging the
// heir), when a charge fails at a limit (the subtree's slots, with the
// charge stocks) and at thread exit. The last three also take the owners,
// and so the charged rounds, of the magazine table entries of the same
// ObjCgroups (thread_mags.hpp CHARGED ROUNDS).
//
// BOUND: a slot holds at most kObjStockMax bytes of one ObjCgroup, and the
// statistics it has not added differ from the group's by at most as much,
// so memory.current of a group overstates its live objects' bytes by at
// most threads x kObjStockMax (besides the charge stocks' bound,
// charge/stock.hpp); memory.stat adds the slots' statistics when read.
#include <atomic>

#include "charge/objcg.hpp"
#include "core/group_impl.hpp"
#include "core/upcalls.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/rcu.hpp"
#include "slab/thread_mags.hpp"

namespace memcg::detail {
namespace {

// The slot's statistics not yet added, by kind (gate op or gate lock).
void take_stats(ObjSlot& o, std::int64_t out[2]) {
  const std::uint32_t b = o.bytes.load(std::memory_order_relaxed);
  out[o.reclaimable()] += static_cast<std::int64_t>(o.base.load(std::memory_order_relaxed)) - b;
  o.base.store(b, std::memory_order_relaxed);
}

// A thread that cannot keep a slot (it exited): exact charges, no slot.
bool charge_unstocked(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) {
  if (!objcg_charge(oc, bytes)) return false;
  std::int64_t d[2] = {};
  d[reclaimable] = bytes;
  objcg_account_slab(oc, d);
  return true;
}

void uncharge_unstocked(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) {
  std::int64_t d[2] = {};
  d[reclaimable] = -static_cast<std::int64_t>(bytes);
  objcg_account_slab(oc, d);
  objcg_uncharge(oc, bytes);
}

// Whether the calling thread keeps a slot (it is registered, or can be).
bool can_stock(ThreadMags& t) { return t.registered || (!t.exited && mags_registry().enrol(t)); }

// Points the slot at key (gate op), taking out what it held for another key.
void switch_slot(ObjSlot& o, ObjCgroup* oc, std::uintptr_t key, ObjTaken* evicted) {
  if (o.key.load(std::memory_order_relaxed) == key) return;
  *evicted = take_obj(o);
  objcg_get(oc);  // alive: the caller holds a charge through it
  o.key.store(key, std::memory_order_release);
}

}  // namespace

ObjTaken take_obj(ObjSlot& o) noexcept {
  ObjTaken t;
  t.objcg = o.objcg();
  if (!t.objcg) return t;
  take_stats(o, t.slab);
  t.bytes = o.bytes.load(std::memory_order_relaxed);
  o.bytes.store(0, std::memory_order_relaxed);
  o.base.store(0, std::memory_order_relaxed);
  o.key.store(0, std::memory_order_release);
  return t;
}

// Straight to the counters, never into a charge stock: this runs on exit
// and in remote drains.
void give_back_obj(const ObjTaken& t) noexcept {
  if (!t.objcg) return;
  objcg_account_slab(t.objcg, t.slab);
  objcg_uncharge(t.objcg, t.bytes);
  objcg_put(t.objcg);
}

namespace {

// What a slow path's gate operation left to do outside the gate.
struct Filled {
  ObjTaken evicted;           // the slot's previous ObjCgroup, if it switched
  std::int64_t stats[2] = {};  // statistics the slot had not added
  std::uint64_t excess = 0;   // bytes beyond the bound, to uncharge
};

// Points t's slot at key and adds `add` bytes; above kObjStockMax it keeps
// `retain` and returns the rest as excess (one gate operation).
Filled fill_slot(ThreadMags& t, ObjCgroup* oc, std::uintptr_t key, std::uint64_t add, std::uint32_t retain) {
  Filled f;
  t.gate.run([&] {
    ObjSlot& o = t.obj;
    switch_slot(o, oc, key, &f.evicted);
    take_stats(o, f.stats);
    const std::uint64_t b = o.bytes.load(std::memory_order_relaxed) + add;
    f.excess = b > kObjStockMax ? b - retain : 0;
    o.bytes.store(static_cast<std::uint32_t>(b - f.excess), std::memory_order_relaxed);
    o.base.store(static_cast<std::uint32_t>(b - f.excess), std::memory_order_relaxed);
  });
  return f;
}

// Outside the gate: the statistics (with this object's), the excess, the
// evicted ObjCgroup.
void settle(ObjCgroup* oc, const Filled& f, int reclaimable, std::int64_t object_bytes) {
  std::int64_t stats[2] = {f.stats[0], f.stats[1]};
  stats[reclaimable] += object_bytes;
  objcg_account_slab(oc, stats);
  objcg_uncharge(oc, f.excess);
  give_back_obj(f.evicted);
}

}  // namespace

// oc is kept alive by the caller: it is the allocating group's own (held by
// the group, which the caller holds) or an ancestor's (held by that ancestor).
bool obj_charge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadMags& t = tls_mags;
  if (!can_stock(t)) return charge_unstocked(oc, bytes, reclaimable);
  const std::uintptr_t key = ObjSlot::key_of(oc, reclaimable);
  bool done = false;  // the fast path's try, serialised with a pending drainer
  t.gate.run([&] {
    ObjSlot& o = t.obj;
    const std::uint32_t have = o.bytes.load(std::memory_order_relaxed);
    if (o.key.load(std::memory_order_relaxed) != key || have < bytes) return;
    o.bytes.store(have - bytes, std::memory_order_relaxed);
    done = true;
  });
  if (done) return true;
  // Whole chunks, as the kernel charges whole pages: the rest stays in the
  // slot. About kObjStockRefill more if the charge stock has it.
  auto chunks = [](std::uint64_t b) { return (b + kObjStockChunk - 1) / kObjStockChunk * kObjStockChunk; };
  const std::uint64_t got = objcg_charge_batch(oc, chunks(bytes), chunks(std::uint64_t{bytes} + kObjStockRefill));
  if (!got) return false;
  settle(oc, fill_slot(t, oc, key, got - bytes, kObjStockMax), reclaimable, bytes);
  return true;
}

void obj_uncharge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadMags& t = tls_mags;
  if (!can_stock(t)) return uncharge_unstocked(oc, bytes, reclaimable);
  const std::uintptr_t key = ObjSlot::key_of(oc, reclaimable);
  // Alive now: the object being freed is charged through it. Once its bytes
  // are in the slot a drain may take them and drop the last reference
  // before we are done: hold our own.
  objcg_get(oc);
  // Above the bound keep kObjStockRefill: alternating frees and allocations
  // around it do not reach the group every time.
  const Filled f = fill_slot(t, oc, key, bytes, kObjStockRefill);
  // A drain may take the slot here, give its bytes back and drop its reference.
  MEMCG_FAULT_POINT(fault::Kind::kObjSlotGiveBack);
  settle(oc, f, reclaimable, -static_cast<std::int64_t>(bytes));
  objcg_put(oc);
}

void drain_own_object_slot() noexcept {
  ThreadMags& t = tls_mags;
  ObjTaken taken;
  {
    LockGuard<SpinLock> l(t.gate.lock());  // excludes drain rounds
    taken = take_obj(t.obj);
  }
  give_back_obj(taken);
}

namespace {

// What a drain takes from one thread, inside its gate (a drain round's
// visit, or the thread itself holding its gate's lock): the object slot if
// pred accepts its ObjCgroup, and the owners (with their charged rounds,
// thread_mags.hpp CHARGED ROUNDS) of the table entries whose owner's
// ObjCgroup it accepts; given back outside the gate.
struct TakenStocks {
  ObjTaken slot;
  Discharge owners[kTableSize];

  template <class Pred>
  void take(ThreadMags& t, Pred& pred) {
    ObjSlot& o = t.obj;
    ObjCgroup* oc = o.objcg();
    if (oc && pred(oc)) slot = take_obj(o);
    for (std::uint32_t i = 0; i < kTableSize; ++i) {
      MagEntry& e = t.table[i];
      // An entry's owner holds a reference on its ObjCgroup.
      auto* eoc = reinterpret_cast<ObjCgroup*>(e.owner & ~std::uintptr_t{1});
      if (e.cache && eoc && pred(eoc)) owners[i] = take_owner(e);
    }
  }

  // Returns the bytes to their groups and the references, and empties this
  // for the next thread; true if any bytes were taken.
  bool give_back() {
    bool gave = slot.bytes != 0;
    give_back_obj(slot);
    slot = ObjTaken{};
    for (Discharge& d : owners) {
      gave |= d.bytes != 0;
      settle(d);
      d = Discharge{};
    }
    return gave;
  }
};

// A drain round over every thread's slot and magazine table (registry
// mutex held), taking what pred accepts (TakenStocks).
template <class Pred>
void drain_slots(Pred&& pred) {
  ThreadRegistry& r = mags_registry();
  rcu::ReadGuard rg;  // pred reads ObjCgroups' groups, which may move up and be freed
  LockGuard<RankedMutex> l(r.mutex());
  TakenStocks taken;
  r.drain_round([&](ThreadNode& n) { taken.take(static_cast<ThreadMags&>(n), pred); },
                [&](ThreadNode&) { taken.give_back(); });
}

}  // namespace

void drain_object_slots_of_heir(GroupImpl* heir) noexcept {
  ObjCgroup* own = heir->objcg.load(std::memory_order_acquire);
  drain_slots([heir, own](ObjCgroup* oc) { return oc != own && oc->group.load(std::memory_order_acquire) == heir; });
}

void drain_object_slots_in_subtree(GroupImpl* over) noexcept {
  drain_slots([over](ObjCgroup* oc) { return oc->group.load(std::memory_order_acquire)->is_descendant_of(over); });
}

bool drain_own_object_stocks_in_subtree(GroupImpl* over) noexcept {
  ThreadMags& t = tls_mags;
  auto in_subtree = [over](ObjCgroup* oc) { return oc->group.load(std::memory_order_acquire)->is_descendant_of(over); };
  rcu::ReadGuard rg;  // ObjCgroups' groups may move up and be freed
  TakenStocks taken;
  {
    LockGuard<SpinLock> l(t.gate.lock());  // excludes drain rounds
    taken.take(t, in_subtree);
  }
  return taken.give_back();
}

ObjSlotSum object_slots_in_subtree(GroupImpl* g) noexcept {
  ThreadRegistry& r = mags_registry();
  ObjSlotSum sum;
  rcu::ReadGuard rg;  // slots' ObjCgroups' groups may move up and be freed while we look
  LockGuard<RankedMutex> l(r.mutex());
  r.for_each_locked([&](ThreadNode& n) {
    const ObjSlot& o = static_cast<ThreadMags&>(n).obj;
    // Acquire: pairs with the owner's release store of the key, so the
    // ObjCgroup's fields are seen initialised.
    auto* oc = reinterpret_cast<ObjCgroup*>(o.key.load(std::memory_order_acquire) & ~std::uintptr_t{1});
    if (!oc || !oc->group.load(std::memory_order_acquire)->is_descendant_of(g)) return;
    const std::uint32_t b = o.bytes.load(std::memory_order_relaxed);
    sum.bytes += b;
    sum.slab[o.reclaimable()] += static_cast<std::int64_t>(o.base.load(std::memory_order_relaxed)) - b;
  });
  return sum;
}

}  // namespace memcg::detail
