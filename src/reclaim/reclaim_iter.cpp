#include "reclaim/reclaim_iter.hpp"

#include <atomic>

#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail {
namespace {

std::atomic<std::uint64_t> g_rounds{0};

// Pre-order successor of pos within root's subtree, following the links as
// RCU readers see them (a removed or released pos still leads onwards: its
// own next_sibling and parent stay valid until it is freed).
GroupImpl* next_pre(GroupImpl* pos, GroupImpl* root) {
  if (!pos) return root;
  if (GroupImpl* c = pos->first_child.load(std::memory_order_acquire)) return c;
  for (GroupImpl* x = pos; x != root; x = x->parent)
    if (GroupImpl* s = x->next_sibling.load(std::memory_order_acquire)) return s;
  return nullptr;
}

// The last group of x's subtree in pre-order (tree mutex held).
GroupImpl* last_descendant_locked(GroupImpl* x) MEMCG_REQUIRES(tree_mutex()) {
  MEMCG_ASSERT_HELD(tree_mutex());
  while (GroupImpl* c = x->last_child) x = c;
  return x;
}

}  // namespace

GroupImpl* reclaim_iter(GroupImpl* root, GroupImpl* prev, ReclaimCookie* cookie) noexcept {
  GroupImpl* found = nullptr;
  {
    rcu::ReadGuard rg;
    GroupImpl* pos;
    std::uint32_t gen = 0;
    if (cookie) {
      gen = root->reclaim_generation.load(std::memory_order_acquire);
      if (!cookie->started) {
        cookie->started = true;
        cookie->generation = gen;
      } else if (cookie->generation != gen) {
        goto out;  // another reclaimer finished the round we were part of
      }
      pos = root->reclaim_position.load(std::memory_order_acquire);
    } else {
      pos = prev;
    }
    for (GroupImpl* g = next_pre(pos, root); g; g = next_pre(g, root)) {
      if (g == root) {
        group_get(root);  // the caller's reference on the root keeps it alive
        found = g;
        break;
      }
      if (group_tryget_online(g)) {
        found = g;
        break;
      }
    }
    if (cookie) {
      // Publish our progress; losing the race means someone else advanced
      // it, which is as good.
      GroupImpl* expected = pos;
      root->reclaim_position.compare_exchange_strong(expected, found, std::memory_order_acq_rel);
      if (!found) {
        std::uint32_t g2 = gen;
        if (root->reclaim_generation.compare_exchange_strong(g2, gen + 1, std::memory_order_acq_rel))
          g_rounds.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
out:
  if (prev) group_put(prev);
  return found;
}

void reclaim_iter_break(GroupImpl* root, GroupImpl* prev) noexcept {
  (void)root;
  if (prev) group_put(prev);
}

void reclaim_iter_invalidate_locked(GroupImpl* dead) noexcept {
  MEMCG_ASSERT_HELD(tree_mutex());
  // dead's pre-order predecessor: the last descendant of its previous
  // sibling, else its parent. Computed from the tree as it is now (tree
  // mutex held), so it is linked; if it is itself removed later, its own
  // removal moves the cursor again.
  GroupImpl* pred = dead->prev_sibling ? last_descendant_locked(dead->prev_sibling) : dead->parent;
  if (pred == dead) pred = dead->parent;
  for (GroupImpl* a = dead->parent; a; a = a->parent) {
    GroupImpl* expected = dead;
    a->reclaim_position.compare_exchange_strong(expected, pred, std::memory_order_acq_rel);
  }
}

std::uint64_t reclaim_rounds_completed() noexcept { return g_rounds.load(std::memory_order_relaxed); }

}  // namespace memcg::detail
