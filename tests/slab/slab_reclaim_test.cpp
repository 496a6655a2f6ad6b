// Reclaim of a group's isolated slab caches: every cache is visited, however many the
// group holds (one per root cache and kmalloc class it allocated from, and
// the caches it inherited from removed children).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "memcg/memcg.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

TEST(SlabReclaim, ReclaimReleasesTheEmptySlabsOfEveryCache) {
  constexpr int kCaches = 100;  // more than one batch of the shrink walk (32)
  test::TempGroup parent("slabrec");
  std::vector<Cache> caches;
  CacheOptions iso;  // per-group child caches: slabs charged to the group
  iso.isolate = true;
  for (int i = 0; i < kCaches; ++i) caches.push_back(Cache::create("slabrec-" + std::to_string(i), 256, iso));
  std::vector<void*> live;
  for (Cache& c : caches) {
    void* p = c.alloc(*parent);
    ASSERT_NE(p, nullptr);
    live.push_back(p);
  }
  for (void* p : live) Cache::free(p);
  detail::flush_own_magazines();
  detail::drain_own_stock();
  ASSERT_GT(parent->stat().slab(), 0u) << "empty slabs stay with their caches until shrunk";
  std::error_code ec;
  parent->reclaim(parent->current(), ec);
  EXPECT_EQ(parent->stat().slab(), 0u) << "caches beyond the first batch were not shrunk";
  EXPECT_EQ(parent->current(), 0u);
  for (Cache& c : caches) c.destroy();
}

}  // namespace
}  // namespace memcg
