#include "charge/stock.hpp"

#include <pthread.h>

#include <atomic>
#include <thread>

#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/membarrier.hpp"
#include "platform/owner_gate.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"

namespace memcg::detail {

void stock_thread_exit(void* p);  // pthread key destructor, below

namespace {

struct StockSlot {
  // Owner writes with plain (relaxed) stores; drainers read/write them only
  // under the protocol above; stat readers read them racily under RCU.
  std::atomic<GroupImpl*> group{nullptr};  // holds a reference while set
  std::atomic<std::uint64_t> bytes{0};
};

struct alignas(64) ThreadStock {
  OwnerGate gate{LockRank::kThreadStock};  // owner fast path vs remote drains
  std::uint32_t victim = 0;                // owner only: next slot to evict
  bool registered = false;                 // owner + registry mutex
  // Owner: the thread's key destructor ran. Its TLS is about to be freed, so
  // it never registers again (charges glibc's exit path makes after that
  // walk the hierarchy instead of stocking).
  bool exited = false;
  StockSlot slots[kStockSlots];
  ThreadStock* next = nullptr;  // registry mutex
  ThreadStock* prev = nullptr;  // registry mutex
};

struct StockRegistry {
  RankedMutex drain_mutex{LockRank::kStockDrain};
  RankedMutex mutex{LockRank::kStockRegistry};
  ThreadStock* head MEMCG_GUARDED_BY(mutex) = nullptr;
  std::atomic<std::uint64_t> count{0};
  pthread_key_t key;
};

StockRegistry& registry() {
  static StockRegistry* r = [] {
    auto* reg = new StockRegistry;  // leaked: exiting threads use it
    MEMCG_CHECK(pthread_key_create(&reg->key, stock_thread_exit) == 0, "pthread_key_create");
    return reg;
  }();
  return *r;
}

constinit thread_local ThreadStock tls_stock __attribute__((tls_model("initial-exec"))){};

void register_stock(ThreadStock& s) {
  StockRegistry& r = registry();
  LockGuard<RankedMutex> l(r.mutex);
  s.next = r.head;
  s.prev = nullptr;
  if (r.head) r.head->prev = &s;
  r.head = &s;
  s.registered = true;
  r.count.fetch_add(1, std::memory_order_relaxed);
  pthread_setspecific(r.key, &s);
}

void unregister_stock(ThreadStock& s) {
  StockRegistry& r = registry();
  LockGuard<RankedMutex> l(r.mutex);
  if (!s.registered) return;
  if (s.prev) s.prev->next = s.next; else r.head = s.next;
  if (s.next) s.next->prev = s.prev;
  s.registered = false;
  r.count.fetch_sub(1, std::memory_order_relaxed);
}

inline StockSlot* find_slot(ThreadStock& s, GroupImpl* g) {
  for (auto& slot : s.slots)
    if (slot.group.load(std::memory_order_relaxed) == g) return &slot;
  return nullptr;
}

struct Taken {
  GroupImpl* group = nullptr;
  std::uint64_t bytes = 0;
};

// Uncharges what a drain or eviction took out of a slot and drops the slot's
// reference. Never under a stock lock held by the owner fast path.
void give_back(const Taken& t) {
  if (!t.group) return;
  if (t.bytes) t.group->counter.uncharge(t.bytes);
  group_put(t.group);
}

// Takes the slots matching pred out of s (gate lock held, owner excluded).
template <class Pred>
int take_matching_locked(ThreadStock& s, Pred&& pred, Taken* out) {
  int n = 0;
  for (auto& slot : s.slots) {
    GroupImpl* g = slot.group.load(std::memory_order_relaxed);
    if (!g || !pred(g)) continue;
    out[n++] = Taken{g, slot.bytes.load(std::memory_order_relaxed)};
    slot.bytes.store(0, std::memory_order_relaxed);
    slot.group.store(nullptr, std::memory_order_release);
  }
  return n;
}

// The drainer side of the protocol over every registered stock (registry
// mutex held by the caller).
template <class Pred>
void drain_all_locked(StockRegistry& r, Pred&& pred, GroupImpl* account_to) MEMCG_REQUIRES(r.mutex) {
  for (ThreadStock* s = r.head; s; s = s->next) s->gate.announce();
  membarrier::heavy();
  MEMCG_FAULT_POINT(fault::Kind::kStockDrainTake);  // owners keep refilling meanwhile
  for (ThreadStock* s = r.head; s; s = s->next) {
    s->gate.wait_idle();
    Taken taken[kStockSlots];
    int n;
    {
      LockGuard<SpinLock> l(s->gate.lock());
      n = take_matching_locked(*s, pred, taken);
    }
    s->gate.retire();
    if (n && account_to) account_to->stats.stock_drains.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) give_back(taken[i]);
  }
}

}  // namespace

void stock_thread_exit(void* p) {
  auto* s = static_cast<ThreadStock*>(p);
  s->exited = true;
  Taken taken[kStockSlots];
  int n;
  {
    LockGuard<SpinLock> l(s->gate.lock());
    n = take_matching_locked(*s, [](GroupImpl*) { return true; }, taken);
  }
  unregister_stock(*s);
  for (int i = 0; i < n; ++i) give_back(taken[i]);
}

bool stock_consume(GroupImpl* g, std::uint64_t bytes) noexcept {
  ThreadStock& s = tls_stock;
  bool ok = false;
  s.gate.run([&] {
    StockSlot* slot = find_slot(s, g);
    if (!slot) return;
    std::uint64_t have = slot->bytes.load(std::memory_order_relaxed);
    if (have < bytes) return;
    slot->bytes.store(have - bytes, std::memory_order_relaxed);
    ok = true;
  });
  return ok;
}

void stock_refill(GroupImpl* g, std::uint64_t bytes) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.registered)) {
    if (s.exited) {
      g->counter.uncharge(bytes);
      return;
    }
    register_stock(s);
  }
  Taken evicted;
  std::uint64_t excess = bytes;  // what is not stocked gets uncharged
  s.gate.run([&] {
    // Checked inside the op: remove() sets dying before it drains, so either
    // we see dying here or its drain sees the slot we fill (stock.hpp).
    if (!g->is_online()) return;
    MEMCG_FAULT_POINT(fault::Kind::kStockRefillOp);  // a remote drain announces meanwhile
    StockSlot* slot = find_slot(s, g);
    if (!slot) {
      slot = find_slot(s, nullptr);
      if (!slot) {
        slot = &s.slots[s.victim];
        s.victim = (s.victim + 1) % kStockSlots;
        evicted = Taken{slot->group.load(std::memory_order_relaxed), slot->bytes.load(std::memory_order_relaxed)};
      }
      group_get(g);
      slot->bytes.store(0, std::memory_order_relaxed);
      slot->group.store(g, std::memory_order_release);
    }
    std::uint64_t b = slot->bytes.load(std::memory_order_relaxed) + bytes;
    // Above one batch, keep half a batch: alternating charge/uncharge around
    // the bound does not walk the hierarchy every time.
    excess = b > kChargeBatch ? b - kChargeBatch / 2 : 0;
    slot->bytes.store(b - excess, std::memory_order_relaxed);
  });
  if (excess) g->counter.uncharge(excess);
  give_back(evicted);
}

void drain_stocks_of(GroupImpl* g) noexcept {
  StockRegistry& r = registry();
  LockGuard<RankedMutex> l(r.mutex);
  drain_all_locked(r, [g](GroupImpl* x) { return x == g; }, nullptr);
}

bool drain_stocks_in_subtree(GroupImpl* over) noexcept {
  StockRegistry& r = registry();
  if (!r.drain_mutex.try_lock()) return false;
  {
    LockGuard<RankedMutex> l(r.mutex);
    drain_all_locked(r, [over](GroupImpl* x) { return x->is_descendant_of(over); }, over);
  }
  r.drain_mutex.unlock();
  return true;
}

void drain_own_stock() noexcept {
  ThreadStock& s = tls_stock;
  Taken taken[kStockSlots];
  int n;
  {
    LockGuard<SpinLock> l(s.gate.lock());
    n = take_matching_locked(s, [](GroupImpl*) { return true; }, taken);
  }
  for (int i = 0; i < n; ++i) give_back(taken[i]);
}

std::uint64_t threads_with_stock() noexcept { return registry().count.load(std::memory_order_relaxed); }

std::uint64_t stock_bytes_in_subtree(GroupImpl* g) noexcept {
  StockRegistry& r = registry();
  std::uint64_t sum = 0;
  rcu::ReadGuard rg;  // slot groups may be evicted and freed while we look
  LockGuard<RankedMutex> l(r.mutex);
  for (ThreadStock* s = r.head; s; s = s->next)
    for (auto& slot : s->slots) {
      GroupImpl* x = slot.group.load(std::memory_order_acquire);
      if (x && x->is_descendant_of(g)) sum += slot.bytes.load(std::memory_order_relaxed);
    }
  return sum;
}

// fork() support (the interposer's pthread_atfork handlers, src/interpose/):
// the registry locks are held across fork; in the child only the forking
// thread exists, so the other threads' stocks leave the registry (their
// pre-charged bytes stay charged: a drain can never wait on a dead thread).
void stock_fork_lock() noexcept MEMCG_NO_TSA {
  StockRegistry& r = registry();
  r.drain_mutex.lock();
  r.mutex.lock();
}
void stock_fork_unlock(bool child) noexcept MEMCG_NO_TSA {
  StockRegistry& r = registry();
  if (child) {
    ThreadStock* self = &tls_stock;
    const bool keep = self->registered;
    r.head = nullptr;
    if (keep) {
      self->next = self->prev = nullptr;
      r.head = self;
    }
    r.count.store(keep ? 1 : 0, std::memory_order_relaxed);
  }
  r.mutex.unlock();
  r.drain_mutex.unlock();
}

}  // namespace memcg::detail
