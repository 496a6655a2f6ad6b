// The per-thread stock (charge/stock.hpp for the protocol): the charge
// slots of up to kStockSlots groups, and the object slot of one ObjCgroup
// (charge/obj_stock.hpp). Both are guarded by the node's OwnerGate. Shared
// by the stock's files only, for the inline fast paths.
#pragma once

#include <atomic>
#include <cstdint>

#include "charge/stock.hpp"
#include "platform/thread_registry.hpp"

namespace memcg::detail {

struct ObjCgroup;

struct StockSlot {
  // Owner writes with plain (relaxed) stores; drainers read/write them only
  // under the protocol above; stat readers read them racily under RCU.
  std::atomic<GroupImpl*> group{nullptr};  // holds a reference while set
  std::atomic<std::uint64_t> bytes{0};
};

// Bytes charged through one ObjCgroup and not yet given to an object, and
// the slab statistics its objects moved since they were last added to the
// group (the kernel's obj_stock with its cached slab counters).
struct ObjSlot {
  std::atomic<ObjCgroup*> objcg{nullptr};  // holds a reference while set
  std::atomic<std::uint32_t> bytes{0};     // <= kObjStockMax
  std::atomic<std::int32_t> slab[2] = {};  // [reclaimable] object bytes not yet in the stats
};

struct alignas(64) ThreadStock : ThreadNode {
  constexpr ThreadStock() noexcept : ThreadNode(LockRank::kThreadStock) {}
  ObjSlot obj;
  std::uint32_t victim = 0;  // owner only: next slot to evict
  StockSlot slots[kStockSlots];
};
static_assert(sizeof(ThreadNode) + sizeof(ObjSlot) <= 64,
              "the gate and the object slot share a line (the slab fast paths)");

extern constinit thread_local ThreadStock tls_stock __attribute__((tls_model("initial-exec")));

}  // namespace memcg::detail
