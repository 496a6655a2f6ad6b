// The fuzzer's second thread, driven in lockstep (cross-thread frees and
// charges), and the two caches every input allocates from; both live for
// the process. quiesce_both() empties both threads' magazines, object slots
// and charge stocks: afterwards no stock holds a byte and the model's books
// are exact.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "ops/common.hpp"

namespace ops_fuzz {

class Lockstep {
 public:
  Lockstep() : t_([this] { loop(); }) {}
  ~Lockstep() {
    run([this] { quit_ = true; });
    t_.join();
  }
  void run(std::function<void()> f) {
    std::unique_lock<std::mutex> l(m_);
    job_ = std::move(f);
    cv_.notify_all();
    cv_.wait(l, [&] { return !job_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(m_);
    while (!quit_) {
      cv_.wait(l, [&] { return bool(job_); });
      job_();
      job_ = nullptr;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool quit_ = false;
  std::thread t_;
};

inline Lockstep& other_thread() {
  static Lockstep* t = new Lockstep;  // lives for the process
  return *t;
}

// Magazines to their depots, the object slot back to its group (both in
// flush_own_magazines), then the charge stock back to the counters.
inline void quiesce_this_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

inline void quiesce_both() {
  quiesce_this_thread();
  other_thread().run(quiesce_this_thread);
}

// Both modes: cache 0 isolated (per-group child caches, charged per slab),
// cache 1 shared (each object charged in bytes), and reclaimable so that
// the object slot switches statistics kind against kmalloc's shared caches.
inline Cache& cache(int i) {
  static Cache* cs = [] {
    auto* a = new Cache[2];
    a[0] = Cache::create("fz-small", 64, CacheOptions{.isolate = true});
    a[1] = Cache::create("fz-big", 1000, CacheOptions{.reclaimable = true});
    return a;
  }();
  return cs[i];
}
inline const char* const kCacheNames[] = {"fz-small", "fz-big"};

}  // namespace ops_fuzz
