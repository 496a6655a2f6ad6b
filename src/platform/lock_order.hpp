// THE LOCK ORDER OF THE WHOLE LIBRARY.
//
// A thread may acquire a lock only if its rank is greater than the rank of
// every lock it already holds. Checked builds (MEMCG_CHECKED) assert this on
// every acquisition (RankedMutex, SpinLock); clang additionally checks the
// GUARDED_BY/REQUIRES annotations at compile time.
//
// Not locks, but ordering rules of the same weight:
//  - An RCU read section may be entered with any lock held and may take locks
//    of any rank, but rcu::synchronize()/rcu::barrier()/memcg::barrier() must
//    not be called with any lock held or inside a read section.
//  - No lock is held across a call into user code (shrinkers, OOM handlers,
//    constructors).
//  - The group reference count is not a lock: dropping the last reference
//    only queues work for the worker, so put() may be called under any lock.
//  - fork() takes every lock in this order (platform/fork.hpp), after the
//    RCU stage; a thread registers with RCU before its first library lock.
//  - Charging and uncharging take stock locks (kThreadStock and, at a limit,
//    kStockDrain/kStockRegistry): never charge or uncharge while holding a
//    lock ranked above kStockDrain (a cache lock, say); collect and do it
//    after unlocking.
#pragma once

namespace memcg::detail {

enum class LockRank : int {
  kRcuCallbackRun = 3, // RCU callbacks running (rcu_callbacks.cpp; held across fork)
  kWorkerRun = 5,      // worker items running (worker.cpp; held across fork)
  kTree = 10,          // Runtime::tree_mutex: group tree links, names, ids, limits writes
  kKmallocInit = 12,   // kmalloc size-class setup (creates root caches, so before kSlab)
  kSlab = 15,          // SlabRuntime::slab_mutex (the kernel's memcg_slab_mutex): child-cache
                       //   creation and destruction, root arrays, per-group cache lists
  kStockDrain = 20,    // StockRegistry::drain_mutex: one remote drainer of stocks at a time
  kStockRegistry = 30, // the stocks' ThreadRegistry mutex: their list, drain rounds
  kShrinkers = 34,     // shrinker registry: the list (never held across a shrinker call)
  kLruRegistry = 35,   // the list of ListLru instances (reparenting on removal)
  kLruGrow = 36,       // one ListLru's per-group array: growth, list creation
  kLruList = 37,       // one group's list of one ListLru (a parent's is taken nested, deeper first)
  kThreadStock = 40,   // a ThreadStock's gate lock: slot contents while a drain round runs
  kMagRegistry = 42,   // the magazine tables' ThreadRegistry mutex: their list, drain rounds
  kObjcgList = 43,     // the object-cgroup lists (GroupImpl::objcgs): creation, reparenting, release
  kThreadMags = 44,    // ThreadMags' gate lock: a thread's magazines and object slot while drained remotely
  kObjcg = 45,         // one ObjCgroup's lock: its group pointer and the bytes charged through it
  kCache = 46,         // ChildCache::lock: slab lists, free lists, depot, counts
  kLargeCache = 47,   // LargeCache::mutex: cached large spans (a leaf: madvise/munmap run outside it)
  kPageSource = 48,    // PageSource::mutex: regions and free slabs
  kMetaArena = 49,     // MetaArena::lock: metadata blocks
  kWorkerQueue = 50,   // Worker::mutex: queued work items
  kOomDomains = 52,    // the OOM domains in flight (reclaim/oom.cpp): a leaf, never held across a handler
  kReclaimWake = 55,   // the background reclaimer's wake-up state
  kNotify = 56,        // the event notifier (core/notify.cpp): watches, its wake-up state; never held across a callback
  kPsi = 57,           // every group's pressure-stall state (core/psi.cpp): a leaf
  kRcuRegistry = 60,   // TSan RCU flavour: its reader list
  kRcuCallbacks = 65,  // the RCU callback queue (rcu_callbacks.cpp): rcu::call from under any lock
};

}  // namespace memcg::detail
