// The one entry that runs every layer's executed invariants
// (platform/invariant.hpp: what kLive and kQuiescent promise).
//
// Where it lives: a check of the whole library has to see every layer, and
// barrier(), which runs it in checked builds, is in the core. The core
// reaches the layers above it the way Group::remove() does (core/offline.hpp):
// through functions declared here and defined in the layer they check, one
// explicit list, no registration at start-up (an unreferenced object file
// of a static library would never register).
//
//   counter/page_counter_check.cpp   PageCounter equations (called by the tree check)
//   core/tree_check.cpp              the group tree, ids, references, pins, counters
//   slab/cache_check.cpp             child caches, slabs, depots, per-group cache lists
//
// Locks: the caller holds none and is not in an RCU read section; the check
// takes the tree mutex, then the slab mutex, then each cache lock in turn
// (and, at quiescence, the stock registry through stock_bytes_in_subtree),
// in the order of platform/lock_order.hpp.
#pragma once

#include "platform/invariant.hpp"

namespace memcg::detail {

/// Runs every layer's checks; aborts with a report on the first violation.
/// kQuiescent only where the caller guarantees that nothing is in flight.
void check_invariants(CheckMode mode) noexcept;

/// slab/: child caches, slabs, depots, root arrays and the caches charging
/// each group; with the tree mutex held (the groups walked stay linked).
/// kQuiescent adds each group's slab statistics == its caches' slabs.
void check_slab_locked(CheckMode mode) noexcept;

}  // namespace memcg::detail
