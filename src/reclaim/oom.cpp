// OOM: when reclaim cannot make a charge fit, the nearest OOM handler (the
// group's own or an ancestor's) is called with a victim suggestion.
// Events as the kernel counts them: oom at the group whose limit failed,
// oom_kill at the victim when the handler freed memory. Charges above
// kCostlyBytes (one slab) never invoke OOM (the kernel skips costly orders).
#include <memory>

#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "core/upcalls.hpp"
#include "memcg/group.hpp"
#include "platform/rcu.hpp"
#include "reclaim/reclaim.hpp"

namespace memcg {
namespace detail {
namespace {

// The heaviest descendant: descend into the online child with the largest
// usage until a group has none. Returned with a reference.
GroupImpl* pick_victim(GroupImpl* g) {
  rcu::ReadGuard rg;
  GroupImpl* v = g;
  for (;;) {
    GroupImpl* best = nullptr;
    std::uint64_t best_usage = 0;
    for (GroupImpl* c = v->first_child.load(std::memory_order_acquire); c;
         c = c->next_sibling.load(std::memory_order_acquire)) {
      if (!c->is_online()) continue;
      const std::uint64_t u = c->counter.usage();
      if (!best || u > best_usage) {
        best = c;
        best_usage = u;
      }
    }
    if (!best || best_usage == 0) break;
    v = best;
  }
  if (v == g || group_tryget(v)) {
    if (v == g) group_get(g);
    return v;
  }
  group_get(g);
  return g;
}

}  // namespace

bool run_oom(GroupImpl* over, std::uint64_t bytes) noexcept {
  record_event(over, Event::kOom);
  OomHandler handler;
  {
    Runtime& rt = runtime();
    LockGuard<RankedMutex> l(rt.tree_mutex);
    for (GroupImpl* a = over; a; a = a->parent) {
      if (a->oom_handler) {
        handler = *static_cast<OomHandler*>(a->oom_handler);
        break;
      }
    }
  }
  if (!handler) return false;
  group_get(over);
  Group g = Group::adopt(over);
  Group victim = Group::adopt(pick_victim(over));
  OomContext ctx{&g, &victim, bytes};
  bool freed = false;
  try {
    freed = handler(ctx);
  } catch (...) {
    freed = false;  // a throwing handler counts as "nothing freed"
  }
  if (freed) record_event(victim.impl(), Event::kOomKill);
  return freed;
}

bool oom_for_charge(GroupImpl* over, std::uint64_t bytes) noexcept {
  if (bytes > kCostlyBytes) return false;
  return run_oom(over, bytes);
}

void free_reclaim_state(GroupImpl* g) noexcept {
  delete static_cast<OomHandler*>(g->oom_handler);
  g->oom_handler = nullptr;
}

}  // namespace detail

void Group::set_oom_handler(OomHandler h) {
  if (!p_) throw std::system_error(std::make_error_code(std::errc::invalid_argument), "memcg::Group::set_oom_handler");
  auto* fresh = h ? new OomHandler(std::move(h)) : nullptr;
  OomHandler* old;
  {
    detail::Runtime& rt = detail::runtime();
    detail::LockGuard<detail::RankedMutex> l(rt.tree_mutex);
    old = static_cast<OomHandler*>(p_->oom_handler);
    p_->oom_handler = fresh;
  }
  delete old;  // copies taken by running OOMs are their own
}

}  // namespace memcg
