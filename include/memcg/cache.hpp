// memcg/cache.hpp - slab object caches, charged per object or per group.
//
// A Cache is a root cache of fixed-size objects, in one of two modes
// (CacheOptions::isolate, docs/slab.md):
//  - shared (default): objects of every group share slabs; each object is
//    charged in bytes to the group that allocated it, through that group's
//    object cgroup, and uncharged when freed. Objects sitting in per-thread
//    magazines or free in slabs are charged to no group.
//  - isolated: the first allocation of a group creates that group's child
//    cache, which charges the group per slab (64 KiB) when it takes a slab
//    and uncharges when it releases one.
// Objects come from per-thread magazines (Bonwick); free() works from any
// thread and finds the cache from the object's slab.
//
// When a group is removed, its objects' charges move to the nearest online
// ancestor (shared: the object cgroup is re-pointed; isolated: non-empty
// child caches are reparented), so the removed group is freed while its
// objects live on; freeing them later uncharges the ancestor.
//
// Allocation charges the calling thread's current group (ScopedGroup), or
// the group given; a removed group's allocations go to its nearest online
// ancestor. Allocation over a limit returns nullptr (never throws).
//
// Concurrency: alloc/free from any thread, concurrently with everything;
// create/shrink/destroy/slabinfo from any thread; destroy() must not race
// with allocations from the same cache (the caller stops using it first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "memcg/charge_flags.hpp"
#include "memcg/group.hpp"

namespace memcg {
namespace detail {
struct RootCache;
struct Access;
}  // namespace detail

struct CacheOptions {
  std::size_t align = alignof(std::max_align_t);  ///< power of two, <= 4096
  bool reclaimable = false;  ///< counted as slab_reclaimable in memory.stat
  bool account = true;       ///< false: never charged to any group
  void (*ctor)(void*) = nullptr;  ///< runs once per object, when first carved from a slab
  /// true: tenant heap isolation. Each group gets its own child cache and
  /// objects of different groups never share a slab (a use-after-free in
  /// one group cannot reach another group's objects); the group is charged
  /// per slab (64 KiB units), and memory.kmem.slabinfo lists its caches.
  /// false (default): one shared cache; each object is charged in bytes
  /// (its stride plus 8 bytes of ownership record) to the group that
  /// allocated it, and removed groups' objects are charged to the parent.
  bool isolate = false;
};

class Cache {
 public:
  /// Largest object size a Cache accepts.
  static constexpr std::size_t kMaxObjectSize = 16 * 1024;

  Cache() noexcept = default;  ///< null handle

  /// EINVAL: size 0 or above kMaxObjectSize, align not a power of two or
  /// above 4096, name empty, longer than 64 bytes or with white space or
  /// control characters. ENOMEM if metadata cannot be allocated.
  static Cache create(std::string_view name, std::size_t size, CacheOptions options = {});
  static Cache create(std::string_view name, std::size_t size, CacheOptions options, std::error_code& ec) noexcept;
  static Cache create(std::string_view name, std::size_t size, std::error_code& ec) noexcept;

  void* alloc() noexcept;                  ///< charged to current_group(); nullptr on failure
  void* alloc(const Group& g) noexcept;    ///< charged to g (remote charge)
  /// The same with per-call charge flags (memcg/charge_flags.hpp).
  void* alloc(ChargeFlags flags) noexcept;
  void* alloc(const Group& g, ChargeFlags flags) noexcept;
  static void free(void* p) noexcept;      ///< any thread; nullptr is a no-op

  /// Flushes every thread's magazines and the depots, and returns empty slabs.
  void shrink() noexcept;
  /// Destroys the cache and all its child caches. EBUSY (and nothing
  /// destroyed; caches shrunk) while objects are live in any of them.
  void destroy();
  void destroy(std::error_code& ec) noexcept;

  /// The /proc/slabinfo lines of g's child caches of this cache (isolated
  /// caches; a shared cache has none per group).
  std::string slabinfo(const Group& g) const;

  explicit operator bool() const noexcept { return r_ != nullptr; }
  std::string_view name() const noexcept;
  std::size_t object_size() const noexcept;

 private:
  friend struct detail::Access;
  explicit Cache(detail::RootCache* r) noexcept : r_(r) {}
  detail::RootCache* r_ = nullptr;
};

/// A Cache of T: make() constructs, destroy() destructs and frees.
template <class T>
class TypedCache {
 public:
  TypedCache() = default;
  explicit TypedCache(std::string_view name, CacheOptions o = {}) {
    o.align = o.align < alignof(T) ? alignof(T) : o.align;
    c_ = Cache::create(name, sizeof(T), o);
  }
  template <class... A>
  T* make(A&&... args) {
    void* p = c_.alloc();
    if (!p) return nullptr;
    try {
      return new (p) T(std::forward<A>(args)...);
    } catch (...) {
      Cache::free(p);
      throw;
    }
  }
  template <class... A>
  T* make_in(const Group& g, A&&... args) {
    void* p = c_.alloc(g);
    if (!p) return nullptr;
    try {
      return new (p) T(std::forward<A>(args)...);
    } catch (...) {
      Cache::free(p);
      throw;
    }
  }
  static void destroy(T* p) noexcept {
    if (!p) return;
    p->~T();
    Cache::free(p);
  }
  Cache& cache() noexcept { return c_; }

 private:
  Cache c_;
};

/// memory.kmem.slabinfo of g: its child caches of every root cache (the
/// reparented ones it inherited included), in the /proc/slabinfo layout.
std::string slabinfo(const Group& g);

}  // namespace memcg
