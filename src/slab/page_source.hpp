// PageSource: slabs of kSlabSize bytes, aligned to kSlabSize, carved from
// large aligned mmap regions, so that object -> slab is an address mask and
// free needs no global map.
//
// Regions are kRegionSize, aligned to kRegionSize. Free slabs are reused
// most-recently-freed first (their pages are still resident); beyond
// kDirtySlabsMax free slabs the excess is purged with MADV_DONTNEED; a region
// whose slabs are all free is unmapped once more than kEmptyRegionsKept
// regions are empty (hysteresis against map/unmap ping-pong).
//
// An mmap failure is an allocation failure: take() returns nullptr.
// Concurrency: any thread; one mutex (rank kPageSource).
#pragma once

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

inline void* slab_base(const void* p) noexcept {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(kSlabSize - 1));
}

namespace page_source {

/// A kSlabSize-aligned span of kSlabSize bytes, or nullptr (ENOMEM).
void* take() noexcept;
/// Returns a span obtained from take().
void give(void* slab) noexcept;

struct Stats {
  std::uint64_t regions_mapped = 0;    // regions currently mapped
  std::uint64_t slabs_in_use = 0;
  std::uint64_t slabs_free = 0;        // free, resident or purged
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

/// True iff p lies in a slab region or a large span of this library. Any
/// pointer value is allowed (never faults); lock-free.
bool owns(const void* p) noexcept;
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
