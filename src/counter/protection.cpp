#include "counter/protection.hpp"

#include <algorithm>

namespace memcg::detail {

std::atomic<bool> g_memory_recursiveprot{false};

std::uint64_t effective_protection(std::uint64_t usage, std::uint64_t parent_usage, std::uint64_t setting,
                                   std::uint64_t parent_effective, std::uint64_t siblings_protected,
                                   bool recursive) noexcept {
  std::uint64_t prot = std::min(usage, setting);
  if (siblings_protected > parent_effective) {
    // prot <= siblings_protected, so the quotient fits; widen the product.
    return static_cast<std::uint64_t>(static_cast<unsigned __int128>(prot) * parent_effective /
                                      siblings_protected);
  }
  std::uint64_t ep = prot;
  if (!recursive) return ep;
  // memory_recursiveprot: the parent's unclaimed protection, in proportion
  // to this group's unprotected share of the parent's unprotected usage.
  if (parent_effective > siblings_protected && parent_usage > siblings_protected && usage > prot) {
    const unsigned __int128 unclaimed = static_cast<unsigned __int128>(parent_effective - siblings_protected) *
                                        (usage - prot) / (parent_usage - siblings_protected);
    ep += static_cast<std::uint64_t>(unclaimed);  // <= parent_effective: usage - prot <= parent_usage - siblings
  }
  return ep;
}

void calculate_protection(const PageCounter* root, PageCounter* counter) noexcept {
  if (counter == root) return;
  std::uint64_t usage = counter->usage();
  if (!usage) return;
  PageCounter* parent = counter->parent();
  if (parent == root || parent == nullptr) {
    counter->set_emin(counter->min());
    counter->set_elow(counter->low());
    return;
  }
  const bool recursive = g_memory_recursiveprot.load(std::memory_order_relaxed);
  const std::uint64_t parent_usage = parent->usage();
  counter->set_emin(effective_protection(usage, parent_usage, counter->min(), parent->emin(),
                                         parent->children_min_usage(), recursive));
  counter->set_elow(effective_protection(usage, parent_usage, counter->low(), parent->elow(),
                                         parent->children_low_usage(), recursive));
}

}  // namespace memcg::detail
