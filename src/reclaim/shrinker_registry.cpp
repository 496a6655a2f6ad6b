#include "reclaim/shrinker_registry.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "platform/meta_arena.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "reclaim/reclaim_stats.hpp"

namespace memcg {
namespace detail {
namespace {

struct Entry {
  std::uint64_t seq = 0;       // registration order; the registry is sorted by it
  Shrinker* shrinker = nullptr;
  bool group_aware = true;
  std::atomic<int> active{0};  // reclaimers inside, + kUnlinked when unregistered
  Entry* next = nullptr;       // registry mutex
  Entry* prev = nullptr;       // registry mutex
};

struct Registry {
  RankedMutex mutex{LockRank::kShrinkers};
  Entry* head MEMCG_GUARDED_BY(mutex) = nullptr;
  Entry* tail MEMCG_GUARDED_BY(mutex) = nullptr;
  std::uint64_t next_seq MEMCG_GUARDED_BY(mutex) = 1;
  std::atomic<std::uint64_t> count{0};

  // Fork child: the reclaimers that were inside a shrinker are gone, so no
  // entry has anyone inside (unregistering one would otherwise wait for
  // ever). A shrinker that itself calls fork() is not supported.
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    for (Entry* e = static_cast<Registry*>(p)->head; e; e = e->next) e->active.store(0, std::memory_order_relaxed);
  }
  fork::HeldAcrossFork<RankedMutex> fork{mutex, fork_child_fixup, this};
};

Registry& registry() {
  static Registry* r = new Registry;  // leaked: outlives static destructors
  return *r;
}

// Takes the first registered entry with seq > after_seq that can be
// entered, with its active count raised; skipped ones are counted. Walking
// by sequence number (not by a held entry's link) stays correct whatever is
// unregistered meanwhile.
Entry* enter_next(std::uint64_t after_seq) {
  Registry& r = registry();
  LockGuard<RankedMutex> l(r.mutex);
  for (Entry* e = r.head; e; e = e->next) {
    if (e->seq <= after_seq) continue;
    int a = e->active.load(std::memory_order_relaxed);
    if (a >= kMaxConcurrentCalls) {
      g_reclaim_stats.shrinker_skips.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    e->active.fetch_add(1, std::memory_order_acq_rel);
    return e;
  }
  return nullptr;
}

void leave(Entry* e) { e->active.fetch_sub(1, std::memory_order_acq_rel); }

}  // namespace

bool any_shrinkers() noexcept { return registry().count.load(std::memory_order_relaxed) != 0; }

std::uint64_t shrink_group_objects(GroupImpl* g, bool is_root, int priority, std::uint64_t protection,
                                   std::uint64_t* freeable_out) noexcept {
  std::uint64_t freed = 0, freeable_sum = 0;
  if (!any_shrinkers()) {
    if (freeable_out) *freeable_out = 0;
    return 0;
  }
  group_get(g);
  ShrinkControl sc{Access::adopt(g), 0, priority};
  const std::uint64_t usage = g->counter.usage();
  // Never hold the registry mutex across a call; hold one entry at a time.
  std::uint64_t seq = 0;
  for (;;) {
    Entry* e = enter_next(seq);
    if (!e) break;
    seq = e->seq;
    struct Leave {
      Entry* e;
      ~Leave() { leave(e); }
    } guard{e};
    if (!e->group_aware && !is_root) continue;
    sc.nr_to_scan = 0;
    g_reclaim_stats.shrinker_calls.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t freeable = e->shrinker->count(sc);
    if (freeable == 0 || freeable == kShrinkStop) continue;
    freeable_sum += freeable;
    // Scan target, as the kernel's get_scan_count does it for an LRU:
    //   scan = size - size * protection / (usage + 1)   (proportional protection)
    //   scan = max(scan, kScanFloor) >> priority
    // where size is the shrinker's count scaled by 4 / seeks (do_shrink_slab).
    // Protection applies to the full count before the shift, so siblings
    // feel pressure in proportion to their unprotected share at every
    // priority; small groups get nothing at high priorities and the floor
    // keeps reclaim moving at low ones (SWAP_CLUSTER_MAX).
    const unsigned seeks = std::max(1u, e->shrinker->seeks());
    const unsigned __int128 scaled = static_cast<unsigned __int128>(freeable) * 4 / seeks;
    unsigned __int128 scan = scaled;
    if (protection) {
      const std::uint64_t size = std::max(usage, protection);
      scan -= scaled * protection / (static_cast<unsigned __int128>(size) + 1);
    }
    scan = std::max<unsigned __int128>(scan, kScanFloor) >> priority;
    std::uint64_t total = static_cast<std::uint64_t>(std::min<unsigned __int128>(scan, UINT64_MAX));
    total = std::min(total, 2 * freeable);
    while (total > 0) {
      sc.nr_to_scan = std::min(total, kShrinkBatch);
      g_reclaim_stats.shrinker_calls.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t got = e->shrinker->scan(sc);
      if (got == kShrinkStop) break;
      freed += got;
      count_stat(g, &StatCounters::pgscan, sc.nr_to_scan);
      // pgsteal <= pgscan: a shrinker cannot free more objects than it was
      // asked to scan, whatever it returns (bad-inputs.md: over-reporting).
      if (got) count_stat(g, &StatCounters::pgsteal, std::min(got, sc.nr_to_scan));
      total -= sc.nr_to_scan;
    }
  }
  if (freeable_out) *freeable_out = freeable_sum;
  return freed;
}

}  // namespace detail

ShrinkerRegistration& ShrinkerRegistration::operator=(ShrinkerRegistration&& o) noexcept {
  if (this != &o) {
    reset();
    h_ = o.h_;
    o.h_ = nullptr;
  }
  return *this;
}

void ShrinkerRegistration::reset() noexcept {
  if (!h_) return;
  auto* e = static_cast<detail::Entry*>(h_);
  h_ = nullptr;
  detail::Registry& r = detail::registry();
  {
    detail::LockGuard<detail::RankedMutex> l(r.mutex);
    if (e->prev) e->prev->next = e->next; else r.head = e->next;
    if (e->next) e->next->prev = e->prev; else r.tail = e->prev;
    r.count.fetch_sub(1, std::memory_order_relaxed);
  }
  // A reclaimer that entered e may still be inside it.
  while (e->active.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  detail::meta::destroy(e);
}

ShrinkerRegistration register_shrinker(Shrinker& s, bool group_aware) {
  auto* e = detail::meta::make<detail::Entry>();
  if (!e) throw std::bad_alloc();
  e->shrinker = &s;
  e->group_aware = group_aware;
  detail::Registry& r = detail::registry();
  {
    detail::LockGuard<detail::RankedMutex> l(r.mutex);
    e->seq = r.next_seq++;
    e->prev = r.tail;
    if (r.tail) r.tail->next = e; else r.head = e;
    r.tail = e;
    r.count.fetch_add(1, std::memory_order_relaxed);
  }
  ShrinkerRegistration reg;
  reg.h_ = e;
  return reg;
}

}  // namespace memcg
