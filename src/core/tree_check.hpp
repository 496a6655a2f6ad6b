// Executed invariants of the group tree (the INVARIANTS and LOCKS sections
// of group_impl.hpp, refcount.hpp, id_table.hpp, charge/pin.hpp) and, at
// quiescence, the counter equations of every group (counter/page_counter_check).
#pragma once

#include <cstdint>

#include "core/group_impl.hpp"
#include "core/runtime.hpp"
#include "platform/invariant.hpp"

namespace memcg::detail {

/// The next group after g in a pre-order walk of top's subtree (tree mutex
/// held: the links do not change), or null at the end.
GroupImpl* tree_next_locked(GroupImpl* g, const GroupImpl* top) noexcept;

/// References on g that the core and the charge layer account for, a lower
/// bound of g's count at any time while the tree mutex is held: one per
/// linked child (a child pins its parent until it is freed), the base
/// reference while g is online, the reservation pin's while g is online and
/// the pin active (charge/pin.hpp).
std::uint64_t known_references_locked(const GroupImpl* g) noexcept;

/// Tree mutex held. kLive: links, depth, states, kill bit, descendant
/// counters, the id table, reference bounds. kQuiescent adds the pin rules
/// and every group's counter equation, with the bytes charged at a group
/// directly = its reservations + kmalloc_large + slab statistics + the bytes
/// of it held in thread stocks.
void check_tree_locked(CheckMode mode) noexcept MEMCG_REQUIRES(tree_mutex());

}  // namespace memcg::detail
