// Executed invariants: the vocabulary shared by every layer's checker.
//
// Each layer checks the invariants stated in its own headers, next to the
// code they describe (counter/page_counter_check, core/tree_check,
// slab/cache_check); core/invariants.hpp is the one entry that runs them all.
//
// Two strengths of check:
//   kLive       valid while other threads run: each check reads state under
//               the lock that guards it (or a bound that no concurrent
//               operation can break). Run at every memcg::barrier() in
//               checked builds (MEMCG_CHECKED).
//   kQuiescent  kLive plus the exact equations that hold only when no
//               operation is in flight (no charge, allocation, free, limit
//               write or removal running in any thread, the library worker
//               excepted). Run only where the caller guarantees it: tests
//               with no other thread, stress tests after joining their
//               workers, soak checkpoints while the workers wait.
// A violated invariant aborts with its name, the values and the group:
//   memcg: invariant violated: <invariant>: <details> at <file>:<line>
// Like MEMCG_CHECK, reporting never allocates (checks run on paths
// reachable from the interposed malloc).
#pragma once

namespace memcg::detail {

enum class CheckMode { kLive, kQuiescent };

[[noreturn]] void invariant_failed(const char* invariant, const char* file, int line, const char* fmt, ...) noexcept
    __attribute__((format(printf, 4, 5)));

}  // namespace memcg::detail

/// Aborts unless cond; `invariant` names the equation (as stated in the
/// header that documents it), the rest is a printf-style account of the
/// values that break it.
#define MEMCG_INVARIANT(cond, invariant, ...)                                      \
  do {                                                                             \
    if (__builtin_expect(!(cond), 0))                                              \
      ::memcg::detail::invariant_failed(invariant, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
