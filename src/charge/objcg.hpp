// Object cgroups (the kernel's obj_cgroup): what a slab object records as
// its owner, so that objects of many groups can share one slab and each is
// charged in bytes.
//
// An ObjCgroup points at the group its charges land on. Objects record the
// ObjCgroup, never the group: when the group is removed, its ObjCgroups are
// re-pointed to the nearest online ancestor in O(1) each (no slab, no object
// is visited), their charges move with them, and the group is freed as soon
// as its handles are gone, however many of its objects live on.
//
// MAP
//   object ──slab vector entry (weak)──▶ ObjCgroup ──ref──▶ group
//   group ──objcg (ref)──▶ its own ObjCgroup
//   group ──objcgs list──▶ every ObjCgroup charging it (own + inherited)
//   thread stock obj slot ──ref──▶ ObjCgroup (charge/stock.hpp)
//
// REFERENCES: 1 held by the creating group until it is freed, 1 per thread
// stock slot holding it, and 1 while `charged` > 0. A live object's bytes
// are part of `charged` (they came out of it and have not gone back), so an
// object's vector entry always names a live ObjCgroup: the free path may use
// it without taking a reference.
//
// LIFECYCLE
//   created (first per-object charge of an online group; list lock) ──▶
//   charging its group ──group removed: reparent (list lock + its lock)──▶
//   charging the nearest online ancestor (again on that one's removal) ──▶
//   last reference dropped: unlinked (list lock), group reference dropped,
//   memory returned after an RCU grace period (statistics readers look at
//   the ObjCgroups of other threads' object slots under RCU only).
//
// THE LOOKUP RACE. Whoever charges or uncharges through an ObjCgroup reads
// `group` under the ObjCgroup's lock and takes a group reference before it
// unlocks; the charge itself runs without the lock (it may reclaim). Bytes
// are added to or taken from `charged` under the same lock, and a charge
// that finds the ObjCgroup reparented while it was charging moves its bytes
// up itself. So at every instant, `charged` is exactly what the ObjCgroup
// has outstanding on `group`, and reparenting can move it in one step.
//
// LOCKS: object-cgroup list lock (kObjcgList) -> ObjCgroup::lock (kObjcg).
// Neither is held while charging, uncharging or calling out.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail {

struct GroupImpl;

struct ObjCgroup {
  SpinLock lock{LockRank::kObjcg};
  // Written under `lock` (and the list lock); relaxed reads elsewhere are
  // hints only, made under RCU (a group is freed after a grace period).
  std::atomic<GroupImpl*> group{nullptr};
  std::uint64_t charged MEMCG_GUARDED_BY(lock) = 0;  // bytes outstanding on `group`
  std::uint64_t slab_bytes[2] MEMCG_GUARDED_BY(lock) = {};  // [reclaimable]: in group->stats
  std::atomic<std::int64_t> refs{1};
  ListNode node;      // on group->objcgs (list lock)
  ListNode all_node;  // on the list of every ObjCgroup (list lock; fork)
  rcu::Head rcu_head; // its memory is freed a grace period after its release
};

/// g's ObjCgroup, created if needed (g kept alive by the caller). A group
/// that is no longer online and has none yet gets its nearest online
/// ancestor's. nullptr: out of metadata.
ObjCgroup* objcg_of(GroupImpl* g) noexcept;

void objcg_get(ObjCgroup* oc) noexcept;
void objcg_put(ObjCgroup* oc) noexcept;

/// Charges `bytes` to oc's group (through the group's charge stock; may
/// reclaim). False if a limit refused it. The caller holds a reference on oc
/// or knows it alive.
bool objcg_charge(ObjCgroup* oc, std::uint64_t bytes) noexcept;
/// Charges `want` (>= bytes) if this thread's charge stock for oc's group
/// holds it, else `bytes` as objcg_charge does. Returns what was charged:
/// want, bytes, or 0 if a limit refused `bytes`. The surplus never
/// reclaims, counts an event or makes a charge fail.
std::uint64_t objcg_charge_batch(ObjCgroup* oc, std::uint64_t bytes, std::uint64_t want) noexcept;
/// Returns `bytes` charged through oc, straight to the counters (never into
/// a charge stock: it runs on thread exit and in remote drains, under the
/// magazine registry mutex, above the stock locks' ranks).
void objcg_uncharge(ObjCgroup* oc, std::uint64_t bytes) noexcept;
/// Adds object bytes to the slab statistics of oc's group ([0]
/// unreclaimable, [1] reclaimable); negative deltas subtract.
void objcg_account_slab(ObjCgroup* oc, const std::int64_t delta[2]) noexcept;

/// Group removal: every ObjCgroup charging g is re-pointed to g's nearest
/// online ancestor, with its charge and slab statistics (g is dying).
/// Returns that ancestor, or null if nothing moved.
GroupImpl* objcg_reparent(GroupImpl* g) noexcept;
/// Group free: drops g's reference on its own ObjCgroup.
void objcg_release_group(GroupImpl* g) noexcept;

/// Bytes outstanding through every ObjCgroup charging g (tests, checks).
std::uint64_t objcg_charged_bytes(GroupImpl* g) noexcept;
/// Slab statistics added through every ObjCgroup charging g ([reclaimable]).
void objcg_slab_bytes(GroupImpl* g, std::uint64_t out[2]) noexcept;
/// ObjCgroups allocated (tests, statistics).
std::uint64_t objcgs_allocated() noexcept;

}  // namespace memcg::detail
