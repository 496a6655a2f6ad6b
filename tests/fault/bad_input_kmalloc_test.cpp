// Bad inputs: kmalloc and the memory resource (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- kmalloc ------------------------------------------------------------------

TEST(BadInput, KmallocSizesAndAlignments) {
  test::TempGroup t("bi");
  void* z = kmalloc(0, *t);  // a minimal object
  ASSERT_NE(z, nullptr);
  EXPECT_GE(ksize(z), 1u);
  kfree(z);
  EXPECT_EQ(kmalloc(SIZE_MAX, *t), nullptr);
  EXPECT_EQ(kmalloc(SIZE_MAX / 2, *t), nullptr);
  EXPECT_EQ(kmalloc_aligned(64, 3, *t), nullptr);
  EXPECT_EQ(kmalloc_aligned(64, 0, *t), nullptr) ;
  EXPECT_EQ(kmalloc_aligned(64, 65536, *t), nullptr);
  EXPECT_EQ(kmalloc_aligned(SIZE_MAX, 64, *t), nullptr);
  kfree(nullptr);
  EXPECT_EQ(ksize(nullptr), 0u);
  Group l = t->create("l");
  l.set_max(4096);
  EXPECT_EQ(kmalloc(100000, l), nullptr);  // over max: nullptr, nothing charged
  EXPECT_EQ(l.current(), 0u);
  Allocator<std::uint64_t> a(l);
  EXPECT_THROW(a.allocate(SIZE_MAX / 4), std::bad_array_new_length);
  EXPECT_THROW(a.allocate(100000), std::bad_alloc);
  MemoryResource mr(l);
  EXPECT_THROW((void)mr.allocate(100000), std::bad_alloc);
  l.remove();
  quiesce_thread();
}

// kmalloc_size_roundup and kmalloc at and past the largest size.
TEST(BadInput, KmallocHugeSizes) {
  constexpr std::size_t kLargest = std::size_t{1} << 46;  // the large path's limit (64 TiB)
  for (std::size_t n : {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX - 64, SIZE_MAX / 2, kLargest + 1}) {
    EXPECT_EQ(kmalloc_size_roundup(n), 0u) << n;
  }
  EXPECT_EQ(kmalloc_size_roundup(0), 8u);  // as kmalloc(0): the smallest class
  EXPECT_EQ(kmalloc_size_roundup(kMaxSmallSize), kMaxSmallSize);
  const std::size_t just_large = kmalloc_size_roundup(kMaxSmallSize + 1);
  EXPECT_GE(just_large, kMaxSmallSize + 1);
  const std::size_t largest = kmalloc_size_roundup(kLargest);
  EXPECT_GE(largest, kLargest);
  EXPECT_LT(largest, kLargest + 4096);
  test::TempGroup t("bi");
  Group l = t->create("l");
  l.set_max(1 << 30);
  for (std::size_t n : {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX / 2, kLargest + 1, kLargest, std::size_t{1} << 40,
                        (std::size_t{1} << 30) + 1}) {
    EXPECT_EQ(kmalloc(n, l), nullptr) << n;
    EXPECT_EQ(kmalloc_aligned(n, 4096, l), nullptr) << n;
  }
  EXPECT_EQ(l.current(), 0u);  // nothing charged
  EXPECT_EQ(l.stat().kmalloc_large, 0u);
  void* p = kmalloc(kMaxSmallSize + 1, l);  // the smallest large size still works
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ksize(p), just_large);
  kfree(p);
  l.remove();
  quiesce_thread();
}

// MemoryResource::allocate with an alignment that is 0, not a power of
// two, or above kmalloc_aligned's 32 KiB: std::bad_alloc, nothing charged.
TEST(BadInput, MemoryResourceBadAlignment) {
  test::TempGroup t("bi");
  MemoryResource mr(*t);
  std::vector<std::size_t> bad = {0, 3, 12, 24, 48, 100, 65536, std::size_t{1} << 40, SIZE_MAX};
  for (std::size_t a : bad) {
    EXPECT_THROW((void)mr.allocate(64, a), std::bad_alloc) << a;
    EXPECT_THROW((void)mr.allocate(100000, a), std::bad_alloc) << a;
  }
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
  std::vector<std::size_t> good = {1, 2, 8, 16, 64, 4096, 32768};
  for (std::size_t a : good) {
    void* p = mr.allocate(64, a);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % a, 0u) << a;
    mr.deallocate(p, 64, a);
  }
  quiesce_thread();
}

}  // namespace
}  // namespace memcg
