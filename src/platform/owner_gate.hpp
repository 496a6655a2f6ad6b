// OwnerGate: lets one owner thread run short operations on its per-thread
// state with no atomic read-modify-write, while any other thread can still
// exclude it to drain or flush that state (the asymmetric Dekker protocol
// shared by the charge stocks and the slab magazines).
//
//   owner:    in_op = 1; light barrier; if drain_pending == 0: op (plain
//             loads/stores); in_op = 0 (release)
//             else: in_op = 0; take lock; op; unlock
//   drainer:  drain_pending += 1 (for every gate); heavy barrier (membarrier,
//             once for all gates); then per gate: wait until in_op == 0,
//             take lock, work on the owner's state, unlock, drain_pending -= 1
//
// The heavy barrier orders the owner's in_op store before its drain_pending
// load: either the drainer sees in_op == 1 and waits, or the owner sees
// drain_pending and serialises on the lock. Because a drainer waits for every
// operation in flight, an owner operation is also a read-side critical
// section: whatever the owner found inside one (a cache pointer, say) stays
// valid until it leaves, if the freeing side runs a drain round first.
//
// Without membarrier(2) the heavy barrier cannot order the owner's pair, so
// a gate is pinned (serialise_always(), when its node becomes visible to
// drainers): drain_pending never returns to 0 and every owner operation
// takes the lock. The owner's fast path is therefore a compiler barrier and
// one load, with no test of membarrier's availability.
//
// Rules: an owner op never blocks, never takes another lock, never charges.
// Under TSan the Dekker pair uses seq_cst atomics (TSan does not model
// membarrier); the protocol is otherwise the same.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "platform/assert.hpp"
#include "platform/membarrier.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

class OwnerGate {
 public:
  constexpr explicit OwnerGate(LockRank rank) noexcept : lock_(rank) {}

  /// Owner thread only.
  template <class F>
  inline void run(F&& f) {
#if defined(MEMCG_TSAN)
    in_op_.store(1, std::memory_order_seq_cst);
    const bool clear = drain_pending_.load(std::memory_order_seq_cst) == 0;
#else
    in_op_.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier::heavy() is the other half
    const bool clear = drain_pending_.load(std::memory_order_acquire) == 0;
#endif
    if (MEMCG_LIKELY(clear)) {
      f();
      in_op_.store(0, std::memory_order_release);
      return;
    }
    in_op_.store(0, std::memory_order_release);
    LockGuard<SpinLock> l(lock_);
    f();
  }

  /// Owner thread: the two halves of run()'s unlocked case, for fast paths
  /// that want their contended case out of line. try_enter() false: a
  /// drainer is pending and nothing was entered (use run() instead).
  inline bool try_enter() noexcept {
#if defined(MEMCG_TSAN)
    in_op_.store(1, std::memory_order_seq_cst);
    if (MEMCG_LIKELY(drain_pending_.load(std::memory_order_seq_cst) == 0)) return true;
#else
    in_op_.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier::heavy() is the other half
    if (MEMCG_LIKELY(drain_pending_.load(std::memory_order_acquire) == 0)) return true;
#endif
    in_op_.store(0, std::memory_order_release);
    return false;
  }
  inline void leave() noexcept { in_op_.store(0, std::memory_order_release); }

  /// Owner thread: enters an operation without reading drain_pending_, for
  /// a fast path that reads a view word of its own instead, one that every
  /// drainer blocks before announcing (ThreadRegistry::Policy::block) and
  /// so before its heavy barrier: the same Dekker pair, on that word. Load
  /// the view with view_order after this call; pair with leave().
  inline void enter() noexcept {
#if defined(MEMCG_TSAN)
    in_op_.store(1, std::memory_order_seq_cst);
#else
    in_op_.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // membarrier::heavy() is the other half
#endif
  }
#if defined(MEMCG_TSAN)
  static constexpr std::memory_order view_order = std::memory_order_seq_cst;
#else
  static constexpr std::memory_order view_order = std::memory_order_acquire;
#endif

  /// Owner thread, when its gate becomes visible to drainers (enrolment),
  /// if membarrier::g_available is false: every later operation takes the
  /// lock (see the header comment).
  void serialise_always() noexcept { drain_pending_.fetch_add(1, std::memory_order_seq_cst); }

  /// Owner thread, outside run(): exclusive access through the lock (thread
  /// exit, explicit flushes of the owner's own state).
  SpinLock& lock() noexcept { return lock_; }

  // Drainer side. Call announce() on every gate, then membarrier::heavy()
  // once, then for each gate: wait_idle(), lock(), work, unlock(), retire().
  void announce() noexcept { drain_pending_.fetch_add(1, std::memory_order_seq_cst); }
  void wait_idle() const noexcept {
    while (in_op_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
  void retire() noexcept { drain_pending_.fetch_sub(1, std::memory_order_release); }

 private:
  std::atomic<std::uint32_t> in_op_{0};          // written by the owner only
  std::atomic<std::uint32_t> drain_pending_{0};  // drainers in progress
  SpinLock lock_;
};

}  // namespace memcg::detail
