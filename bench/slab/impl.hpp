// The allocators slab_bench measures (Impl) and one op of each: an
// allocation or free through a Ctx filled before the timed loop.
#pragma once

#include <cstddef>
#include <cstdlib>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "slab/naive_pool.hpp"
#include "slab/peers.hpp"

namespace slab_bench {

// kAllImpls lists every Impl in enum order: tables index it by
// static_cast<int>(Impl).
enum class Impl { kCache, kCacheExplicit, kCacheIsolated, kKmalloc, kMimalloc, kTcmalloc, kJemalloc, kGlibc, kNaive };
constexpr Impl kAllImpls[] = {Impl::kCache,    Impl::kCacheExplicit, Impl::kCacheIsolated,
                              Impl::kKmalloc,  Impl::kMimalloc,      Impl::kTcmalloc,
                              Impl::kJemalloc, Impl::kGlibc,         Impl::kNaive};
constexpr int kNumImpls = static_cast<int>(sizeof kAllImpls / sizeof kAllImpls[0]);
static_assert(static_cast<int>(Impl::kNaive) == kNumImpls - 1, "kAllImpls lists every Impl in enum order");

inline const char* impl_name(Impl i) {
  switch (i) {
    case Impl::kCache: return "cache";
    case Impl::kCacheExplicit: return "cache_g";
    case Impl::kCacheIsolated: return "cache_iso";
    case Impl::kKmalloc: return "kmalloc";
    case Impl::kMimalloc: return "mimalloc";
    case Impl::kTcmalloc: return "tcmalloc";
    case Impl::kJemalloc: return "jemalloc";
    case Impl::kGlibc: return "glibc";
    case Impl::kNaive: return "naive";
  }
  return "?";
}

inline bool impl_available(Impl i) {
  switch (i) {
    case Impl::kMimalloc: return g_peers.mi_malloc != nullptr;
    case Impl::kTcmalloc: return g_peers.tc_malloc != nullptr;
    case Impl::kJemalloc: return g_peers.je_mallocx != nullptr;
    default: return true;
  }
}

// Everything an op needs, copied into locals before the timed loop.
struct Ctx {
  memcg::Cache cache;
  memcg::Group group;
  std::size_t size = 0;
  NaivePool* naive = nullptr;
  MallocFn m = nullptr;
  FreeFn f = nullptr;
  MallocxFn mx = nullptr;
  DallocxFn dx = nullptr;
};

inline Ctx make_ctx(Impl impl, memcg::Cache cache, NaivePool* naive, std::size_t size, const memcg::Group& g) {
  Ctx c;
  c.cache = cache;
  c.group = g;
  c.size = size;
  c.naive = naive;
  if (impl == Impl::kMimalloc) c.m = g_peers.mi_malloc, c.f = g_peers.mi_free;
  if (impl == Impl::kTcmalloc) c.m = g_peers.tc_malloc, c.f = g_peers.tc_free;
  if (impl == Impl::kJemalloc) c.mx = g_peers.je_mallocx, c.dx = g_peers.je_dallocx;
  return c;
}

template <Impl I>
inline void* do_alloc(Ctx& c) {
  if constexpr (I == Impl::kCache || I == Impl::kCacheIsolated) return c.cache.alloc();
  else if constexpr (I == Impl::kCacheExplicit) return c.cache.alloc(c.group);
  else if constexpr (I == Impl::kKmalloc) return memcg::kmalloc(c.size);
  else if constexpr (I == Impl::kMimalloc || I == Impl::kTcmalloc) return c.m(c.size);
  else if constexpr (I == Impl::kJemalloc) return c.mx(c.size, 0);
  else if constexpr (I == Impl::kGlibc) return std::malloc(c.size);
  else return c.naive->alloc();
}

template <Impl I>
inline void do_free(Ctx& c, void* p) {
  if constexpr (I == Impl::kCache || I == Impl::kCacheExplicit || I == Impl::kCacheIsolated) memcg::Cache::free(p);
  else if constexpr (I == Impl::kKmalloc) memcg::kfree(p);
  else if constexpr (I == Impl::kMimalloc || I == Impl::kTcmalloc) c.f(p);
  else if constexpr (I == Impl::kJemalloc) c.dx(p, 0);
  else if constexpr (I == Impl::kGlibc) std::free(p);
  else c.naive->free(p);
}

// The ScopedGroup forms run inside the thread's group; the others need none
// (cache_g names the group; the peers are not accounted).
constexpr bool uses_scope(Impl i) { return i == Impl::kCache || i == Impl::kCacheIsolated || i == Impl::kKmalloc; }

// The Cache an op of impl uses: the isolated one (CacheOptions::isolate, a
// child cache per group) for cache_iso, the shared one otherwise (unused by
// the non-Cache impls).
inline memcg::Cache cache_for(Impl impl, const memcg::Cache& shared, const memcg::Cache& isolated) {
  return impl == Impl::kCacheIsolated ? isolated : shared;
}

}  // namespace slab_bench
