// RCU callbacks for both flavours: rcu::call() queues, one library thread
// waits for a grace period (rcu::synchronize()) and runs the batch;
// rcu::barrier() waits until everything queued before it has run.
//
// The queue is the library's own rather than liburcu's call_rcu: a fork
// (platform/fork.hpp) holds its mutex, so the child never finds it half
// linked, and the child starts its own callback thread on the next call().
//
// LOCKS: the queue mutex (kRcuCallbacks, the last rank): call() may be made
// with any library lock held, and the mutex is never held while waiting for
// anything but the condition variables.
#include <condition_variable>
#include <new>
#include <thread>

#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail::rcu {
namespace {

struct Queue {
  RankedMutex mutex{LockRank::kRcuCallbacks};
  std::condition_variable_any cv;       // callbacks arrived
  std::condition_variable_any done_cv;  // a batch finished
  Head* head MEMCG_GUARDED_BY(mutex) = nullptr;
  Head** tail MEMCG_GUARDED_BY(mutex) = &head;
  std::uint64_t queued MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t done MEMCG_GUARDED_BY(mutex) = 0;
  bool started MEMCG_GUARDED_BY(mutex) = false;

  // In the child there is no callback thread: the next call() starts one.
  // Callbacks still queued run then; the batch the parent's thread had
  // taken is gone (those objects are never freed in the child). The
  // condition variables are made anew: their state may count waiters that
  // do not exist in the child (the old ones are left: destroying them could
  // wait for those waiters).
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    auto* q = static_cast<Queue*>(p);
    new (&q->cv) std::condition_variable_any;
    new (&q->done_cv) std::condition_variable_any;
    q->started = false;
    std::uint64_t pending = 0;
    for (Head* h = q->head; h; h = h->next) ++pending;
    q->done = q->queued - pending;
  }
  fork::HeldAcrossFork<RankedMutex> fork{mutex, fork_child_fixup, this};
};

Queue& queue() {
  static Queue* q = new Queue;  // leaked: the thread outlives static destructors
  return *q;
}

void callback_thread() MEMCG_NO_TSA {
  Queue& q = queue();
  for (;;) {
    Head* batch;
    {
      std::unique_lock<RankedMutex> l(q.mutex);
      q.cv.wait(l, [&]() MEMCG_NO_TSA { return q.head != nullptr; });
      batch = q.head;
      q.head = nullptr;
      q.tail = &q.head;
    }
    synchronize();
    std::uint64_t n = 0;
    while (batch) {
      Head* next = batch->next;  // read first: fn may free the head
      batch->fn(batch);
      batch = next;
      ++n;
    }
    {
      LockGuard<RankedMutex> l(q.mutex);
      q.done += n;
    }
    q.done_cv.notify_all();
  }
}

}  // namespace

void call(Head* head, void (*fn)(Head*)) noexcept {
  Queue& q = queue();
  head->fn = fn;
  head->next = nullptr;
  {
    LockGuard<RankedMutex> l(q.mutex);
    if (!q.started) {
      q.started = true;
      std::thread(callback_thread).detach();
    }
    *q.tail = head;
    q.tail = &head->next;
    ++q.queued;
  }
  q.cv.notify_one();
}

void barrier() noexcept MEMCG_NO_TSA {
  MEMCG_ASSERT(!in_read_section());
  Queue& q = queue();
  std::unique_lock<RankedMutex> l(q.mutex);
  const std::uint64_t target = q.queued;
  q.done_cv.wait(l, [&]() MEMCG_NO_TSA { return q.done >= target; });
}

void init() noexcept { (void)queue(); }

}  // namespace memcg::detail::rcu
