// The slab allocation and free fast paths, inline so that Cache::alloc,
// Cache::free, kmalloc and kfree run them without a call: one gate entry
// (no atomic read-modify-write), one table probe, one magazine; for a
// per-object charging cache, in the same gate operation, the object slot,
// and after it the slab header's sole owner (slab.hpp SOLE OWNER), which
// spares the object's owner entry. Everything else (misses, contended
// gates, refused charges, owner entries to write) is out of line in
// thread_mags.cpp.
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

/// The fast view's probe missed or found no rounds (the gate was entered
/// and left; the view may have been blocked).
__attribute__((noinline)) void* alloc_miss(RootCache* root, GroupImpl* g) noexcept;
/// A per-object charging allocation the fast path could not finish: `obj`
/// is the object it took (charged to nobody yet) or nullptr.
__attribute__((noinline)) void* alloc_charged_miss(RootCache* root, GroupImpl* g, void* obj) noexcept;
/// The fast view's probe missed or found no room: the object is still to
/// be published (its charge, if any, is settled).
__attribute__((noinline)) void free_miss(ChildCache* c, void* obj) noexcept;
/// The object slot did not take the object's charge: publish the object,
/// then uncharge with what was read before publishing (`key`: the owner's
/// ObjSlot::key_of(ObjCgroup, reclaimable), read by the caller; the cache
/// and the charge are read here from the object's slab, which the
/// unpublished object keeps). A medium kmalloc block's free lands here too
/// (kmalloc.cpp MEDIUM FREE).
__attribute__((noinline)) void free_charged_miss(void* obj, std::uintptr_t key) noexcept;
/// kfree of a medium kmalloc block (kmalloc.cpp).
void kfree_medium(void* p) noexcept;

// ---- table and slot operations (inside a gate operation) ----

// Pops a round of entry e, which has a cache (swapping in a full previous
// magazine if the loaded one is empty): the round popped (read it before
// the gate operation ends: the magazine may be flushed and freed after), or
// nullptr.
inline const Round* pop_entry(MagEntry& e) {
  Round* r = e.top - 1;
  if (MEMCG_UNLIKELY(MagEntry::below_is_empty(r))) {
    if (!e.prev || e.prev->n == 0) return nullptr;
    Magazine* full = e.prev;
    e.prev = e.unload();
    r = full->rounds + full->n - 1;
  }
  e.top = r;
  return r;
}

// Pops from the entry at byte offset `off` if it has `key` and rounds (see
// pop_entry).
inline const Round* pop_keyed(MagEntry* table, std::uint64_t key, std::uintptr_t off) {
  MagEntry& e = entry_at(table, off);
  if (MEMCG_UNLIKELY(e.key != key)) return nullptr;
  return pop_entry(e);
}

inline void* pop_in_gate(MagEntry* table, const RootCache* root, std::uint32_t gid) {
  const Round* r = pop_keyed(table, mag_key(root->seq, gid), mag_off(mag_slot(root->seq, gid)));
  if (!r) return nullptr;
  void* obj = r->object();
  if (obj == nullptr) __builtin_unreachable();  // rounds are objects: a caller's miss test folds away
  return obj;
}

// Where the next push onto entry e goes (rounds + n of its loaded
// magazine, swapping in an empty previous magazine if the loaded one is
// full), or nullptr if neither has room. Inside a gate operation; the entry
// is whole whether or not the caller then pushes.
inline Round* push_room(MagEntry& e) {
  Round* top = e.top;
  if (top == nullptr) __builtin_unreachable();  // never null while e.cache is set
  if (MEMCG_UNLIKELY(MagEntry::is_full(top))) {
    if (!e.prev || !e.prev->empty()) return nullptr;
    Magazine* empty = e.prev;
    e.prev = e.unload();
    top = empty->rounds;
    e.top = top;  // a consistent entry even if the caller does not push
  }
  return top;
}

// Where a push of an object of c onto entry e goes (then e.top = that + 1),
// or nullptr if e is not c's or has no room.
inline Round* push_slot(MagEntry& e, const ChildCache* c) {
  if (MEMCG_UNLIKELY(e.cache != c)) return nullptr;
  return push_room(e);
}

// Pushes round r onto c's entry (at byte offset `off`: mag_off(c->mag_slot_)),
// if it is in the table and has room.
inline bool push_in_gate(MagEntry* table, std::uint32_t off, ChildCache* c, Round r) {
  MagEntry& e = entry_at(table, off);
  Round* top = push_slot(e, c);
  if (MEMCG_UNLIKELY(top == nullptr)) return false;
  *top = r;
  e.top = top + 1;
  return true;
}

/// Writes `key` into the owner entry `owner` (of a live object of its slab,
/// before the object is handed out) and keeps the slab's sole owner true
/// (slab.hpp SOLE OWNER). Out of line: a process whose objects all have
/// one owner writes entries only when objects are first carved.
__attribute__((noinline)) void note_owner(OwnerKey* owner, OwnerKey key) noexcept;

/// Makes `owner` (an entry of a live object, before it is handed out)
/// hold `key`, writing only if it does not.
inline void record_entry(OwnerKey* owner, OwnerKey key) {
  if (*owner != key) note_owner(owner, key);
}

inline void record_owner(void* obj, OwnerKey key) {
  std::uintptr_t off;
  Slab* s = Slab::of(obj, &off);
  record_entry(&s->objcgs[s->index_at(off)], key);
}

/// record_owner, out of line, returning obj: the fast path's call is a
/// tail call, so that it keeps no register across it.
__attribute__((noinline)) void* record_owner_of(void* obj, OwnerKey key) noexcept;

// Takes `bytes` of key's ObjCgroup from the object slot (inside a gate op).
// A key with a null ObjCgroup (a group that has none yet) may equal an
// empty slot's key 0, whose bytes are 0: the take fails, so callers need no
// null test.
inline bool slot_take(ObjSlot& o, std::uintptr_t key, std::uint32_t bytes) {
  std::uint32_t left;  // the subtraction's borrow is the "too few bytes" test
  if (MEMCG_UNLIKELY(__builtin_sub_overflow(o.bytes.load(std::memory_order_relaxed), bytes, &left)) ||
      MEMCG_UNLIKELY(o.key.load(std::memory_order_relaxed) != key))
    return false;
  o.bytes.store(left, std::memory_order_relaxed);
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
// Each enters the gate with ThreadMags::enter_fast() and probes the fast
// view; a probe of the blocked view misses, and the object slot is touched
// only after a hit (thread_mags.hpp, THE FAST VIEW). The misses retry under
// the gate's run(), which serialises with a pending drainer.

// The charged pop shared by cache_alloc and kmalloc, inside the gate
// operation the caller entered (`table`: enter_fast()'s): from the entry
// (mag_key, mag_off) if its owner is `key` (thread_mags.hpp CHARGED
// ROUNDS), a charged round as it is; else a round charged charge() bytes of
// slot key `key`, with `key` recorded as the object's owner (charge() is
// called on that path only, so that a charged round loads nothing for it). miss(obj)
// finishes anything else outside the gate (obj: popped and charged to
// nobody, or nullptr: the probe missed, the entry had no rounds or another
// owner).
template <class Charge, class Miss>
inline void* take_charged(MagEntry* table, std::uint64_t mag_key, std::uintptr_t mag_off, std::uintptr_t key,
                          Charge&& charge, Miss&& miss) {
  ThreadMags& t = tls_mags;
  MagEntry& e = entry_at(table, mag_off);
  void* obj = nullptr;
  if (MEMCG_LIKELY(e.owner == key)) {
    if (const Round* r = pop_keyed(table, mag_key, mag_off); MEMCG_LIKELY(r != nullptr)) {
      const std::uintptr_t tagged = r->tagged;
      if (MEMCG_LIKELY((tagged & kChargedRound) != 0)) {  // never fresh: its entry holds key
        t.gate.leave();
        return checked::on_alloc(checked::charged_round(reinterpret_cast<void*>(tagged - kChargedRound), key));
      }
      obj = reinterpret_cast<void*>(tagged & ~kFreshEntry);
      if (MEMCG_LIKELY(slot_take(t.obj, key, charge()))) {
        t.gate.leave();
        // The object is ours now: its slab lives while it does. An entry
        // that is not fresh holds its slab's sole owner, if the slab has
        // one (slab.hpp SOLE OWNER): then nothing is read or written but
        // the header's line.
        const Slab* s = Slab::of(obj);
        if (MEMCG_UNLIKELY(((tagged & kFreshEntry) | (s->sole.load(std::memory_order_relaxed) ^ key)) != 0))
          return checked::on_alloc(record_owner_of(obj, key));
        return checked::on_alloc(obj);
      }
    }
  }
  t.gate.leave();
  return checked::on_alloc(miss(obj));
}

inline void* cache_alloc(RootCache* root, GroupImpl* g) noexcept {
  ThreadMags& t = tls_mags;
  if (!root->charge_objects) {
    void* obj = pop_in_gate(t.enter_fast(), root, key_group_id(root, g));
    t.gate.leave();
    if (MEMCG_LIKELY(obj != nullptr)) return checked::on_alloc(obj);
    return checked::on_alloc(alloc_miss(root, g));
  }
  ObjCgroup* oc = g->objcg.load(std::memory_order_acquire);
  const std::uintptr_t key = ObjSlot::key_of(oc, root->options.reclaimable);
  return take_charged(
      t.enter_fast(), root->shared_key, root->shared_off, key,
      [root] {
        const RootCache* r = root;
        __asm__("" : "+r"(r));  // loaded where it is used, not ahead of the charged round's return
        return r->charge_bytes;
      },
      [&](void* obj) { return alloc_charged_miss(root, g, obj); });
}

// The free of an object of a per-object charging cache (s: its slab), for
// cache_free and kfree (whose caches all charge objects).
//
// kMixedLikely lays the read of the object's own entry (a slab of several
// owners) out in line, with the owner vector and the object's offset from s
// passed by the caller, and the slab's sole owner's behind a branch; else
// the reverse, with the entry's address computed only behind the branch. A
// Cache's slabs, and kmalloc's in a process, are shared by its groups:
// cache_free and kfree take the first; the interposer's free (one group a
// process under memcg-run) the second (kfree_one_owner.hpp). (slab_bench,
// 64 B, Cache: the sole owner's path is about 0.15 ns slower laid out this
// way, two groups' frees 0.3 ns faster.)
template <bool kMixedLikely>
inline void free_charged(void* obj, Slab* s, OwnerKey* owners = nullptr, std::uintptr_t obj_off = 0) noexcept {
  ChildCache* c = s->cache;
  const std::uint32_t entry_off = s->mag_off;
  // The slab's sole owner when it has one, else the object's entry (slab.hpp
  // SOLE OWNER): a branch, not a select, so that the entry is not loaded.
  // What only one path needs (the entry's index, the charge) is loaded on
  // it: `hidden` keeps the compiler from loading it ahead.
  OwnerKey key = s->sole.load(std::memory_order_relaxed);
  if (__builtin_expect(key <= kOwnersMixed, kMixedLikely)) {
    Slab* hidden = s;
    __asm__("" : "+r"(hidden));
    if constexpr (kMixedLikely) key = owners[hidden->index_at(obj_off)];
    else key = hidden->objcgs[hidden->index(obj)];
  }
  ThreadMags& t = tls_mags;
  MagEntry& e = entry_at(t.enter_fast(), entry_off);
  Round* top = push_slot(e, c);
  if (MEMCG_LIKELY(top != nullptr)) {
    // Still charged, into the entry of its owner (thread_mags.hpp CHARGED
    // ROUNDS): its entry keeps the key.
    if (MEMCG_LIKELY(e.charged_owner == key)) {
      *top = Round{reinterpret_cast<std::uintptr_t>(obj) | kChargedRound};
      e.top = top + 1;
      t.gate.leave();
      return;
    }
    // Uncharged through the object slot, where it takes the bytes (read
    // before the object is published in the magazine: from then on a drain
    // may flush it, empty its slab and give the slab away).
    Slab* hidden = s;
    __asm__("" : "+r"(hidden));
    if (MEMCG_LIKELY(slot_give(t.obj, key, hidden->charge_bytes))) {
#if defined(MEMCG_CHECKED)
      // An uncharged free object's entry is never read: the next
      // allocation writes it (a fresh round).
      hidden->objcgs[hidden->index(obj)] = 0;
      constexpr bool kFreeZeroesEntry = true;
#else
      constexpr bool kFreeZeroesEntry = false;
#endif
      *top = Round::of(obj, kFreeZeroesEntry);
      e.top = top + 1;
      t.gate.leave();
      return;
    }
  }
  t.gate.leave();
  return free_charged_miss(obj, key);
}

inline void cache_free(void* obj) noexcept {
  checked::on_free(obj);  // checked builds: foreign, misaligned, double free
  Slab* s = Slab::of(obj);
  if (OwnerKey* owners = s->objcgs) {
    const auto obj_off = static_cast<std::uintptr_t>(static_cast<char*>(obj) - reinterpret_cast<char*>(s));
    return free_charged<true>(obj, s, owners, obj_off);
  }
  ChildCache* c = s->cache;
  const std::uint32_t entry_off = s->mag_off;
  ThreadMags& t = tls_mags;
  MagEntry& e = entry_at(t.enter_fast(), entry_off);
  Round* top = push_slot(e, c);
  if (MEMCG_LIKELY(top != nullptr)) {
    *top = Round::of(obj, false);  // a cache that does not charge objects has no owner entries
    e.top = top + 1;
    t.gate.leave();
    return;
  }
  t.gate.leave();
  return free_miss(c, obj);
}

}  // namespace memcg::detail
