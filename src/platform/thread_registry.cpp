#include "platform/thread_registry.hpp"

#include "platform/assert.hpp"
#include "platform/membarrier.hpp"

namespace memcg::detail {

ThreadRegistry::ThreadRegistry(LockRank mutex_rank, Policy policy, int after_barrier) noexcept
    : mutex_(mutex_rank), policy_(policy), after_barrier_(after_barrier) {
  fork_.order = static_cast<int>(mutex_rank);
  fork_.prepare = fork_prepare;
  fork_.parent = fork_parent;
  fork_.child = fork_child;
  fork_.arg = this;
  // Registries are created before their first enrolment, with no library
  // lock held (function-local statics of their policies).
  fork::add(&fork_);
}

bool ThreadRegistry::enrol(ThreadNode& self) noexcept {
  if (self.registered) return true;
  if (self.exited) return false;
  LockGuard<RankedMutex> l(mutex_);
  if (!key_created_) {
    MEMCG_CHECK(pthread_key_create(&key_, key_destructor) == 0, "pthread_key_create");
    key_created_ = true;
  }
  membarrier::init();
  if (!membarrier::g_available) {  // before any drainer can see it
    self.gate.serialise_always();
    if (policy_.block) policy_.block(&self);  // never unblocked
  }
  self.next = head_;
  self.prev = nullptr;
  if (head_) head_->prev = &self;
  head_ = &self;
  self.registered = true;
  count_.fetch_add(1, std::memory_order_relaxed);
  pthread_setspecific(key_, this);  // the destructor finds the node through policy_.self()
  return true;
}

void ThreadRegistry::unlink_locked(ThreadNode& n) {
  if (!n.registered) return;
  if (n.prev) n.prev->next = n.next; else head_ = n.next;
  if (n.next) n.next->prev = n.prev;
  n.next = n.prev = nullptr;
  n.registered = false;
  count_.fetch_sub(1, std::memory_order_relaxed);
}

void ThreadRegistry::key_destructor(void* p) noexcept {
  auto* r = static_cast<ThreadRegistry*>(p);
  ThreadNode* n = r->policy_.self();
  n->exited = true;
  r->policy_.on_exit(n);
  {
    LockGuard<RankedMutex> l(r->mutex_);
    r->unlink_locked(*n);
  }
  if (r->policy_.on_retired) r->policy_.on_retired(n);
}

// Fork: the mutex is held across fork(); the child keeps only the forking
// thread's node (the thread-local object's address is the same in the child).
void ThreadRegistry::fork_prepare(void* self) noexcept MEMCG_NO_TSA {
  static_cast<ThreadRegistry*>(self)->mutex_.lock();
}

void ThreadRegistry::fork_parent(void* self) noexcept MEMCG_NO_TSA {
  static_cast<ThreadRegistry*>(self)->mutex_.unlock();
}

void ThreadRegistry::fork_child(void* self) noexcept MEMCG_NO_TSA {
  auto* r = static_cast<ThreadRegistry*>(self);
  ThreadNode* me = r->policy_.self();
  std::uint64_t n = 0;
  for (ThreadNode* t = r->head_; t;) {
    ThreadNode* next = t->next;
    if (t != me) {
      t->next = t->prev = nullptr;
      t->registered = false;  // the thread is gone: nobody reads it again
    }
    t = next;
  }
  r->head_ = nullptr;
  if (me && me->registered) {
    me->next = me->prev = nullptr;
    r->head_ = me;
    n = 1;
  }
  r->count_.store(n, std::memory_order_relaxed);
  r->mutex_.unlock();
}

}  // namespace memcg::detail
