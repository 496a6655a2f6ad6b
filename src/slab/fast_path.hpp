// The slab allocation and free fast paths, inline so that Cache::alloc,
// Cache::free, kmalloc and kfree run them without a call: one gate entry
// (no atomic read-modify-write), one table probe, one magazine; for a
// per-object charging cache, in the same gate operation, the object slot,
// and the owner record after it. Everything else (misses, contended gates,
// refused charges) is out of line in thread_mags.cpp.
//
// A hit proves the cache alive (not that it is not dead): a cache's
// entries are flushed by a drain round, which waits for this gate
// operation, after it is marked dead and before it can be destroyed, and
// installs check `dead` inside the gate. Objects taken from or given to a
// just-killed cache's magazines are counted in its `inuse` either way, and
// the flush returns the magazines' rounds to its slabs.
//
// ACCOUNTING RULE (per-object caches): an object is charged while a user
// holds it, from the moment alloc returns it to the moment free is called;
// objects in magazines, depots and slabs are charged to no group.
#pragma once

#include <atomic>
#include <cstdint>

#include "charge/objcg.hpp"
#include "core/group_impl.hpp"
#include "platform/assert.hpp"
#include "slab/cache_impl.hpp"
#include "slab/checked.hpp"
#include "slab/slab.hpp"
#include "slab/thread_mags.hpp"

namespace memcg::detail {

// ---- misses, out of line (thread_mags.cpp) ----

/// The table probe missed or found no rounds (the gate was entered and left).
__attribute__((noinline)) void* alloc_miss(RootCache* root, GroupImpl* g) noexcept;
/// A drainer was pending on the gate: the same probe under the gate lock.
__attribute__((noinline, cold)) void* alloc_contended(RootCache* root, GroupImpl* g) noexcept;
/// A per-object charging allocation the fast path could not finish: `obj`
/// is the object it took (charged to nobody yet) or nullptr.
__attribute__((noinline)) void* alloc_charged_miss(RootCache* root, GroupImpl* g, void* obj) noexcept;
/// The object is still to be published (its charge, if any, is settled).
__attribute__((noinline)) void free_contended(ChildCache* c, void* obj) noexcept;
/// The object slot did not take the object's charge: publish the object,
/// then uncharge with what was read before publishing (`key`: the owner's
/// ObjSlot::key_of(ObjCgroup, reclaimable)).
__attribute__((noinline)) void free_charged_miss(ChildCache* c, void* obj, std::uintptr_t key, std::uint32_t charge) noexcept;

// ---- table and slot operations (inside a gate operation) ----

// Pops from the entry for (root, gid), if it is in the table and has rounds.
inline void* pop_keyed(MagEntry* table, std::uint64_t key, std::uint32_t slot) {
  MagEntry& e = table[slot];
  if (MEMCG_UNLIKELY(e.key != key)) return nullptr;
  void** top = e.top;
  if (MEMCG_UNLIKELY(MagEntry::count_of(top) == 0)) {
    if (!e.prev || e.prev->n == 0) return nullptr;
    Magazine* full = e.prev;
    e.prev = e.unload();
    top = full->rounds + full->n;
  }
  --top;
  e.top = top;
  void* obj = *top;
  if (obj == nullptr) __builtin_unreachable();  // rounds are objects: a caller's miss test folds away
  return obj;
}

inline void* pop_in_gate(MagEntry* table, const RootCache* root, std::uint32_t gid) {
  return pop_keyed(table, mag_key(root->seq, gid), mag_slot(root->seq, gid));
}

// Pushes onto c's entry (in table slot `slot`, c->mag_slot_), if it is in
// the table and has room.
inline bool push_in_gate(MagEntry* table, std::uint32_t slot, ChildCache* c, void* obj) {
  MagEntry& e = table[slot];
  if (MEMCG_UNLIKELY(e.cache != c)) return false;
  void** top = e.top;
  if (MEMCG_UNLIKELY(MagEntry::is_full(top))) {
    if (!e.prev || !e.prev->empty()) return false;
    Magazine* empty = e.prev;
    e.prev = e.unload();
    top = empty->rounds;
  }
  *top = obj;
  e.top = top + 1;
  return true;
}

inline void record_owner(void* obj, ObjCgroup* oc) {
  Slab* s = Slab::of(obj);
  s->objcgs[s->index(obj)] = oc;
}

// Takes `bytes` of key's ObjCgroup from the object slot (inside a gate op).
// A key with a null ObjCgroup (a group that has none yet) may equal an
// empty slot's key 0, whose bytes are 0: the take fails, so callers need no
// null test.
inline bool slot_take(ObjSlot& o, std::uintptr_t key, std::uint32_t bytes) {
  const std::uint32_t have = o.bytes.load(std::memory_order_relaxed);
  if (MEMCG_UNLIKELY(o.key.load(std::memory_order_relaxed) != key) || MEMCG_UNLIKELY(have < bytes)) return false;
  o.bytes.store(have - bytes, std::memory_order_relaxed);
  return true;
}

// Gives `bytes` of key's ObjCgroup back to the object slot (inside a gate op).
inline bool slot_give(ObjSlot& o, std::uintptr_t key, std::uint32_t bytes) {
  const std::uint32_t have = o.bytes.load(std::memory_order_relaxed) + bytes;
  if (MEMCG_UNLIKELY(o.key.load(std::memory_order_relaxed) != key) || MEMCG_UNLIKELY(have > kObjStockMax)) return false;
  o.bytes.store(have, std::memory_order_relaxed);
  return true;
}

inline std::uint32_t key_group_id(const RootCache* root, const GroupImpl* g) {
  return root->per_group ? g->id : kNoGroupId;
}

// ---- the fast paths ----

inline void* cache_alloc(RootCache* root, GroupImpl* g) noexcept {
  ThreadMags& t = tls_mags;
  if (!root->charge_objects) {
    if (MEMCG_UNLIKELY(!t.gate.try_enter())) return checked::on_alloc(alloc_contended(root, g));
    void* obj = pop_in_gate(t.table, root, key_group_id(root, g));
    t.gate.leave();
    if (MEMCG_LIKELY(obj != nullptr)) return checked::on_alloc(obj);
    return checked::on_alloc(alloc_miss(root, g));
  }
  ObjCgroup* oc = g->objcg.load(std::memory_order_acquire);
  const std::uintptr_t key = ObjSlot::key_of(oc, root->options.reclaimable);
  if (MEMCG_UNLIKELY(!t.gate.try_enter())) return checked::on_alloc(alloc_charged_miss(root, g, nullptr));
  void* obj = pop_keyed(t.table, root->shared_key, root->shared_slot);
  if (MEMCG_LIKELY(obj != nullptr) && MEMCG_LIKELY(slot_take(t.obj, key, root->charge_bytes))) {
    t.gate.leave();
    record_owner(obj, oc);
    return checked::on_alloc(obj);
  }
  t.gate.leave();
  return checked::on_alloc(alloc_charged_miss(root, g, obj));
}

inline void cache_free(void* obj) noexcept {
  checked::on_free(obj);  // checked builds: foreign, misaligned, double free
  Slab* s = Slab::of(obj);
  ObjCgroup** owners = s->objcgs;
  ChildCache* c = s->cache;
  const std::uint32_t slot = s->mag_slot;
  ThreadMags& t = tls_mags;
  if (!owners) {
    if (MEMCG_LIKELY(t.gate.try_enter())) {
      const bool pushed = push_in_gate(t.table, slot, c, obj);
      t.gate.leave();
      if (MEMCG_LIKELY(pushed)) return;
    }
    return free_contended(c, obj);
  }
  // Read before the object is published in the magazine: from then on a
  // drain may flush it, empty its slab and give the slab away.
  const std::uint32_t charge = s->charge_bytes;
  ObjCgroup*& e = owners[s->index(obj)];
  const std::uintptr_t key = ObjSlot::key_of(e, s->reclaimable);
#if defined(MEMCG_CHECKED)
  e = nullptr;  // a free object's entry is never read (the next allocation writes it)
#endif
  if (MEMCG_LIKELY(t.gate.try_enter())) {
    if (MEMCG_LIKELY(slot_give(t.obj, key, charge))) {
      const bool pushed = push_in_gate(t.table, slot, c, obj);
      t.gate.leave();
      if (MEMCG_LIKELY(pushed)) return;
      return free_contended(c, obj);
    }
    t.gate.leave();
  }
  return free_charged_miss(c, obj, key, charge);
}

}  // namespace memcg::detail
