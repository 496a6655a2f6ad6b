// RCU flavour for ThreadSanitizer builds: an epoch scheme made of C++
// atomics only (seq_cst where the grace-period argument needs it), so TSan
// sees every "reader finished -> object freed" edge as happens-before.
//
//   read_lock:   tls.ctr = gp (seq_cst)          (outermost only)
//   read_unlock: tls.ctr = 0  (release)
//   synchronize: gp += 1 (seq_cst); wait until every reader's ctr is 0 or
//                >= the new gp (acquire loads)
//
// A reader that began before the increment holds a ctr < new gp and is
// waited for; one that began after it cannot see a pointer unpublished
// before synchronize() was called.
#if defined(MEMCG_TSAN)

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/lock_order.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail::rcu {
namespace {

struct Reader {
  std::atomic<std::uint64_t> ctr{0};
  int nesting = 0;
  bool registered = false;
  // Its key destructor ran: registered only inside read sections from then
  // on (exit-path code after the last destructor round may still read; a
  // registration left behind would outlive the thread's TLS).
  bool exited = false;
  Reader* next = nullptr;
  Reader* prev = nullptr;
};

struct State {
  std::atomic<std::uint64_t> gp{1};
  std::mutex readers_mutex;   // rank kRcuRegistry
  Reader* readers = nullptr;
  std::mutex sync_mutex;      // serialises grace periods
};

State& state() {
  static State* s = new State;  // leaked: lives until exit, used by exiting threads
  return *s;
}

constinit thread_local Reader tls_reader{};
pthread_key_t g_key;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

void unregister(Reader* r) {
  State& s = state();
  std::lock_guard<std::mutex> l(s.readers_mutex);
  if (!r->registered) return;
  if (r->prev) r->prev->next = r->next; else s.readers = r->next;
  if (r->next) r->next->prev = r->prev;
  r->registered = false;
}

void unregister_at_exit(void*) {
  tls_reader.exited = true;
  unregister(&tls_reader);
}

void make_key() { pthread_key_create(&g_key, unregister_at_exit); }

void ensure_registered() {
  Reader* r = &tls_reader;
  if (r->registered) return;
  if (!r->exited) pthread_once(&g_once, make_key);
  State& s = state();
  std::lock_guard<std::mutex> l(s.readers_mutex);
  r->next = s.readers;
  r->prev = nullptr;
  if (s.readers) s.readers->prev = r;
  s.readers = r;
  r->registered = true;
  if (!r->exited) pthread_setspecific(g_key, r);
}

// Fork (platform/fork.hpp). The grace-period mutex is taken before any
// library lock: synchronize() is never called with a library lock held, and
// it waits for readers that may need library locks. The reader list is taken
// after every library lock: its holders never wait for anything else
// (registration may happen under a library lock). The child keeps only the
// forking thread's reader.
void fork_prepare_gp(void*) noexcept { state().sync_mutex.lock(); }
void fork_release_gp(void*) noexcept { state().sync_mutex.unlock(); }
void fork_prepare_readers(void*) noexcept { state().readers_mutex.lock(); }
void fork_parent_readers(void*) noexcept { state().readers_mutex.unlock(); }
void fork_child_readers(void*) noexcept {
  State& s = state();
  Reader* me = &tls_reader;
  s.readers = nullptr;
  if (me->registered) {
    me->next = me->prev = nullptr;
    s.readers = me;
  }
  s.readers_mutex.unlock();
}

fork::Registration g_fork_gp{fork::kOrderRcuReaders, fork_prepare_gp, fork_release_gp, fork_release_gp};
fork::Registration g_fork_readers{static_cast<int>(LockRank::kRcuRegistry), fork_prepare_readers,
                                  fork_parent_readers, fork_child_readers};

}  // namespace

void read_lock() noexcept {
  Reader* r = &tls_reader;
  if (r->nesting++ == 0) {
    ensure_registered();
    r->ctr.store(state().gp.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  }
}

void read_unlock() noexcept {
  Reader* r = &tls_reader;
  MEMCG_ASSERT(r->nesting > 0);
  if (--r->nesting == 0) {
    r->ctr.store(0, std::memory_order_release);
    if (MEMCG_UNLIKELY(r->exited)) unregister(r);
  }
}

bool in_read_section() noexcept { return tls_reader.nesting > 0; }

void synchronize() noexcept {
  MEMCG_ASSERT(tls_reader.nesting == 0);
  State& s = state();
  std::lock_guard<std::mutex> sl(s.sync_mutex);
  std::uint64_t target = s.gp.fetch_add(1, std::memory_order_seq_cst) + 1;
  std::lock_guard<std::mutex> l(s.readers_mutex);
  for (Reader* r = s.readers; r; r = r->next) {
    for (;;) {
      std::uint64_t c = r->ctr.load(std::memory_order_seq_cst);
      if (c == 0 || c >= target) break;
      std::this_thread::yield();
    }
  }
}

}  // namespace memcg::detail::rcu

#endif  // MEMCG_TSAN
