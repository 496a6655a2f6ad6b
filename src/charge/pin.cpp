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
  LockGuard<RankedMutex> l(tree_mutex());
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

namespace {

// Drops the pin reference if g is dead and no pin is live: the one who
// clears DEAD while `pins` is 0 puts. The caller saw `pins` reach 0, but a
// pin taken while g was still online can have raised it again since (the
// caller was delayed between its decrement and this call, and remove() came
// in between and left the put to that pin). Then DEAD is given back, for
// that pin's own last unpin, and looked at again. Only failing pins can
// raise `pins` once g is dying, so this ends. Inside an RCU read section or
// holding a reference: g may be put meanwhile by someone else.
void put_if_dead_and_unpinned(GroupImpl* g) noexcept {
  for (;;) {
    if (g->pins.load(std::memory_order_seq_cst) != 0) return;
    if (!(g->pin_flags.fetch_and(~GroupImpl::kPinDead, std::memory_order_seq_cst) & GroupImpl::kPinDead)) return;
    if (g->pins.load(std::memory_order_seq_cst) == 0) {
      group_put(g);
      return;
    }
    g->pin_flags.fetch_or(GroupImpl::kPinDead, std::memory_order_seq_cst);
  }
}

}  // namespace

void unpin_group(GroupImpl* g) noexcept {
  // Once pins reaches 0, remove() may see it, win the test-and-clear and
  // drop the last reference while we still touch pin_flags: the read
  // section keeps g's memory valid until we are done (free waits for a
  // grace period, see core/lifecycle.cpp).
  rcu::ReadGuard rg;
  if (g->pins.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  MEMCG_FAULT_POINT(fault::Kind::kUnpinLast);
  put_if_dead_and_unpinned(g);
}

void pin_mark_dead(GroupImpl* g) noexcept {
  if (!(g->pin_flags.load(std::memory_order_seq_cst) & GroupImpl::kPinActive)) return;
  g->pin_flags.fetch_or(GroupImpl::kPinDead, std::memory_order_seq_cst);
  MEMCG_FAULT_POINT(fault::Kind::kPinMarkDead);
  put_if_dead_and_unpinned(g);  // remove() holds a handle
}

}  // namespace memcg::detail
