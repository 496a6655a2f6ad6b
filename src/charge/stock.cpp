#include "charge/stock.hpp"

#include <atomic>
#include <cstddef>
#include <thread>

#include "core/group_impl.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "core/upcalls.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/fork.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"
#include "platform/thread_registry.hpp"

namespace memcg::detail {

namespace {

struct StockSlot {
  // Owner writes with plain (relaxed) stores; drainers read/write them only
  // under the protocol above; stat readers read them racily under RCU.
  std::atomic<GroupImpl*> group{nullptr};  // holds a reference while set
  std::atomic<std::uint64_t> bytes{0};
};

// The node's gate guards the slots (platform/thread_registry.hpp).
struct alignas(64) ThreadStock : ThreadNode {
  constexpr ThreadStock() noexcept : ThreadNode(LockRank::kThreadStock) {}
  std::uint32_t victim = 0;  // owner only: next slot to evict
  StockSlot slots[kStockSlots];
};
static_assert(offsetof(ThreadStock, slots) + sizeof(StockSlot) <= 64, "the gate and the first slot share a line");

constinit thread_local ThreadStock tls_stock __attribute__((tls_model("initial-exec"))){};

void stock_thread_exit(ThreadNode* n) noexcept;
ThreadNode* own_stock() noexcept { return &tls_stock; }

// The registry mutex serialises drain rounds and the list of stocks; the
// drain mutex lets at most one best-effort subtree drainer queue up.
struct StockRegistry {
  ThreadRegistry threads{LockRank::kStockRegistry, {own_stock, stock_thread_exit, nullptr},
                         static_cast<int>(fault::Kind::kStockDrainTake)};
  RankedMutex drain_mutex{LockRank::kStockDrain};
  fork::HeldAcrossFork<RankedMutex> drain_fork{drain_mutex};
};

StockRegistry& registry() {
  static StockRegistry* r = new StockRegistry;  // leaked: exiting threads use it
  return *r;
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

// A drain round over every registered stock (registry mutex held): takes
// the slots matching pred, then gives them back outside the gate lock.
template <class Pred>
void drain_all_locked(ThreadRegistry& r, Pred&& pred, GroupImpl* account_to) MEMCG_REQUIRES(r.mutex()) {
  Taken taken[kStockSlots];
  int n = 0;
  r.drain_round([&](ThreadNode& t) { n = take_matching_locked(static_cast<ThreadStock&>(t), pred, taken); },
                [&](ThreadNode&) {
                  if (n && account_to) count_stat(account_to, &StatCounters::stock_drains, 1);
                  for (int i = 0; i < n; ++i) give_back(taken[i]);
                  n = 0;
                });
}

// The exiting thread's node is its own stock: everything goes back.
void stock_thread_exit(ThreadNode*) noexcept { drain_own_stock(); }

}  // namespace

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

void stock_refill(GroupImpl* g, std::uint64_t bytes, bool install) noexcept {
  ThreadStock& s = tls_stock;
  if (MEMCG_UNLIKELY(!s.registered) && !registry().threads.enrol(s)) {  // exited thread
    g->counter.uncharge(bytes);
    return;
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
      if (!install) return;  // excess stays `bytes`: uncharged below
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
  ThreadRegistry& r = registry().threads;
  LockGuard<RankedMutex> l(r.mutex());
  drain_all_locked(r, [g](GroupImpl* x) { return x == g; }, nullptr);
}

bool drain_stocks_in_subtree(GroupImpl* over) noexcept {
  StockRegistry& r = registry();
  if (!r.drain_mutex.try_lock()) return false;
  {
    LockGuard<RankedMutex> l(r.threads.mutex());
    drain_all_locked(r.threads, [over](GroupImpl* x) { return x->is_descendant_of(over); }, over);
  }
  drain_object_slots_in_subtree(over);  // the slab layer's per-object stocks
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

std::uint64_t threads_with_stock() noexcept { return registry().threads.count(); }

std::uint64_t stock_bytes_in_subtree(GroupImpl* g) noexcept {
  ThreadRegistry& r = registry().threads;
  std::uint64_t sum = 0;
  rcu::ReadGuard rg;  // slot groups may be evicted and freed while we look
  LockGuard<RankedMutex> l(r.mutex());
  r.for_each_locked([&](ThreadNode& t) {
    for (auto& slot : static_cast<ThreadStock&>(t).slots) {
      GroupImpl* x = slot.group.load(std::memory_order_acquire);
      if (x && x->is_descendant_of(g)) sum += slot.bytes.load(std::memory_order_relaxed);
    }
  });
  return sum;
}

}  // namespace memcg::detail
