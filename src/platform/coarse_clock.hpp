// coarse_ms: a monotonic millisecond clock cheap enough for slow paths
// (CLOCK_MONOTONIC_COARSE: the last tick, a few ms resolution; no syscall
// through the vDSO). Decay and budget windows use it.
#pragma once

#include <time.h>

#include <cstdint>

namespace memcg::detail {

inline std::uint64_t coarse_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace memcg::detail
