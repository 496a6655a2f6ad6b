// The background reclaimer: one library thread that keeps the root under
// its memory.high (a process-wide soft budget), like kswapd. Charging
// threads that leave the root above high only wake it; they are not
// throttled for the root (non-root groups throttle, see high.cpp).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>

#include "core/group_impl.hpp"
#include "core/runtime.hpp"
#include "core/upcalls.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "reclaim/reclaim.hpp"
#include "reclaim/reclaim_stats.hpp"

namespace memcg::detail {
namespace {

struct Background {
  RankedMutex mutex{LockRank::kReclaimWake};
  std::condition_variable_any cv;
  bool started MEMCG_GUARDED_BY(mutex) = false;
  bool wanted MEMCG_GUARDED_BY(mutex) = false;
  std::atomic<bool> pending{false};

  // Fork child: there is no reclaimer thread, the next wake-up starts one;
  // the condition variable is made anew (platform/service_queue.hpp says why).
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    auto* b = static_cast<Background*>(p);
    new (&b->cv) std::condition_variable_any;
    b->started = false;
    b->pending.store(false, std::memory_order_relaxed);
  }
  fork::HeldAcrossFork<RankedMutex> fork{mutex, fork_child_fixup, this};
};

Background& bg() {
  static Background* b = new Background;  // leaked: the thread outlives static destructors
  return *b;
}

void run() {
  Background& b = bg();
  GroupImpl* root = runtime().root;
  for (;;) {
    {
      UniqueLock<RankedMutex> l(b.mutex);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      while (!b.wanted)
        if (b.cv.wait_until(l, deadline) == std::cv_status::timeout) break;
      b.wanted = false;
    }
    b.pending.store(false, std::memory_order_release);
    for (int i = 0; i < kMaxReclaimRetries; ++i) {
      const std::uint64_t usage = root->counter.usage(), high = root->counter.high();
      if (usage <= high) break;
      const std::uint64_t got = try_to_free(root, usage - high, ReclaimReason::kBackground);
      if (!got) break;  // nothing to take: wait for the next wake-up
      g_reclaim_stats.background_runs.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace

void wake_background_reclaim() noexcept {
  Background& b = bg();
  if (b.pending.exchange(true, std::memory_order_acq_rel)) return;  // already asked
  {
    LockGuard<RankedMutex> l(b.mutex);
    b.wanted = true;
    if (!b.started) {
      try {
        std::thread(run).detach();
        b.started = true;
      } catch (...) {
        // No thread now (out of memory or threads): the next wake-up retries.
        b.pending.store(false, std::memory_order_relaxed);
      }
    }
  }
  b.cv.notify_one();
}

}  // namespace memcg::detail
