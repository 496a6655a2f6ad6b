// Fault injection (test builds only).
//
// Compiled in when MEMCG_FAULT_INJECTION is defined (the debug, asan and tsan
// presets); in other builds the macros below expand to nothing (`false` and
// a no-op) and no fault symbol exists in the library (checked by the test
// fault.NoFaultSymbolsInThisBuild via nm, see tests/fault/CMakeLists.txt).
//
// Two kinds of sites:
//   MEMCG_FAULT_FAIL(kind)   an expression: true means "fail here as if the
//                            resource were exhausted / give up here"; the
//                            site then takes its ordinary failure path
//   MEMCG_FAULT_POINT(kind)  a statement: a delay in a race window (a yield
//                            loop or a sleep), or a test's hook
//
// Each kind is armed independently with a probability (and, for points, a
// maximum delay) or with a hook; when nothing is armed a site costs one
// relaxed load of a global bitmask. Control: memcg::detail::fault::* below
// (tests, the fuzzer and the soak harness; never production code).
#pragma once

#include <atomic>
#include <cstdint>

namespace memcg::detail::fault {

enum class Kind : unsigned {
  // failures
  kPageSourceMap = 0,   // page_source: a region mmap fails (slab allocations see ENOMEM)
  kMetaAlloc,           // meta::alloc returns nullptr (child caches, magazines, tables)
  kLargeMap,            // kmalloc above 16 KiB: the medium block's units or the large span's mmap are refused
  kReclaimIterBreak,    // a reclaimer abandons the shared reclaim iterator mid-round
  // delay points (race windows)
  kAfterChildLookup,    // slab alloc_slow: a child cache found, not yet used (cache reference chain)
  kPinMarkDead,         // remove(): DEAD set on the pin, pins not yet read (kmem pin protocol)
  kUnpinLast,           // last unpin: pins reached 0, DEAD not yet tested (kmem pin protocol)
  kPinAfterGet,         // pin_group: pins incremented, online not yet re-checked
  kStockRefillOp,       // stock refill: inside the owner op, after the online check
  kStockDrainTake,      // remote drain: announced, owners not yet waited for
  kLruAddAfterOnlineCheck,  // ListLru::add: nearest online ancestor found, its list not yet looked up
  kBeforeGroupFree,     // free_work: released, grace period over, not yet freed (deferred free)
  kObjSlotGiveBack,     // slab obj_uncharge_slow: a freed object's bytes are in the slot, the rest not yet done
  kObjectFreePublished, // slab cache_free: the object is in the magazine, its uncharge not yet made
  kCount
};

#if defined(MEMCG_FAULT_INJECTION)

const char* name(Kind k) noexcept;

extern std::atomic<std::uint32_t> g_armed;  // bit per Kind

bool fail_slow(Kind k) noexcept;
void point_slow(Kind k) noexcept;

inline bool armed(Kind k) noexcept {
  return g_armed.load(std::memory_order_relaxed) & (1u << static_cast<unsigned>(k));
}

/// Arms kind k: inject with probability p (0..1). For delay points the
/// delay is uniform in [0, max_delay_us] microseconds (0: a few yields).
void set(Kind k, double p, std::uint32_t max_delay_us = 0) noexcept;
/// Arms a failure kind with a hook deciding each time (true: fail).
void set_fail_hook(Kind k, bool (*hook)()) noexcept;
/// Arms a delay point with a hook called every time the point is passed.
void set_point_hook(Kind k, void (*hook)(Kind)) noexcept;
/// Disarms k / everything (injection counters are kept).
void clear(Kind k) noexcept;
void clear_all() noexcept;
/// Seeds the per-thread generators (threads started later derive from it).
void seed(std::uint64_t s) noexcept;
/// Faults injected so far (failures returned true, delays taken, hook calls).
std::uint64_t injected(Kind k) noexcept;
std::uint64_t injected_total() noexcept;

/// Failure sites on the calling thread inject nothing inside a Suppress
/// scope (sites whose failure is fatal by design, e.g. bookkeeping on the
/// removal path that cannot be undone).
void suppress_push() noexcept;
void suppress_pop() noexcept;
struct Suppress {
  Suppress() noexcept { suppress_push(); }
  ~Suppress() { suppress_pop(); }
  Suppress(const Suppress&) = delete;
  Suppress& operator=(const Suppress&) = delete;
};

/// Disarms everything at scope exit (tests).
struct ScopedClear {
  ScopedClear() = default;
  ScopedClear(const ScopedClear&) = delete;
  ScopedClear& operator=(const ScopedClear&) = delete;
  ~ScopedClear() { clear_all(); }
};

#define MEMCG_FAULT_FAIL(kind)                                    \
  (__builtin_expect(::memcg::detail::fault::armed(kind), 0) &&     \
   ::memcg::detail::fault::fail_slow(kind))
#define MEMCG_FAULT_POINT(kind)                                   \
  do {                                                            \
    if (__builtin_expect(::memcg::detail::fault::armed(kind), 0)) \
      ::memcg::detail::fault::point_slow(kind);                   \
  } while (0)
#define MEMCG_FAULT_SUPPRESS() ::memcg::detail::fault::Suppress memcg_fault_suppress_

inline constexpr bool kEnabled = true;

#else

#define MEMCG_FAULT_FAIL(kind) false
#define MEMCG_FAULT_POINT(kind) ((void)0)
#define MEMCG_FAULT_SUPPRESS() ((void)0)

inline constexpr bool kEnabled = false;

#endif

}  // namespace memcg::detail::fault
