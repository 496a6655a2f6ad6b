// The calling thread's charge context: the flags its ScopedChargeFlags (and
// per-call flags) add to every charge (memcg/charge_flags.hpp), and its
// memory.high throttle window (the budget of sleep left until the outermost
// ScopedGroup ends). Read by the charge slow path and the reclaim layer.
#pragma once

#include <cstdint>

#include "memcg/charge_flags.hpp"

namespace memcg::detail {

extern constinit thread_local std::uint32_t tls_charge_flags __attribute__((tls_model("initial-exec")));

/// Microseconds of memory.high throttling the calling thread may still sleep
/// in its current window, or kNoThrottleWindow outside any ScopedGroup (each
/// charge is then its own window). The outermost ScopedGroup opens a window
/// of kThrottleWindowUs (the kernel's 2 s clamp per return to user space);
/// nested ones keep it.
inline constexpr std::int64_t kNoThrottleWindow = -1;
inline constexpr std::int64_t kThrottleWindowUs = 2000000;
extern constinit thread_local std::int64_t tls_throttle_left_us __attribute__((tls_model("initial-exec")));

inline bool charge_flag(std::uint32_t flags, ChargeFlags f) noexcept {
  return (flags & static_cast<std::uint32_t>(f)) != 0;
}

}  // namespace memcg::detail
