#include "slab/page_source.hpp"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <new>

#include "platform/assert.hpp"
#include "platform/coarse_clock.hpp"
#include "platform/fork.hpp"
#include "platform/os_map.hpp"
#include "platform/fault.hpp"
#include "platform/ranked_mutex.hpp"

namespace memcg::detail::page_source {

constinit std::atomic<std::atomic<std::uint8_t>*> g_owner_map{nullptr};

namespace {

// Region header: kept in the first unit of the region, which is never
// handed out (one page of it is touched). Units below `bumped` are either
// in a slab handed out or on the free list (bit set in free_mask); units
// from `bumped` on were never carved.
struct Region : RegionHead {
  Region* next = nullptr;  // list of mapped regions
  Region* prev = nullptr;
  std::uint32_t used = 0;   // units handed out
  std::uint32_t nfree = 0;  // units on the free list
  std::uint32_t bumped = 1; // units carved so far (unit 0 is this header)
  std::uint64_t free_mask = 0;  // units on the free list
};
static_assert(offsetof(Region, kind) == 0, "kfree reads the kind word at the region's start");

// Lives in a free unit's first bytes. Bytes 16-23 are where a slab header
// keeps its cache (slab.hpp): they hold kNotACache, never a ChildCache's
// address nor 0, so that a kfree of a freed medium block (whose header is
// read as a slab's, kmalloc.cpp MEDIUM FREE) never matches a magazine
// entry, empty or not, and reaches the kind check.
inline constexpr std::uintptr_t kNotACache = 1;
struct FreeSlab {
  FreeSlab* next;
  FreeSlab* prev;
  std::uintptr_t not_a_cache = kNotACache;
  bool dirty;  // pages possibly resident
};

struct Source {
  RankedMutex mutex{LockRank::kPageSource};
  fork::HeldAcrossFork<RankedMutex> fork{mutex};
  Region* regions MEMCG_GUARDED_BY(mutex) = nullptr;      // mapped regions
  FreeSlab* free_head MEMCG_GUARDED_BY(mutex) = nullptr;  // MRU first
  FreeSlab* free_tail MEMCG_GUARDED_BY(mutex) = nullptr;
  // The head-most unit of the list's tail of clean units (every unit from it
  // to free_tail is clean), or nullptr: the purge starts before it instead
  // of walking the units it purged before.
  FreeSlab* clean_from MEMCG_GUARDED_BY(mutex) = nullptr;
  std::uint64_t nfree MEMCG_GUARDED_BY(mutex) = 0, ndirty MEMCG_GUARDED_BY(mutex) = 0,
                in_use MEMCG_GUARDED_BY(mutex) = 0, nregions MEMCG_GUARDED_BY(mutex) = 0,
                unmapped MEMCG_GUARDED_BY(mutex) = 0, failures MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t empty_regions MEMCG_GUARDED_BY(mutex) = 0;
  // The most units in use since peak_since_ms (a window of kPeakWindowMs):
  // the dirty budget is half of it.
  std::uint64_t peak_in_use MEMCG_GUARDED_BY(mutex) = 0;
  std::uint64_t peak_since_ms MEMCG_GUARDED_BY(mutex) = 0;
};

constexpr std::uint64_t kPeakWindowMs = 1000;
constexpr std::uint64_t kDirtyUnitsMax = std::uint64_t{1} << 14;  // 1 GiB, as the large-block cache's dirty_max
constexpr std::uint32_t kPurgesPerGive = 64;

Source& src() {
  static Source* s = new Source;  // leaked: outlives static destructors
  return *s;
}

Region* region_of(void* slab) {
  return reinterpret_cast<Region*>(reinterpret_cast<std::uintptr_t>(slab) & ~(kRegionSize - 1));
}

std::uint32_t unit_of(const void* p) {
  return static_cast<std::uint32_t>((reinterpret_cast<std::uintptr_t>(p) >> kSlabShift) & (kSlabsPerRegion - 1));
}

void* unit_addr(Region* r, std::uint32_t u) { return reinterpret_cast<char*>(r) + std::size_t{u} * kSlabSize; }


// ---- ownership map ----
constexpr std::size_t kMapEntries = std::size_t{1} << (kAddrBits - kRegionShift);

std::atomic<std::uint8_t>* owner_map() noexcept {
  auto* m = g_owner_map.load(std::memory_order_acquire);
  if (m) return m;
  void* raw = os_mmap(nullptr, kMapEntries, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* fresh = static_cast<std::atomic<std::uint8_t>*>(raw);
  if (!g_owner_map.compare_exchange_strong(m, fresh, std::memory_order_acq_rel)) {
    os_munmap(raw, kMapEntries);
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
// multi >= 0: its kMultiUnitBit is `multi` (one extra granule of address
// space is mapped so that both parities are available, then trimmed).
void* map_aligned(std::size_t len, int multi = -1) noexcept {
  const std::size_t slack = multi < 0 ? kRegionSize : 2 * kRegionSize;
  void* raw = os_mmap(nullptr, len + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto base = reinterpret_cast<std::uintptr_t>(raw);
  auto aligned = (base + kRegionSize - 1) & ~(kRegionSize - 1);
  if (multi >= 0 && ((aligned & kMultiUnitBit) != 0) != (multi != 0)) aligned += kRegionSize;
  if (aligned > base) os_munmap(raw, aligned - base);
  const auto tail = base + len + slack - (aligned + len);
  if (tail) os_munmap(reinterpret_cast<void*>(aligned + len), tail);
  return reinterpret_cast<void*>(aligned);
}

void free_list_remove(Source& s, FreeSlab* f) MEMCG_REQUIRES(s.mutex) {
  MEMCG_ASSERT_HELD(s.mutex);
  if (f == s.clean_from) s.clean_from = f->next;  // the rest of the clean tail
  if (f->prev) f->prev->next = f->next; else s.free_head = f->next;
  if (f->next) f->next->prev = f->prev; else s.free_tail = f->prev;
  --s.nfree;
  if (f->dirty) --s.ndirty;
  Region* r = region_of(f);
  --r->nfree;
  r->free_mask &= ~(std::uint64_t{1} << unit_of(f));
}

// Puts one free unit on the free list, most recently used first.
void free_list_push(Source& s, void* unit, bool dirty) MEMCG_REQUIRES(s.mutex) {
  auto* f = new (unit) FreeSlab;
  f->dirty = dirty;
  f->prev = nullptr;
  f->next = s.free_head;
  if (s.free_head) s.free_head->prev = f; else s.free_tail = f;
  s.free_head = f;
  ++s.nfree;
  if (dirty) ++s.ndirty;
  Region* r = region_of(unit);
  ++r->nfree;
  r->free_mask |= std::uint64_t{1} << unit_of(unit);
}

Region* map_region(Source& s, bool multi) MEMCG_REQUIRES(s.mutex) {
  MEMCG_ASSERT_HELD(s.mutex);
  if (MEMCG_FAULT_FAIL(fault::Kind::kPageSourceMap)) {
    ++s.failures;
    return nullptr;
  }
  void* raw = map_aligned(kRegionSize, multi ? 1 : 0);
  if (raw && !mark_granules(raw, kRegionSize, 1)) {
    os_munmap(raw, kRegionSize);
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
  os_munmap(r, kRegionSize);
}

}  // namespace

namespace {

// A run of `units` units in r: free ones or never carved ones. Returns the
// first unit, or 0 (unit 0 is the header).
std::uint32_t find_run(const Region* r, std::uint32_t units) {
  const std::uint64_t uncarved = r->bumped >= kSlabsPerRegion ? 0 : ~std::uint64_t{0} << r->bumped;
  const std::uint64_t avail = (r->free_mask | uncarved) & ~std::uint64_t{1};
  std::uint64_t m = avail;
  for (std::uint32_t i = 1; i < units && m; ++i) m &= avail >> i;  // bit k: units k..k+units-1 available
  m &= units < kSlabsPerRegion ? ~std::uint64_t{0} >> (units - 1) : 0;  // runs that end inside the region
  return m ? static_cast<std::uint32_t>(std::countr_zero(m)) : 0;
}

// Hands out units [u, u + units) of r (available per find_run); *dirty:
// whether one of them was a dirty free unit.
void* carve_run(Source& s, Region* r, std::uint32_t u, std::uint32_t units, bool* dirty) MEMCG_REQUIRES(s.mutex) {
  // Never-carved units skipped by the run become free units.
  for (std::uint32_t k = r->bumped; k < u; ++k) free_list_push(s, unit_addr(r, k), false);
  bool any_dirty = false;
  for (std::uint32_t k = u; k < u + units; ++k) {
    if (k < r->bumped) {
      auto* f = static_cast<FreeSlab*>(unit_addr(r, k));
      any_dirty |= f->dirty;
      free_list_remove(s, f);
    }
    r->head_delta[k] = static_cast<std::uint8_t>(k - u);
  }
  if (dirty) *dirty = any_dirty;
  if (u + units > r->bumped) r->bumped = u + units;
  if (r->used == 0) --s.empty_regions;  // a region with no unit in use is empty
  r->used += units;
  s.in_use += units;
  if (s.in_use > s.peak_in_use) s.peak_in_use = s.in_use;
  return unit_addr(r, u);
}

}  // namespace

void* take(std::uint32_t units, bool* dirty) noexcept {
  MEMCG_ASSERT(units >= 1 && units <= kMaxSlabUnits);
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  // A run of several units only in a multi-unit region; a single unit
  // preferably in a single-unit region (where slab_head() needs no load),
  // in a multi-unit one rather than mapping more.
  const bool multi = units > 1;
  if (!multi && s.free_head && !in_multi_unit_region(s.free_head))  // the most recently freed unit
    return carve_run(s, region_of(s.free_head), unit_of(s.free_head), 1, dirty);
  for (Region* r = s.regions; r; r = r->next)
    if (in_multi_unit_region(r) == multi)
      if (std::uint32_t u = find_run(r, units)) return carve_run(s, r, u, units, dirty);
  if (!multi && s.free_head) return carve_run(s, region_of(s.free_head), unit_of(s.free_head), 1, dirty);
  Region* r = map_region(s, multi);
  if (!r) return nullptr;
  return carve_run(s, r, 1, units, dirty);
}

void give(void* slab, std::uint32_t units) noexcept {
  MEMCG_ASSERT(slab_base(slab) == slab && units >= 1 && units <= kMaxSlabUnits);
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  Region* r = region_of(slab);
  const std::uint32_t u = unit_of(slab);
  // Last unit first: the slab's first unit ends up most recently used.
  for (std::uint32_t k = u + units; k-- > u;) {
    r->head_delta[k] = 0;
    free_list_push(s, unit_addr(r, k), true);
  }
  s.in_use -= units;
  r->used -= units;
  if (r->used == 0) {
    ++s.empty_regions;
    if (s.empty_regions > kEmptyRegionsKept) {
      // Drop this region's free units from the list, then the region itself.
      for (FreeSlab* x = s.free_head; x;) {
        FreeSlab* next = x->next;
        if (region_of(x) == r) free_list_remove(s, x);
        x = next;
      }
      unmap_region(s, r);
      return;
    }
  }
  // Purge the least recently freed slabs beyond the dirty budget: half the
  // most units in use within the last window (about a second), within
  // [kDirtySlabsMax, kDirtyUnitsMax]. A program that frees its medium
  // blocks and allocates them again (a phase, a request) reuses resident
  // units, as the large-block cache's decay lets it; once the window
  // restarts the budget follows its use down, purged by this and later
  // gives (at most kPurgesPerGive units each, so that no call holds the
  // mutex for a burst of madvise calls). Purges run only here: a process
  // that stops freeing keeps at most its budget resident. A unit's first
  // page keeps the FreeSlab links, so only the rest is dropped.
  const std::uint64_t now = coarse_ms();
  if (now - s.peak_since_ms >= kPeakWindowMs) {
    s.peak_in_use = s.in_use;
    s.peak_since_ms = now;
  }
  std::uint64_t budget = s.peak_in_use / 2;
  if (budget < kDirtySlabsMax) budget = kDirtySlabsMax;
  if (budget > kDirtyUnitsMax) budget = kDirtyUnitsMax;
  FreeSlab* victim = s.clean_from ? s.clean_from->prev : s.free_tail;
  for (std::uint32_t n = 0; s.ndirty > budget && n < kPurgesPerGive && victim; ++n) {
    while (victim && !victim->dirty) victim = victim->prev;  // clean ones join the clean tail
    if (!victim) break;
    // A purge that fails (locked memory) leaves the unit dirty: take()
    // reports it, and kzalloc clears it whole.
    if (::madvise(reinterpret_cast<char*>(victim) + 4096, kSlabSize - 4096, MADV_DONTNEED) != 0) break;
    victim->dirty = false;
    --s.ndirty;
    s.clean_from = victim;
    victim = victim->prev;
  }
}

void* map_span(std::size_t len) noexcept {
  if (len == 0 || len > (std::size_t{1} << 46)) return nullptr;
  const std::size_t span = (len + kRegionSize - 1) & ~(kRegionSize - 1);
  void* p = map_aligned(span);
  if (p && !mark_granules(p, span, 2)) {
    os_munmap(p, span);
    return nullptr;
  }
  return p;
}

void unmap_span(void* span, std::size_t len) noexcept {
  const std::size_t n = (len + kRegionSize - 1) & ~(kRegionSize - 1);
  mark_granules(span, n, 0);
  os_munmap(span, n);
}

Stats stats() noexcept {
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  return Stats{s.nregions, s.in_use, s.nfree, s.ndirty, s.unmapped, s.failures};
}

#if defined(MEMCG_FAULT_INJECTION)
void testing_set_fail_hook(bool (*hook)()) noexcept { fault::set_fail_hook(fault::Kind::kPageSourceMap, hook); }
#endif


}  // namespace memcg::detail::page_source
