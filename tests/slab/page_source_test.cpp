#include "slab/page_source.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace memcg::detail {
namespace {

TEST(PageSource, SlabsAreAlignedDistinctAndReused) {
  std::vector<void*> slabs;
  for (int i = 0; i < 200; ++i) {
    void* s = page_source::take();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s) % kSlabSize, 0u);
    static_cast<char*>(s)[kSlabSize - 1] = 1;  // writable to the end
    EXPECT_EQ(slab_head(static_cast<char*>(s) + kSlabSize - 1), s);
    slabs.push_back(s);
  }
  EXPECT_EQ(std::set<void*>(slabs.begin(), slabs.end()).size(), slabs.size());
  EXPECT_EQ(slab_base(static_cast<char*>(slabs[0]) + 1234), slabs[0]);
  void* last = slabs.back();
  page_source::give(last);
  EXPECT_EQ(page_source::take(), last);  // most recently freed first
  for (void* s : slabs) page_source::give(s);
}

// Multi-unit slabs: every address inside a run resolves to its first unit
// (slab_head reads the region's unit table), runs never overlap each
// other or single units, and a given-back run's units are reused.
TEST(PageSource, MultiUnitRunsResolveEveryAddressToTheirHead) {
  struct Run {
    char* base;
    std::uint32_t units;
  };
  std::vector<Run> runs;
  std::set<std::uintptr_t> units_seen;
  for (int i = 0; i < 60; ++i) {
    const std::uint32_t n = 1 + static_cast<std::uint32_t>(i * 7 % kMaxSlabUnits);
    auto* p = static_cast<char*>(page_source::take(n));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % kSlabSize, 0u);
    EXPECT_EQ(region_base(p), region_base(p + n * kSlabSize - 1)) << "a run stays inside one region";
    EXPECT_EQ(span_kind(p), kRegionKind);
    if (n > 1) {
      EXPECT_TRUE(in_multi_unit_region(p)) << "a run of " << n << " units outside a multi-unit region";
    }
    for (std::uint32_t u = 0; u < n; ++u) {
      EXPECT_TRUE(units_seen.insert(reinterpret_cast<std::uintptr_t>(p) + u * kSlabSize).second) << "overlap";
      for (std::size_t off : {std::size_t{0}, std::size_t{1}, kSlabSize / 2, kSlabSize - 1})
        ASSERT_EQ(slab_head(p + u * kSlabSize + off), p) << "run of " << n << ", unit " << u;
    }
    p[n * kSlabSize - 1] = 1;  // writable to the end
    runs.push_back(Run{p, n});
  }
  // Give back every other run; runs taken again fit in the holes or the rest.
  for (std::size_t i = 0; i < runs.size(); i += 2) {
    page_source::give(runs[i].base, runs[i].units);
    for (std::uint32_t u = 0; u < runs[i].units; ++u) units_seen.erase(reinterpret_cast<std::uintptr_t>(runs[i].base) + u * kSlabSize);
  }
  std::vector<Run> again;
  for (std::size_t i = 0; i < runs.size(); i += 2) {
    auto* p = static_cast<char*>(page_source::take(runs[i].units));
    ASSERT_NE(p, nullptr);
    for (std::uint32_t u = 0; u < runs[i].units; ++u) {
      EXPECT_TRUE(units_seen.insert(reinterpret_cast<std::uintptr_t>(p) + u * kSlabSize).second) << "overlap";
      ASSERT_EQ(slab_head(p + u * kSlabSize + 100), p);
    }
    again.push_back(Run{p, runs[i].units});
  }
  for (std::size_t i = 1; i < runs.size(); i += 2) page_source::give(runs[i].base, runs[i].units);
  for (const Run& r : again) page_source::give(r.base, r.units);
}

TEST(PageSource, EmptyRegionsGoBackToTheOsWithHysteresis) {
  const auto before = page_source::stats();
  std::vector<void*> slabs;
  for (std::size_t i = 0; i < 3 * kSlabsPerRegion; ++i) slabs.push_back(page_source::take());
  const auto mid = page_source::stats();
  EXPECT_GE(mid.regions_mapped, before.regions_mapped + 3);
  for (void* s : slabs) page_source::give(s);
  const auto after = page_source::stats();
  EXPECT_GT(after.regions_unmapped, before.regions_unmapped);
  EXPECT_LE(after.regions_mapped, mid.regions_mapped - 2);
}

#if defined(MEMCG_FAULT_INJECTION)  // the hook exists in fault-injection builds only
TEST(PageSource, MapFailureIsAnAllocationFailure) {
  // Use every slab already mapped, then make the next region's mmap fail.
  std::vector<void*> slabs;
  page_source::testing_set_fail_hook([] { return true; });
  for (;;) {
    void* s = page_source::take();
    if (!s) break;
    slabs.push_back(s);
    ASSERT_LT(slabs.size(), 100000u);
  }
  EXPECT_GT(page_source::stats().map_failures, 0u);
  page_source::testing_set_fail_hook(nullptr);
  void* s = page_source::take();
  EXPECT_NE(s, nullptr);
  slabs.push_back(s);
  for (void* x : slabs) page_source::give(x);
}
#endif

}  // namespace
}  // namespace memcg::detail
