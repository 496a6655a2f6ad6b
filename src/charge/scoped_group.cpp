// The calling thread's current group (ScopedGroup, current_group).
#include "charge/charge_context.hpp"
#include "charge/current.hpp"
#include "core/access.hpp"
#include "core/psi.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "memcg/group.hpp"

namespace memcg {
namespace detail {
constinit thread_local GroupImpl* tls_current_group __attribute__((tls_model("initial-exec"))) = nullptr;
}  // namespace detail

ScopedGroup::ScopedGroup(const Group& g)
    : group_(g), prev_(detail::tls_current_group), prev_member_(detail::psi_member()),
      opened_window_(detail::tls_throttle_left_us == detail::kNoThrottleWindow) {
  detail::tls_current_group = detail::Access::impl(group_);
  detail::psi_move_member(prev_member_, detail::Access::impl(group_));  // memory.pressure's "full"
  if (opened_window_) detail::tls_throttle_left_us = detail::kThrottleWindowUs;
}

ScopedGroup::~ScopedGroup() {
  detail::psi_move_member(detail::Access::impl(group_), prev_member_);
  detail::tls_current_group = prev_;
  if (opened_window_) detail::tls_throttle_left_us = detail::kNoThrottleWindow;
}

Group current_group() {
  detail::GroupImpl* g = detail::current_group_impl();
  detail::group_get(g);
  return detail::Access::adopt(g);
}

}  // namespace memcg
