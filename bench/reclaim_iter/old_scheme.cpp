#include "reclaim_iter/old_scheme.hpp"

#include "core/group_impl.hpp"

namespace reclaim_iter_bench {

using memcg::detail::GroupImpl;

GroupImpl* OldScheme::next(GroupImpl* root, GroupImpl* prev, memcg::detail::ReclaimCookie* cookie) noexcept {
  const std::uint32_t gen = root->reclaim_generation.load(std::memory_order_acquire);
  if (!cookie->started || cookie->generation == gen) {
    const std::uint64_t deaths = deaths_.load(std::memory_order_acquire);
    if (seen_.exchange(deaths, std::memory_order_acq_rel) != deaths)
      root->reclaim_position.store(nullptr, std::memory_order_release);  // restart from the root
  }
  return memcg::detail::reclaim_iter(root, prev, cookie);
}

}  // namespace reclaim_iter_bench
