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
    slabs.push_back(s);
  }
  EXPECT_EQ(std::set<void*>(slabs.begin(), slabs.end()).size(), slabs.size());
  EXPECT_EQ(slab_base(static_cast<char*>(slabs[0]) + 1234), slabs[0]);
  void* last = slabs.back();
  page_source::give(last);
  EXPECT_EQ(page_source::take(), last);  // most recently freed first
  for (void* s : slabs) page_source::give(s);
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
