// The demo's workload, on the public API only:
//
//   EntryCache  a reclaimable cache: entries are objects of a memcg::Cache
//               (reclaimable=true), each holding a Reservation-backed "page",
//               kept on a memcg::ListLru per group; a registered group-aware
//               memcg::Shrinker frees the oldest entries of the group it is
//               asked about (tests/reclaim/page_cache.hpp, plus slab objects).
//   Pool        a tenant's unreclaimable objects (memcg::kmalloc), which only
//               the workers or the OOM handler free.
//   Worker      picks a tenant (weighted), enters it with ScopedGroup, and
//               inserts / touches / evicts cache entries and allocates / frees
//               unreclaimable objects.
//   Churn       creates /<parent>/tmp-<n> groups, fills their cache, removes
//               them while entries are alive (the entries move to the parent's
//               list, their pages keep the removed group dying), and evicts
//               the parent's own list little by little.
//   Sampler     reads memory.current / memory.max of the fixed-limit groups
//               and the parent's nr_dying_descendants.
//
// Phases (Shared::phase): run -> stop (workers and churn park; nothing is
// charged, so the demo compares the counters) -> release (threads exit; the
// demo frees what is left).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.hpp"
#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/list_lru.hpp"
#include "memcg/reservation.hpp"
#include "memcg/shrinker.hpp"

namespace memcgctl {

enum Phase : int { kRun = 0, kStop = 1, kRelease = 2 };

/// First few messages of a kind of problem, and how many there were.
class Problems {
 public:
  void add(std::string msg);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  std::vector<std::string> first() const;

 private:
  static constexpr std::size_t kKeep = 8;
  mutable std::mutex mu_;
  std::vector<std::string> first_;
  std::atomic<std::uint64_t> count_{0};
};

struct Shared {
  std::atomic<int> phase{kRun};
  std::atomic<int> parked{0};
  Problems api_errors;    ///< an API call failed in a way it must not
  Problems limit_errors;  ///< the sampler saw memory.current > memory.max

  void set_phase(int p);
  void park();             ///< announce the park, block until the phase leaves kStop
  void wait_parked(int n);
};

/// Small deterministic PRNG (splitmix64).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }

 private:
  std::uint64_t s_;
};

/// Per-slot figures of the cache (a slot is a tenant, or all tmp groups).
struct alignas(64) SlotStats {
  std::atomic<std::int64_t> held{0};              ///< page bytes of live entries
  std::atomic<std::uint64_t> inserted{0};         ///< entries inserted
  std::atomic<std::uint64_t> evicted{0};          ///< entries freed by their owner (working set, churn)
  std::atomic<std::uint64_t> reclaimed{0};        ///< entries freed by the shrinker
  std::atomic<std::uint64_t> reclaimed_bytes{0};  ///< their page bytes
};

class EntryCache : public memcg::Shrinker {
 public:
  struct Entry {
    memcg::ListLruHook hook;
    memcg::Reservation page;
    std::uint64_t bytes = 0;
    std::uint32_t slot = 0;
    unsigned char payload[192];  // the object's "own" data (slab-accounted)
  };

  explicit EntryCache(std::size_t slots);
  ~EntryCache() override;
  void register_now();
  void unregister() { reg_.reset(); }

  enum class Result { ok, refused, error };
  /// A new entry (object charged to g, page of `bytes` charged to g) on g's list.
  Result insert(const memcg::Group& g, std::uint32_t slot, std::uint64_t bytes, std::error_code& ec);
  /// Frees up to n of the oldest entries on g's own list; returns how many.
  std::uint64_t evict(const memcg::Group& g, std::uint64_t n);
  /// Marks the n oldest entries of g's list as recently used.
  void touch(const memcg::Group& g, std::uint64_t n);

  std::uint64_t count(const memcg::ShrinkControl& sc) override;
  std::uint64_t scan(const memcg::ShrinkControl& sc) override;

  std::uint64_t on_list(const memcg::Group& g) const { return lru_.count(g); }
  std::uint64_t on_lists() const { return lru_.count_all(); }
  const SlotStats& slot(std::size_t i) const { return slots_[i]; }
  std::size_t slots() const { return nslots_; }
  std::uint64_t scans() const { return scans_.load(std::memory_order_relaxed); }
  memcg::Cache& cache() { return cache_; }

 private:
  void dispose(std::vector<Entry*>& v, bool reclaimed);
  memcg::Cache cache_;
  memcg::ListLru<Entry, &Entry::hook> lru_;
  std::size_t nslots_;
  std::unique_ptr<SlotStats[]> slots_;
  std::atomic<std::uint64_t> scans_{0};
  memcg::ShrinkerRegistration reg_;
};

/// A tenant's unreclaimable objects.
class Pool {
 public:
  void add(void* p, std::size_t size);
  bool free_one(Rng& rng);        ///< false if empty
  std::uint64_t free_all();       ///< returns the bytes freed
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Obj {
    void* p;
    std::size_t size;
  };
  std::mutex mu_;
  std::vector<Obj> objs_;
  std::atomic<std::uint64_t> bytes_{0};
};

struct alignas(64) TenantCounters {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> refused{0};
};

struct Tenant {
  TenantSpec spec;
  memcg::Group group;
  std::uint32_t slot = 0;
  Pool pool;
  TenantCounters counters;
};

/// What the OOM handler on the parent did.
struct OomStats {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> kills{0};  ///< calls that freed something
  std::atomic<std::uint64_t> freed_bytes{0};
  Problems victims;                      ///< the first few victims, for the summary
};

/// The handler set on the parent: frees the victim tenant's unreclaimable
/// objects (a "kill" of its work). Returns false for a victim that is not a
/// tenant with objects.
memcg::OomHandler make_oom_handler(std::vector<std::unique_ptr<Tenant>>& tenants, OomStats& stats);

class Worker {
 public:
  Worker(int index, std::vector<std::unique_ptr<Tenant>>& tenants, EntryCache& cache, Shared& shared);
  void run();

 private:
  void step();
  Tenant& pick();
  const int index_;
  std::vector<std::unique_ptr<Tenant>>& tenants_;
  EntryCache& cache_;
  Shared& shared_;
  Rng rng_;
  unsigned total_weight_ = 0;
};

class Churn {
 public:
  Churn(const DemoConfig& cfg, memcg::Group parent, EntryCache& cache, std::uint32_t slot, Shared& shared);
  void run();

  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> removed{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> kept_past_rmdir{0};  ///< entries on a group's list when it was removed
  std::atomic<std::uint64_t> evicted_from_parent{0};

  std::atomic<std::uint64_t> leftovers_made{0};   ///< tmp groups removed with kmalloc objects alive

  /// Online tmp groups (valid while parked).
  std::vector<std::string> live_paths() const;
  /// After the thread ended: the small (slab) leftovers still alive, and
  /// freeing them. Their groups were removed and can be freed meanwhile: slab
  /// objects are reparented and do not pin their group.
  std::size_t small_leftovers() const;
  void free_small_leftovers();

 private:
  struct Leftover {
    void* large = nullptr;      // kmalloc_large: pins the removed group until freed
    std::vector<void*> small;   // slab objects: reparented, do not pin
    std::uint64_t removed_at;   // cycle
  };
  struct Tmp {
    std::string path;
    memcg::Group group;
    Leftover left;  // allocated at creation, kept past the rmdir
  };
  void cycle();
  void create_one();
  void retire_oldest();
  void free_leftover(Leftover& l);

  const DemoConfig& cfg_;
  memcg::Group parent_;
  EntryCache& cache_;
  std::uint32_t slot_;
  Shared& shared_;
  Rng rng_;
  std::uint64_t seq_ = 0;
  std::uint64_t cycles_ = 0;
  std::deque<Tmp> live_;
  std::deque<Leftover> leftovers_;
  std::vector<void*> small_kept_;  // at release: small leftovers whose large one was freed
};

class Sampler {
 public:
  Sampler(std::vector<std::string> paths, std::string parent, Shared& shared)
      : paths_(std::move(paths)), parent_(std::move(parent)), shared_(shared) {}
  void run();
  std::uint64_t samples() const { return samples_.load(std::memory_order_relaxed); }
  std::uint64_t dying_peak() const { return dying_peak_.load(std::memory_order_relaxed); }

 private:
  std::vector<std::string> paths_;
  std::string parent_;
  Shared& shared_;
  std::atomic<std::uint64_t> samples_{0};
  std::atomic<std::uint64_t> dying_peak_{0};
};

}  // namespace memcgctl
