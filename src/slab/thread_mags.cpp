// Per-thread magazine tables and the allocation/free fast paths. The
// registry, drain rounds, thread exit and fork are the shared per-thread
// machinery (platform/thread_registry.hpp); this file keeps the policy.
//
// Each thread has a small direct-mapped table keyed by (root cache, group)
// (mag_key, cache_impl.hpp) -> child cache, loaded and previous magazines:
// the allocation fast path goes from its arguments to a magazine without
// visiting the root's child array, and a free finds its entry through the
// slot stored in the object's cache. The table is guarded by the thread's OwnerGate: the
// owner's fast path costs a compiler barrier, and a drain round (group
// removal, shrink, destroy) can flush any thread's entries for the caches it
// is killing. A gate operation is also what keeps a cache found in a root's
// array alive while it is used: killing a cache unpublishes it first and
// runs a drain round before dropping its registration reference.
//
// The slow paths hold a real reference on the cache (the cache reference
// chain): a thread that looked up a cache and then blocks (charging,
// reclaim) can never use a destroyed cache.
#include <atomic>
#include <utility>

#include "charge/objcg.hpp"
#include "core/group_impl.hpp"
#include "platform/errno_keeper.hpp"
#include "platform/assert.hpp"
#include "platform/fault.hpp"
#include "platform/meta_arena.hpp"
#include "platform/ranked_mutex.hpp"
#include "platform/rcu.hpp"
#include "platform/thread_registry.hpp"
#include "slab/checked.hpp"
#include "slab/slab_internal.hpp"
#include "slab/fast_path.hpp"
#include "slab/thread_mags.hpp"

namespace memcg::detail {

namespace {

inline bool has_table(const ThreadMags& t) { return t.table != g_no_table; }

void mags_thread_exit(ThreadNode* n) noexcept;
ThreadNode* own_mags() noexcept { return &tls_mags; }
void mags_thread_retired(ThreadNode* n) noexcept;

// The fast view's blocks (thread_mags.hpp).
void mags_block(ThreadNode* n) noexcept {
  auto* t = static_cast<ThreadMags*>(n);
  LockGuard<SpinLock> l(t->gate.lock());
  ++t->blocks;
  t->sync_fast_table();
}
void mags_unblock(ThreadNode* n) noexcept {
  auto* t = static_cast<ThreadMags*>(n);
  LockGuard<SpinLock> l(t->gate.lock());
  MEMCG_ASSERT(t->blocks > 0);
  --t->blocks;
  t->sync_fast_table();
}

}  // namespace

constinit thread_local ThreadMags tls_mags __attribute__((tls_model("initial-exec"))){};

ThreadRegistry& mags_registry() noexcept {
  static ThreadRegistry* r =  // leaked: exiting threads use it
      new ThreadRegistry(LockRank::kMagRegistry,
                         {own_mags, mags_thread_exit, mags_thread_retired, mags_block, mags_unblock});
  return *r;
}

namespace {

ThreadRegistry& registry() { return mags_registry(); }

// Prepares the calling thread's table (first slow path only). False for an
// exited thread (its allocations bypass magazines) or without metadata.
bool ensure_table(ThreadMags& t) {
  if (t.exited) return false;  // first: an exited thread's table is on its way out
  if (has_table(t)) return true;
  auto* table = static_cast<MagEntry*>(meta::alloc(sizeof(MagEntry) * kTableSize));
  if (!table) return false;
  // Published under the gate lock: the thread may be registered already
  // (its object slot enrolled it), and then a drain round may read the
  // table or block the fast view at any moment.
  {
    LockGuard<SpinLock> l(t.gate.lock());
    t.table = table;
    t.sync_fast_table();
  }
  if (registry().enrol(t)) return true;
  {
    LockGuard<SpinLock> l(t.gate.lock());
    t.table = g_no_table;
    t.sync_fast_table();
  }
  meta::free(table, sizeof(MagEntry) * kTableSize);
  return false;
}

// The entry owner a charging cache's entry gets for owner key `key`
// (CHARGED ROUNDS): frees push charged rounds only of small objects.
inline std::uintptr_t charged_owner_for(const ChildCache* c, std::uintptr_t key) {
  return c->root->stride <= kChargedRoundMax && key > kOwnersMixed ? key : kNoChargedOwner;
}

// An entry's reference on its owner's ObjCgroup (none for a key without
// one: 0, or a group that has none yet).
inline ObjCgroup* owner_objcg(std::uintptr_t key) { return reinterpret_cast<ObjCgroup*>(key & ~std::uintptr_t{1}); }
void owner_get(std::uintptr_t key) {
  if (ObjCgroup* oc = owner_objcg(key)) objcg_get(oc);
}
void owner_put(std::uintptr_t key) {
  if (ObjCgroup* oc = owner_objcg(key)) objcg_put(oc);
}

// Inside a gate op: e (of cache e.cache) gets owner `key`, whose reference
// the caller took for it.
inline void set_owner(MagEntry& e, std::uintptr_t key) {
  e.owner = key;
  e.charged_owner = charged_owner_for(e.cache, key);
}

// settle(), by the thread whose entry it was: the bytes go into its object
// slot when the slot has the owner's key and room, as its fast frees' do
// (their statistics with them), so that a thread freeing and allocating
// objects of one group does not reach the group's counters for every
// magazine it exchanges; else as settle() does.
void settle_local(const Discharge& d) {
  ThreadMags& t = tls_mags;
  bool done = d.bytes == 0;
  if (!done && d.bytes <= kObjStockMax && t.registered && !t.exited)
    t.gate.run([&] { done = slot_give(t.obj, d.owner, static_cast<std::uint32_t>(d.bytes)); });
  if (!done) return settle(d);
  if (d.put) owner_put(d.owner);
}

// An entry taken out of a table, with a reference on its cache, to be given
// back to the cache's depot outside any gate.
struct Evicted {
  ChildCache* cache = nullptr;
  Magazine* loaded = nullptr;
  Magazine* prev = nullptr;
  Discharge owner;  // its charged rounds, unmarked, and its owner reference
};

// local: by the thread whose entry it was (settle_local), else settle().
void give_back(const Evicted& e, bool local = true) {
  if (!e.cache) return;
  if (local) settle_local(e.owner);
  else settle(e.owner);
  return_magazine(e.cache, e.loaded);
  return_magazine(e.cache, e.prev);
  child_put(e.cache);
}

// Inside a gate op: takes entry e out (the cache is alive: we are in the gate
// and the entry was not flushed) and pins its cache for give_back.
Evicted evict_in_gate(MagEntry& e) {
  if (!e.cache) return Evicted{};
  Evicted out{e.cache, nullptr, e.prev, take_owner(e)};
  out.loaded = e.unload();
  child_get(e.cache);
  e = MagEntry{};
  return out;
}

// Installs c with `loaded` in its slot (inside the gate, c not dead), with
// owner `owner` (a charging cache's, whose reference the caller took; else
// 0), returning whatever entry was there.
Evicted install_in_gate(MagEntry* table, ChildCache* c, Magazine* loaded, std::uintptr_t owner) {
  MagEntry& e = table[c->mag_slot_];
  Evicted ev = evict_in_gate(e);
  e = MagEntry{c->mag_key_, c, loaded->rounds + loaded->n, nullptr, 0, 0, {}};
  set_owner(e, owner);
  return ev;
}

inline ChildCache* lookup_in_gate(RootCache* root, GroupImpl* g) {
  if (!root->per_group) return root->shared;
  ChildArray* arr = root->children.load(std::memory_order_acquire);
  if (!arr || g->id >= arr->capacity) return nullptr;
  return arr->slot[g->id].load(std::memory_order_acquire);
}





// Slow paths stay out of line: inlined, they made every fast-path call save
// and restore six registers (callgrind: 34 of 139 instructions per op).
// owner: the owner key of the allocation for a charging root (its
// ObjCgroup kept alive by the caller), else 0.
__attribute__((noinline, cold)) void* alloc_slow(RootCache* root, GroupImpl* g, std::uintptr_t owner) {
  ThreadMags& t = tls_mags;
  const bool have_table = ensure_table(t);  // false: exited thread, or no metadata
  for (int attempt = 0; attempt < 16; ++attempt) {
    GroupImpl* x = g;
    while (!x->is_online()) x = x->parent;  // a removed group charges its nearest online ancestor
    ChildCache* c = nullptr;
    // Lock-free lookup: published caches are alive inside the gate, but
    // only a registered thread's gate is waited for by drain rounds.
    if (have_table) t.gate.run([&] {
        c = lookup_in_gate(root, x);
        if (c) child_get(c);
      });
    if (!c && !(c = get_child_cache(root, x))) return nullptr;  // creates it (slab mutex)
    MEMCG_FAULT_POINT(fault::Kind::kAfterChildLookup);  // the cache reference chain's window
    Magazine* full = nullptr;
    RefillResult rr = get_full_magazine(c, &full);
    if (rr == RefillResult::kNoMem) {
      child_put(c);
      return nullptr;
    }
    if (rr == RefillResult::kRetry) {
      child_put(c);
      continue;
    }
    void* obj = full->rounds[--full->n].object();  // a fresh one's owner is recorded by the caller's charge
    if (!have_table) {  // one object, the rest back to the depot
      return_magazine(c, full);
      child_put(c);
      return obj;
    }
    Evicted ev;
    Magazine* spare = nullptr;  // a magazine displaced from c's own entry
    Discharge old_owner, spare_rounds;
    bool installed = false;
    t.gate.run([&] {
      // Checked inside the gate: a cache killed before our op started is
      // seen dead here; one killed after waits for us and flushes the entry.
      if (c->dead.load(std::memory_order_acquire)) return;
      MagEntry& e = t.table[c->mag_slot_];
      if (e.cache == c) {
        if (e.owner != owner) {
          old_owner = take_owner(e);
          owner_get(owner);  // the entry's (an increment: no lock in the gate)
          set_owner(e, owner);
        }
        spare = e.prev;  // empty when both were (the usual way here)
        spare_rounds = unmark_leaving(e, spare);  // defensive: an empty or just re-keyed spare has none
        e.prev = e.unload();
        e.load(full);
      } else {
        owner_get(owner);
        ev = install_in_gate(t.table, c, full, owner);
      }
      installed = true;
    });
    settle_local(old_owner);
    settle_local(spare_rounds);
    if (!installed) return_magazine(c, full);
    return_magazine(c, spare);
    give_back(ev);
    child_put(c);
    return obj;
  }
  return nullptr;
}

// owner: the object's owner key, for a charging cache's entry installed
// here (CHARGED ROUNDS: a free-only thread's frees of one owner stay
// charged), else 0. The object goes in uncharged (the caller uncharges).
__attribute__((noinline, cold)) void free_slow(ChildCache* c, void* obj, std::uintptr_t owner) {
  ThreadMags& t = tls_mags;
  child_get(c);  // the object's slab keeps c alive until obj is given back
  if (c->dead.load(std::memory_order_acquire)) {  // frees of dead caches bypass magazines
    free_to_slab(c, obj);
    child_put(c);
    return;
  }
  Magazine* empty = nullptr;
  if (ensure_table(t)) {
    {
      LockGuard<SpinLock> l(c->lock);
      if (!c->dead.load(std::memory_order_relaxed)) empty = c->depot_empty.pop();
    }
    if (!empty && !c->dead.load(std::memory_order_relaxed)) empty = new_magazine();
  }
  if (!empty) {
    free_to_slab(c, obj);
    child_put(c);
    return;
  }
  empty->rounds[empty->n++] = round_of(Slab::of(obj), obj);
  Evicted ev;
  Magazine* out_full = nullptr;
  Discharge out_rounds;
  bool installed = false;
  t.gate.run([&] {
    if (c->dead.load(std::memory_order_acquire)) return;
    MagEntry& e = t.table[c->mag_slot_];
    if (e.cache == c) {  // loaded full, prev full or absent
      out_full = e.prev;
      out_rounds = unmark_leaving(e, out_full);
      e.prev = e.unload();
      e.load(empty);
    } else {
      owner_get(owner);  // alive: the object is charged through it
      ev = install_in_gate(t.table, c, empty, owner);
    }
    installed = true;
  });
  settle_local(out_rounds);
  if (!installed) return_magazine(c, empty);  // dead: to the slabs
  return_magazine(c, out_full);
  give_back(ev);
  child_put(c);
}

}  // namespace

void note_owner(OwnerKey* owner, OwnerKey key) noexcept {
  *owner = key;
  // The entry lies in its slab's header unit, right after the header.
  std::atomic<OwnerKey>& sole = Slab::of(owner)->sole;
  OwnerKey cur = sole.load(std::memory_order_relaxed);
  if (cur == key || cur == kOwnersMixed) return;
  if (cur == 0 && sole.compare_exchange_strong(cur, key, std::memory_order_relaxed)) return;
  if (cur != key) sole.store(kOwnersMixed, std::memory_order_relaxed);  // for good: it never goes back
}

void* record_owner_of(void* obj, OwnerKey key) noexcept {
  record_owner(obj, key);
  return obj;
}

// ---- charged rounds (thread_mags.hpp) ----

namespace {

std::uint32_t unmark(Round* r, const Round* end) {
  std::uint32_t n = 0;
  for (; r < end; ++r)
    if (r->tagged & kChargedRound) {
      r->tagged &= ~kChargedRound;
      ++n;
    }
  return n;
}

std::uint64_t round_charge(const MagEntry& e) { return e.cache->root->charge_bytes; }

}  // namespace

Discharge unmark_leaving(const MagEntry& e, Magazine* m) noexcept {
  if (!m || !e.may_hold_charged()) return Discharge{};
  return Discharge{e.owner, unmark(m->rounds, m->rounds + m->n) * round_charge(e), false};
}

Discharge take_owner(MagEntry& e) noexcept {
  Discharge d{e.owner, 0, true};
  if (e.may_hold_charged()) {
    std::uint64_t n = unmark(MagEntry::magazine_of(e.top)->rounds, e.top);
    if (e.prev) n += unmark(e.prev->rounds, e.prev->rounds + e.prev->n);
    d.bytes = n * round_charge(e);
  }
  e.owner = 0;
  e.charged_owner = kNoChargedOwner;
  return d;
}

void settle(const Discharge& d) noexcept {
  ObjCgroup* oc = owner_objcg(d.owner);
  if (!oc) return;
  if (d.bytes) {
    // The objects' statistics and charge (alive: the charge holds it).
    std::int64_t delta[2] = {};
    delta[d.owner & 1] = -static_cast<std::int64_t>(d.bytes);
    objcg_account_slab(oc, delta);
    objcg_uncharge(oc, d.bytes);
  }
  if (d.put) objcg_put(oc);
}

void for_each_charged_rounds(void (*f)(void* arg, GroupImpl* charged, int reclaimable, std::uint64_t bytes),
                             void* arg) noexcept {
  ThreadRegistry& r = registry();
  rcu::ReadGuard rg;  // owners' groups may move up and be freed while we look
  LockGuard<RankedMutex> l(r.mutex());
  auto count = [](const Round* p, const Round* end) {
    std::uint64_t n = 0;
    for (; p < end; ++p) n += p->charged();
    return n;
  };
  r.drain_round(
      [&](ThreadNode& n) {
        const MagEntry* table = static_cast<ThreadMags&>(n).table;
        for (std::uint32_t i = 0; i < kTableSize; ++i) {
          const MagEntry& e = table[i];
          ObjCgroup* oc = owner_objcg(e.owner);
          if (!e.cache || !e.may_hold_charged() || !oc) continue;
          std::uint64_t k = count(MagEntry::magazine_of(e.top)->rounds, e.top);
          if (e.prev) k += count(e.prev->rounds, e.prev->rounds + e.prev->n);
          if (k) f(arg, oc->group.load(std::memory_order_acquire), static_cast<int>(e.owner & 1), k * round_charge(e));
        }
      },
      [](ThreadNode&) {});
}

ChargedRoundsSum charged_rounds_in_subtree(GroupImpl* g) noexcept {
  struct Arg {
    GroupImpl* g;
    ChargedRoundsSum sum;
  } a{g, {}};
  for_each_charged_rounds(
      [](void* p, GroupImpl* charged, int kind, std::uint64_t bytes) {
        auto* a = static_cast<Arg*>(p);
        if (charged->is_descendant_of(a->g)) a->sum.bytes[kind] += bytes;
      },
      &a);
  return a.sum;
}

// ---- the fast paths' misses (declared in fast_path.hpp) ----

// Allocation whose fast-view probe missed or found no rounds. A blocked
// view (a drain round in progress) retries the probe in a gate operation
// that serialises with the drainer. A removed group (a thread still inside
// its ScopedGroup) allocates from its nearest online ancestor's cache,
// looked up here rather than on the slow path.
void* alloc_miss(RootCache* root, GroupImpl* g) noexcept {
  MEMCG_ASSERT(!root->charge_objects);  // their entries have owners: alloc_charged_miss
  ThreadMags& t = tls_mags;
  void* obj = nullptr;
  if (t.fast_table.load(std::memory_order_relaxed) != t.table) {
    t.gate.run([&] { obj = pop_in_gate(t.table, root, key_group_id(root, g)); });
    if (obj) return obj;
  }
  if (root->per_group && !g->is_online()) {
    GroupImpl* x = g;
    while (!x->is_online()) x = x->parent;
    t.gate.run([&] { obj = pop_in_gate(t.table, root, x->id); });
    if (obj) return obj;
  }
  return alloc_slow(root, g, 0);
}

namespace {

// free_miss, installing a charging cache's entry with owner `owner` (see
// free_slow).
void free_miss_owned(ChildCache* c, void* obj, std::uintptr_t owner) {
  ErrnoKeeper keep_errno;
  ThreadMags& t = tls_mags;
  bool done = false;
  const Round r = round_of(Slab::of(obj), obj);  // read before the object is published
  t.gate.run([&] { done = push_in_gate(t.table, mag_off(c->mag_slot_), c, r); });
  if (!done) free_slow(c, obj, owner);
}

}  // namespace

// A fast-view free that missed: the same push in a gate operation (under
// the gate lock while a drainer is pending), else the slow path.
void free_miss(ChildCache* c, void* obj) noexcept { free_miss_owned(c, obj, 0); }

namespace {

// An object of a per-object charging cache could not be charged: back to
// the magazines, uncharged.
__attribute__((noinline, cold)) void* refuse_object(void* obj) {
  free_miss(Slab::of(obj)->cache, obj);
  return nullptr;
}

// Charging an object the object slot could not serve: the group's
// ObjCgroup may not exist yet, and the charge may reclaim.
void* charge_object_slow(RootCache* root, GroupImpl* g, void* obj) {
  ObjCgroup* oc = objcg_of(g);
  if (!oc || !obj_charge_slow(oc, root->charge_bytes, root->options.reclaimable)) return refuse_object(obj);
  record_owner(obj, ObjSlot::key_of(oc, root->options.reclaimable));
  return obj;
}

}  // namespace

// The charging fast path found no round it could hand out: a blocked view
// (a drain round in progress), no entry, no rounds, or an entry owned by
// another key, which is re-keyed here (CHARGED ROUNDS); or (obj) the object
// slot could not charge the object popped.
void* alloc_charged_miss(RootCache* root, GroupImpl* g, void* obj) noexcept {
  if (obj) return charge_object_slow(root, g, obj);
  ThreadMags& t = tls_mags;
  ObjCgroup* oc = objcg_of(g);  // alive: g's own, or an ancestor's (held by it)
  if (!oc) {  // out of metadata: nothing can be charged
    if ((obj = alloc_slow(root, g, 0))) refuse_object(obj);
    return nullptr;
  }
  const std::uintptr_t key = ObjSlot::key_of(oc, root->options.reclaimable);
  Round got{0};
  Discharge old_owner;
  if (has_table(t)) {
    t.gate.run([&] {
      MagEntry& e = entry_at(t.table, root->shared_off);
      if (e.key != root->shared_key) return;
      if (e.owner != key) {
        old_owner = take_owner(e);
        owner_get(key);  // the entry's (an increment: no lock in the gate)
        set_owner(e, key);
      }
      if (const Round* r = pop_entry(e)) got = *r;
    });
    settle_local(old_owner);
  }
  if (got.charged()) return checked::charged_round(got.object(), key);
  if (!(obj = got.object()) && !(obj = alloc_slow(root, g, key))) return nullptr;
  return charge_object_slow(root, g, obj);
}

void free_charged_miss(void* obj, std::uintptr_t key) noexcept {
  Slab* s = Slab::of(obj);
  if (MEMCG_UNLIKELY(s->kind != kSlabKind)) return kfree_medium(obj);  // kmalloc.cpp MEDIUM FREE
  ErrnoKeeper keep_errno;
  ChildCache* c = s->cache;
  const std::uint32_t charge = s->charge_bytes;  // before publishing: the slab may go after
  // Still charged, if the entry is the owner's and has room (a blocked view
  // retried under the gate lock).
  ThreadMags& t = tls_mags;
  bool done = false;
  t.gate.run([&] {
    MagEntry& e = entry_at(t.table, s->mag_off);
    if (e.cache != c || e.charged_owner != key) return;
    if (Round* top = push_room(e)) {
      *top = Round{reinterpret_cast<std::uintptr_t>(obj) | kChargedRound};
      e.top = top + 1;
      done = true;
    }
  });
  if (done) return;
#if defined(MEMCG_CHECKED)
  *s->owner_slot(obj) = 0;  // as the fast path's uncharged free: a fresh round
#endif
  free_miss_owned(c, obj, key);
  MEMCG_FAULT_POINT(fault::Kind::kObjectFreePublished);  // the object's slab may be gone now
  obj_uncharge_slow(reinterpret_cast<ObjCgroup*>(key & ~std::uintptr_t{1}), charge, static_cast<int>(key & 1));
}

void flush_thread_magazines(bool (*pred)(ChildCache*, void*), void* arg) noexcept {
  ThreadRegistry& r = registry();
  LockGuard<RankedMutex> l(r.mutex());
  Discharge owners[kTableSize];  // of the thread being drained, settled after it
  r.drain_round(
      [&](ThreadNode& n) {
        MagEntry* table = static_cast<ThreadMags&>(n).table;
        for (std::uint32_t i = 0; i < kTableSize; ++i) {
          MagEntry& e = table[i];
          if (!e.cache || !pred(e.cache, arg)) continue;
          owners[i] = take_owner(e);
          {
            LockGuard<SpinLock> cl(e.cache->lock);
            flush_magazine_locked(e.cache, e.unload());
            if (e.prev) flush_magazine_locked(e.cache, e.prev);
          }
          free_magazine(e.loaded());
          if (e.prev) free_magazine(e.prev);
          e = MagEntry{};
        }
      },
      [&](ThreadNode&) {
        for (Discharge& d : owners) {
          settle(d);
          d = Discharge{};
        }
      });
}

// Thread exit (pthread key destructor) and explicit flushes of the caller's
// own magazines: every entry goes back to its cache's depot.
void flush_own_magazines() noexcept {
  ThreadMags& t = tls_mags;
  if (has_table(t)) {
    Evicted evs[kTableSize];
    {
      LockGuard<SpinLock> l(t.gate.lock());  // excludes drain rounds
      for (std::uint32_t i = 0; i < kTableSize; ++i) evs[i] = evict_in_gate(t.table[i]);
    }
    for (auto& ev : evs) give_back(ev);
  }
  drain_own_object_slot();  // last: the charged rounds' bytes may have gone into it
}

namespace {

// Blocks the fast view for good: whatever runs on the thread after its key
// destructor bypasses the magazines (ensure_table refuses an exited thread).
void mags_thread_exit(ThreadNode* n) noexcept {
  mags_block(n);
  flush_own_magazines();
}

// Off the list: no drain round reads the table any more. Whatever a path
// of the exit itself put in the table after mags_thread_exit emptied it is
// given back (no entry, owner reference or charged round is lost).
void mags_thread_retired(ThreadNode* n) noexcept {
  auto* t = static_cast<ThreadMags*>(n);
  MagEntry* table = t->table;
  if (table == g_no_table) return;
  Evicted evs[kTableSize];
  {
    LockGuard<SpinLock> l(t->gate.lock());
    for (std::uint32_t i = 0; i < kTableSize; ++i) evs[i] = evict_in_gate(table[i]);
    t->table = g_no_table;
    t->sync_fast_table();
  }
  for (auto& ev : evs) give_back(ev, false);  // the slot was given back at exit
  meta::free(table, sizeof(MagEntry) * kTableSize);
}

}  // namespace

std::uint64_t threads_with_magazines() noexcept { return registry().count(); }

}  // namespace memcg::detail
