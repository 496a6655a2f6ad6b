// The worker is a ServiceQueue (platform/service_queue.hpp): its run mutex
// (kWorkerRun, below the tree mutex) is held while items run, its queue
// mutex (kWorkerQueue) while items are queued; both are held across fork().
#include "platform/worker.hpp"

#include "platform/assert.hpp"
#include "platform/lock_order.hpp"
#include "platform/service_queue.hpp"

namespace memcg::detail::worker {
namespace {

constinit thread_local bool tls_is_worker = false;

void on_start() noexcept { tls_is_worker = true; }

// Leaked on purpose: the worker outlives static destructors.
ServiceQueue<WorkItem>& service() {
  static auto* q = new ServiceQueue<WorkItem>(LockRank::kWorkerQueue, LockRank::kWorkerRun, on_start, nullptr);
  return *q;
}

}  // namespace

void queue(WorkItem* w, void (*fn)(WorkItem*), std::atomic<std::uint64_t>* counted) noexcept {
  service().push(w, fn, counted);
}

void flush() noexcept {
  MEMCG_CHECK(!tls_is_worker, "worker::flush from the worker would deadlock");
  service().flush();
}

std::uint64_t items_run() noexcept { return service().items_run(); }

void init() noexcept { (void)service(); }

bool on_worker_thread() noexcept { return tls_is_worker; }

}  // namespace memcg::detail::worker
