// Upcalls from the charge layer into the layers above it: into the reclaim
// layer (the kernel's try_charge_memcg calls into vmscan and the OOM killer
// in the same way; defined in src/reclaim/), and into the slab layer for the
// per-thread object slots (the kernel's obj_stock lives with the charge
// stock; ours shares the magazines' gate; defined in src/slab/obj_stock.cpp).
#pragma once

#include <cstdint>

namespace memcg::detail {

struct GroupImpl;

inline constexpr int kMaxReclaimRetries = 16;              // MAX_RECLAIM_RETRIES
// Charges above this never invoke the OOM handler and retry after partial
// progress only if small (the kernel's PAGE_ALLOC_COSTLY_ORDER, 32 KiB).
// Ours is one slab, 64 KiB: slab refills for small objects charge exactly
// that and must be able to reach the OOM handler, as the kernel's order-0..3
// slab pages do.
inline constexpr std::uint64_t kCostlyBytes = 64 * 1024;

// Non-null while this thread reclaims (set by the reclaim layer).
extern constinit thread_local void* tls_reclaim_state __attribute__((tls_model("initial-exec")));

/// Synchronous reclaim for a charge refused at `over`: about `bytes` from
/// over's subtree. Returns bytes reclaimed.
std::uint64_t reclaim_for_charge(GroupImpl* over, std::uint64_t bytes) noexcept;
/// Consecutive OOM handler calls of one charge (or one memory.max write)
/// that reported memory freed without progress (reclaim/oom.cpp).
struct OomRetry {
  int stalls = 0;
};
/// OOM for a charge refused at `over` after reclaim: records the oom event,
/// waits for any OOM in flight in an overlapping domain, re-checks whether
/// the charge fits, then calls the nearest handler. True if the charge
/// should be retried (it fits now, or the handler freed memory and has not
/// stalled kMaxOomStalls times in a row).
bool oom_for_charge(GroupImpl* over, std::uint64_t bytes, OomRetry& retry) noexcept;
/// True while the calling thread runs an OOM handler: its charges that do
/// not fit fail at once (no reclaim, no nested OOM).
bool in_oom_handler() noexcept;
/// After a charge of `bytes` to g left a non-root ancestor above high:
/// reclaim the overage and throttle (memory.high), as the charge's flags
/// (charge_context.hpp) allow. False: the charge must be undone and fail
/// (fail_at_high, and still above high after reclaim).
bool handle_over_high(GroupImpl* g, std::uint64_t bytes, std::uint32_t flags) noexcept;
/// The root is above its high: wake the background reclaimer.
void wake_background_reclaim() noexcept;
/// True while the calling thread is reclaiming (charges then never recurse
/// into reclaim: they are forced, as the kernel does under PF_MEMALLOC).
inline bool in_reclaim() noexcept { return tls_reclaim_state != nullptr; }
/// Bytes uncharged by this thread count as reclaimed while it reclaims.
void note_uncharged(std::uint64_t bytes) noexcept;

/// After memory.max / memory.high of g was lowered: reclaim towards it
/// (max: then OOM), as the kernel's memory_max_write/memory_high_write do.
void enforce_max(GroupImpl* g) noexcept;
void enforce_high(GroupImpl* g) noexcept;

/// g is being freed (worker, nothing can reach it): drop what the reclaim
/// layer attached to it (its OOM handler).
void free_reclaim_state(GroupImpl* g) noexcept;

// ---- slab layer: the object slots (slab/thread_mags.hpp) ----

/// Group removal, after its ObjCgroups moved to `heir`: empties every
/// thread's object slot holding one of them (heir's own ones excepted). A
/// slow path in flight may put one back at once; that is harmless (its
/// bytes charge heir, as they would have after the drain).
void drain_object_slots_of_heir(GroupImpl* heir) noexcept;
/// A charge failed at `over`: empties the slots of ObjCgroups charging
/// over's subtree (with the charge stocks), and takes the owners of the
/// magazine table entries (their charged rounds) of the same ObjCgroups.
void drain_object_slots_in_subtree(GroupImpl* over) noexcept;
/// The same for the calling thread alone, with no drain round (nothing
/// waits: a ChargeFlags::no_reclaim charge may use it). True if it gave
/// anything back. The caller is in no gate operation.
bool drain_own_object_stocks_in_subtree(GroupImpl* over) noexcept;
/// What the object slots hold for ObjCgroups charging g's subtree (stat:
/// racy, exact when nothing runs): bytes, and slab statistics their objects
/// moved that the groups' do not show yet ([reclaimable]).
struct ObjSlotSum {
  std::uint64_t bytes = 0;
  std::int64_t slab[2] = {};
};
ObjSlotSum object_slots_in_subtree(GroupImpl* g) noexcept;

}  // namespace memcg::detail
