#include "counter/page_counter_check.hpp"

#include <cinttypes>

namespace memcg::detail {

void check_counter_live(const PageCounter& c, const char* name, std::uint32_t id) noexcept {
  // try_charge: "Usage never reaches UINT64_MAX (the "max" sentinel)". One
  // load: true at every instant.
  const std::uint64_t u = c.usage();
  MEMCG_INVARIANT(u != UINT64_MAX, "usage < UINT64_MAX (page_counter.cpp try_charge)",
                  "group %u '%s': usage %" PRIu64, id, name, u);
}

void check_counter_quiescent(const PageCounter& c, const CounterSums& children, std::uint64_t direct,
                             const char* name, std::uint32_t id) noexcept {
  check_counter_live(c, name, id);
  const std::uint64_t u = c.usage();
  // page_counter.hpp: "usage == bytes charged at this level directly +
  // Σ children.usage". Exact only at quiescence: a charge raises the levels
  // one by one from the bottom and an uncharge lowers them the same way.
  MEMCG_INVARIANT(u == direct + children.usage, "usage == direct + sum of children.usage (page_counter.hpp)",
                  "group %u '%s': usage %" PRIu64 " != direct %" PRIu64 " + children %" PRIu64, id, name, u, direct,
                  children.usage);
  // memory.peak >= memory.current: every charge raises the watermark after
  // its usage update; reset_peak stores the usage it read (a charge racing
  // with it can be lost, hence quiescent and "no reset_peak in flight").
  MEMCG_INVARIANT(c.watermark() >= u, "watermark >= usage (memory.peak >= memory.current)",
                  "group %u '%s': watermark %" PRIu64 " < usage %" PRIu64, id, name, c.watermark(), u);
  // page_counter.hpp: "parent.children_min_usage == sum of children.min_usage"
  // (same for low). Every child's exchange of its min_usage adds the delta to
  // the parent, so the parent's sum telescopes to sum of over every child it ever
  // had of that child's last min_usage; a released child's last value stays
  // in the sum (it is 0 unless a racing charge left it stale), so over the
  // children still linked the equation is a lower bound.
  MEMCG_INVARIANT(c.children_min_usage() >= children.min_usage,
                  "children_min_usage == sum of children.min_usage (page_counter.hpp; >= over linked children)",
                  "group %u '%s': children_min_usage %" PRIu64 " < sum of children %" PRIu64, id, name,
                  c.children_min_usage(), children.min_usage);
  MEMCG_INVARIANT(c.children_low_usage() >= children.low_usage,
                  "children_low_usage == sum of children.low_usage (page_counter.hpp; >= over linked children)",
                  "group %u '%s': children_low_usage %" PRIu64 " < sum of children %" PRIu64, id, name,
                  c.children_low_usage(), children.low_usage);
}

}  // namespace memcg::detail
