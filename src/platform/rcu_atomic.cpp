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
#include <condition_variable>
#include <mutex>
#include <thread>

#include "platform/assert.hpp"
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
  // Callback queue and its thread.
  std::mutex q_mutex;
  std::condition_variable q_cv;
  Head* q_head = nullptr;
  Head** q_tail = &q_head;
  std::uint64_t queued = 0, done = 0;
  std::condition_variable done_cv;
  bool thread_started = false;
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

void callback_thread() {
  State& s = state();
  for (;;) {
    Head* batch;
    std::uint64_t n = 0;
    {
      std::unique_lock<std::mutex> l(s.q_mutex);
      s.q_cv.wait(l, [&] { return s.q_head != nullptr; });
      batch = s.q_head;
      s.q_head = nullptr;
      s.q_tail = &s.q_head;
    }
    synchronize();
    while (batch) {
      Head* next = batch->next;
      batch->fn(batch);
      batch = next;
      ++n;
    }
    {
      std::lock_guard<std::mutex> l(s.q_mutex);
      s.done += n;
    }
    s.done_cv.notify_all();
  }
}

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

void call(Head* head, void (*fn)(Head*)) noexcept {
  State& s = state();
  head->fn = fn;
  head->next = nullptr;
  {
    std::lock_guard<std::mutex> l(s.q_mutex);
    if (!s.thread_started) {
      s.thread_started = true;
      std::thread(callback_thread).detach();
    }
    *s.q_tail = head;
    s.q_tail = &head->next;
    ++s.queued;
  }
  s.q_cv.notify_one();
}

void barrier() noexcept {
  State& s = state();
  std::unique_lock<std::mutex> l(s.q_mutex);
  std::uint64_t target = s.queued;
  s.done_cv.wait(l, [&] { return s.done >= target; });
}

}  // namespace memcg::detail::rcu

#endif  // MEMCG_TSAN
