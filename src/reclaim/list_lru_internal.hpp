#pragma once

#include <cstdint>

namespace memcg::detail {
struct GroupImpl;
/// Group removal: splice g's list of every ListLru into its nearest online
/// ancestor's; the emptied list is freed after an RCU grace period.
void reparent_list_lrus(GroupImpl* g) noexcept;
/// Dead lists and replaced slot arrays (of every ListLru) whose RCU grace
/// period has not ended yet; 0 after memcg::barrier() when no group is being
/// removed concurrently (tests: retired memory does not pile up).
std::uint64_t list_lru_retired_pending() noexcept;
}  // namespace memcg::detail
