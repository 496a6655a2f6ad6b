// Root caches and their per-group child caches.
//
// MAP
//   RootCache ──children array[group id]──▶ ChildCache (registered, online group)
//   RootCache ──all_children list──▶ every ChildCache, registered or dead
//   GroupImpl ──slab_caches list──▶ the ChildCaches charging it (registered + reparented)
//   Slab ──ref──▶ ChildCache ──ref──▶ GroupImpl      (cache reference chain)
//   thread magazine table entry ──weak──▶ ChildCache (flushed before it dies)
//
// LIFECYCLE of a ChildCache
//   created on the first allocation of its group (slab mutex; one winner),
//   published in the root's array; `refs` = 1 (registration) + slabs +
//   transient slow-path holders.
//   group removed -> unpublished and marked dead; a drain round flushes every
//   thread's magazines of it; its depot is flushed and its empty slabs freed;
//   then: no object left -> destroyed (registration ref dropped);
//         objects left   -> reparented: charge and group move to the parent,
//                           frees go straight to the slabs, and the free
//                           that empties it queues its destruction.
//   Memory is returned when refs reaches 0 (nothing can reach it then).
//   A kmalloc class's shared cache is never destroyed (kmalloc roots live
//   as long as the process): it is `immortal`, child_get and child_put leave
//   its `refs` alone, and the slow paths of every thread of a process do not
//   write its reference count's line for every magazine they exchange.
//
// LOCKS (platform/lock_order.hpp): slab mutex -> thread magazine gate lock ->
// ChildCache::lock -> page source. Charging happens with none of them held.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/group_impl.hpp"
#include "memcg/cache.hpp"
#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/worker.hpp"
#include "slab/magazine.hpp"
#include "slab/slab.hpp"

namespace memcg::detail {

struct GroupImpl;
struct RootCache;

// Per-thread magazine tables (thread_mags.cpp) are direct-mapped and keyed by
// (root cache, group), so that the allocation fast path goes from its
// arguments to its magazine without visiting the root's child array. The
// key is (root number, group id): a root's number is handed out again only
// after the root is destroyed (slab_runtime.hpp), a group's id only after
// the group is freed, and every table entry of a cache is flushed before its
// root's number or its group's id can come back, so a key in a table names
// one cache. (That cache may have been killed since the entry was found:
// the drain round that follows the kill flushes the entry, and whatever was
// taken from or given to it meanwhile is counted in its `inuse`.)
inline constexpr std::uint32_t kMagTableSize = 64;
inline constexpr std::uint32_t kNoGroupId = 0xffffffffu;  // shared caches (one per root)
inline constexpr std::uint64_t mag_key(std::uint32_t root_seq, std::uint32_t group_id) noexcept {
  return (std::uint64_t{root_seq} << 32) | group_id;
}
// Consecutive roots (kmalloc classes) of one group fill distinct slots.
inline constexpr std::uint32_t mag_slot(std::uint32_t root_seq, std::uint32_t group_id) noexcept {
  return (root_seq + group_id * 37u) & (kMagTableSize - 1);
}
// A slot's byte offset in the table (entries are a cache line,
// thread_mags.hpp), which the fast paths keep so that they index without a
// shift.
inline constexpr std::uint32_t kMagEntryBytes = 64;
inline constexpr std::uint32_t mag_off(std::uint32_t slot) noexcept { return slot * kMagEntryBytes; }

struct ChildCache {
  enum : std::uint8_t { kPartial = 1, kFull = 2, kEmpty = 3 };

  RootCache* const root;
  // Magazine table key and slot: of the root and the group the cache was
  // created for (a reparented cache is dead and has no table entries).
  const std::uint64_t mag_key_;
  const std::uint32_t mag_slot_;
  const bool immortal;  // a kmalloc root's shared cache: refs is not counted (LIFECYCLE)
  // Reparentable; holds one group reference (null: a root's shared cache).
  // Written under `lock` (and the slab mutex); read by the slow paths.
  std::atomic<GroupImpl*> group;
  std::atomic<std::int64_t> refs{1};   // registration + slabs + transient holders
  std::atomic<bool> dead{false};       // unpublished: no allocations, frees bypass magazines

  SpinLock lock{LockRank::kCache};
  ListNode partial MEMCG_GUARDED_BY(lock), full MEMCG_GUARDED_BY(lock), empty MEMCG_GUARDED_BY(lock);  // slabs
  std::uint64_t nr_slabs MEMCG_GUARDED_BY(lock) = 0;
  std::uint64_t nr_empty MEMCG_GUARDED_BY(lock) = 0;
  std::uint64_t inuse MEMCG_GUARDED_BY(lock) = 0;  // objects out of slabs (users + magazines)
  MagazineStack depot_full MEMCG_GUARDED_BY(lock), depot_empty MEMCG_GUARDED_BY(lock);
  bool destroy_queued MEMCG_GUARDED_BY(lock) = false;  // dead and empty, destruction queued
  bool listed MEMCG_GUARDED_BY(slab_mutex()) = true;  // on the lists, registration ref held

  ListNode root_node MEMCG_GUARDED_BY(slab_mutex());   // on root->all_children
  ListNode group_node MEMCG_GUARDED_BY(slab_mutex());  // on group's slab_caches
  WorkItem destroy_work;

  ChildCache(RootCache* r, GroupImpl* g) noexcept;
};

struct ChildArray {
  std::uint32_t capacity;
  ChildArray* retired_next;  // arrays replaced by a larger one (freed with the root)
  std::atomic<ChildCache*> slot[1];  // `capacity` entries follow
  static std::size_t bytes_for(std::uint32_t cap) noexcept {
    return sizeof(ChildArray) + (cap - 1) * sizeof(std::atomic<ChildCache*>);
  }
};

struct RootCache {
  char name[65] = {};
  std::size_t object_size = 0;  // as requested
  std::size_t stride = 0;       // object_size rounded up to align
  std::size_t align = 0;
  std::size_t data_offset = 0;  // first object's offset in a slab
  std::uint32_t capacity = 0;   // objects per slab
  std::uint32_t units = 1;      // kSlabSize units per slab (cache.cpp layout_slab)
  std::uint32_t depot_max = 16;  // magazines per depot list (slab_internal.hpp depot_max_for)
  std::uint32_t seq = 0;  // magazine table key (slab_runtime.hpp); unique among live roots, never 0
  std::size_t slab_bytes() const noexcept { return std::size_t{units} * kSlabSize; }
  CacheOptions options;
  bool is_kmalloc = false;
  // Mode, fixed at creation: per_group (accounted and isolated: a child
  // cache per group, charged per slab) or one `shared` cache whose objects
  // are charged one by one (charge_objects: accounted, not isolated) or not
  // at all (unaccounted).
  bool per_group = false;
  bool charge_objects = false;
  std::uint32_t charge_bytes = 0;  // per object when charge_objects: stride + a vector entry
  std::uint32_t shared_off = 0;    // magazine table slot (mag_off) and key of `shared` (set with seq)
  std::uint64_t shared_key = 0;

  std::atomic<ChildArray*> children{nullptr};  // by group id; grown under the slab mutex
  ChildCache* shared = nullptr;                 // !per_group: the one cache, charging no group per slab
  ListNode all_children MEMCG_GUARDED_BY(slab_mutex());
  ListNode root_node MEMCG_GUARDED_BY(slab_mutex());  // on the runtime's list of roots
  bool destroyed MEMCG_GUARDED_BY(slab_mutex()) = false;

  RootCache() noexcept { root_node.owner = this; }
};
// Metadata blocks are powers of two (meta_arena.hpp): a root takes 256 bytes.
static_assert(sizeof(RootCache) <= 256, "a root cache fits a 256-byte metadata block");

inline ChildCache::ChildCache(RootCache* r, GroupImpl* g) noexcept
    : root(r),
      mag_key_(mag_key(r->seq, g ? g->id : kNoGroupId)),
      mag_slot_(mag_slot(r->seq, g ? g->id : kNoGroupId)),
      immortal(r->is_kmalloc && g == nullptr),
      group(g) {
  root_node.owner = group_node.owner = this;
  partial.owner = full.owner = empty.owner = nullptr;
  destroy_work.arg = this;
}

}  // namespace memcg::detail
