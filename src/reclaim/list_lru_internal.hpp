#pragma once

namespace memcg::detail {
struct GroupImpl;
/// Group removal: splice g's list of every ListLru into its parent's.
void reparent_list_lrus(GroupImpl* g) noexcept;
}  // namespace memcg::detail
