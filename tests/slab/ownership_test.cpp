// page_source::owns: the interposer's ownership test (docs/interpose.md).
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "memcg/kmalloc.hpp"
#include "slab/large_cache.hpp"
#include "slab/page_source.hpp"

namespace memcg::detail {
namespace {

TEST(Ownership, KmallocPointersAreOwnedEverywhereInside) {
  Group g = Group::root().create("own_a");
  for (std::size_t n : {1u, 16u, 100u, 4096u, 8192u, 8193u, 100000u, 5u << 20}) {
    auto* p = static_cast<char*>(kmalloc(n, g));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(page_source::owns(p)) << n;
    EXPECT_TRUE(page_source::owns(p + n - 1)) << n;
    kfree(p);
  }
  g.remove();
}

// A freed span stays marked while the large cache keeps it, and is
// unmarked when it is unmapped.
TEST(Ownership, LargeSpansAreGranuleAlignedAndUnmarkedWhenUnmapped) {
  Group g = Group::root().create("own_b");
  auto* p = static_cast<char*>(kmalloc(3u << 20, g));
  ASSERT_NE(p, nullptr);
  const auto base = reinterpret_cast<std::uintptr_t>(p) & ~(kRegionSize - 1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) - base, 64u);  // the interposer relies on it
  EXPECT_TRUE(page_source::owns(reinterpret_cast<void*>(base + kRegionSize - 1)));  // whole granule
  kfree(p);
  EXPECT_TRUE(page_source::owns(p)) << "cached";
  large_cache::release_all();
  EXPECT_FALSE(page_source::owns(p));
  g.remove();
}

TEST(Ownership, ForeignPointersAreNotOwned) {
  int local = 0;
  EXPECT_FALSE(page_source::owns(&local));
  EXPECT_FALSE(page_source::owns(nullptr));
  EXPECT_FALSE(page_source::owns(reinterpret_cast<void*>(~std::uintptr_t{0})));
  EXPECT_FALSE(page_source::owns(reinterpret_cast<void*>(std::uintptr_t{1} << 50)));
  std::vector<void*> blocks;
  for (std::size_t n : {16u, 1000u, 200000u, 2u << 20}) blocks.push_back(std::malloc(n));
  for (void* b : blocks) EXPECT_FALSE(page_source::owns(b));
  for (void* b : blocks) std::free(b);
  // Mappings made while ours exist never land in a marked granule.
  Group g = Group::root().create("own_c");
  std::vector<void*> ours;
  std::vector<void*> maps;
  for (int i = 0; i < 20; ++i) {
    ours.push_back(kmalloc(20000 + i * 4096, g));
    void* m = ::mmap(nullptr, 4096 * (1 + i), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    maps.push_back(m);
  }
  for (std::size_t i = 0; i < maps.size(); ++i) {
    EXPECT_FALSE(page_source::owns(maps[i]));
    EXPECT_TRUE(page_source::owns(ours[i]));
    ::munmap(maps[i], 4096 * (1 + i));
    kfree(ours[i]);
  }
  g.remove();
}

TEST(Ownership, MapSpanRoundsToGranules) {
  void* s = page_source::map_span(5000);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s) % kRegionSize, 0u);
  EXPECT_TRUE(page_source::owns(static_cast<char*>(s) + kRegionSize - 1));
  page_source::unmap_span(s, 5000);
  EXPECT_FALSE(page_source::owns(s));
  EXPECT_EQ(page_source::map_span(0), nullptr);
}

}  // namespace
}  // namespace memcg::detail
