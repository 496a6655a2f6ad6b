// Mutexes that know their rank in the library lock order (lock_order.hpp).
// Every acquisition first makes sure the thread is registered with RCU, so
// that registration never happens with a library lock held (rcu.hpp,
// platform/fork.hpp).
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "platform/assert.hpp"
#include "platform/lock_order.hpp"
#include "platform/rcu.hpp"
#include "platform/thread_annotations.hpp"

namespace memcg::detail {

// Per-thread record of held ranks (checked builds only).
void lock_rank_acquire(LockRank r) noexcept;
void lock_rank_acquire_nested(LockRank r) noexcept;
void lock_rank_release(LockRank r) noexcept;
bool lock_rank_held(LockRank r) noexcept;

#if defined(MEMCG_CHECKED)
#define MEMCG_RANK_ACQUIRE(r) ::memcg::detail::lock_rank_acquire(r)
#define MEMCG_RANK_ACQUIRE_NESTED(r) ::memcg::detail::lock_rank_acquire_nested(r)
#define MEMCG_RANK_RELEASE(r) ::memcg::detail::lock_rank_release(r)
#define MEMCG_ASSERT_HELD(m) MEMCG_ASSERT(::memcg::detail::lock_rank_held((m).rank()))
#else
#define MEMCG_RANK_ACQUIRE(r) ((void)0)
#define MEMCG_RANK_ACQUIRE_NESTED(r) ((void)0)
#define MEMCG_RANK_RELEASE(r) ((void)0)
#define MEMCG_ASSERT_HELD(m) ((void)0)
#endif

class MEMCG_CAPABILITY("mutex") RankedMutex {
 public:
  constexpr explicit RankedMutex(LockRank r) noexcept : rank_(r) {}
  void lock() MEMCG_ACQUIRE() {
    rcu::register_thread();
    MEMCG_RANK_ACQUIRE(rank_);
    m_.lock();
  }
  bool try_lock() MEMCG_TRY_ACQUIRE(true) {
    rcu::register_thread();
    if (!m_.try_lock()) return false;
    MEMCG_RANK_ACQUIRE(rank_);
    return true;
  }
  // rank_ is read before the release: once released, the lock (and the
  // object holding it) may be freed by the next owner.
  void unlock() MEMCG_RELEASE() {
    [[maybe_unused]] const LockRank r = rank_;
    m_.unlock();
    MEMCG_RANK_RELEASE(r);
  }
  LockRank rank() const noexcept { return rank_; }
  /// Checked builds: aborts unless the calling thread holds a lock of this
  /// rank. Tells clang's analysis the lock is held, for locks it cannot
  /// follow (prefer MEMCG_REQUIRES, which the compiler checks).
  void assert_held() const noexcept MEMCG_ASSERT_CAPABILITY() { MEMCG_ASSERT_HELD(*this); }
  std::mutex& native() noexcept { return m_; }

  /// fork() participants only (platform/fork.hpp): take and release one of
  /// many locks of the same rank that the participant holds across fork,
  /// without the per-thread rank record (which holds a few ranks only).
  void lock_untracked() MEMCG_ACQUIRE() { m_.lock(); }
  void unlock_untracked() MEMCG_RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
  LockRank rank_;
};

// A test-and-test-and-set lock for short sections; trivially destructible so
// it can live in constinit thread_local storage.
class MEMCG_CAPABILITY("mutex") SpinLock {
 public:
  constexpr explicit SpinLock(LockRank r) noexcept : rank_(r) {}
  void lock() MEMCG_ACQUIRE() {
    rcu::register_thread();
    MEMCG_RANK_ACQUIRE(rank_);
    for (;;) {
      if (!v_.exchange(true, std::memory_order_acquire)) return;
      while (v_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  // rank_ is read before the release store: a ListLru list is freed (after
  // a grace period) as soon as the splice that follows this unlock retires
  // it, and its last walker holds no read section (found by TSan).
  void unlock() MEMCG_RELEASE() {
    [[maybe_unused]] const LockRank r = rank_;
    v_.store(false, std::memory_order_release);
    MEMCG_RANK_RELEASE(r);
  }
  /// Takes a second lock of the same rank while one is held (the kernel's
  /// spin_lock_nested); the caller documents why the pair cannot invert
  /// (for list_lru: the deeper group's list first). Released with unlock().
  void lock_nested() MEMCG_ACQUIRE() {
    rcu::register_thread();
    MEMCG_RANK_ACQUIRE_NESTED(rank_);
    for (;;) {
      if (!v_.exchange(true, std::memory_order_acquire)) return;
      while (v_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  LockRank rank() const noexcept { return rank_; }
  /// Checked builds: aborts unless the lock is taken and the calling thread
  /// holds a lock of its rank (see RankedMutex::assert_held).
  void assert_held() const noexcept MEMCG_ASSERT_CAPABILITY() {
    MEMCG_ASSERT_HELD(*this);
#if defined(MEMCG_CHECKED)
    MEMCG_ASSERT(v_.load(std::memory_order_relaxed));
#endif
  }

  /// fork() participants only: see RankedMutex::lock_untracked.
  void lock_untracked() MEMCG_ACQUIRE() {
    while (v_.exchange(true, std::memory_order_acquire))
      while (v_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock_untracked() MEMCG_RELEASE() { v_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> v_{false};
  LockRank rank_;
};

template <class M>
class MEMCG_SCOPED_CAPABILITY LockGuard {
 public:
  explicit LockGuard(M& m) MEMCG_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~LockGuard() MEMCG_RELEASE() { m_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  M& m_;
};

// A LockGuard that can be released and retaken, for condition variables
// (std::condition_variable_any::wait unlocks and relocks it; the analysis
// sees the lock held across the wait, as the caller's code does).
template <class M>
class MEMCG_SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(M& m) MEMCG_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~UniqueLock() MEMCG_RELEASE() {
    if (owns_) m_.unlock();
  }
  void lock() MEMCG_ACQUIRE() {
    m_.lock();
    owns_ = true;
  }
  void unlock() MEMCG_RELEASE() {
    owns_ = false;
    m_.unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

 private:
  M& m_;
  bool owns_ = true;
};

}  // namespace memcg::detail
