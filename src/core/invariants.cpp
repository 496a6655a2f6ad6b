#include "core/invariants.hpp"

#include "core/runtime.hpp"
#include "core/tree_check.hpp"
#include "platform/assert.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail {

void check_invariants(CheckMode mode) noexcept {
  MEMCG_CHECK(!rcu::in_read_section(), "check_invariants inside an RCU read section");
  LockGuard<RankedMutex> l(tree_mutex());
  check_tree_locked(mode);
  check_slab_locked(mode);
}

}  // namespace memcg::detail
