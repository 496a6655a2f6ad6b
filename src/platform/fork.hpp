// fork() safety of the whole library, in one place.
//
// Every library lock that another thread may hold at the moment of fork()
// belongs to a fork participant: a prepare hook that takes it, and parent
// and child hooks that release it (the child's hook also forgets the
// threads that do not exist in the child). One pthread_atfork handler,
// installed by install() when the library's runtime starts, runs
//   prepare: the participants in ascending `order` (a lock participant's
//            order is its LockRank, so the locks are taken in the library
//            lock order, platform/lock_order.hpp; quiescing stages such as
//            pausing RCU callback threads come first, with negative orders);
//   parent/child: the same participants in descending order.
// Participants of equal order keep the order in which they were added.
//
// Rules for a participant:
//  - add() it (lock-free, callable anywhere, once per participant) before
//    its locks can be taken by anyone: at static initialisation
//    (fork::Registration) or in the constructor of the object that owns the
//    locks. A fork racing with the very first use of a subsystem is not
//    covered (nor, in any C++ program, is a function-local static whose
//    initialisation another thread has in progress);
//  - prepare takes only locks of its own order and above, and may take many
//    locks of one rank (every cache lock, say) with the untracked lock
//    operations: it is the only code that does;
//  - child restores a state the forking thread alone can use: threads that
//    existed only in the parent (library threads such as the worker, and
//    application threads) are gone, their per-thread state is abandoned, and
//    a library thread is restarted on the child's next use.
#pragma once

#include "platform/thread_annotations.hpp"

namespace memcg::detail::fork {

/// Orders of the stages that are not locks (locks use their LockRank).
enum : int {
  kOrderInterposeTree = -40,   // memcg-run: a child of a process tree takes its own slot (child hook, last)
  kOrderInterposeDepth = -30,  // memcg-run: the forking thread's allocations go to glibc
  kOrderRcuReaders = -20,      // RCU grace periods stop (they wait for readers that take library locks)
  kOrderInterposeGroups = -10, // memcg-run's per-thread group list (held while creating groups)
};

struct Participant {
  int order = 0;
  void (*prepare)(void*) noexcept = nullptr;
  void (*parent)(void*) noexcept = nullptr;
  void (*child)(void*) noexcept = nullptr;
  void* arg = nullptr;
  int seq = 0;                  // set by add(): the order among equal orders
  Participant* next = nullptr;  // set by add()
};

/// Adds p (storage owned by the caller, never freed), once.
void add(Participant* p) noexcept;

/// Installs the pthread_atfork handler (once; later calls do nothing).
void install() noexcept;

/// Participants added so far (tests).
int participants() noexcept;

/// A participant added at static initialisation of the defining file.
struct Registration {
  Registration(int order, void (*prepare)(void*) noexcept, void (*parent)(void*) noexcept,
               void (*child)(void*) noexcept, void* arg = nullptr) noexcept {
    p.order = order;
    p.prepare = prepare;
    p.parent = parent;
    p.child = child;
    p.arg = arg;
    add(&p);
  }
  Participant p;
};

/// A participant that holds one lock (RankedMutex or SpinLock: ordered by
/// its rank) across fork(). fixup, if given, runs in the child with the lock
/// still held, before it is released: it forgets what the threads that are
/// gone left behind.
template <class M>
class HeldAcrossFork {
 public:
  explicit HeldAcrossFork(M& m, void (*fixup)(void*) noexcept = nullptr, void* fixup_arg = nullptr) noexcept
      : m_(m), fixup_(fixup), fixup_arg_(fixup_arg) {
    p_.order = static_cast<int>(m.rank());
    p_.prepare = prepare;
    p_.parent = parent;
    p_.child = child;
    p_.arg = this;
    add(&p_);
  }
  HeldAcrossFork(const HeldAcrossFork&) = delete;
  HeldAcrossFork& operator=(const HeldAcrossFork&) = delete;

 private:
  // Not analysable: the lock is taken in one handler and released in another.
  static void prepare(void* a) noexcept MEMCG_NO_TSA {
    static_cast<HeldAcrossFork*>(a)->m_.lock();
  }
  static void parent(void* a) noexcept MEMCG_NO_TSA {
    static_cast<HeldAcrossFork*>(a)->m_.unlock();
  }
  static void child(void* a) noexcept MEMCG_NO_TSA {
    auto* self = static_cast<HeldAcrossFork*>(a);
    if (self->fixup_) self->fixup_(self->fixup_arg_);
    self->m_.unlock();
  }

  M& m_;
  void (*fixup_)(void*) noexcept;
  void* fixup_arg_;
  Participant p_;
};

}  // namespace memcg::detail::fork
