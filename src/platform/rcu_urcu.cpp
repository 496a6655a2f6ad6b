// RCU flavour: liburcu urcu-bp ("bulletproof"). Its reader records live in
// liburcu's own arena, not in thread-local storage, threads register on
// their first read section, and liburcu unregisters them at thread exit.
// It is the flavour meant for libraries:
//  - a thread that uses RCU on the exit path after its registration was
//    dropped registers again, and a record left behind by a thread that is
//    gone is quiescent (its counter is in liburcu's arena, not in freed TLS),
//    so no later grace period waits on it;
//  - fork(): urcu_bp_after_fork_child keeps only the forking thread's record,
//    so a thread that was inside a read section when the parent forked does
//    not hold up the child's grace periods.
//
// Callbacks (call/barrier) are the library's own (rcu_callbacks.cpp), not
// liburcu's call_rcu, whose wait-free queue a fork can catch half-linked.
//
// Fork (platform/fork.hpp): liburcu's grace-period and registry locks are
// taken before any library lock. That is deadlock-free because
//  - synchronize()/barrier() are never called with a library lock held
//    (platform/lock_order.hpp), and
//  - a thread registers while it holds no library lock: every library lock
//    calls rcu::register_thread() before it acquires (ranked_mutex.hpp).
#if !defined(MEMCG_TSAN)

#include <pthread.h>
#include <urcu/urcu-bp.h>

#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail::rcu {

constinit thread_local bool tls_registered __attribute__((tls_model("initial-exec"))) = false;

namespace {

constinit thread_local int tls_nesting = 0;
// Our key destructor ran: from then on register_thread() asks liburcu every
// time (liburcu-bp drops the registration in its own key destructor, which
// may run before or after ours, and registers again on the next use).
constinit thread_local bool tls_exited = false;
pthread_key_t g_key;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

void at_exit(void*) {
  tls_exited = true;
  tls_registered = false;
}

void make_key() { MEMCG_CHECK(pthread_key_create(&g_key, at_exit) == 0, "pthread_key_create"); }

void fork_prepare(void*) noexcept { urcu_bp_before_fork(); }
void fork_parent(void*) noexcept { urcu_bp_after_fork_parent(); }
void fork_child(void*) noexcept { urcu_bp_after_fork_child(); }

fork::Registration g_fork{fork::kOrderRcuReaders, fork_prepare, fork_parent, fork_child};

}  // namespace

void register_thread_slow() noexcept {
  urcu_bp_register_thread();  // registers only if liburcu has no record of this thread
  if (tls_exited) return;
  pthread_once(&g_once, make_key);
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
  tls_registered = true;
}

void read_lock() noexcept {
  register_thread();
  ++tls_nesting;
  urcu_bp_read_lock();
}

void read_unlock() noexcept {
  MEMCG_ASSERT(tls_nesting > 0);
  --tls_nesting;
  urcu_bp_read_unlock();
}

bool in_read_section() noexcept { return tls_nesting > 0; }

void synchronize() noexcept {
  MEMCG_ASSERT(tls_nesting == 0);
  urcu_bp_synchronize_rcu();
}

}  // namespace memcg::detail::rcu

#endif  // !MEMCG_TSAN
