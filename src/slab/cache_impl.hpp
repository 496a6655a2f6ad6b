// Root caches and their per-group child caches (seed 003).
//
// MAP
//   RootCache ──children array[group id]──▶ ChildCache (registered, online group)
//   RootCache ──all_children list──▶ every ChildCache, registered or dead
//   GroupImpl ──slab_caches list──▶ the ChildCaches charging it (registered + reparented)
//   Slab ──ref──▶ ChildCache ──ref──▶ GroupImpl                        (seed 001)
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
//
// LOCKS (platform/lock_order.hpp): slab mutex -> thread magazine gate lock ->
// ChildCache::lock -> page source. Charging happens with none of them held.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "memcg/cache.hpp"
#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/worker.hpp"
#include "slab/magazine.hpp"
#include "slab/slab.hpp"

namespace memcg::detail {

struct GroupImpl;
struct RootCache;

struct ChildCache {
  enum : std::uint8_t { kPartial = 1, kFull = 2, kEmpty = 3 };

  RootCache* const root;
  // Reparentable; holds one group reference (null: an unaccounted cache).
  // Written under `lock` (and the slab mutex); read by the slow paths.
  std::atomic<GroupImpl*> group;
  std::atomic<std::int64_t> refs{1};   // registration + slabs + transient holders
  std::atomic<bool> dead{false};       // unpublished: no allocations, frees bypass magazines

  SpinLock lock{LockRank::kCache};
  ListNode partial, full, empty;       // slabs, guarded by lock
  std::uint64_t nr_slabs = 0;          // guarded by lock
  std::uint64_t nr_empty = 0;          // guarded by lock
  std::uint64_t inuse = 0;             // objects out of slabs (users + magazines), lock
  MagazineStack depot_full, depot_empty;  // guarded by lock
  bool destroy_queued = false;         // guarded by lock: dead and empty, destruction queued
  bool listed = true;                  // slab mutex: on the lists, registration ref held

  ListNode root_node;   // on root->all_children (slab mutex)
  ListNode group_node;  // on group's slab_caches (slab mutex)
  WorkItem destroy_work;

  ChildCache(RootCache* r, GroupImpl* g) noexcept : root(r), group(g) {
    root_node.owner = group_node.owner = this;
    destroy_work.arg = this;
  }
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
  CacheOptions options;
  bool is_kmalloc = false;

  std::atomic<ChildArray*> children{nullptr};  // by group id; grown under the slab mutex
  ChildCache* unaccounted = nullptr;            // account == false: one cache, no group
  ListNode all_children;                        // slab mutex
  ListNode root_node;                           // on the runtime's list of roots (slab mutex)
  bool destroyed = false;                       // slab mutex

  RootCache() noexcept { root_node.owner = this; }
};

}  // namespace memcg::detail
