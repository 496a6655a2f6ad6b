// Test hooks of the slab layer (fault injection and delays in race windows).
// A hook is one relaxed atomic load when unset.
#pragma once

#include <atomic>

namespace memcg::detail::testing {

enum class Point : int {
  kAfterChildLookup = 0,  // a thread holds a child cache it looked up (seed 001's window)
  kCount
};

extern std::atomic<void (*)(Point)> g_delay_hook;

inline void delay_point(Point p) noexcept {
  if (void (*h)(Point) = g_delay_hook.load(std::memory_order_relaxed)) h(p);
}

/// Installs a hook called at every delay point (nullptr to remove).
void set_delay_hook(void (*h)(Point)) noexcept;

}  // namespace memcg::detail::testing
