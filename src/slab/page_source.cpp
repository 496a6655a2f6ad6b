#include "slab/page_source.hpp"

#include <sys/mman.h>

#include <atomic>

#include "platform/assert.hpp"
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
  Region* regions = nullptr;      // mapped regions
  FreeSlab* free_head = nullptr;  // MRU first
  FreeSlab* free_tail = nullptr;
  std::uint64_t nfree = 0, ndirty = 0, in_use = 0, nregions = 0, unmapped = 0, failures = 0;
  std::uint64_t empty_regions = 0;
  std::atomic<bool (*)()> fail_hook{nullptr};
};

Source& src() {
  static Source* s = new Source;  // leaked: outlives static destructors
  return *s;
}

Region* region_of(void* slab) {
  return reinterpret_cast<Region*>(reinterpret_cast<std::uintptr_t>(slab) & ~(kRegionSize - 1));
}

void free_list_remove(Source& s, FreeSlab* f) {
  if (f->prev) f->prev->next = f->next; else s.free_head = f->next;
  if (f->next) f->next->prev = f->prev; else s.free_tail = f->prev;
  --s.nfree;
  if (f->dirty) --s.ndirty;
  --region_of(f)->nfree;
}

Region* map_region(Source& s) {
  bool (*hook)() = s.fail_hook.load(std::memory_order_acquire);
  if (hook && hook()) {
    ++s.failures;
    return nullptr;
  }
  // Over-map by one region and trim, to get kRegionSize alignment.
  const std::size_t len = 2 * kRegionSize;
  void* raw = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    ++s.failures;
    return nullptr;
  }
  auto base = reinterpret_cast<std::uintptr_t>(raw);
  auto aligned = (base + kRegionSize - 1) & ~(kRegionSize - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  const auto tail = base + len - (aligned + kRegionSize);
  if (tail) ::munmap(reinterpret_cast<void*>(aligned + kRegionSize), tail);
  auto* r = new (reinterpret_cast<void*>(aligned)) Region;
  r->next = s.regions;
  if (s.regions) s.regions->prev = r;
  s.regions = r;
  ++s.nregions;
  ++s.empty_regions;
  return r;
}

void unmap_region(Source& s, Region* r) {
  if (r->prev) r->prev->next = r->next; else s.regions = r->next;
  if (r->next) r->next->prev = r->prev;
  --s.nregions;
  --s.empty_regions;
  ++s.unmapped;
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

Stats stats() noexcept {
  Source& s = src();
  LockGuard<RankedMutex> l(s.mutex);
  return Stats{s.nregions, s.in_use, s.nfree, s.unmapped, s.failures};
}

void testing_set_fail_hook(bool (*hook)()) noexcept { src().fail_hook.store(hook, std::memory_order_release); }

}  // namespace memcg::detail::page_source
