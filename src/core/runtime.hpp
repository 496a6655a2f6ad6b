// The process-wide state of the library. Created on first use, never
// destroyed (threads and the worker may outlive static destructors).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/group_impl.hpp"
#include "core/id_table.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

struct Runtime {
  Runtime();

  // The tree mutex (cgroup_mutex): tree links, child names, ids, create/remove.
  RankedMutex tree_mutex{LockRank::kTree};
  fork::HeldAcrossFork<RankedMutex> tree_fork{tree_mutex};
  IdTable ids;  // alloc/publish/release under tree_mutex; lookup under RCU
  GroupImpl* root = nullptr;

  std::atomic<std::uint64_t> groups_allocated{0};
  std::atomic<std::uint64_t> groups_freed{0};
  std::atomic<std::uint64_t> releases_queued{0};
};

Runtime& runtime() noexcept;

// Finds an online child by name (tree mutex held).
GroupImpl* find_online_child_locked(GroupImpl* parent, std::string_view name) MEMCG_REQUIRES(tree_mutex());

}  // namespace memcg::detail
