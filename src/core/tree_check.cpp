#include "core/tree_check.hpp"

#include <cinttypes>

#include "core/offline.hpp"
#include "counter/page_counter_check.hpp"

namespace memcg::detail {
namespace {

const char* label(const GroupImpl* g) noexcept { return g->is_root() ? "/" : g->name.c_str(); }

std::uint64_t count_of(const GroupImpl* g) noexcept {
  return g->ref.load(std::memory_order_relaxed) & GroupImpl::kCountMask;
}

// Per-group checks that need only g and its parent (tree mutex held).
void check_node_locked(const GroupImpl* g, const Runtime& rt) noexcept MEMCG_REQUIRES(tree_mutex()) {
  const std::uint32_t magic = g->magic.load(std::memory_order_relaxed);
  MEMCG_INVARIANT(magic == kGroupMagicLive, "a linked group is not freed (group_impl.hpp magic)",
                  "group %u '%s': magic %#x", g->id, label(g), magic);
  const Lifecycle st = g->state.load(std::memory_order_acquire);
  // LIFECYCLE: release unlinks the group under the tree mutex before it
  // stores `released`, so a linked group is online or dying.
  MEMCG_INVARIANT(st == Lifecycle::online || st == Lifecycle::dying,
                  "linked groups are online or dying (group_impl.hpp LIFECYCLE)", "group %u '%s': state %d", g->id,
                  label(g), static_cast<int>(st));
  const std::uint64_t ref = g->ref.load(std::memory_order_relaxed);
  // "state online <=> the base reference is held and kKilled is clear":
  // remove() stores dying under the tree mutex before it sets kKilled, so
  // the => direction holds at every instant (the <= one not in between).
  if (st == Lifecycle::online)
    MEMCG_INVARIANT(!(ref & GroupImpl::kKilled) && (ref & GroupImpl::kCountMask) >= 1,
                    "state online => base reference held and kKilled clear (group_impl.hpp)",
                    "group %u '%s': ref word %#" PRIx64, g->id, label(g), ref);
  if (g->is_root()) {
    MEMCG_INVARIANT(g == rt.root && g->depth == 0 && st == Lifecycle::online,
                    "the root is runtime().root, depth 0, always online", "group %u: depth %u state %d", g->id,
                    g->depth, static_cast<int>(st));
  } else {
    const GroupImpl* p = g->parent;
    MEMCG_INVARIANT(g->depth == p->depth + 1, "depth == parent depth + 1 (group_impl.hpp)",
                    "group %u '%s': depth %u, parent %u depth %u", g->id, label(g), g->depth, p->id, p->depth);
    // remove() refuses (EBUSY) while a child is online.
    if (st == Lifecycle::online)
      MEMCG_INVARIANT(p->is_online(), "an online group's parent is online (remove() is EBUSY with online children)",
                      "group %u '%s' online under parent %u '%s' state %d", g->id, label(g), p->id, label(p),
                      static_cast<int>(p->state.load()));
  }
  // The id table (id_table.hpp): published at publish() under the tree
  // mutex, cleared at release in the same section that unlinks.
  GroupImpl* at = rt.ids.lookup(g->id);
  MEMCG_INVARIANT(at == g, "IdTable[id] names every linked group (group_impl.hpp MAP)",
                  "group %u '%s': the id table holds %p", g->id, label(g), static_cast<void*>(at));
  const std::uint64_t known = known_references_locked(g);
  MEMCG_INVARIANT(count_of(g) >= known, "references >= linked children + base + pin (group_impl.hpp MAP)",
                  "group %u '%s': count %" PRIu64 " < %" PRIu64 " known references", g->id, label(g), count_of(g),
                  known);
}

// Sibling links of g's children (tree mutex: prev_sibling and last_child
// are written only under it, first_child/next_sibling too).
void check_children_locked(const GroupImpl* g) noexcept MEMCG_REQUIRES(tree_mutex()) {
  const GroupImpl* prev = nullptr;
  for (const GroupImpl* c = g->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed)) {
    MEMCG_INVARIANT(c->parent == g, "a child's parent is the group whose list holds it (group_impl.hpp MAP)",
                    "group %u '%s' on the list of %u '%s', parent %u", c->id, label(c), g->id, label(g),
                    c->parent ? c->parent->id : 0u);
    MEMCG_INVARIANT(c->prev_sibling == prev, "prev_sibling mirrors next_sibling (tree links)",
                    "group %u '%s': prev_sibling %p, expected %p", c->id, label(c),
                    static_cast<const void*>(c->prev_sibling), static_cast<const void*>(prev));
    prev = c;
  }
  MEMCG_INVARIANT(g->last_child == prev, "last_child is the end of the child list (tree links)",
                  "group %u '%s': last_child %p, list ends at %p", g->id, label(g),
                  static_cast<const void*>(g->last_child), static_cast<const void*>(prev));
}

// "nr_descendants / nr_dying_descendants count online / dying groups
// below": both are written under the tree mutex together with the state
// changes and unlinking they count, so they are exact whenever it is held.
void check_descendants_locked(GroupImpl* g) noexcept MEMCG_REQUIRES(tree_mutex()) {
  std::uint64_t online = 0, dying = 0;
  for (GroupImpl* d = tree_next_locked(g, g); d; d = tree_next_locked(d, g)) {
    if (d->is_online()) ++online;
    else ++dying;
  }
  const std::uint64_t nd = g->nr_descendants.load(std::memory_order_relaxed);
  const std::uint64_t ndd = g->nr_dying_descendants.load(std::memory_order_relaxed);
  MEMCG_INVARIANT(nd == online, "nr_descendants counts the online groups below (group_impl.hpp)",
                  "group %u '%s': nr_descendants %" PRIu64 ", online below %" PRIu64, g->id, label(g), nd, online);
  MEMCG_INVARIANT(ndd == dying, "nr_dying_descendants counts the dying groups below (group_impl.hpp)",
                  "group %u '%s': nr_dying_descendants %" PRIu64 ", dying below %" PRIu64, g->id, label(g), ndd,
                  dying);
}

void check_pins_quiescent(const GroupImpl* g) noexcept {
  const std::uint64_t pins = g->pins.load(std::memory_order_relaxed);
  const std::uint32_t flags = g->pin_flags.load(std::memory_order_relaxed);
  // charge/pin.hpp: "kPinActive set on the first pin" and never cleared.
  MEMCG_INVARIANT(pins == 0 || (flags & GroupImpl::kPinActive), "pins > 0 => kPinActive (charge/pin.hpp)",
                  "group %u '%s': pins %" PRIu64 ", flags %#x", g->id, label(g), pins, flags);
  // "The reference is dropped exactly once, by whoever sees pins == 0 with
  // kPinDead set and clears it": with nothing in flight, DEAD outlives only
  // live pins, and only remove() sets it.
  if (flags & GroupImpl::kPinDead)
    MEMCG_INVARIANT(pins > 0 && !g->is_online(), "kPinDead => pins > 0 and not online (charge/pin.hpp)",
                    "group %u '%s': pins %" PRIu64 ", state %d", g->id, label(g), pins,
                    static_cast<int>(g->state.load()));
}

// The counter equation of group_impl.hpp: "counter.usage == Σ bytes charged
// here directly + Σ children.counter.usage", where the direct charges are
// the local statistics of what charges a group (reservations, large
// kmallocs, slabs), the bytes of g that thread stocks hold ("bytes held
// in thread stocks for G ⊂ G.counter.usage") and what G's object cgroups
// charged beyond the slab statistics they added (charge/objcg.hpp). Released children are not
// linked and have usage 0 (free_work checks it).
void check_counters_quiescent(GroupImpl* g) noexcept {
  CounterSums children;
  std::uint64_t children_stock = 0;
  for (GroupImpl* c = g->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed)) {
    children.add(c->counter);
    children_stock += stock_bytes_in_subtree(c);
  }
  const std::uint64_t subtree_stock = stock_bytes_in_subtree(g);
  MEMCG_INVARIANT(subtree_stock >= children_stock, "stock bytes of a subtree include its children's",
                  "group %u '%s': %" PRIu64 " < %" PRIu64, g->id, label(g), subtree_stock, children_stock);
  const StatCounters& s = g->stats;
  const std::uint64_t direct =
      s.reservations.load(std::memory_order_relaxed) + s.kmalloc_large.load(std::memory_order_relaxed) +
      s.slab_reclaimable.load(std::memory_order_relaxed) + s.slab_unreclaimable.load(std::memory_order_relaxed) +
      (subtree_stock - children_stock) + static_cast<std::uint64_t>(objcg_charge_beyond_stats(g));
  check_counter_quiescent(g->counter, children, direct, label(g), g->id);
}

}  // namespace

GroupImpl* tree_next_locked(GroupImpl* g, const GroupImpl* top) noexcept {
  if (GroupImpl* c = g->first_child.load(std::memory_order_relaxed)) return c;
  for (; g != top; g = g->parent)
    if (GroupImpl* s = g->next_sibling.load(std::memory_order_relaxed)) return s;
  return nullptr;
}

std::uint64_t known_references_locked(const GroupImpl* g) noexcept MEMCG_REQUIRES(tree_mutex()) {
  std::uint64_t n = 0;
  for (const GroupImpl* c = g->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed))
    ++n;
  if (g->is_online()) {
    ++n;  // the base reference
    // pin.cpp activate(): the pin's reference is taken under the tree mutex
    // while online, and dropped only after remove() marks the pin dead.
    if (g->pin_flags.load(std::memory_order_relaxed) & GroupImpl::kPinActive) ++n;
  }
  return n;
}

void check_tree_locked(CheckMode mode) noexcept MEMCG_REQUIRES(tree_mutex()) {
  Runtime& rt = runtime();
  // A corrupted link could make the walk cycle: no more groups can be
  // linked than exist.
  const std::uint64_t allocated = rt.groups_allocated.load(std::memory_order_relaxed);
  std::uint64_t linked = 0;
  for (GroupImpl* g = rt.root; g; g = tree_next_locked(g, rt.root)) {
    ++linked;
    MEMCG_INVARIANT(linked <= allocated, "the tree holds no more groups than are allocated (no cycle)",
                    "%" PRIu64 " linked groups visited, %" PRIu64 " allocated", linked, allocated);
    check_node_locked(g, rt);
    check_children_locked(g);
    check_descendants_locked(g);
    if (mode == CheckMode::kQuiescent) {
      check_pins_quiescent(g);
      check_counters_quiescent(g);
    }
  }
  // Every published id names a linked group with that id; with the lookup
  // of every linked group above, the published ids are exactly the linked
  // groups' ids.
  std::uint64_t published = 0;
  const std::uint32_t hw = rt.ids.high_water();
  for (std::uint32_t id = 0; id < hw; ++id) {
    const GroupImpl* g = rt.ids.lookup(id);
    if (!g) continue;
    ++published;
    MEMCG_INVARIANT(g->id == id, "IdTable[id] names the group with that id (id_table.hpp)",
                    "slot %u holds group %u '%s'", id, g->id, label(g));
  }
  MEMCG_INVARIANT(published == linked, "published ids == linked groups (ids cleared at release, with the unlink)",
                  "%" PRIu64 " ids published, %" PRIu64 " groups linked", published, linked);
}

}  // namespace memcg::detail
