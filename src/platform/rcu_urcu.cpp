// RCU flavour: liburcu urcu-memb. Threads register on first use and
// unregister at exit through a pthread key destructor (no allocation).
#if !defined(MEMCG_TSAN)

#define _LGPL_SOURCE 0
#include <pthread.h>
#include <urcu/urcu-memb.h>

#include <cstddef>

#include "platform/assert.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail::rcu {
namespace {

static_assert(sizeof(rcu_head) <= sizeof(Head::storage), "rcu_head does not fit");

pthread_key_t g_key;
pthread_once_t g_once = PTHREAD_ONCE_INIT;
constinit thread_local bool tls_registered = false;
constinit thread_local int tls_nesting = 0;
// The thread's key destructor has run: from then on the thread is registered
// only while it uses RCU (a read section, call, synchronize, barrier). Code
// on the exit path after the last destructor round (a later key's destructor,
// glibc's own) may still use the library; a registration it left behind would
// outlive the thread's TLS, and every later grace period would wait on it.
constinit thread_local bool tls_exited = false;

void unregister_at_exit(void*) {
  tls_exited = true;
  if (tls_registered) {
    urcu_memb_unregister_thread();
    tls_registered = false;
  }
}

// Ends an exited thread's temporary registration once it holds no read lock.
inline void drop_if_exited() noexcept {
  if (MEMCG_UNLIKELY(tls_exited) && tls_nesting == 0 && tls_registered) {
    urcu_memb_unregister_thread();
    tls_registered = false;
  }
}

void make_key() { MEMCG_CHECK(pthread_key_create(&g_key, unregister_at_exit) == 0, "pthread_key_create"); }

inline void ensure_registered() noexcept {
  if (MEMCG_LIKELY(tls_registered)) return;
  if (tls_exited) {  // temporary: drop_if_exited() ends it
    urcu_memb_register_thread();
    tls_registered = true;
    return;
  }
  pthread_once(&g_once, make_key);
  urcu_memb_register_thread();
  tls_registered = true;
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
}

void trampoline(rcu_head* h) {
  Head* head = reinterpret_cast<Head*>(reinterpret_cast<unsigned char*>(h) - offsetof(Head, storage));
  head->fn(head);
}

}  // namespace

void read_lock() noexcept {
  ensure_registered();
  ++tls_nesting;
  urcu_memb_read_lock();
}

void read_unlock() noexcept {
  MEMCG_ASSERT(tls_nesting > 0);
  --tls_nesting;
  urcu_memb_read_unlock();
  drop_if_exited();
}

bool in_read_section() noexcept { return tls_nesting > 0; }

void synchronize() noexcept {
  MEMCG_ASSERT(tls_nesting == 0);
  ensure_registered();
  urcu_memb_synchronize_rcu();
  drop_if_exited();
}

void call(Head* head, void (*fn)(Head*)) noexcept {
  ensure_registered();
  head->fn = fn;
  urcu_memb_call_rcu(reinterpret_cast<rcu_head*>(head->storage), trampoline);
  drop_if_exited();
}

void barrier() noexcept {
  MEMCG_ASSERT(tls_nesting == 0);
  ensure_registered();
  urcu_memb_barrier();
  drop_if_exited();
}

}  // namespace memcg::detail::rcu

#endif  // !MEMCG_TSAN
