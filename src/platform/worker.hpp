// The library worker: one thread that runs deferred work in "process
// context" (deferred free). Group release and free run here, never in the
// thread that dropped the last reference, and never on an RCU callback
// thread.
//
// Concurrency: queue() may be called from any thread, under any library lock
// (the queue lock has the highest rank but RCU's), and from RCU callbacks.
// flush() must not be called from the worker itself.
#pragma once

#include <atomic>
#include <cstdint>

namespace memcg::detail {

struct WorkItem {
  void (*fn)(WorkItem*) = nullptr;
  WorkItem* next = nullptr;
  void* arg = nullptr;  // the object the item belongs to (set by the owner)
};

namespace worker {
/// counted, if given, is incremented under the queue lock with the queueing.
void queue(WorkItem* w, void (*fn)(WorkItem*), std::atomic<std::uint64_t>* counted = nullptr) noexcept;
/// Waits until every item queued before the call has run.
void flush() noexcept;
/// Items run since start (lets barrier() see whether a round made progress).
std::uint64_t items_run() noexcept;
/// Constructs the worker's queue (not its thread) now: the runtime calls it
/// at start, so that no fork() can catch the queue's first construction in
/// progress on another thread (the child would wait for it forever).
void init() noexcept;
bool on_worker_thread() noexcept;
}  // namespace worker

}  // namespace memcg::detail
