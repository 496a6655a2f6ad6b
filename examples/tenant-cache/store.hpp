// The item store of tenant-cache (docs/tenant-cache.md): items in their
// tenant's group, on a per-tenant LRU, evicted by a group-aware shrinker.
//
// A key's tenant is the part before the first delimiter ("acme:user42" ->
// tenant "acme", group /tenants/acme); keys without one, or whose prefix is
// not a valid name, belong to "default". A tenant is created on first use
// with the template limits.
//
// Items: one kmalloc block each (header, key, value), charged to the
// tenant's group, so a store that does not fit the tenant's max reclaims
// from that tenant's LRU first (the library calls the shrinker on the
// group whose limit refused it) and fails only if nothing can be evicted.
//
// Locking: the hash table is striped; a stripe's mutex guards its chains
// and the LRU membership of its items (ListLru add/del run under it: lock
// order stripe -> LRU list). The shrinker's walk holds an LRU list lock and
// only try-locks a stripe (skipping the item if it is busy), so the orders
// never cross. An item is freed by whoever unlinks it from the hash table,
// after the unlock. Items are allocated before any stripe is locked: the
// allocation may run the shrinker on this thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "memcg/group.hpp"
#include "memcg/list_lru.hpp"
#include "memcg/shrinker.hpp"
#include "protocol.hpp"

namespace tcache {

struct Tenant;

struct Item {
  memcg::ListLruHook lru;
  Item* next = nullptr;  // hash chain
  Tenant* tenant = nullptr;
  std::uint64_t cas = 0;
  std::int64_t exptime = 0;  // server seconds; 0: never
  std::uint32_t flags = 0;
  std::uint32_t nbytes = 0;  // value length
  std::uint16_t nkey = 0;
  std::atomic<bool> accessed{false};  // second chance in the LRU walk
  bool fetched = false;               // read at least once (meta h flag); under the stripe lock
  std::int64_t atime = 0;             // last access, server seconds (meta l flag); under the stripe lock
  std::int64_t stime = 0;             // when it was stored, server seconds (flush_all with a delay)
  std::size_t hash = 0;
  char* key() { return reinterpret_cast<char*>(this + 1); }
  char* value() { return key() + nkey; }
  std::string_view key_view() { return {key(), nkey}; }
  std::size_t size() const { return sizeof(Item) + nkey + nbytes; }
};

struct TenantStats {
  std::atomic<std::uint64_t> items{0}, bytes{0}, evictions{0}, hits{0}, misses{0}, stores{0};
};

struct Tenant {
  std::string name;
  memcg::Group group;
  TenantStats st;
};

struct TenantLimits {
  std::uint64_t max = UINT64_MAX;
  std::uint64_t low = 0;
  std::uint64_t min = 0;
};

struct StoreOptions {
  char delimiter = ':';
  std::uint64_t memory_limit = std::uint64_t{64} << 20;  // /tenants: memory.max (memcached -m)
  std::uint64_t tenant_max = UINT64_MAX;                 // template for a new tenant
  std::uint64_t tenant_low = 0;
  std::uint64_t tenant_min = 0;
  std::size_t item_max = std::size_t{1} << 20;           // memcached -I
  std::size_t max_tenants = 1024;                        // more go to "default"
  std::string root_name = "tenants";                     // the group under the root
  std::unordered_map<std::string, TenantLimits> per_tenant;  // limits of named tenants (else the template)
};

enum class Status {
  stored, not_stored, exists, not_found, deleted, touched, too_large, no_memory, non_numeric,
};

class Store {
 public:
  explicit Store(const StoreOptions& o);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// set/add/replace/append/prepend/cas of `data` (the value, without \r\n).
  /// *cas_out (if given): the stored item's cas.
  Status store(Cmd mode, std::string_view key, std::uint32_t flags, std::int64_t exptime, std::string_view data,
               std::uint64_t cas_in, std::uint64_t* cas_out = nullptr);
  /// Appends "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" to out if
  /// the key is live (touch: with exptime as its new expiry); false if not.
  bool get(std::string_view key, bool with_cas, bool touch, std::int64_t exptime, std::string& out);
  /// delete; cas_in != 0: only if the item's cas is cas_in (else exists).
  Status remove(std::string_view key, std::uint64_t cas_in = 0);
  /// Runs f on the live item of `key` under its stripe's lock (bump: mark
  /// it used); false if there is none.
  template <class F>
  bool with_item(std::string_view key, bool bump, F&& f);
  /// incr/decr: *value is the new value on stored (*cas_out its cas).
  Status delta(std::string_view key, bool incr, std::uint64_t by, std::uint64_t* value,
               std::uint64_t* cas_out = nullptr);
  /// Counts a hit or a miss of key's tenant (retrievals outside get()).
  void count_get(std::string_view key, bool hit);
  /// stats reset: the tenants' hit, miss and eviction counters.
  void reset_stats();
  Status touch(std::string_view key, std::int64_t exptime);
  /// Invalidates every item stored before now (delay 0) or before the
  /// delay comes due (memcached's exptime rule: up to 30 days relative,
  /// beyond a unix time); a later flush replaces a pending one.
  void flush(std::int64_t delay);

  /// The tenant of a key (created on first use).
  Tenant* tenant_of(std::string_view key);
  /// The tenants, in creation order.
  std::vector<Tenant*> tenants();
  memcg::Group root() const { return root_; }
  const StoreOptions& options() const { return opt_; }

  std::uint64_t curr_items() const { return items_.load(std::memory_order_relaxed); }
  std::uint64_t total_items() const { return total_items_.load(std::memory_order_relaxed); }
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  /// Server time: seconds since the store started (memcached's rel_time).
  static std::int64_t now();
  /// memcached's exptime rule: 0 never; <= 30 days: relative; larger: unix
  /// time; negative: already expired.
  static std::int64_t expiry(std::int64_t exptime);

 private:
  struct Stripe {
    std::mutex mu;
    std::vector<Item*> buckets;
    std::size_t count = 0;
  };
  class Evictor;

  Stripe& stripe_of(std::size_t h) { return stripes_[h % kStripes]; }
  static std::size_t hash(std::string_view key);
  Item* find_locked(Stripe& s, std::size_t h, std::string_view key);
  void unlink_locked(Stripe& s, Item* it, bool from_lru = true);
  void link_locked(Stripe& s, Item* it);
  bool live(const Item* it);
  Item* make(Tenant* t, std::string_view key, std::size_t h, std::uint32_t flags, std::int64_t exptime,
             std::size_t nbytes);
  void release(Item* it);  // frees an item unlinked from the table and the LRU

  static constexpr std::size_t kStripes = 64;
  StoreOptions opt_;
  memcg::Group root_;
  std::unique_ptr<Stripe[]> stripes_;
  memcg::ListLru<Item, &Item::lru> lru_;
  std::mutex tenants_mu_;
  std::unordered_map<std::string, std::unique_ptr<Tenant>> tenants_;
  std::vector<Tenant*> order_;
  Tenant* default_ = nullptr;
  std::atomic<std::uint64_t> cas_{0};
  std::atomic<std::uint64_t> flushed_below_{0};  // items with cas <= this are gone (flush_all now)
  std::atomic<std::int64_t> flush_at_{-1};       // a delayed flush_all: items stored at or before it go once it is due
  std::atomic<std::uint64_t> items_{0}, total_items_{0}, bytes_{0}, evictions_{0};
  std::unique_ptr<Evictor> evictor_;
  memcg::ShrinkerRegistration shrinker_;
};

template <class F>
bool Store::with_item(std::string_view key, bool bump, F&& f) {
  const std::size_t h = hash(key);
  Stripe& s = stripe_of(h);
  Item* dead = nullptr;
  bool found = false;
  {
    std::lock_guard<std::mutex> l(s.mu);
    Item* it = find_locked(s, h, key);
    if (it && !live(it)) {
      unlink_locked(s, it);
      dead = it;
    } else if (it) {
      f(*it);
      if (bump) {
        it->accessed.store(true, std::memory_order_relaxed);
        it->fetched = true;
        it->atime = now();
      }
      found = true;
    }
  }
  if (dead) release(dead);
  return found;
}

}  // namespace tcache
