#include "reclaim/reclaim.hpp"

#include <algorithm>

#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "core/upcalls.hpp"
#include "counter/protection.hpp"
#include "platform/fault.hpp"
#include "reclaim/reclaim_iter.hpp"
#include "reclaim/shrinker_registry.hpp"
#include "slab/slab_reclaim.hpp"

namespace memcg::detail {
namespace {

struct ReclaimState {
  std::uint64_t reclaimed = 0;
};

// Marks the calling thread as reclaiming for the scope.
class ReclaimScope {
 public:
  explicit ReclaimScope(ReclaimState* s) noexcept : prev_(tls_reclaim_state) { tls_reclaim_state = s; }
  ~ReclaimScope() { tls_reclaim_state = prev_; }

 private:
  void* prev_;
};

// Reclaims from one group: its shrinkers, then its own child caches.
// Returns whether the group had anything reclaimable at all. Shrinkers that
// are not group-aware run only for the tree's root, that is in reclaim of
// the whole process (the kernel's shrink_slab calls only memcg-aware
// shrinkers below the root memcg): a group's limit must not evict other
// groups' objects.
bool shrink_one(GroupImpl* g, int priority, std::uint64_t protection, ReclaimReason why) {
  std::uint64_t freeable = 0;
  const std::uint64_t freed = shrink_group_objects(g, g->is_root(), priority, protection, &freeable);
  const bool has_slabs = g->nr_slab_caches.load(std::memory_order_relaxed) != 0;
  if (has_slabs) {
    // What the shrinkers freed went to this thread's magazines; at the last
    // priority of a limit reclaim, also take other threads' cached objects.
    reclaim_group_slabs(g, /*own_magazines=*/freed != 0 || priority == 0,
                        /*all_threads=*/priority == 0 && why == ReclaimReason::kLimit);
  }
  return freeable != 0 || has_slabs;
}

}  // namespace

constinit thread_local void* tls_reclaim_state __attribute__((tls_model("initial-exec"))) = nullptr;

void note_uncharged(std::uint64_t bytes) noexcept {
  if (tls_reclaim_state) static_cast<ReclaimState*>(tls_reclaim_state)->reclaimed += bytes;
}

std::uint64_t try_to_free(GroupImpl* root, std::uint64_t bytes, ReclaimReason why) noexcept {
  if (in_reclaim()) return 0;  // no recursion (a shrinker's own allocations)
  ReclaimState st;
  ReclaimScope scope(&st);
  const std::uint64_t target = std::max(bytes, kReclaimMinBytes);
  bool low_reclaim = false;
  for (;;) {
    bool low_skipped = false;
    for (int prio = kDefPriority; prio >= 0; --prio) {
      ReclaimCookie cookie;
      bool any = false;
      bool whole_tree = false;  // the pass began at the root (a shared cursor may resume mid-tree)
      GroupImpl* g = nullptr;
      while ((g = reclaim_iter(root, g, &cookie))) {
        const bool is_root = g == root;
        whole_tree |= is_root;
        std::uint64_t protection = 0;
        if (!is_root) {
          calculate_protection(&root->counter, &g->counter);
          const std::uint64_t usage = g->counter.usage();
          const std::uint64_t emin = g->counter.emin(), elow = g->counter.elow();
          if (usage <= emin) continue;  // below min: never
          if (usage <= elow) {
            if (!low_reclaim) {
              low_skipped = true;
              continue;
            }
            record_event(g, Event::kLow);
          }
          // mem_cgroup_protection: low counts until low reclaim is on.
          protection = low_reclaim ? emin : std::max(emin, elow);
        }
        const std::uint64_t before = st.reclaimed;
        any |= shrink_one(g, prio, protection, why);
        // Bytes reclaimed are the reclaimed group's (counted up the tree).
        if (st.reclaimed > before) count_stat(g, &StatCounters::reclaimed, st.reclaimed - before);
        // Fault injection: abandon the walk mid-round, as the kernel's
        // targeted-invalidation patch was tested, leaving the shared cursor
        // wherever it is while groups die.
        if (st.reclaimed >= target || MEMCG_FAULT_FAIL(fault::Kind::kReclaimIterBreak)) {
          reclaim_iter_break(root, g);
          goto done;
        }
      }
      // Nothing reclaimable in the whole tree: more pressure will not help.
      // A pass that resumed a shared cursor mid-tree saw only its tail.
      if (!any && whole_tree) break;
    }
    // The kernel's memcg_low_reclaim retry (do_try_to_free_pages): only when
    // the attempt reclaimed nothing at all and skipped groups within low.
    if (st.reclaimed == 0 && low_skipped && !low_reclaim) {
      low_reclaim = true;
      continue;
    }
    break;
  }
done:
  return st.reclaimed;
}

std::uint64_t proactive_reclaim(GroupImpl* g, std::uint64_t bytes) noexcept {
  std::uint64_t done = 0;
  int retries = kMaxReclaimRetries;
  while (done < bytes) {
    const std::uint64_t batch = (bytes - done) / 4;
    std::uint64_t got = 0;
    if (!retries) {  // final attempt: other threads' magazines too; what that frees counts
      ReclaimState st;
      {
        ReclaimScope scope(&st);
        reclaim_group_slabs_subtree(g);
      }
      got = st.reclaimed;
      if (got) count_stat(g, &StatCounters::reclaimed, got);  // the subtree's, booked at its root
    }
    got += try_to_free(g, batch, ReclaimReason::kProactive);
    if (!got && !retries--) break;
    done += got;
  }
  return done;
}

std::uint64_t reclaim_for_charge(GroupImpl* over, std::uint64_t bytes) noexcept {
  return try_to_free(over, bytes, ReclaimReason::kLimit);
}

}  // namespace memcg::detail
