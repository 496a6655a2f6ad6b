#include "platform/worker.hpp"

#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>

#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/lock_order.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail::worker {
namespace {

struct State {
  RankedMutex mutex{LockRank::kWorkerQueue};
  std::condition_variable_any cv;       // work arrived
  std::condition_variable_any done_cv;  // work finished
  WorkItem* head MEMCG_GUARDED_BY(mutex) = nullptr;
  WorkItem** tail MEMCG_GUARDED_BY(mutex) = &head;
  std::uint64_t queued MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t done MEMCG_GUARDED_BY(mutex) = 0;
  bool started MEMCG_GUARDED_BY(mutex) = false;
  fork::HeldAcrossFork<RankedMutex> fork{mutex, fork_child_fixup, this};

  // In the child there is no worker thread: the next queue() starts one.
  // Items still queued run then; whatever the parent's worker was running
  // at fork is gone (those objects are never freed in the child). The
  // condition variables are made anew: their state may count waiters that
  // do not exist in the child, and signalling would wait for them (the old
  // ones are left as they are: destroying them could wait too).
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    auto* s = static_cast<State*>(p);
    new (&s->cv) std::condition_variable_any;
    new (&s->done_cv) std::condition_variable_any;
    s->started = false;
    std::uint64_t pending = 0;
    for (WorkItem* w = s->head; w; w = w->next) ++pending;
    s->done = s->queued - pending;
  }
};

// Leaked on purpose: the worker outlives static destructors.
State& state() {
  static State* s = new State;
  return *s;
}

constinit thread_local bool tls_is_worker = false;

void run() {
  tls_is_worker = true;
  State& s = state();
  for (;;) {
    WorkItem* batch;
    {
      UniqueLock<RankedMutex> l(s.mutex);
      while (!s.head) s.cv.wait(l);
      batch = s.head;
      s.head = nullptr;
      s.tail = &s.head;
    }
    std::uint64_t n = 0;
    while (batch) {
      WorkItem* next = batch->next;  // read first: fn may free the item
      batch->fn(batch);
      batch = next;
      ++n;
    }
    {
      LockGuard<RankedMutex> l(s.mutex);
      s.done += n;
    }
    s.done_cv.notify_all();
  }
}

}  // namespace

void queue(WorkItem* w, void (*fn)(WorkItem*)) noexcept {
  State& s = state();
  w->fn = fn;
  w->next = nullptr;
  {
    LockGuard<RankedMutex> l(s.mutex);
    if (!s.started) {
      s.started = true;
      std::thread(run).detach();
    }
    *s.tail = w;
    s.tail = &w->next;
    ++s.queued;
  }
  s.cv.notify_one();
}

void flush() noexcept {
  MEMCG_CHECK(!tls_is_worker, "worker::flush from the worker would deadlock");
  State& s = state();
  UniqueLock<RankedMutex> l(s.mutex);
  std::uint64_t target = s.queued;
  while (s.done < target) s.done_cv.wait(l);
}

std::uint64_t items_run() noexcept {
  State& s = state();
  LockGuard<RankedMutex> l(s.mutex);
  return s.done;
}

bool on_worker_thread() noexcept { return tls_is_worker; }

}  // namespace memcg::detail::worker
