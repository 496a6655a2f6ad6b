// OOM: when reclaim cannot make a charge fit, the nearest OOM handler (the
// group's own or an ancestor's) is called with a victim suggestion (the
// group of the subtree with the largest own usage, see OomContext::victim).
// Events as the kernel counts them: oom at the group whose limit failed,
// oom_kill, when the handler freed memory, at the group it says it acted on
// (OomContext::killed), by default the victim. Charges above
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

GroupImpl* next_online_sibling(GroupImpl* c) {
  do c = c->next_sibling.load(std::memory_order_acquire);
  while (c && !c->is_online());
  return c;
}

GroupImpl* first_online_child(GroupImpl* g) {
  GroupImpl* c = g->first_child.load(std::memory_order_acquire);
  return c && !c->is_online() ? next_online_sibling(c) : c;
}

// The next online group after x in a pre-order walk of root's subtree. A
// removed group's descendants are all removed: skipping it skips nothing.
GroupImpl* preorder_next(GroupImpl* x, GroupImpl* root) {
  if (GroupImpl* c = first_online_child(x)) return c;
  for (; x != root; x = x->parent)
    if (GroupImpl* s = next_online_sibling(x)) return s;
  return nullptr;
}

// The victim suggestion (see OomContext::victim): the group of g's subtree
// with the largest own usage (usage minus its online children's usage), the
// first in pre-order on ties. Usages are read racily; a sum of children
// above the parent's usage (charges moving meanwhile) counts as 0. Returned
// with a reference. (Not inlined: GCC 12 then warns falsely about the
// group_get in run_oom, -Wstringop-overflow.)
[[gnu::noinline]] GroupImpl* pick_victim(GroupImpl* g) {
  rcu::ReadGuard rg;
  GroupImpl* best = g;
  std::uint64_t best_own = 0;
  bool first = true;
  for (GroupImpl* x = g; x; x = preorder_next(x, g)) {
    if (x != g && !x->is_online()) continue;  // removed meanwhile
    std::uint64_t own = x->counter.usage();
    for (GroupImpl* c = first_online_child(x); c; c = next_online_sibling(c)) {
      const std::uint64_t u = c->counter.usage();
      own = own > u ? own - u : 0;
    }
    if (first || own > best_own) {
      best = x;
      best_own = own;
      first = false;
    }
  }
  if (best != g && group_tryget(best)) return best;
  group_get(g);  // g is held by the caller
  return g;
}

}  // namespace

bool run_oom(GroupImpl* over, std::uint64_t bytes) noexcept {
  record_event(over, Event::kOom);
  OomHandler handler;
  {
    LockGuard<RankedMutex> l(tree_mutex());
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
  OomContext ctx{&g, &victim, bytes, Group()};
  bool freed = false;
  try {
    freed = handler(ctx);
  } catch (...) {
    freed = false;  // a throwing handler counts as "nothing freed"
  }
  // The kernel counts oom_kill at the memcg of the task it killed: here the
  // group the handler says it acted on (OomContext::killed), else the victim.
  if (freed) record_event(ctx.killed_ ? ctx.killed_.impl() : victim.impl(), Event::kOomKill);
  return freed;
}

bool oom_for_charge(GroupImpl* over, std::uint64_t bytes) noexcept {
  if (bytes > kCostlyBytes) return false;
  return run_oom(over, bytes);
}

void free_reclaim_state(GroupImpl* g) noexcept {
  OomHandler* h;
  {
    LockGuard<RankedMutex> l(tree_mutex());
    h = static_cast<OomHandler*>(g->oom_handler);
    g->oom_handler = nullptr;
  }
  delete h;  // the handler's destructor runs with no library lock held
}

}  // namespace detail

void Group::set_oom_handler(OomHandler h) {
  if (!p_) throw std::system_error(std::make_error_code(std::errc::invalid_argument), "memcg::Group::set_oom_handler");
  auto* fresh = h ? new OomHandler(std::move(h)) : nullptr;
  OomHandler* old = nullptr;
  bool removed = false;
  {
    detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
    // As set_max: a removed group takes no new handler (it would never be
    // called); removing one is always allowed.
    removed = fresh && !p_->is_online();
    if (!removed) {
      old = static_cast<OomHandler*>(p_->oom_handler);
      p_->oom_handler = fresh;
    }
  }
  if (removed) {
    delete fresh;
    throw std::system_error(std::make_error_code(std::errc::no_such_file_or_directory), "memcg::Group::set_oom_handler");
  }
  delete old;  // copies taken by running OOMs are their own
}

}  // namespace memcg
