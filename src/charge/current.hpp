// The calling thread's current group, for hot paths (no reference taken: the
// innermost ScopedGroup holds one for its whole scope).
#pragma once

#include "core/group_impl.hpp"
#include "core/runtime.hpp"

namespace memcg::detail {

extern constinit thread_local GroupImpl* tls_current_group __attribute__((tls_model("initial-exec")));

inline GroupImpl* current_group_impl() noexcept {
  GroupImpl* g = tls_current_group;
  return g ? g : runtime().root;
}

}  // namespace memcg::detail
