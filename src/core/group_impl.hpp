// GroupImpl: one node of the group tree (the kernel's struct mem_cgroup).
//
// MAP
//   parent ──strong ref──▶ grandparent ...        (a child pins its parent)
//   parent ──first_child──▶ c1 ──next_sibling──▶ c2 ...   (weak, RCU-protected)
//   IdTable[id] ──weak, RCU──▶ group              (cleared at release)
//   ThreadStock slot ──strong ref──▶ group        (charge layer)
//   Reservation ──kmem pin──▶ group               (one ref for all of them)
//   ObjCgroup ──strong ref──▶ group it charges     (moves up at removal)
//   group ──objcg──▶ its own ObjCgroup             (one ref, dropped at free)
//
// INVARIANTS (at quiescence)
//   counter.usage == Σ bytes charged here directly + Σ children.counter.usage
//   bytes held in thread stocks for G  ⊂  G.counter.usage
//   pins == number of live Reservations on G (+ large kmallocs, later)
//   pin_flags & kPinActive  ⇒  exactly one reference is held for the pin
//                              until (dead && pins == 0)
//   state online  ⇔ the base reference is held and kKilled is clear
//   nr_descendants / nr_dying_descendants count online / dying groups below
//
// LIFECYCLE (see include/memcg/group.hpp for the diagram)
//   online --remove()--> dying --last put--> released --grace period--> freed
//   Races analysed:
//   1) T0: tryget_online reads count=1, !killed   T1: remove sets kKilled
//      T0: CAS count 1->2 fails (the word changed) and retries, sees kKilled.
//   2) T0: last put (count->0) in any thread      -> worker: unlink, call_rcu
//      T1: RCU reader found G via the id table or a sibling link before the
//          unlink: G is freed only after T1's read section ends.
//   3) remove vs the last reservation uncharge: see charge/pin.hpp.
//
// LOCKS: tree links, names of children, ids, nr_*descendants writes: the tree
// mutex (Runtime::tree_mutex, rank kTree). Everything else is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "counter/events.hpp"
#include "counter/page_counter.hpp"
#include "memcg/types.hpp"
#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"
#include "platform/worker.hpp"

namespace memcg::detail {

struct ObjCgroup;

// The process-wide mutexes that guard fields of groups and caches. Lock
// them through these functions: clang's analysis then names each one the
// same way in every file (a lock taken as `rt.tree_mutex` is a different
// expression to it).
RankedMutex& tree_mutex() noexcept;  // Runtime::tree_mutex (core/runtime.cpp)
RankedMutex& slab_mutex() noexcept;  // SlabRuntime::slab_mutex (slab/child_cache.cpp)

inline constexpr std::uint32_t kGroupMagicLive = 0x6d656d63;  // "memc"
inline constexpr std::uint32_t kGroupMagicFreed = 0xdeadbeef;

// Statistics of one group. The gauges are local (memory.stat sums them
// over the subtree, and a released group's are folded into its parent). The
// event counts are hierarchical: count_stat() adds to the group and every
// ancestor at the event, so memory.stat reads one counter, which never goes
// backwards (a subtree walk racing a release's fold could count a child
// twice or not at all), and a release folds nothing of them.
struct StatCounters {
  // gauges, local
  std::atomic<std::uint64_t> slab_reclaimable{0};
  std::atomic<std::uint64_t> slab_unreclaimable{0};
  std::atomic<std::uint64_t> kmalloc_large{0};
  std::atomic<std::uint64_t> reservations{0};
  // event counts, hierarchical (count_stat)
  std::atomic<std::uint64_t> stock_drains{0};
  std::atomic<std::uint64_t> pgscan{0};
  std::atomic<std::uint64_t> pgsteal{0};    // objects freed by shrinkers
  std::atomic<std::uint64_t> reclaimed{0};  // bytes reclaimed

  /// Folds the gauges into dst (a released group's into its parent).
  void add_into(StatCounters& dst) const noexcept;
};

// The whole lifecycle (diagram above). The public GroupState shows a handle
// only online and dying: a handle holds a reference, and released/freed come
// after the last one is dropped.
enum class Lifecycle : std::uint8_t { online, dying, released, freed };

struct GroupImpl {
  GroupImpl(GroupImpl* parent, std::string name, std::uint32_t id);
  ~GroupImpl();
  GroupImpl(const GroupImpl&) = delete;
  GroupImpl& operator=(const GroupImpl&) = delete;

  // ---- identity: immutable after construction ----
  std::atomic<std::uint32_t> magic{kGroupMagicLive};  // poisoned just before delete
  const std::uint32_t id;
  const std::uint32_t depth;  // root = 0
  GroupImpl* const parent;    // holds a reference (null for root)
  const std::string name;     // "" for the root

  // ---- lifecycle ----
  static constexpr std::uint64_t kKilled = 1ull << 63;
  static constexpr std::uint64_t kCountMask = kKilled - 1;
  std::atomic<std::uint64_t> ref{1};  // count | kKilled; starts with the base reference
  std::atomic<Lifecycle> state{Lifecycle::online};

  // ---- tree links: written under the tree mutex, read under RCU ----
  std::atomic<GroupImpl*> first_child{nullptr};
  std::atomic<GroupImpl*> next_sibling{nullptr};
  GroupImpl* prev_sibling MEMCG_GUARDED_BY(tree_mutex()) = nullptr;
  GroupImpl* last_child MEMCG_GUARDED_BY(tree_mutex()) = nullptr;
  std::atomic<std::uint64_t> nr_descendants{0};        // written under tree mutex
  std::atomic<std::uint64_t> nr_dying_descendants{0};  // written under tree mutex
  // cgroup.max.depth / cgroup.max.descendants (UINT64_MAX: "max"); written
  // under the tree mutex, checked by create_child() under it.
  std::atomic<std::uint64_t> max_depth{UINT64_MAX};
  std::atomic<std::uint64_t> max_descendants{UINT64_MAX};

  // ---- accounting ----
  PageCounter counter;
  EventCounters events;        // hierarchical
  EventCounters events_local;  // own
  StatCounters stats;          // local; folded into the parent when freed

  // ---- kmem pin protocol: one pin for all pinning objects (charge/pin.hpp) ----
  static constexpr std::uint32_t kPinActive = 1, kPinDead = 2;
  std::atomic<std::uint64_t> pins{0};  // live Reservations (+ large kmallocs)
  std::atomic<std::uint32_t> pin_flags{0};

  // ---- pressure stall information (core/psi.hpp), under the PSI lock ----
  struct Psi {
    std::uint32_t stalled = 0;         // threads stalled charging this subtree
    std::uint32_t member_stalled = 0;  // of them, threads whose ScopedGroup is in the subtree
    std::uint32_t members = 0;         // threads whose ScopedGroup is in the subtree
    std::uint64_t some_start = 0, full_start = 0;  // ns, while some / full holds
    std::uint64_t some_ns = 0, full_ns = 0;        // totals of ended spans
    std::uint64_t avg_at = 0;                      // ns: the averages' last update (0: never)
    std::uint64_t avg_some_ns = 0, avg_full_ns = 0;  // totals at that update
    double avg[2][3] = {};                         // [some, full][10 s, 60 s, 300 s], percent
  } psi;

  // ---- reclaim layer: this group's shared reclaim cursor (when it is the
  // root of a reclaim), see reclaim/reclaim_iter.hpp. position is a weak,
  // RCU-protected pointer, moved away from a group before it is freed. ----
  std::atomic<GroupImpl*> reclaim_position{nullptr};
  std::atomic<std::uint32_t> reclaim_generation{0};
  void* oom_handler MEMCG_GUARDED_BY(tree_mutex()) = nullptr;  // OomHandler*
  void* kill_handler MEMCG_GUARDED_BY(tree_mutex()) = nullptr;  // KillHandler*
  std::atomic<bool> oom_group{false};          // memory.oom.group
  std::atomic<std::uint64_t> oom_wait_us{0};   // Group::set_oom_wait

  // ---- charge layer: object cgroups (charge/objcg.hpp). `objcg` is this
  // group's own, created on its first per-object charge and held until the
  // group is freed; `objcgs` lists every ObjCgroup whose charges land here
  // (its own until removal, and those inherited from removed descendants),
  // guarded by the object-cgroup list lock. ----
  std::atomic<ObjCgroup*> objcg{nullptr};
  ListNode objcgs;

  // ---- slab layer: the child caches charging this group (registered and
  // reparented ones), guarded by the slab mutex (slab/cache_impl.hpp) ----
  ListNode slab_caches MEMCG_GUARDED_BY(slab_mutex());
  std::atomic<std::uint32_t> nr_slab_caches{0};  // length of slab_caches, for lock-free "any?" checks

  // ---- deferred work (release, then free) ----
  WorkItem work;
  rcu::Head rcu_head;

  bool is_root() const noexcept { return parent == nullptr; }
  bool is_online() const noexcept { return state.load(std::memory_order_acquire) == Lifecycle::online; }
  /// True if this group is `ancestor` or lies below it. Parent pointers are
  /// immutable, so this is safe on any group the caller keeps alive.
  bool is_descendant_of(const GroupImpl* ancestor) const noexcept {
    for (const GroupImpl* g = this; g; g = g->parent)
      if (g == ancestor) return true;
    return false;
  }
};

// Records an event at g: local at g, hierarchical at g and every ancestor.
void record_event(GroupImpl* g, Event e) noexcept;
/// Adds n to the hierarchical event count `field` of g and every ancestor.
void count_stat(GroupImpl* g, std::atomic<std::uint64_t> StatCounters::*field, std::uint64_t n) noexcept;

/// The group that owns a counter (try_charge reports the refusing level).
inline GroupImpl* group_of(PageCounter* c) noexcept { return static_cast<GroupImpl*>(c->owner()); }

}  // namespace memcg::detail
