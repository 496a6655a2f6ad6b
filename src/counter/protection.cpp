#include "counter/protection.hpp"

#include <algorithm>

namespace memcg::detail {

std::uint64_t effective_protection(std::uint64_t usage, std::uint64_t setting,
                                   std::uint64_t parent_effective,
                                   std::uint64_t siblings_protected) noexcept {
  std::uint64_t prot = std::min(usage, setting);
  if (siblings_protected > parent_effective) {
    // prot <= siblings_protected, so the quotient fits; widen the product.
    return static_cast<std::uint64_t>(static_cast<unsigned __int128>(prot) * parent_effective /
                                      siblings_protected);
  }
  return prot;
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
  counter->set_emin(effective_protection(usage, counter->min(), parent->emin(),
                                         parent->children_min_usage()));
  counter->set_elow(effective_protection(usage, counter->low(), parent->elow(),
                                         parent->children_low_usage()));
}

}  // namespace memcg::detail
