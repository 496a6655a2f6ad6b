// The charge layer's part of Group::remove() and of memory.stat.
#include "charge/pin.hpp"
#include "charge/stock.hpp"
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/runtime.hpp"
#include "memcg/group.hpp"
#include "platform/rcu.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace detail {

void offline_charge(GroupImpl* g) noexcept {
  drain_stocks_of(g);  // after this no stock holds g, and none will (g is dying)
  pin_mark_dead(g);
}

namespace {
// Sums local stats over g's subtree (dying descendants included) under RCU.
void sum_subtree(GroupImpl* g, Stat& out) {
  out.slab_reclaimable += g->stats.slab_reclaimable.load(std::memory_order_relaxed);
  out.slab_unreclaimable += g->stats.slab_unreclaimable.load(std::memory_order_relaxed);
  out.kmalloc_large += g->stats.kmalloc_large.load(std::memory_order_relaxed);
  out.reservations += g->stats.reservations.load(std::memory_order_relaxed);
  out.stock_drains += g->stats.stock_drains.load(std::memory_order_relaxed);
  out.pgscan += g->stats.pgscan.load(std::memory_order_relaxed);
  out.pgsteal += g->stats.pgsteal.load(std::memory_order_relaxed);
  for (GroupImpl* c = g->first_child.load(std::memory_order_acquire); c;
       c = c->next_sibling.load(std::memory_order_acquire))
    sum_subtree(c, out);
}
}  // namespace

}  // namespace detail

Stat Group::stat() const {
  Stat s;
  if (!p_) return s;
  {
    detail::rcu::ReadGuard rg;
    detail::sum_subtree(p_, s);
  }
  s.stock = detail::stock_bytes_in_subtree(p_);
  return s;
}

detail::RuntimeStats detail::runtime_stats() noexcept {
  detail::Runtime& rt = detail::runtime();
  RuntimeStats s;
  s.groups_allocated = rt.groups_allocated.load();
  s.groups_freed = rt.groups_freed.load();
  s.threads_with_stock = detail::threads_with_stock();
  return s;
}

}  // namespace memcg
