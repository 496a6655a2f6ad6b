// The slab layer's process-wide state.
#pragma once

#include <atomic>
#include <cstdint>

#include "platform/fork.hpp"
#include "platform/intrusive_list.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

RankedMutex& slab_mutex() noexcept;  // slab_runtime().slab_mutex, for the analysis (core/group_impl.hpp)

// kmalloc's class roots have fixed magazine-table numbers (class_seq() in
// kmalloc.cpp, within 1..kKmallocRootSeqs), so that kmalloc's fast path
// finds its table key and slot from the size class without loading the
// root. Other roots number from above.
inline constexpr std::uint32_t kKmallocRootSeqs = 128;

struct SlabRuntime {
  SlabRuntime() noexcept;

  // The kernel's memcg_slab_mutex: serialises child-cache creation and
  // destruction, guards the root caches' arrays and lists and every group's
  // slab_caches list.
  RankedMutex slab_mutex{LockRank::kSlab};
  fork::HeldAcrossFork<RankedMutex> slab_fork{slab_mutex};
  // Every child cache's lock (kCache), held across fork; walked through the
  // root list under the slab mutex, which the fork holds from earlier.
  fork::Participant caches_fork;
  ListNode roots MEMCG_GUARDED_BY(detail::slab_mutex());  // all root caches
  std::atomic<std::uint64_t> child_caches{0};

  // Root caches' magazine-table numbers (RootCache::seq, slab mutex): a
  // number is handed out again only after its root's destroy() flushed every
  // table entry of it, so a table key never names two live roots.
  struct FreeSeq {
    FreeSeq* next;
    std::uint32_t seq;
  };
  FreeSeq* free_seqs MEMCG_GUARDED_BY(detail::slab_mutex()) = nullptr;
  // 0 is never a root's number; 1..kKmallocRootSeqs are kept for kmalloc's.
  std::uint32_t next_seq MEMCG_GUARDED_BY(detail::slab_mutex()) = kKmallocRootSeqs + 1;
};

/// A root number (slab mutex held); 0 when all are in use. Never one of
/// kmalloc's fixed numbers.
std::uint32_t take_root_seq_locked(SlabRuntime& rt) noexcept MEMCG_REQUIRES(slab_mutex());
/// Gives a destroyed root's number back (slab mutex held, its entries
/// flushed); kmalloc's fixed numbers are never recycled.
void give_root_seq_locked(SlabRuntime& rt, std::uint32_t seq) noexcept MEMCG_REQUIRES(slab_mutex());

SlabRuntime& slab_runtime() noexcept;

}  // namespace memcg::detail
