// Group reference counting (the kernel's css_get/css_tryget/css_put).
//
// Who may call what:
//   get          - only with a reference already held (a handle, a slot)
//   tryget       - on a group found under RCU (inc-not-zero): may fail once
//                  the group is released
//   tryget_online- like tryget, and fails once remove() has begun
//   put          - anywhere, under any lock: the last put only queues work
#pragma once

#include "core/group_impl.hpp"

namespace memcg::detail {

inline void group_get(GroupImpl* g) noexcept { g->ref.fetch_add(1, std::memory_order_relaxed); }

bool group_tryget(GroupImpl* g) noexcept;
bool group_tryget_online(GroupImpl* g) noexcept;
void group_put(GroupImpl* g) noexcept;
/// Sets kKilled: tryget_online fails from now on. The base reference is
/// dropped separately by the caller (remove) with group_put.
void group_kill(GroupImpl* g) noexcept;

}  // namespace memcg::detail
