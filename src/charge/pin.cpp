#include "charge/pin.hpp"

#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "platform/fault.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail {
namespace {

// First pin ever: take the reference, serialised with remove() by the tree
// mutex, so an active flag is always seen by remove's pin_mark_dead.
bool activate(GroupImpl* g) noexcept {
  Runtime& rt = runtime();
  LockGuard<RankedMutex> l(rt.tree_mutex);
  if (!g->is_online()) return false;
  if (!(g->pin_flags.load(std::memory_order_relaxed) & GroupImpl::kPinActive)) {
    group_get(g);
    g->pin_flags.fetch_or(GroupImpl::kPinActive, std::memory_order_seq_cst);
  }
  return true;
}

}  // namespace

bool pin_group(GroupImpl* g, std::error_code& ec) noexcept {
  if (!(g->pin_flags.load(std::memory_order_acquire) & GroupImpl::kPinActive) && !activate(g)) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return false;
  }
  g->pins.fetch_add(1, std::memory_order_seq_cst);
  MEMCG_FAULT_POINT(fault::Kind::kPinAfterGet);
  if (g->state.load(std::memory_order_seq_cst) != GroupState::online) {
    unpin_group(g);  // lost the race with remove(): see pin.hpp
    ec = make_err(std::errc::no_such_file_or_directory);
    return false;
  }
  return true;
}

void unpin_group(GroupImpl* g) noexcept {
  // Once pins reaches 0, remove() may see it, win the test-and-clear and
  // drop the last reference while we still touch pin_flags: the read
  // section keeps g's memory valid until we are done (free waits for a
  // grace period, see core/lifecycle.cpp).
  rcu::ReadGuard rg;
  if (g->pins.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  MEMCG_FAULT_POINT(fault::Kind::kUnpinLast);
  if (g->pin_flags.fetch_and(~GroupImpl::kPinDead, std::memory_order_seq_cst) & GroupImpl::kPinDead)
    group_put(g);
}

void pin_mark_dead(GroupImpl* g) noexcept {
  if (!(g->pin_flags.load(std::memory_order_seq_cst) & GroupImpl::kPinActive)) return;
  g->pin_flags.fetch_or(GroupImpl::kPinDead, std::memory_order_seq_cst);
  MEMCG_FAULT_POINT(fault::Kind::kPinMarkDead);
  if (g->pins.load(std::memory_order_seq_cst) != 0) return;
  if (g->pin_flags.fetch_and(~GroupImpl::kPinDead, std::memory_order_seq_cst) & GroupImpl::kPinDead)
    group_put(g);
}

}  // namespace memcg::detail
