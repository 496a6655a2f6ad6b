// memcg/charge_flags.hpp - what a charge may do when memory is short: the
// kernel's gfp flags and scoped allocation constraints, for one call or for
// every charge a thread makes in a scope.
//
// A charge that does not fit under memory.max normally reclaims (calling
// shrinkers), drains stocks, retries and finally calls the OOM handler; a
// charge that leaves a group above memory.high reclaims the overage and may
// sleep (throttle). Flags restrict that:
//
//   no_reclaim    GFP_NOWAIT: at max, fail at once — no reclaim, no drain of
//                 other threads' stocks (the calling thread's own object
//                 stocks of the subtree go back first), no OOM; above high,
//                 no reclaim and no sleep. For code
//                 that holds a lock a shrinker takes: reclaim from there
//                 would call the shrinker and deadlock (docs/reclaim.md).
//   no_oom        __GFP_NORETRY: reclaim once, then fail; never the OOM handler.
//   no_throttle   above high: reclaim the overage, never sleep.
//   fail_at_high  above high after reclaiming the overage: undo the charge
//                 and fail instead of sleeping.
//   no_fail       __GFP_NOFAIL: when the charge would fail, charge past max
//                 (a max event is counted; memory.current may exceed max).
//
// Per call: kmalloc(size, flags), Cache::alloc(flags), Reservation::make(g,
// n, flags, ec), Allocator/MemoryResource(g, flags). Scoped: a
// ScopedChargeFlags adds its flags to every charge of the calling thread
// until it is destroyed (nesting adds; destruction restores), like
// memalloc_noreclaim_save(). Flags only ever restrict a charge's slow path:
// a charge served by the thread's stock or magazines is unaffected.
#pragma once

#include <cstdint>

namespace memcg {

enum class ChargeFlags : std::uint32_t {
  none = 0,
  no_reclaim = 1u << 0,
  no_oom = 1u << 1,
  no_throttle = 1u << 2,
  fail_at_high = 1u << 3,
  no_fail = 1u << 4,
};

constexpr ChargeFlags operator|(ChargeFlags a, ChargeFlags b) noexcept {
  return static_cast<ChargeFlags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr ChargeFlags operator&(ChargeFlags a, ChargeFlags b) noexcept {
  return static_cast<ChargeFlags>(static_cast<std::uint32_t>(a) & static_cast<std::uint32_t>(b));
}
/// True if every flag of `f` is set in `set`.
constexpr bool has(ChargeFlags set, ChargeFlags f) noexcept { return (set & f) == f; }

/// Adds `f` to every charge the calling thread makes while it lives.
class ScopedChargeFlags {
 public:
  explicit ScopedChargeFlags(ChargeFlags f) noexcept;
  ~ScopedChargeFlags();
  ScopedChargeFlags(const ScopedChargeFlags&) = delete;
  ScopedChargeFlags& operator=(const ScopedChargeFlags&) = delete;

 private:
  std::uint32_t prev_;
};

/// The flags in force for the calling thread's charges (its scopes' union).
ChargeFlags current_charge_flags() noexcept;

}  // namespace memcg
