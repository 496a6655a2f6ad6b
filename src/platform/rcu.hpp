// The library's RCU interface. Two flavours behind one API:
//  - default: liburcu's urcu-bp (membarrier-based, readers register lazily,
//    fork-aware; rcu_urcu.cpp says why this flavour);
//  - MEMCG_TSAN: a small epoch RCU built only from C++ atomics, so that
//    ThreadSanitizer sees the grace period as happens-before (liburcu's
//    membarrier and fences are invisible to it and would show false races).
//
// Rules (both flavours):
//  - read_lock/read_unlock nest and may be called from any thread;
//  - synchronize() and barrier() must not be called inside a read section
//    or with a library lock held;
//  - call() may be called from anywhere outside a read section's destruction
//    of the same object; callbacks run on an RCU thread, not the caller's,
//    and must not block for long (ours only queue work for the worker).
#pragma once

#include <cstdint>

namespace memcg::detail::rcu {

struct Head {
  // Storage for the flavour's own callback header (liburcu's struct
  // rcu_head is two pointers), then our callback.
  alignas(16) unsigned char storage[16];
  void (*fn)(Head*);
  Head* next;  // the callback queue's link (rcu_callbacks.cpp)
  void* arg;   // the object the head belongs to (set by the owner)
};

#if !defined(MEMCG_TSAN)
extern constinit thread_local bool tls_registered __attribute__((tls_model("initial-exec")));
void register_thread_slow() noexcept;
#endif

/// Registers the calling thread with the flavour if it is not yet. Every
/// library lock calls it before acquiring (platform/ranked_mutex.hpp), so a
/// thread first registers while it holds no library lock: the fork stage of
/// the urcu-bp flavour takes liburcu's registry lock before any library lock
/// and relies on that. (The TSan flavour registers under its own lock, the
/// last in the library lock order: nothing to do.)
inline void register_thread() noexcept {
#if !defined(MEMCG_TSAN)
  if (__builtin_expect(!tls_registered, 0)) register_thread_slow();
#endif
}

void read_lock() noexcept;
void read_unlock() noexcept;
bool in_read_section() noexcept;
void synchronize() noexcept;
/// Runs fn(head) after a grace period, on an RCU callback thread.
void call(Head* head, void (*fn)(Head*)) noexcept;
/// Waits until every callback queued before the call has run.
void barrier() noexcept;
/// Sets the flavour up (the runtime calls it once, with no lock held).
void init() noexcept;

class ReadGuard {
 public:
  ReadGuard() noexcept { read_lock(); }
  ~ReadGuard() { read_unlock(); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
};

}  // namespace memcg::detail::rcu
