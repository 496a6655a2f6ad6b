// Per-thread state that other threads may drain: the machinery shared by the
// charge stocks (charge/stock.cpp) and the slab magazine tables
// (slab/thread_mags.cpp). Each of those keeps only its policy: what the
// per-thread state holds, what a drain takes out of it, and what the thread
// gives back when it exits.
//
// A participant is a ThreadNode embedded in a constinit thread_local object
// of the policy (so the owner reaches its state with one TLS access and no
// allocation). The owner enrols its node on its first slow path; from then
// on the node is on the registry's list until the thread exits.
//
// LIFECYCLE of a node (owner thread):
//   unregistered --enrol()--> registered --key destructor--> exited
//   An exited node never enrols again: glibc may run more destructors (and
//   the program more code) after ours, and a registration made then would
//   outlive the thread's TLS. The policy's fast paths must cope with an
//   unregistered node (they bypass the per-thread state).
//
// THE DRAIN ROUND (drain_round(), registry mutex held). Every registered
// node's OwnerGate (platform/owner_gate.hpp) is announced, then one
// membarrier::heavy() orders all owners at once, then per node: wait until
// the owner leaves its operation in flight, take the gate lock, work on the
// owner's state, unlock, retire the announcement. Ordering argument:
//  - an owner operation that started before the heavy barrier is waited for
//    (wait_idle sees its in_op store, which the barrier made visible);
//  - an owner operation that starts after it sees drain_pending (or the
//    policy's blocked view, Policy::block) and runs under the gate lock,
//    serialised with the drainer;
//  - so when the drainer holds the gate lock, no owner operation is in
//    flight, and whatever the drainer removes (a cache, a group) cannot be
//    picked up again by an operation that began before the round. Whether a
//    later operation may pick it up again is the policy's rule (both
//    policies check a dying/dead flag inside the gate operation, and the
//    killer sets that flag before the round).
// Rounds of one registry are serialised by its mutex, so a node is never
// announced twice by the same registry.
//
// FORK: each registry is a fork participant (platform/fork.hpp) at its mutex
// rank: the mutex is held across fork(), and in the child, where only the
// forking thread exists, every other node leaves the list (what their state
// held is abandoned: a drain round can never wait on a thread that is gone).
//
// LOCKS: registry mutex (its rank) -> each node's gate lock (the policy's
// gate rank). A policy's exit hooks run with neither held.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "platform/fault.hpp"
#include "platform/fork.hpp"
#include "platform/membarrier.hpp"
#include "platform/owner_gate.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail {

class ThreadRegistry;

// 40 bytes, the gate first: with the policy object 64-byte aligned, the
// gate and the policy's first 24 bytes (a stock's first slot, a table
// pointer) share a cache line, the one the owner's fast path touches.
struct ThreadNode {
  constexpr explicit ThreadNode(LockRank gate_rank) noexcept : gate(gate_rank) {}

  OwnerGate gate;              // owner fast path vs drain rounds
  bool registered = false;     // owner writes under the registry mutex
  bool exited = false;         // owner only: the key destructor ran
  ThreadNode* next = nullptr;  // registry mutex
  ThreadNode* prev = nullptr;  // registry mutex
};
static_assert(sizeof(ThreadNode) <= 40, "see the layout note above");

class ThreadRegistry {
 public:
  struct Policy {
    // The calling thread's node (its thread-local policy object).
    ThreadNode* (*self)() noexcept;
    // Thread exit, before the node leaves the list: give back what the
    // thread holds (take it under the gate lock; give it back after).
    void (*on_exit)(ThreadNode*) noexcept;
    // Thread exit, after the node left the list: free what only drain
    // rounds could still reach (null: nothing).
    void (*on_retired)(ThreadNode*) noexcept;
    // Optional (null: none), for a policy whose fast path enters its gate
    // with OwnerGate::enter() and reads a view word of its own instead of
    // the gate's drain_pending: block(node) makes the view send the owner
    // to its slow path (a drain round calls it before announcing the gate,
    // and enrol() once for good where membarrier is missing); unblock(node)
    // undoes one block() (after the round retires the announcement). Both
    // run with the registry mutex held and take the node's gate lock.
    void (*block)(ThreadNode*) noexcept = nullptr;
    void (*unblock)(ThreadNode*) noexcept = nullptr;
  };

  /// after_barrier: a fault::Kind delay point passed in each drain round
  /// after its barrier (fault-injection builds), or -1 for none. An int, so
  /// that release builds carry no fault symbol.
  ThreadRegistry(LockRank mutex_rank, Policy policy, int after_barrier = -1) noexcept;
  ThreadRegistry(const ThreadRegistry&) = delete;
  ThreadRegistry& operator=(const ThreadRegistry&) = delete;

  /// Owner: puts the calling thread's node on the list (no-op if it is).
  /// False for a thread whose key destructor already ran.
  bool enrol(ThreadNode& self) noexcept MEMCG_EXCLUDES(mutex_);

  RankedMutex& mutex() noexcept MEMCG_RETURN_CAPABILITY(mutex_) { return mutex_; }

  /// Number of registered nodes (racy read: statistics and tests).
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

  template <class F>
  void for_each_locked(F&& f) MEMCG_REQUIRES(mutex_) {
    for (ThreadNode* n = head_; n; n = n->next) f(*n);
  }

  /// One drain round over every registered node (see the file comment):
  /// locked(node) runs under the node's gate lock with its owner excluded;
  /// after(node) runs once the gate lock is released and the announcement
  /// retired (give back what locked() took: uncharging, dropping references
  /// and returning objects may take locks the gate lock ranks above).
  template <class Locked, class After>
  void drain_round(Locked&& locked, After&& after) MEMCG_REQUIRES(mutex_) {
    for (ThreadNode* n = head_; n; n = n->next) {
      if (policy_.block) policy_.block(n);  // before the barrier, as the announcement
      n->gate.announce();
    }
    membarrier::heavy();
#if defined(MEMCG_FAULT_INJECTION)
    if (after_barrier_ >= 0) MEMCG_FAULT_POINT(static_cast<fault::Kind>(after_barrier_));  // owners run meanwhile
#endif
    for (ThreadNode* n = head_; n; n = n->next) {
      n->gate.wait_idle();
      {
        LockGuard<SpinLock> l(n->gate.lock());
        locked(*n);
      }
      n->gate.retire();
      if (policy_.unblock) policy_.unblock(n);
      after(*n);
    }
  }

 private:
  static void key_destructor(void* registry) noexcept;
  static void fork_prepare(void* self) noexcept;
  static void fork_parent(void* self) noexcept;
  static void fork_child(void* self) noexcept;

  void unlink_locked(ThreadNode& n) MEMCG_REQUIRES(mutex_);

  RankedMutex mutex_;
  ThreadNode* head_ MEMCG_GUARDED_BY(mutex_) = nullptr;
  std::atomic<std::uint64_t> count_{0};
  pthread_key_t key_{};
  bool key_created_ MEMCG_GUARDED_BY(mutex_) = false;
  const Policy policy_;
  [[maybe_unused]] const int after_barrier_;
  fork::Participant fork_;
};

}  // namespace memcg::detail
