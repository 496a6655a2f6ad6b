// PageSource: runs of one or more kSlabSize units, aligned to kSlabSize,
// carved from large aligned mmap regions, so that object -> slab is an
// address mask and one byte of the region header, and free needs no global
// map. A run is a slab, or one medium kmalloc block of 1-8 units (its
// header in the place of a slab's, told apart by its kind word); "slab"
// below means either.
//
// A slab of n units is n contiguous units of one region. The region header
// (at the region's start, in unit 0, never handed out) begins with a kind
// word (kRegionKind: a large allocation's span begins with its own kind) and
// a byte per unit: how many units back its slab starts (0 for a slab's
// first unit). slab_head() is therefore exact for every address inside a
// slab, whatever unit it falls in.
//
// Regions come in two kinds, told apart by one address bit (kMultiUnitBit,
// chosen when the region is mapped): slabs of more than one unit live only
// in multi-unit regions, so in a single-unit region an object's slab is its
// address masked to kSlabSize, with no load (the free path's dependency
// chain is one load shorter). Single-unit slabs may live in either kind.
//
// Regions are kRegionSize, aligned to kRegionSize. Free slabs are reused
// most-recently-freed first (their pages are still resident); beyond
// a budget of resident free units (half the most units in use within about
// a second, from kDirtySlabsMax to 1 GiB) the oldest are purged with
// MADV_DONTNEED past their first page, on frees; a region
// whose slabs are all free is unmapped once more than kEmptyRegionsKept
// regions are empty (hysteresis against map/unmap ping-pong).
//
// An mmap failure is an allocation failure: take() returns nullptr.
// Concurrency: any thread; one mutex (rank kPageSource).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memcg::detail {

inline constexpr std::size_t kSlabShift = 16;
inline constexpr std::size_t kSlabSize = std::size_t{1} << kSlabShift;  // 64 KiB
inline constexpr std::size_t kRegionShift = 22;
inline constexpr std::size_t kRegionSize = std::size_t{1} << kRegionShift;  // 4 MiB
inline constexpr std::size_t kSlabsPerRegion = kRegionSize / kSlabSize;
inline constexpr std::size_t kDirtySlabsMax = 64;
inline constexpr std::size_t kEmptyRegionsKept = 1;

inline constexpr std::uint32_t kRegionKind = 0x7e610e5e;
inline constexpr std::uint32_t kMaxSlabUnits = 16;  // a slab is at most 1 MiB

inline void* slab_base(const void* p) noexcept {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(kSlabSize - 1));
}
inline void* region_base(const void* p) noexcept {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(kRegionSize - 1));
}

// The first bytes of every region (page_source.cpp's Region starts with it).
struct RegionHead {
  std::uint32_t kind = kRegionKind;
  std::uint8_t head_delta[kSlabsPerRegion] = {};  // units back to the slab's first (page source mutex)
};

/// The address bit that marks a multi-unit region (regions are
/// kRegionSize-aligned, so it is the lowest bit of the region number).
inline constexpr std::uintptr_t kMultiUnitBit = kRegionSize;
inline bool in_multi_unit_region(const void* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & kMultiUnitBit) != 0;
}

/// The first unit of the slab holding p (p inside a slab handed out by
/// take()). Lock-free: a unit's delta is written before its slab is handed
/// out and stays until the slab is given back.
inline void* slab_head(const void* p) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  if (__builtin_expect(!(a & kMultiUnitBit), 1)) return reinterpret_cast<void*>(a & ~(kSlabSize - 1));
  const auto* r = static_cast<const RegionHead*>(region_base(p));
  const std::uintptr_t delta = r->head_delta[(a >> kSlabShift) & (kSlabsPerRegion - 1)];
  return reinterpret_cast<void*>((a & ~(kSlabSize - 1)) - (delta << kSlabShift));
}

/// slab_head(p), with p's byte offset from it in *off (in a single-unit
/// region, the low bits of p: no subtraction).
inline void* slab_head(const void* p, std::uintptr_t* off) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  if (__builtin_expect(!(a & kMultiUnitBit), 1)) {
    *off = a & (kSlabSize - 1);
    return reinterpret_cast<void*>(a & ~(kSlabSize - 1));
  }
  void* h = slab_head(p);
  *off = a - reinterpret_cast<std::uintptr_t>(h);
  return h;
}

/// The kind word of the span holding p: kRegionKind (a slab object) or a
/// large allocation's kind. p must be inside memory this library mapped.
inline std::uint32_t span_kind(const void* p) noexcept { return *static_cast<const std::uint32_t*>(region_base(p)); }

namespace page_source {

/// `units` (1..kMaxSlabUnits) contiguous kSlabSize units, kSlabSize-aligned,
/// or nullptr (ENOMEM). *dirty (if given): whether a unit of them may hold
/// nonzero bytes past its first page (a unit freed and not purged since);
/// otherwise only each unit's first page may (the free list's links, or
/// what a purge kept).
void* take(std::uint32_t units = 1, bool* dirty = nullptr) noexcept;
/// Returns a span obtained from take(units).
void give(void* slab, std::uint32_t units = 1) noexcept;

struct Stats {
  std::uint64_t regions_mapped = 0;    // regions currently mapped
  std::uint64_t slabs_in_use = 0;      // units
  std::uint64_t slabs_free = 0;        // units free, resident or purged
  std::uint64_t slabs_dirty = 0;       // of them, resident (not purged since freed)
  std::uint64_t regions_unmapped = 0;  // total returned to the OS
  std::uint64_t map_failures = 0;
};
Stats stats() noexcept;

// ---- ownership map (the interposer's "is this pointer ours?") ----
// Every byte the library maps for allocations lives in whole kRegionSize
// granules that are marked in a lazily-touched MAP_NORESERVE byte map indexed
// by address >> kRegionShift: slab regions (one granule each) and large spans
// (map_span: kRegionSize-aligned, length rounded up to whole granules). No
// foreign mapping can share a marked granule, so owns() is exact. A granule
// is marked before its memory is handed out and unmarked before munmap.

inline constexpr unsigned kAddrBits = 47;  // user addresses we accept (x86-64/arm64 default VA)
/// The map: a byte per granule, nonzero when marked (mapped lazily, on the
/// first mark; null before).
extern std::atomic<std::atomic<std::uint8_t>*> g_owner_map;

/// True iff p lies in a slab region or a large span of this library. Any
/// pointer value is allowed (never faults); lock-free. Inline: the
/// interposer's free asks it of every pointer.
inline bool owns(const void* p) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  if (a >> kAddrBits) return false;
  auto* m = g_owner_map.load(std::memory_order_acquire);
  return m && m[a >> kRegionShift].load(std::memory_order_relaxed) != 0;
}
/// A kRegionSize-aligned anonymous mapping of at least `len` bytes (whole
/// granules), registered in the ownership map; nullptr on failure.
void* map_span(std::size_t len) noexcept;
/// Unregisters and unmaps a span from map_span(len) (same len).
void unmap_span(void* span, std::size_t len) noexcept;

#if defined(MEMCG_FAULT_INJECTION)
/// Test hook (fault injection builds only; platform/fault.hpp kind
/// kPageSourceMap): when set, called before each region mmap; returning
/// true makes that mmap fail.
void testing_set_fail_hook(bool (*hook)()) noexcept;
#endif

}  // namespace page_source
}  // namespace memcg::detail
