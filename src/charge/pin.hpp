// The kmem pin protocol: objects whose charges can outlive their group
// (Reservations, large kmallocs) pin the group once, not once per object or
// charge (the kernel's memcg_kmem_mark_dead / memcg_uncharge_kmem).
//
//   pins      number of live pinning objects on the group
//   kPinActive   set on the first pin, with one group reference taken
//   kPinDead     set by remove() if active
//   The reference is dropped exactly once, by whoever sees pins == 0 with
//   kPinDead set and clears it (test-and-clear):
//     - remove():   set dead; then as below
//     - unpin():    if --pins == 0: if test_and_clear(dead): put if pins is
//                   still 0, else set dead again and look again
//
// Race with removal (numbered interleaving; all four accesses seq_cst):
//   1) T0 pin():    pins += 1            2) T1 remove(): state = dying
//   3) T0 pin():    reads state          4) T1 offline:  dead = 1; reads pins
//   In the total order either T0 reads online (then T1 reads pins >= 1 and
//   leaves the put to the last unpin) or T0 reads dying (then T0 unpins at
//   once; the test-and-clear gives the put to exactly one of T0 and T1).
// Stale zero: unpin's "pins reached 0" can be stale by its test-and-clear
// (a pin taken while the group was online raised it again, and remove()
// left the put to that pin). Whoever clears DEAD therefore re-reads pins
// and gives DEAD back if a pin is live (put_if_dead_and_unpinned in pin.cpp).
// Use after free: after unpin's decrement to 0, remove() can win the
// test-and-clear and drop the last reference before unpin's own
// test-and-clear runs, so unpin does both inside an RCU read section
// (groups are freed only after a grace period).
#pragma once

#include <system_error>

namespace memcg::detail {

struct GroupImpl;

/// Adds a pin on g. ENOENT (and no pin) if g is not online.
bool pin_group(GroupImpl* g, std::error_code& ec) noexcept;
/// Drops a pin; may drop the pin's reference. g must not be used afterwards
/// unless the caller holds another reference.
void unpin_group(GroupImpl* g) noexcept;
/// remove()'s half of the protocol.
void pin_mark_dead(GroupImpl* g) noexcept;

}  // namespace memcg::detail
