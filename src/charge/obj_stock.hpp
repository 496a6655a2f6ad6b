// Per-object charging through the thread's object stock (the kernel's
// obj_stock): byte-precise charges of slab objects.
//
// The object slot of the thread's stock (charge/thread_stock.hpp) holds
// bytes pre-charged through one ObjCgroup, in chunks of kObjStockChunk. An
// object allocation takes its bytes from the slot; a free gives them back
// to it; only when the slot holds another ObjCgroup, too few bytes, or more
// than kObjStockMax does a charge or an uncharge reach the group (through
// its charge stock). The slot also keeps the slab statistics its objects
// moved, added to the group on those same slow paths.
//
// The slot is emptied when the thread switches ObjCgroup, when the group
// is removed (remove() drains every thread's slot of its ObjCgroup), when a
// charge fails at a limit (with the subtree's charge stocks) and at thread
// exit.
//
// BOUND: a thread's slot holds at most kObjStockMax bytes of one ObjCgroup
// and its unadded statistics are at most kObjStockMax either way, so
// memory.current of a group overstates its live object bytes by at most
//     threads x kObjStockMax      (object slots)
//   + the charge stocks' bound    (charge/stock.hpp)
// and slab statistics lag by at most threads x kObjStockMax.
#pragma once

#include <cstdint>

#include "charge/thread_stock.hpp"
#include "platform/assert.hpp"

namespace memcg::detail {

inline constexpr std::uint32_t kObjStockChunk = 4096;
inline constexpr std::uint32_t kObjStockMax = 2 * kObjStockChunk;

/// Owner fast path: takes `bytes` of oc from the slot. False: slow path.
inline bool obj_stock_charge(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.gate.try_enter())) return false;
  ObjSlot& o = s.obj;
  const std::uint32_t have = o.bytes.load(std::memory_order_relaxed);
  const bool ok = o.objcg.load(std::memory_order_relaxed) == oc && have >= bytes;
  if (MEMCG_LIKELY(ok)) {
    o.bytes.store(have - bytes, std::memory_order_relaxed);
    auto& st = o.slab[reclaimable];
    st.store(st.load(std::memory_order_relaxed) + static_cast<std::int32_t>(bytes), std::memory_order_relaxed);
  }
  s.gate.leave();
  return ok;
}

/// Owner fast path: gives `bytes` of oc back to the slot. False: slow path.
inline bool obj_stock_uncharge(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.gate.try_enter())) return false;
  ObjSlot& o = s.obj;
  const std::uint32_t have = o.bytes.load(std::memory_order_relaxed) + bytes;
  const bool ok = o.objcg.load(std::memory_order_relaxed) == oc && have <= kObjStockMax;
  if (MEMCG_LIKELY(ok)) {
    o.bytes.store(have, std::memory_order_relaxed);
    auto& st = o.slab[reclaimable];
    st.store(st.load(std::memory_order_relaxed) - static_cast<std::int32_t>(bytes), std::memory_order_relaxed);
  }
  s.gate.leave();
  return ok;
}

/// Slow paths (may charge, reclaim, uncharge). obj_charge_slow: false if a
/// limit refused the charge (nothing charged then).
bool obj_charge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept;
void obj_uncharge_slow(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept;

inline bool obj_charge(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  return MEMCG_LIKELY(obj_stock_charge(oc, bytes, reclaimable)) || obj_charge_slow(oc, bytes, reclaimable);
}
inline void obj_uncharge(ObjCgroup* oc, std::uint32_t bytes, int reclaimable) noexcept {
  if (MEMCG_UNLIKELY(!obj_stock_uncharge(oc, bytes, reclaimable))) obj_uncharge_slow(oc, bytes, reclaimable);
}

/// What every thread's object slot holds for ObjCgroups charging g's
/// subtree: bytes, and slab statistics not yet added ([reclaimable]).
/// memory.stat adds both (racy under RCU; exact when nothing runs).
struct ObjStockSum {
  std::uint64_t bytes = 0;
  std::int64_t slab[2] = {};
};
ObjStockSum obj_stock_in_subtree(GroupImpl* g) noexcept;

}  // namespace memcg::detail
