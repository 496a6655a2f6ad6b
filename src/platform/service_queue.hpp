// A queue of work items run by one library thread: the library worker
// (platform/worker.hpp) and the RCU callback thread (rcu_callbacks.cpp).
//
// push() may be called from anywhere, under any library lock (the queue
// mutex has the highest rank of its user); the thread is started on the
// first push. flush() waits until everything pushed before it has run.
//
// The thread takes the whole queue as one batch (under the queue mutex),
// calls before_batch() (the RCU thread waits for a grace period there), and
// runs the items under the run mutex, whose rank is below every lock an
// item may take. The batch in hand is kept in `inflight_`, popped item by
// item, so what has not run yet is always reachable from the queue.
//
// FORK (platform/fork.hpp): the run mutex is held across fork() (early: an
// item may take any library lock), so the fork waits for the item in
// progress and no item is ever half run in the child; the queue mutex is
// held too (late). In the child there is no thread: the batch in hand goes
// back to the front of the queue, the counters forget nothing, the
// condition variables are made anew (their state may count waiters that do
// not exist in the child, and signalling would wait for them; the old ones
// are abandoned, since destroying them could wait too), and the next push()
// starts a thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <new>
#include <thread>

#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

/// Item: has `Item* next` and `void (*fn)(Item*)`; fn may free the item.
template <class Item>
class ServiceQueue {
 public:
  ServiceQueue(LockRank queue_rank, LockRank run_rank, void (*on_start)() noexcept,
               void (*before_batch)() noexcept) noexcept
      : mutex_(queue_rank), run_mutex_(run_rank), on_start_(on_start), before_batch_(before_batch) {}
  ServiceQueue(const ServiceQueue&) = delete;
  ServiceQueue& operator=(const ServiceQueue&) = delete;

  /// counted, if given, is incremented together with the queueing (a fork
  /// sees both or neither).
  void push(Item* it, void (*fn)(Item*), std::atomic<std::uint64_t>* counted = nullptr) noexcept {
    it->fn = fn;
    it->next = nullptr;
    {
      LockGuard<RankedMutex> l(mutex_);
      if (counted) counted->fetch_add(1, std::memory_order_relaxed);
      if (!started_) {
        started_ = true;
        std::thread([this] { run(); }).detach();
      }
      *tail_ = it;
      tail_ = &it->next;
      ++queued_;
    }
    cv_.notify_one();
  }

  /// Waits until every item pushed before the call has run.
  void flush() noexcept {
    UniqueLock<RankedMutex> l(mutex_);
    const std::uint64_t target = queued_;
    while (done_ < target) done_cv_.wait(l);
  }

  std::uint64_t items_run() noexcept {
    LockGuard<RankedMutex> l(mutex_);
    return done_;
  }

 private:
  void run() noexcept {
    if (on_start_) on_start_();
    for (;;) {
      {
        UniqueLock<RankedMutex> l(mutex_);
        while (!head_) cv_.wait(l);
        inflight_ = head_;
        head_ = nullptr;
        tail_ = &head_;
      }
      if (before_batch_) before_batch_();
      {
        LockGuard<RankedMutex> r(run_mutex_);
        std::uint64_t n = 0;
        while (Item* it = inflight_) {
          inflight_ = it->next;  // first: fn may free the item
          it->fn(it);
          ++n;
        }
        // Counted before the run mutex is released: a fork (which takes the
        // run mutex first) sees a batch either in hand or run and counted.
        LockGuard<RankedMutex> l(mutex_);
        done_ += n;
      }
      done_cv_.notify_all();
    }
  }

  // Child of a fork, both mutexes held, no thread of ours exists.
  static void fork_child_fixup(void* p) noexcept MEMCG_NO_TSA {
    auto* q = static_cast<ServiceQueue*>(p);
    if (Item* first = q->inflight_) {  // not run yet: to the front, in order
      Item* last = first;
      while (last->next) last = last->next;
      last->next = q->head_;
      if (!q->head_) q->tail_ = &last->next;
      q->head_ = first;
      q->inflight_ = nullptr;
    }
    new (&q->cv_) std::condition_variable_any;
    new (&q->done_cv_) std::condition_variable_any;
    q->started_ = false;
  }

  RankedMutex mutex_;
  RankedMutex run_mutex_;  // held while items run
  std::condition_variable_any cv_;       // items arrived
  std::condition_variable_any done_cv_;  // a batch finished
  Item* head_ MEMCG_GUARDED_BY(mutex_) = nullptr;
  Item** tail_ MEMCG_GUARDED_BY(mutex_) = &head_;
  // The batch in hand: set under mutex_, popped under run_mutex_, by the
  // thread only; read by the fork child with both held.
  Item* inflight_ = nullptr;
  std::uint64_t queued_ MEMCG_GUARDED_BY(mutex_) = 0;
  std::uint64_t done_ MEMCG_GUARDED_BY(mutex_) = 0;
  bool started_ MEMCG_GUARDED_BY(mutex_) = false;
  void (*on_start_)() noexcept;
  void (*before_batch_)() noexcept;
  fork::HeldAcrossFork<RankedMutex> run_fork_{run_mutex_};
  fork::HeldAcrossFork<RankedMutex> queue_fork_{mutex_, fork_child_fixup, this};
};

}  // namespace memcg::detail
