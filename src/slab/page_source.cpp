#include "slab/page_source.hpp"

#include <sys/mman.h>

#include <atomic>

#include "platform/assert.hpp"
#include "platform/fork.hpp"
#include "platform/fault.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail::page_source {
namespace {

// Region header: kept in the first slab slot of the region, which is never
// handed out (one page of it is touched).
struct Region {
  Region* next = nullptr;  // list of mapped regions
  Region* prev = nullptr;
  std::uint32_t used = 0;   // slabs handed out
  std::uint32_t nfree = 0;  // slabs on the free list
  std::uint32_t bumped = 1; // slabs carved so far (slot 0 is this header)
};

struct FreeSlab {  // lives in a free slab's first bytes
  FreeSlab* next;
  FreeSlab* prev;
  bool dirty;  // pages possibly resident
};

struct Source {
  RankedMutex mutex{LockRank::kPageSource};
  fork::HeldAcrossFork<RankedMutex> fork{mutex};
  Region* regions MEMCG_GUARDED_BY(mutex) = nullptr;      // mapped regions
  FreeSlab* free_head MEMCG_GUARDED_BY(mutex) = nullptr;  // MRU first
  FreeSlab* free_tail MEMCG_GUARDED_BY(mutex) = nullptr;
  std::uint64_t nfree MEMCG_GUARDED_BY(mutex) = 0, ndirty MEMCG_GUARDED_BY(mutex) = 0,
                in_use MEMCG_GUARDED_BY(mutex) = 0, nregions MEMCG_GUARDED_BY(mutex) = 0,
                unmapped MEMCG_GUARDED_BY(mutex) = 0, failures MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t empty_regions MEMCG_GUARDED_BY(mutex) = 0;
};

Source& src() {
  static Source* s = new Source;  // leaked: outlives static destructors
  return *s;
}

Region* region_of(void* slab) {
  return reinterpret_cast<Region*>(reinterpret_cast<std::uintptr_t>(slab) & ~(kRegionSize - 1));
}


// ---- ownership map ----
constexpr unsigned kAddrBits = 47;  // user addresses we accept (x86-64/arm64 default VA)
constexpr std::size_t kMapEntries = std::size_t{1} << (kAddrBits - kRegionShift);
std::atomic<std::atomic<std::uint8_t>*> g_owner_map{nullptr};

std::atomic<std::uint8_t>* owner_map() noexcept {
  auto* m = g_owner_map.load(std::memory_order_acquire);
  if (m) return m;
  void* raw = ::mmap(nullptr, kMapEntries, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* fresh = static_cast<std::atomic<std::uint8_t>*>(raw);
  if (!g_owner_map.compare_exchange_strong(m, fresh, std::memory_order_acq_rel)) {
    ::munmap(raw, kMapEntries);
    return m;
  }
  return fresh;
}

// Marks (v != 0) or clears the granules of [p, p + len); false if the range
// cannot be represented (address beyond kAddrBits, or no map).
bool mark_granules(void* p, std::size_t len, std::uint8_t v) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  if ((a + len - 1) >> kAddrBits) return false;
  auto* m = owner_map();
  if (!m) return false;
  for (std::uintptr_t g = a >> kRegionShift; g <= (a + len - 1) >> kRegionShift; ++g)
    m[g].store(v, std::memory_order_release);
  return true;
}

// A kRegionSize-aligned mapping of `len` (a multiple of kRegionSize) bytes.
void* map_aligned(std::size_t len) noexcept {
  void* raw = ::mmap(nullptr, len + kRegionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto base = reinterpret_cast<std::uintptr_t>(raw);
  auto aligned = (base + kRegionSize - 1) & ~(kRegionSize - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  const auto tail = base + len + kRegionSize - (aligned + len);
  if (tail) ::munmap(reinterpret_cast<void*>(aligned + len), tail);
  return reinterpret_cast<void*>(aligned);
}

void free_list_remove(Source& s, FreeSlab* f) MEMCG_REQUIRES(s.mutex) {
  MEMCG_ASSERT_HELD(s.mutex);
  if (f->prev) f->prev->next = f->next; else s.free_head = f->next;
  if (f->next) f->next->prev = f->prev; else s.free_tail = f->prev;
  --s.nfree;
  if (f->dirty) --s.ndirty;
  --region_of(f)->nfree;
}

Region* map_region(Source& s) MEMCG_REQUIRES(s.mutex) {
  MEMCG_ASSERT_HELD(s.mutex);
  if (MEMCG_FAULT_FAIL(fault::Kind::kPageSourceMap)) {
    ++s.failures;
    return nullptr;
  }
  void* raw = map_aligned(kRegionSize);
  if (raw && !mark_granules(raw, kRegionSize, 1)) {
    ::munmap(raw, kRegionSize);
    raw = nullptr;
  }
  if (!raw) {
    ++s.failures;
    return nullptr;
  }
  auto aligned = reinterpret_cast<std::uintptr_t>(raw);
  auto* r = new (reinterpret_cast<void*>(aligned)) Region;
  r->next = s.regions;
  if (s.regions) s.regions->prev = r;
  s.regions = r;
  ++s.nregions;
  ++s.empty_regions;
  return r;
}

void unmap_region(Source& s, Region* r) MEMCG_REQUIRES(s.mutex) {
  MEMCG_ASSERT_HELD(s.mutex);
  if (r->prev) r->prev->next = r->next; else s.regions = r->next;
  if (r->next) r->next->prev = r->prev;
  --s.nregions;
  --s.empty_regions;
  ++s.unmapped;
  mark_granules(r, kRegionSize, 0);
  ::munmap(r, kRegionSize);
}

}  // namespace

void* take() noexcept {
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  void* slab = nullptr;
  Region* r = nullptr;
  if (FreeSlab* f = s.free_head) {
    free_list_remove(s, f);
    slab = f;
    r = region_of(slab);
  } else {
    for (Region* x = s.regions; x; x = x->next)
      if (x->bumped < kSlabsPerRegion) {
        r = x;
        break;
      }
    if (!r && !(r = map_region(s))) return nullptr;
    slab = reinterpret_cast<char*>(r) + std::size_t{r->bumped++} * kSlabSize;
  }
  if (r->used++ == 0) --s.empty_regions;  // a region with no slab in use is empty
  ++s.in_use;
  return slab;
}

void give(void* slab) noexcept {
  MEMCG_ASSERT(slab_base(slab) == slab);
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  Region* r = region_of(slab);
  auto* f = static_cast<FreeSlab*>(slab);
  f->dirty = true;
  f->prev = nullptr;
  f->next = s.free_head;
  if (s.free_head) s.free_head->prev = f; else s.free_tail = f;
  s.free_head = f;
  ++s.nfree;
  ++s.ndirty;
  ++r->nfree;
  --s.in_use;
  if (--r->used == 0) {
    ++s.empty_regions;
    if (s.empty_regions > kEmptyRegionsKept) {
      // Drop this region's free slabs from the list, then the region itself.
      for (FreeSlab* x = s.free_head; x;) {
        FreeSlab* next = x->next;
        if (region_of(x) == r) free_list_remove(s, x);
        x = next;
      }
      unmap_region(s, r);
      return;
    }
  }
  // Purge the least recently freed slabs beyond the dirty budget. Their
  // first page keeps the FreeSlab links, so only the rest is dropped.
  while (s.ndirty > kDirtySlabsMax) {
    FreeSlab* victim = s.free_tail;
    while (victim && !victim->dirty) victim = victim->prev;
    if (!victim) break;
    ::madvise(reinterpret_cast<char*>(victim) + 4096, kSlabSize - 4096, MADV_DONTNEED);
    victim->dirty = false;
    --s.ndirty;
  }
}

bool owns(const void* p) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  if (a >> kAddrBits) return false;
  auto* m = g_owner_map.load(std::memory_order_acquire);
  return m && m[a >> kRegionShift].load(std::memory_order_relaxed) != 0;
}

void* map_span(std::size_t len) noexcept {
  if (len == 0 || len > (std::size_t{1} << 46)) return nullptr;
  const std::size_t span = (len + kRegionSize - 1) & ~(kRegionSize - 1);
  void* p = map_aligned(span);
  if (p && !mark_granules(p, span, 2)) {
    ::munmap(p, span);
    return nullptr;
  }
  return p;
}

void unmap_span(void* span, std::size_t len) noexcept {
  const std::size_t n = (len + kRegionSize - 1) & ~(kRegionSize - 1);
  mark_granules(span, n, 0);
  ::munmap(span, n);
}

Stats stats() noexcept {
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  return Stats{s.nregions, s.in_use, s.nfree, s.unmapped, s.failures};
}

#if defined(MEMCG_FAULT_INJECTION)
void testing_set_fail_hook(bool (*hook)()) noexcept { fault::set_fail_hook(fault::Kind::kPageSourceMap, hook); }
#endif


}  // namespace memcg::detail::page_source
