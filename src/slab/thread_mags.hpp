// The per-thread state of the slab layer: the magazine table and the object
// slot, both guarded by one OwnerGate (platform/owner_gate.hpp), so that an
// allocation or a free of a per-object charging cache is one gate operation.
// Shared by thread_mags.cpp (magazines, fast paths) and obj_stock.cpp (the
// object slot's slow paths, drains and statistics).
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/thread_registry.hpp"
#include "slab/cache_impl.hpp"

namespace memcg::detail {

struct GroupImpl;
struct ObjCgroup;

inline constexpr std::uint32_t kTableSize = kMagTableSize;
// Objects up to this size (charge_bytes - sizeof(OwnerKey)) are freed into
// charged rounds (MagEntry CHARGED ROUNDS). Where a program's sizes spread
// across this boundary, the fast paths' charged/uncharged branches follow
// the size class and mispredict: it sits above the sizes most programs
// allocate (larson's 8-1000 bytes, split at 256, ran 1.4x slower than all
// charged or none), and below the classes whose rounds would make the
// bound large (124 x 1 KiB an entry here).
inline constexpr std::uint32_t kChargedRoundMax = 1024;
// MagEntry::charged_owner of an entry whose frees push no charged rounds: no
// object's owner key (a real key names an ObjCgroup; 0, the key of a
// never-written owner entry, would match a corrupt free's).
inline constexpr std::uintptr_t kNoChargedOwner = kOwnersMixed;

// The loaded magazine is held as its top: the address of its next free
// round (rounds + n), from rounds (empty) to the block's end (full). Its
// 512-byte block is the magazine (found from top - 1, which is inside it
// even when it is full) and the offset of top - 1 there the count, so a pop
// or push loads the entry and then the round, with no load through the
// magazine's header; the magazine's own `n` is written back whenever it
// leaves the entry (unload()).
//
// CHARGED ROUNDS. An entry of a cache that charges objects has an `owner`:
// the owner key (ObjSlot::key_of) of the group the thread last allocated
// from it for, or of the objects it first freed into it; the entry holds a
// reference on owner's ObjCgroup (when it names one). Its rounds marked
// kChargedRound (magazine.hpp) are objects still charged through owner,
// whose owner entries hold owner. So:
//  - an allocation for `owner` pops a charged round and returns it: no
//    charge, no owner entry to write;
//  - a free of an object whose owner is `charged_owner` pushes it charged:
//    no uncharge. charged_owner is owner for caches of objects up to
//    kChargedRoundMax bytes, else 0 (no object's key), and those push
//    uncharged rounds through the object slot;
//  - an allocation for another key, on the slow path, re-keys the entry:
//    its charged rounds are unmarked and their bytes uncharged from the
//    old owner (discharged), then owner changes;
//  - a magazine leaving the entry (swapped out, evicted, flushed, the
//    thread exiting) is discharged, and so is every charged round of the
//    subtree when a charge fails at a limit (drain_object_slots_in_subtree).
// BOUND: an entry holds at most 2 x kMagazineRounds charged rounds, so a
// group's memory.current overstates its live objects by at most
// 2 x kMagazineRounds x charge_bytes per thread and charging cache of
// objects up to kChargedRoundMax bytes (about 125 KiB for 1 KiB objects,
// 32 KiB for 256-byte ones).
// Their bytes stay in the group's slab statistics: they are slab objects
// charged to it.
struct MagEntry {
  std::uint64_t key;  // cache->mag_key_ while cache is set, else 0 (no root has seq 0)
  ChildCache* cache;
  Round* top;         // the loaded magazine's top: never null while cache is set
  Magazine* prev;     // may be null; its n is current
  std::uintptr_t owner;          // charging caches: CHARGED ROUNDS (a reference on its ObjCgroup); else 0
  std::uintptr_t charged_owner;  // owner, or kNoChargedOwner (or 0) where frees push no charged rounds
  std::uintptr_t unused[2];

  bool may_hold_charged() const noexcept { return charged_owner > kNoChargedOwner; }

  static std::uintptr_t offset_of(const Round* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) & (kMagazineBlock - 1);
  }
  static Magazine* magazine_of(Round* top) noexcept {
    return reinterpret_cast<Magazine*>(reinterpret_cast<std::uintptr_t>(top - 1) & ~(kMagazineBlock - 1));
  }
  static std::uint32_t count_of(const Round* top) noexcept {
    return static_cast<std::uint32_t>((offset_of(top - 1) + sizeof(Round) - kMagazineHeader) / sizeof(Round));
  }
  /// For a pop: `below` = top - 1 lies in the header's room (offset below
  /// kMagazineHeader: one bit test) when the magazine is empty.
  static bool below_is_empty(const Round* below) noexcept {
    return (offset_of(below) & ~(kMagazineHeader - 1)) == 0;
  }
  /// For a push: a full magazine's top is its block's end.
  static bool is_full(const Round* top) noexcept { return offset_of(top) == 0; }
  Magazine* loaded() const noexcept { return magazine_of(top); }
  void load(Magazine* m) noexcept { top = m->rounds + m->n; }
  /// The loaded magazine with its count written back (the entry keeps top).
  Magazine* unload() noexcept {
    Magazine* m = loaded();
    m->n = count_of(top);
    return m;
  }
};
static_assert(sizeof(MagEntry) == kMagEntryBytes, "an entry per cache line");
static_assert(mag_off(kMagTableSize) <= 0x10000, "table offsets fit Slab::mag_off");

/// The entry at byte offset `off` (mag_off) of a table.
inline MagEntry& entry_at(MagEntry* table, std::uintptr_t off) noexcept {
  return *reinterpret_cast<MagEntry*>(reinterpret_cast<char*>(table) + off);
}

// The table of threads that have none yet: every lookup misses, so the fast
// paths need no null test (never written: ensure_table() runs first).
alignas(64) inline constinit MagEntry g_no_table[kTableSize] = {};

// The object slot (the kernel's obj_stock, per thread): bytes charged
// through one ObjCgroup for objects of one statistics kind, not yet given
// to an object. `key` is the ObjCgroup's address | reclaimable (0: empty);
// the slot holds a reference on the ObjCgroup while set. The slab
// statistics its objects moved since they were last added to the group are
// base - bytes (an allocation takes bytes and adds to the statistics, a
// free the reverse; a slow path adds them and sets base = bytes).
// Owner writes in gate operations; drainers under the gate lock; stat
// readers racily (hence atomics, all relaxed).
struct ObjSlot {
  std::atomic<std::uintptr_t> key{0};
  std::atomic<std::uint32_t> bytes{0};
  std::atomic<std::uint32_t> base{0};

  static std::uintptr_t key_of(const ObjCgroup* oc, int reclaimable) noexcept {
    return reinterpret_cast<std::uintptr_t>(oc) | static_cast<std::uintptr_t>(reclaimable);
  }
  ObjCgroup* objcg() const noexcept {
    return reinterpret_cast<ObjCgroup*>(key.load(std::memory_order_relaxed) & ~std::uintptr_t{1});
  }
  int reclaimable() const noexcept { return static_cast<int>(key.load(std::memory_order_relaxed) & 1); }
};

// Bytes an object slot may hold (BOUND in docs/slab.md): charges are made
// in whole chunks (the kernel's pages). A refill leaves about
// kObjStockRefill in the slot when the thread's charge stock has it, and a
// free beyond kObjStockMax gives back all but kObjStockRefill: the slot
// sits mid-way, so objects of a few KiB take and give many times before
// either side reaches the group again.
inline constexpr std::uint32_t kObjStockChunk = 4096;
inline constexpr std::uint32_t kObjStockMax = 8 * kObjStockChunk;
inline constexpr std::uint32_t kObjStockRefill = kObjStockMax / 2;
static_assert(kObjStockRefill + kObjStockChunk <= kObjStockMax, "a refill's surplus fits the slot");

// The node's gate guards the table and the object slot.
//
// THE FAST VIEW. The fast paths enter the gate without reading its
// drain_pending (OwnerGate::enter()) and probe `fast_table` instead: the
// real table while nothing blocks it, else g_no_table, where every probe
// misses and sends the owner to a slow path (which uses the gate's run()).
// Blocks (`blocks`, under the gate lock): one per drain round in progress,
// from before its announcement until after its retirement, and one for
// good where membarrier is missing or once the thread exits. A fast path
// touches the object slot only after a hit in fast_table, so it never runs
// beside a drainer. fast_table changes only under the gate lock:
//   fast_table == (blocks == 0 ? table : g_no_table)
struct ThreadMags : ThreadNode {
  constexpr ThreadMags() noexcept : ThreadNode(LockRank::kThreadMags) {}
  std::atomic<MagEntry*> fast_table{g_no_table};  // owner's fast paths read; gate lock writes
  MagEntry* table = g_no_table;  // kTableSize entries from the meta arena (owner, gate lock to publish)
  std::uint32_t blocks = 0;      // gate lock
  ObjSlot obj;

  /// Owner: enters a fast-path gate operation, returning the table to probe.
  MagEntry* enter_fast() noexcept {
    gate.enter();
    return fast_table.load(OwnerGate::view_order);
  }
  /// Gate lock held: makes fast_table agree with table and blocks.
  void sync_fast_table() noexcept {
    fast_table.store(blocks == 0 ? table : g_no_table, std::memory_order_seq_cst);
  }
};

extern constinit thread_local ThreadMags tls_mags __attribute__((tls_model("initial-exec")));

ThreadRegistry& mags_registry() noexcept;

// ---- charged rounds (MagEntry CHARGED ROUNDS; thread_mags.cpp) ----

/// What taking charged rounds out of a table entry leaves to do outside
/// any gate: uncharge `bytes` through owner's ObjCgroup (with its slab
/// statistics), and drop the entry's reference on it if `put`.
struct Discharge {
  std::uintptr_t owner = 0;
  std::uint64_t bytes = 0;
  bool put = false;
};
/// Unmarks the charged rounds of magazine m, which is leaving entry e (gate
/// op or gate lock; or m is the caller's alone): what to settle.
Discharge unmark_leaving(const MagEntry& e, Magazine* m) noexcept;
/// Takes e's owner off (gate op or gate lock): unmarks its charged rounds;
/// owner and charged_owner become 0.
Discharge take_owner(MagEntry& e) noexcept;
/// Outside any gate.
void settle(const Discharge& d) noexcept;
/// Calls f for every table entry of every thread that holds charged
/// rounds: the group its owner charges, the statistics kind, their bytes
/// (a drain round, so exact; under RCU and the registry mutex: f must not
/// block or allocate; tests and checks).
void for_each_charged_rounds(void (*f)(void* arg, GroupImpl* charged, int reclaimable, std::uint64_t bytes),
                             void* arg) noexcept;
/// Bytes of charged rounds charging g's subtree, [reclaimable].
struct ChargedRoundsSum {
  std::uint64_t bytes[2] = {};
};
ChargedRoundsSum charged_rounds_in_subtree(GroupImpl* g) noexcept;

// ---- the object slot (obj_stock.cpp) ----

/// Slow paths, outside any gate. obj_charge_slow: false if a limit refused
/// the charge (nothing is charged then). May reclaim.
bool obj_charge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept;
void obj_uncharge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept;

/// What a drain took out of a slot (gate lock held, or the owner in a gate
/// operation); give it back with give_back_obj() outside the gate.
struct ObjTaken {
  ObjCgroup* objcg = nullptr;
  std::uint32_t bytes = 0;
  std::int64_t slab[2] = {};  // [reclaimable] statistics not yet added
};
ObjTaken take_obj(ObjSlot& o) noexcept;
void give_back_obj(const ObjTaken& t) noexcept;

/// Gives back the calling thread's object slot (thread exit, tests).
void drain_own_object_slot() noexcept;

}  // namespace memcg::detail
