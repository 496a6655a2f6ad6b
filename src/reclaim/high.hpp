// The memory.high penalty curve (exposed for tests).
#pragma once

#include <cstdint>

namespace memcg::detail {

struct GroupImpl;

inline constexpr unsigned kDelayPrecisionShift = 20;
inline constexpr unsigned kDelayScalingShift = 14;
inline constexpr std::uint64_t kNominalBatch = 64 * 1024;          // MEMCG_CHARGE_BATCH, in bytes
inline constexpr std::uint64_t kMaxHighDelayUs = 2000000;          // 2 s clamp
inline constexpr std::uint64_t kMinHighDelayUs = 10000;            // HZ/100: below this, do not sleep

/// ((usage - high) << 20) / high, or 0 if usage <= high.
std::uint64_t calculate_overage(std::uint64_t usage, std::uint64_t high) noexcept;
/// The largest overage of g and its non-root ancestors.
std::uint64_t max_overage(GroupImpl* g) noexcept;
/// Microseconds to sleep for a charge of `bytes` at that overage (clamped).
std::uint64_t high_delay_us(std::uint64_t overage, std::uint64_t bytes) noexcept;

}  // namespace memcg::detail
