#include "core/invariants.hpp"

#include <cinttypes>

#include "charge/objcg.hpp"
#include "core/runtime.hpp"
#include "core/tree_check.hpp"
#include "slab/slab_internal.hpp"
#include "slab/slab_runtime.hpp"

namespace memcg::detail {
namespace {

struct CacheTotals {
  std::uint64_t slabs = 0;
};

const char* group_label(const GroupImpl* g) noexcept { return !g ? "(shared)" : g->is_root() ? "/" : g->name.c_str(); }
std::uint32_t group_id(const GroupImpl* g) noexcept { return g ? g->id : kNoGroupId; }

// One slab list of c (c->lock held). Returns the number of slabs on it and
// adds their objects out of the slabs to *inuse.
std::uint64_t check_slab_list_locked(const ChildCache* c, const ListNode& head, std::uint8_t tag,
                                     std::uint64_t* inuse) MEMCG_REQUIRES(c->lock) {
  const RootCache* r = c->root;
  const GroupImpl* g = c->group.load(std::memory_order_relaxed);
  std::uint64_t n = 0;
  for (const ListNode* node = head.next; node != &head; node = node->next) {
    const auto* s = static_cast<const Slab*>(node->owner);
    ++n;
    MEMCG_INVARIANT(s->kind == kSlabKind && s->cache == c,
                    "a slab on a cache's list holds that cache (slab.hpp: Slab -> ChildCache)",
                    "cache '%s' of group %u '%s': slab %p kind %#x cache %p", r->name, group_id(g), group_label(g),
                    static_cast<const void*>(s), s->kind, static_cast<const void*>(s->cache));
    MEMCG_INVARIANT(s->list == tag, "a slab's list tag names the list it is on (slab.hpp)",
                    "cache '%s': slab %p tagged %u on list %u", r->name, static_cast<const void*>(s), s->list, tag);
    MEMCG_INVARIANT(s->capacity == r->capacity && s->stride == r->stride,
                    "a slab's geometry is its root's (capacity, stride)",
                    "cache '%s': slab %p capacity %u stride %u, root %u %zu", r->name, static_cast<const void*>(s),
                    s->capacity, s->stride, r->capacity, r->stride);
    const bool fits = tag == ChildCache::kFull      ? s->inuse == s->capacity
                      : tag == ChildCache::kEmpty   ? s->inuse == 0
                                                    : s->inuse > 0 && s->inuse < s->capacity;
    MEMCG_INVARIANT(fits, "partial: 0 < inuse < capacity, full: inuse == capacity, empty: inuse == 0 (slab lists)",
                    "cache '%s': slab %p with %u of %u objects out on list %u", r->name,
                    static_cast<const void*>(s), s->inuse, s->capacity, tag);
    // Every object of a slab is out (inuse), on its free list, or not yet
    // carved (beyond the bump pointer).
    const char* data = reinterpret_cast<const char*>(s) + r->data_offset;
    MEMCG_INVARIANT(s->bump >= data && s->bump <= s->end && (s->bump - data) % s->stride == 0 &&
                        s->end == data + std::size_t{s->capacity} * s->stride,
                    "bump and end lie on object boundaries of the slab (slab.hpp)",
                    "cache '%s': slab %p data %p bump %p end %p", r->name, static_cast<const void*>(s),
                    static_cast<const void*>(data), static_cast<const void*>(s->bump), static_cast<const void*>(s->end));
    std::uint64_t free_objects = 0;
    for (const FreeObject* o = s->freelist; o; o = Slab::next_free(o)) {
      const char* p = reinterpret_cast<const char*>(o);
      MEMCG_INVARIANT(++free_objects <= s->capacity && p >= data && p < s->bump && (p - data) % s->stride == 0,
                      "a free list holds carved objects of its own slab, each once",
                      "cache '%s': slab %p free object %p (#%" PRIu64 ")", r->name, static_cast<const void*>(s),
                      static_cast<const void*>(p), free_objects);
    }
    const std::uint64_t uncarved = static_cast<std::uint64_t>(s->end - s->bump) / s->stride;
    MEMCG_INVARIANT(s->inuse + free_objects + uncarved == s->capacity,
                    "inuse + free list + uncarved == capacity (slab.hpp)",
                    "cache '%s': slab %p inuse %u + free %" PRIu64 " + uncarved %" PRIu64 " != capacity %u", r->name,
                    static_cast<const void*>(s), s->inuse, free_objects, uncarved, s->capacity);
    *inuse += s->inuse;
  }
  return n;
}

std::uint64_t check_depot_locked(const ChildCache* c, const MagazineStack& st, bool full) MEMCG_REQUIRES(c->lock) {
  std::uint64_t n = 0, rounds = 0;
  for (const Magazine* m = st.head; m; m = m->next) {
    MEMCG_INVARIANT(++n <= c->root->depot_max, "a depot list holds at most depot_max magazines (slab_internal.hpp)",
                    "cache '%s': more than %u magazines on a depot list", c->root->name, c->root->depot_max);
    // return_magazine: empty magazines go to depot_empty, the others to
    // depot_full ("never empty").
    MEMCG_INVARIANT(full ? (m->n > 0 && m->n <= kMagazineRounds) : m->n == 0,
                    "depot_full magazines hold 1..kMagazineRounds rounds, depot_empty ones none",
                    "cache '%s': magazine with %u rounds on the %s depot", c->root->name, m->n, full ? "full" : "empty");
    for (std::uint32_t i = 0; i < m->n; ++i) {
      const Round& r = m->rounds[i];
      const Slab* s = Slab::of(r.object());
      MEMCG_INVARIANT(s->kind == kSlabKind && s->cache == c, "a depot round is an object of the cache's own slabs",
                      "cache '%s': round %p in slab %p of cache %p", c->root->name, r.object(),
                      static_cast<const void*>(s), static_cast<const void*>(s->cache));
      MEMCG_INVARIANT(!r.charged(), "a depot round is not a charged round (thread_mags.hpp CHARGED ROUNDS)",
                      "cache '%s': round %p on a depot still charged", c->root->name, r.object());
      MEMCG_INVARIANT(s->objcgs ? !r.fresh_entry() || *s->owner_slot(r.object()) == 0 : !r.fresh_entry(),
                      "a round marked fresh is a charging cache's object whose owner entry holds 0 (magazine.hpp Round)",
                      "cache '%s': round %p marked fresh, owner entry %#lx", c->root->name, r.object(),
                      s->objcgs ? static_cast<unsigned long>(*s->owner_slot(r.object())) : 0ul);
    }
    rounds += m->n;
  }
  MEMCG_INVARIANT(n == st.count, "MagazineStack::count is the length of its list (magazine.hpp)",
                  "cache '%s': count %u, %" PRIu64 " magazines", c->root->name, st.count, n);
  return rounds;
}

// One child cache (slab mutex held; takes its lock).
void check_cache(ChildCache* c, CacheTotals* t) MEMCG_REQUIRES(slab_mutex()) {
  LockGuard<SpinLock> l(c->lock);
  const GroupImpl* g = c->group.load(std::memory_order_relaxed);
  std::uint64_t inuse = 0;
  const std::uint64_t partial = check_slab_list_locked(c, c->partial, ChildCache::kPartial, &inuse);
  const std::uint64_t full = check_slab_list_locked(c, c->full, ChildCache::kFull, &inuse);
  const std::uint64_t empty = check_slab_list_locked(c, c->empty, ChildCache::kEmpty, &inuse);
  MEMCG_INVARIANT(c->nr_slabs == partial + full + empty && c->nr_empty == empty,
                  "nr_slabs / nr_empty count the slab lists (cache_impl.hpp)",
                  "cache '%s' of group %u '%s': nr_slabs %" PRIu64 " nr_empty %" PRIu64 ", lists %" PRIu64
                  "/%" PRIu64 "/%" PRIu64,
                  c->root->name, group_id(g), group_label(g), c->nr_slabs, c->nr_empty, partial, full, empty);
  MEMCG_INVARIANT(c->inuse == inuse, "inuse == objects out of the cache's slabs (cache_impl.hpp)",
                  "cache '%s' of group %u '%s': inuse %" PRIu64 ", slabs say %" PRIu64, c->root->name, group_id(g),
                  group_label(g), c->inuse, inuse);
  const std::uint64_t depot_rounds = check_depot_locked(c, c->depot_full, true) + check_depot_locked(c, c->depot_empty, false);
  // inuse counts users' objects and magazines' rounds (depot and threads).
  MEMCG_INVARIANT(depot_rounds <= c->inuse, "inuse >= rounds in the depot (objects in magazines are out of the slabs)",
                  "cache '%s': depot rounds %" PRIu64 " > inuse %" PRIu64, c->root->name, depot_rounds, c->inuse);
  const bool dead = c->dead.load(std::memory_order_relaxed);
  MEMCG_INVARIANT(!c->destroy_queued || dead, "destroy_queued => dead (cache_impl.hpp)", "cache '%s' of group %u '%s'",
                  c->root->name, group_id(g), group_label(g));
  // Killing (offline_slab, Cache::destroy) sets dead and flushes the depot
  // in one slab-mutex section; a dead cache's depot takes no magazine
  // (return_magazine), so with the slab mutex held a dead depot is empty.
  MEMCG_INVARIANT(!dead || (c->depot_full.count == 0 && c->depot_empty.count == 0),
                  "a dead cache's depot is empty (LIFECYCLE: killed, then its depot flushed)",
                  "cache '%s' of group %u '%s': depot %u full, %u empty", c->root->name, group_id(g), group_label(g),
                  c->depot_full.count, c->depot_empty.count);
  // "refs = 1 (registration) + slabs + transient slow-path holders".
  const std::int64_t refs = c->refs.load(std::memory_order_relaxed);
  MEMCG_INVARIANT(c->listed && (c->immortal ? refs == 1 : refs >= 1 + static_cast<std::int64_t>(c->nr_slabs)),
                  "refs >= registration + slabs, or 1 for an immortal cache (cache_impl.hpp LIFECYCLE)",
                  "cache '%s' of group %u '%s': listed %d refs %" PRId64 " slabs %" PRIu64, c->root->name,
                  group_id(g), group_label(g), c->listed, refs, c->nr_slabs);
  t->slabs += c->nr_slabs;
}

}  // namespace

void check_slab_locked(CheckMode mode) noexcept {
  Runtime& rt = runtime();
  SlabRuntime& srt = slab_runtime();
  LockGuard<RankedMutex> l(slab_mutex());
  std::uint64_t accounted = 0;  // listed caches of accounting roots
  std::uint64_t listed = 0;
  for (ListNode* rn = srt.roots.next; rn != &srt.roots; rn = rn->next) {
    auto* r = static_cast<RootCache*>(rn->owner);
    MEMCG_INVARIANT(!r->destroyed && r->seq != 0, "listed roots are live and numbered (slab_runtime.hpp)",
                    "root '%s': destroyed %d seq %u", r->name, r->destroyed, r->seq);
    for (ListNode* n = r->all_children.next; n != &r->all_children; n = n->next) {
      auto* c = static_cast<ChildCache*>(n->owner);
      const GroupImpl* g = c->group.load(std::memory_order_relaxed);
      MEMCG_INVARIANT(c->root == r, "a child cache on root->all_children belongs to that root (cache_impl.hpp MAP)",
                      "cache of root %p on the list of root '%s'", static_cast<void*>(c->root), r->name);
      MEMCG_INVARIANT(r->per_group ? (g != nullptr && c != r->shared) : (g == nullptr && c == r->shared),
                      "per-group roots' children charge a group; a shared cache charges none per slab",
                      "root '%s': cache %p group %p", r->name, static_cast<void*>(c), static_cast<const void*>(g));
      CacheTotals t;
      check_cache(c, &t);
      ++listed;
      if (r->per_group) ++accounted;
    }
    // Published: "RootCache --children array[group id]--> ChildCache
    // (registered, online group)". offline_slab unpublishes under the slab
    // mutex after remove() stored dying, so a published cache's group may
    // be dying, never released (the cache holds a reference).
    if (ChildArray* arr = r->children.load(std::memory_order_relaxed))
      for (std::uint32_t i = 0; i < arr->capacity; ++i) {
        ChildCache* c = arr->slot[i].load(std::memory_order_relaxed);
        if (!c) continue;
        const GroupImpl* g = c->group.load(std::memory_order_relaxed);
        MEMCG_INVARIANT(c->root == r && c->listed && !c->dead.load(std::memory_order_relaxed) && g && g->id == i &&
                            static_cast<std::uint32_t>(c->mag_key_) == i,
                        "a published cache is registered, alive and its group's (root array by group id)",
                        "root '%s' slot %u: cache %p root %p listed %d dead %d group %u", r->name, i,
                        static_cast<void*>(c), static_cast<void*>(c->root), c->listed, c->dead.load(),
                        group_id(g));
        const Lifecycle st = g->state.load(std::memory_order_acquire);
        MEMCG_INVARIANT(st == Lifecycle::online || st == Lifecycle::dying,
                        "a published cache's group is online or dying", "root '%s' slot %u: group state %d", r->name,
                        i, static_cast<int>(st));
      }
  }
  MEMCG_INVARIANT(srt.child_caches.load(std::memory_order_relaxed) >= listed,
                  "child_caches counts every child cache until it is freed (slab_runtime.hpp)",
                  "child_caches %" PRIu64 " < %" PRIu64 " listed", srt.child_caches.load(), listed);

  // "GroupImpl --slab_caches list--> the ChildCaches charging it
  // (registered + reparented)": each cache charges the group whose list it
  // is on, and every listed cache of an accounted root is on one list.
  std::uint64_t on_groups = 0;
  for (GroupImpl* g = rt.root; g; g = tree_next_locked(g, rt.root)) {
    std::uint64_t n = 0, slab_bytes[2] = {0, 0};
    for (ListNode* cn = g->slab_caches.next; cn != &g->slab_caches; cn = cn->next) {
      auto* c = static_cast<ChildCache*>(cn->owner);
      ++n;
      const GroupImpl* cg = c->group.load(std::memory_order_relaxed);
      MEMCG_INVARIANT(cg == g, "a cache on a group's slab_caches list charges that group (slabs charged to their group)",
                      "cache '%s' on the list of group %u '%s' charges group %u", c->root->name, g->id,
                      group_label(g), group_id(cg));
      MEMCG_INVARIANT(c->listed && !c->root->destroyed, "caches on a group's list are registered, of live roots",
                      "cache '%s' of group %u: listed %d", c->root->name, g->id, c->listed);
      LockGuard<SpinLock> cl(c->lock);
      slab_bytes[c->root->options.reclaimable ? 0 : 1] += c->nr_slabs * c->root->slab_bytes();
    }
    on_groups += n;
    const std::uint32_t nr = g->nr_slab_caches.load(std::memory_order_relaxed);
    MEMCG_INVARIANT(nr == n, "nr_slab_caches is the length of slab_caches (group_impl.hpp)",
                    "group %u '%s': nr_slab_caches %u, list %" PRIu64, g->id, group_label(g), nr, n);
    // Each cache holds one reference on its group, besides the ones the
    // core knows of.
    const std::uint64_t count = g->ref.load(std::memory_order_relaxed) & GroupImpl::kCountMask;
    const std::uint64_t known = known_references_locked(g) + n;
    MEMCG_INVARIANT(count >= known, "references >= core's + one per child cache charging the group (cache_impl.hpp MAP)",
                    "group %u '%s': count %" PRIu64 " < %" PRIu64, g->id, group_label(g), count, known);
    if (mode == CheckMode::kQuiescent) {
      // Slabs are charged and counted in the statistics together: added to
      // a list (and the statistic) after their charge, taken off before
      // their uncharge, moved with their cache on reparenting. Exact when
      // no slab is being taken or released.
      // Objects charged one by one add what their ObjCgroups added (moved
      // with them on reparenting, charge/objcg.hpp).
      std::uint64_t objects[2] = {0, 0};  // [reclaimable]
      objcg_slab_bytes(g, objects);
      slab_bytes[0] += objects[1];
      slab_bytes[1] += objects[0];
      const std::uint64_t rec = g->stats.slab_reclaimable.load(std::memory_order_relaxed);
      const std::uint64_t unrec = g->stats.slab_unreclaimable.load(std::memory_order_relaxed);
      MEMCG_INVARIANT(rec == slab_bytes[0] && unrec == slab_bytes[1],
                      "slab statistics == slabs of the caches charging the group + its object cgroups' objects (quiescent)",
                      "group %u '%s': slab_reclaimable %" PRIu64 " vs %" PRIu64 ", slab_unreclaimable %" PRIu64
                      " vs %" PRIu64,
                      g->id, group_label(g), rec, slab_bytes[0], unrec, slab_bytes[1]);
    }
  }
  MEMCG_INVARIANT(on_groups == accounted, "every registered accounted cache is on its group's list",
                  "%" PRIu64 " caches on group lists, %" PRIu64 " registered", on_groups, accounted);
}

}  // namespace memcg::detail
