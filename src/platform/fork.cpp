#include "platform/fork.hpp"

#include <pthread.h>

#include <atomic>

#include "platform/assert.hpp"

namespace memcg::detail::fork {
namespace {

constexpr int kMaxParticipants = 64;

// The fork mutex: held from the first prepare step to the end of the
// parent's or child's release, so two threads never run the handlers at
// once. A plain pthread mutex: it is outside the library lock order
// (nothing else is held when it is taken).
pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
// Added participants, newest first (lock-free push: add() may run anywhere).
std::atomic<Participant*> g_head{nullptr};
std::atomic<int> g_count{0};

// The participants of the fork in progress, in prepare order (g_mutex).
Participant* g_taken[kMaxParticipants];
int g_ntaken = 0;

pthread_once_t g_once = PTHREAD_ONCE_INIT;

void prepare() noexcept {
  pthread_mutex_lock(&g_mutex);
  // Stable insertion sort by order: equal orders keep the order of add().
  g_ntaken = 0;
  for (Participant* p = g_head.load(std::memory_order_acquire); p; p = p->next) {
    int i = g_ntaken++;
    while (i > 0 && (g_taken[i - 1]->order > p->order ||
                     (g_taken[i - 1]->order == p->order && g_taken[i - 1]->seq > p->seq))) {
      g_taken[i] = g_taken[i - 1];
      --i;
    }
    g_taken[i] = p;
  }
  for (int i = 0; i < g_ntaken; ++i)
    if (g_taken[i]->prepare) g_taken[i]->prepare(g_taken[i]->arg);
}

void release(bool child) noexcept {
  for (int i = g_ntaken - 1; i >= 0; --i) {
    Participant* p = g_taken[i];
    auto* fn = child ? p->child : p->parent;
    if (fn) fn(p->arg);
  }
  g_ntaken = 0;
  pthread_mutex_unlock(&g_mutex);
}

void parent() noexcept { release(false); }
void child() noexcept { release(true); }

void install_once() { MEMCG_CHECK(pthread_atfork(prepare, parent, child) == 0, "pthread_atfork"); }

}  // namespace

void add(Participant* p) noexcept {
  const int seq = g_count.fetch_add(1, std::memory_order_relaxed);
  MEMCG_CHECK(seq < kMaxParticipants, "too many fork participants");
  p->seq = seq;
  Participant* head = g_head.load(std::memory_order_relaxed);
  do p->next = head;
  while (!g_head.compare_exchange_weak(head, p, std::memory_order_release, std::memory_order_relaxed));
}

void install() noexcept { pthread_once(&g_once, install_once); }

int participants() noexcept { return g_count.load(std::memory_order_relaxed); }

}  // namespace memcg::detail::fork
