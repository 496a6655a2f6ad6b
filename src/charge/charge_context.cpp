// ScopedChargeFlags and the thread's charge context (charge_context.hpp).
#include "charge/charge_context.hpp"

namespace memcg {
namespace detail {
constinit thread_local std::uint32_t tls_charge_flags __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local std::int64_t tls_throttle_left_us __attribute__((tls_model("initial-exec"))) =
    kNoThrottleWindow;
}  // namespace detail

ScopedChargeFlags::ScopedChargeFlags(ChargeFlags f) noexcept : prev_(detail::tls_charge_flags) {
  detail::tls_charge_flags = prev_ | static_cast<std::uint32_t>(f);
}

ScopedChargeFlags::~ScopedChargeFlags() { detail::tls_charge_flags = prev_; }

ChargeFlags current_charge_flags() noexcept { return static_cast<ChargeFlags>(detail::tls_charge_flags); }

}  // namespace memcg
