// The charge policy (the kernel's try_charge_memcg): stock first, then a
// batched hierarchical charge, then the slow path at a limit.
//
//   1. bytes <= kChargeBatch and the thread's stock has them: done.
//   2. charge max(kChargeBatch, bytes) up the hierarchy; the excess goes to
//      the stock. A refused batch is retried with exactly `bytes`.
//   3. refused at group `over`: record a max event at over; drain the stocks
//      holding bytes of over's subtree once and retry.
//   4. still refused: record an oom event at over; fail.
// After a successful hierarchical charge, every ancestor left above its
// memory.high records a high event.
//
// Concurrency: any thread; g must be kept alive by the caller (a reference,
// a pin, or a cache that pins it). Never allocates, never throws.
#pragma once

#include <cstdint>

namespace memcg::detail {

struct GroupImpl;

/// Charges `bytes` to g and its ancestors. False if a limit refused it.
bool try_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept;
/// Charges without limits (for bytes that must be accounted regardless).
void force_charge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept;
/// Returns `bytes` charged to g (through the stock when small).
void uncharge_memcg(GroupImpl* g, std::uint64_t bytes) noexcept;

/// The same hierarchical charge without the stock: one CAS per ancestor.
/// The baseline the stock is measured against (bench/charge_bench.cpp).
bool try_charge_walk(GroupImpl* g, std::uint64_t bytes) noexcept;
void uncharge_walk(GroupImpl* g, std::uint64_t bytes) noexcept;

// ---- the thread's last refused charge (charge_error.cpp) ----
/// try_charge_memcg() refused at `over` whose `limit` it could not meet.
void note_refusal(GroupImpl* over, std::uint64_t limit) noexcept;
/// A throwing API starts: forget earlier refusals.
void clear_refusal() noexcept;
/// Throws ChargeRefused for the last refusal (the group named if it still
/// exists), or std::bad_alloc if no limit refused since clear_refusal().
[[noreturn]] void throw_refused(std::uint64_t requested);

}  // namespace memcg::detail
