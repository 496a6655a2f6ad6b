// Test hooks of the slab layer: a thin layer over platform/fault.hpp, kept
// for the cache-reference-chain test. Fault injection builds only
// (MEMCG_FAULT_INJECTION); the library itself uses
// MEMCG_FAULT_POINT(fault::Kind::kAfterChildLookup).
#pragma once

#include <atomic>

#include "platform/fault.hpp"

namespace memcg::detail::testing {

enum class Point : int {
  kAfterChildLookup = 0,  // a thread holds a child cache it looked up
  kCount
};

#if defined(MEMCG_FAULT_INJECTION)
inline std::atomic<void (*)(Point)> g_delay_hook{nullptr};

/// Installs a hook called at every delay point (nullptr to remove).
inline void set_delay_hook(void (*h)(Point)) noexcept {
  g_delay_hook.store(h, std::memory_order_release);
  if (h)
    fault::set_point_hook(fault::Kind::kAfterChildLookup, [](fault::Kind) {
      if (void (*f)(Point) = g_delay_hook.load(std::memory_order_acquire)) f(Point::kAfterChildLookup);
    });
  else
    fault::clear(fault::Kind::kAfterChildLookup);
}
#endif

}  // namespace memcg::detail::testing
