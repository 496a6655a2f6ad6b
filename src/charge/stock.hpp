// Per-thread charge stocks (the kernel's memcg_stock_pcp, per thread instead
// of per CPU, with up to kStockSlots groups like the kernel's multi-memcg
// stock).
//
// A slot holds pre-charged bytes of one group and a reference on it. Small
// charges and uncharges of the owner thread touch only its own slots: no
// atomic read-modify-write, no shared cache line.
//
// Slots are guarded by the thread's OwnerGate (platform/owner_gate.hpp):
// the owner's fast path pays a compiler barrier; remove() and a charge failing
// at max drain other threads' slots through the gate's drainer side. Inside
// a gate operation the owner checks that the group is online before it
// stocks it; remove() sets dying before it drains, so a drained group is
// never stocked again.
// An owner op never blocks, charges or takes another lock; evictions and
// excess are uncharged after it.
//
// BOUND: a slot holds at most kChargeBatch bytes, a group sits in at most one
// slot per thread, so stocks make memory.current of a group overstate what is
// really charged below it by at most
//     threads x kChargeBatch                      (the group's own slots)
//     threads x min(kStockSlots, groups in subtree) x kChargeBatch   (subtree)
//
// The registry, the drain round, thread exit and fork are the shared
// per-thread machinery (platform/thread_registry.hpp); this file keeps the
// policy: what a slot holds, what a drain takes, what an exiting thread
// gives back.
//
// LOCKS: StockRegistry::drain_mutex (kStockDrain) -> the registry mutex
// (kStockRegistry) -> a ThreadStock's gate lock (kThreadStock).
#pragma once

#include <cstdint>

namespace memcg::detail {

struct GroupImpl;

inline constexpr std::uint64_t kChargeBatch = 64 * 1024;
inline constexpr int kStockSlots = 7;

/// Owner: serves `bytes` (<= kChargeBatch) of g from the stock; false if the
/// stock holds fewer bytes of g.
bool stock_consume(GroupImpl* g, std::uint64_t bytes) noexcept;
/// Owner: `bytes` already charged to g go into the stock (or, for a group
/// that is not online or beyond the slot bound, are uncharged). install:
/// take a slot for g if it has none (evicting another); else only a slot g
/// already has is refilled (an uncharge of a group this thread does not
/// charge, such as a remote free, does not evict the groups it does).
void stock_refill(GroupImpl* g, std::uint64_t bytes, bool install) noexcept;

/// Remote, exact: no thread's stock holds g afterwards (g is dying, so no
/// owner installs it again). Used by remove().
void drain_stocks_of(GroupImpl* g) noexcept;
/// Remote, best effort: drains slots of groups in over's subtree, unless
/// another thread is already draining (then returns false at once).
bool drain_stocks_in_subtree(GroupImpl* over) noexcept;
/// Drains the calling thread's stock completely (thread exit, tests).
void drain_own_stock() noexcept;

std::uint64_t threads_with_stock() noexcept;

}  // namespace memcg::detail
