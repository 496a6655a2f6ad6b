// RCU callbacks for both flavours: rcu::call() queues, one library thread
// waits for a grace period (rcu::synchronize()) and runs the batch;
// rcu::barrier() waits until everything queued before it has run.
//
// The queue is the library's own (a ServiceQueue, platform/service_queue.hpp)
// rather than liburcu's call_rcu: a fork (platform/fork.hpp) holds its
// mutexes, so the child never finds it half linked or a batch half run, and
// the child starts its own callback thread on the next call().
//
// LOCKS: the queue mutex (kRcuCallbacks, the last rank): call() may be made
// with any library lock held; the run mutex (kRcuCallbackRun, below every
// lock a callback takes) while callbacks run.
#include "platform/assert.hpp"
#include "platform/lock_order.hpp"
#include "platform/rcu.hpp"
#include "platform/service_queue.hpp"

namespace memcg::detail::rcu {
namespace {

// Each batch waits for a grace period that began after its callbacks were
// queued (the thread takes the batch first, then synchronizes).
void grace_period() noexcept { synchronize(); }

ServiceQueue<Head>& service() {
  static auto* q =  // leaked: the thread outlives static destructors
      new ServiceQueue<Head>(LockRank::kRcuCallbacks, LockRank::kRcuCallbackRun, nullptr, grace_period);
  return *q;
}

}  // namespace

void call(Head* head, void (*fn)(Head*)) noexcept { service().push(head, fn); }

void barrier() noexcept {
  MEMCG_ASSERT(!in_read_section());
  service().flush();
}

void init() noexcept { (void)service(); }

}  // namespace memcg::detail::rcu
