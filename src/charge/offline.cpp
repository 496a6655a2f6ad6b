// The charge layer's part of Group::remove() and of memory.stat.
#include "charge/objcg.hpp"
#include "charge/pin.hpp"
#include "charge/stock.hpp"
#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/runtime.hpp"
#include "core/upcalls.hpp"
#include "memcg/group.hpp"
#include "platform/rcu.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace detail {

void offline_charge(GroupImpl* g) noexcept {
  // g's objects now charge its nearest online ancestor; then no stock
  // holds g (and none will: g is dying), and object slots of the ObjCgroups
  // that moved give their bytes back to the ancestor.
  GroupImpl* heir = objcg_reparent(g);
  drain_stocks_of(g);
  if (heir) drain_object_slots_of_heir(heir);
  pin_mark_dead(g);
}

void free_charge_state(GroupImpl* g) noexcept { objcg_release_group(g); }

namespace {
// Sums the local gauges over g's subtree (dying descendants included) under RCU.
void sum_subtree(GroupImpl* g, Stat& out) {
  out.slab_reclaimable += g->stats.slab_reclaimable.load(std::memory_order_relaxed);
  out.slab_unreclaimable += g->stats.slab_unreclaimable.load(std::memory_order_relaxed);
  out.kmalloc_large += g->stats.kmalloc_large.load(std::memory_order_relaxed);
  out.reservations += g->stats.reservations.load(std::memory_order_relaxed);
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
  // Event counts: hierarchical already (count_stat), so monotone.
  s.stock_drains = p_->stats.stock_drains.load(std::memory_order_relaxed);
  s.pgscan = p_->stats.pgscan.load(std::memory_order_relaxed);
  s.pgsteal = p_->stats.pgsteal.load(std::memory_order_relaxed);
  s.reclaimed = p_->stats.reclaimed.load(std::memory_order_relaxed);
  // Object slots: their bytes are stock; the statistics their objects
  // moved are not yet in the groups' (slab/thread_mags.hpp).
  const detail::ObjSlotSum objs = detail::object_slots_in_subtree(p_);
  s.stock = detail::stock_bytes_in_subtree(p_) + objs.bytes;
  s.slab_unreclaimable += static_cast<std::uint64_t>(objs.slab[0]);
  s.slab_reclaimable += static_cast<std::uint64_t>(objs.slab[1]);
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
