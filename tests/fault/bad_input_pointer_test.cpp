// Bad inputs: broken pointers (checked builds abort with a message) (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"
#include "slab/large_cache.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- broken pointers: checked builds abort with a message ----------------------------

#if defined(MEMCG_CHECKED)
class BadPointerDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(BadPointerDeathTest, CacheFreeMisalignedPointer) {
  Cache c = Cache::create("bi-mis", 64);
  void* p = c.alloc(Group::root());
  EXPECT_DEATH(Cache::free(static_cast<char*>(p) + 8), "not at an object boundary");
  Cache::free(p);
}

TEST_F(BadPointerDeathTest, CacheFreeDoubleFree) {
  Cache c = Cache::create("bi-dbl", 64);
  void* p = c.alloc(Group::root());
  void* q = c.alloc(Group::root());
  Cache::free(p);
  EXPECT_DEATH(Cache::free(p), "double free");
  Cache::free(q);
}

TEST_F(BadPointerDeathTest, KfreeDoubleFree) {
  void* p = kmalloc(100);
  kfree(p);
  EXPECT_DEATH(kfree(p), "double free");
}

TEST_F(BadPointerDeathTest, KfreeForeignPointer) {
  // A mapping of our own that looks like nothing of memcg's.
  void* m = ::mmap(nullptr, 1 << 17, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  char* inside = static_cast<char*>(m) + (1 << 16) + 128;  // some 64 KiB span inside it
  EXPECT_DEATH(kfree(inside), "did not return");
  EXPECT_DEATH(Cache::free(inside), "foreign pointer");
  EXPECT_DEATH(ksize(inside), "did not return");
  ::munmap(m, 1 << 17);
  // A span that is not mapped at all.
  void* gone = ::mmap(nullptr, 1 << 17, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ::munmap(gone, 1 << 17);
  char* unmapped = static_cast<char*>(gone) + (1 << 16);
  EXPECT_DEATH(kfree(unmapped), "span not mapped");
  EXPECT_DEATH(Cache::free(unmapped), "span not mapped");
}

TEST_F(BadPointerDeathTest, KfreeMediumDoubleFree) {
  // A freed medium block's units go back to the page source, whose links
  // overwrite the run's kind word: a second kfree (or a ksize) finds no
  // header. `keep` keeps their region mapped.
  void* keep = kmalloc(20000);
  void* medium = kmalloc(20000);
  ASSERT_TRUE(keep && medium);
  kfree(medium);
  EXPECT_DEATH(kfree(medium), "freed medium block \\(double free\\)");
  EXPECT_DEATH(ksize(medium), "ksize of a pointer kmalloc did not return, or of a freed medium block");
  kfree(keep);
}

TEST_F(BadPointerDeathTest, KfreeLargeDoubleFree) {
  // A freed large block's span waits in the large-block cache, marked
  // freed: a second kfree (or a ksize) is a double free. Once the span is
  // unmapped, the pointer is foreign.
  void* big = kmalloc(3u << 20);
  ASSERT_NE(big, nullptr);
  kfree(big);
  EXPECT_DEATH(kfree(big), "freed large block \\(double free\\)");
  EXPECT_DEATH(ksize(big), "ksize of a freed large block");
  detail::large_cache::release_all();
  EXPECT_DEATH(kfree(big), "span not mapped");
  EXPECT_DEATH(ksize(big), "span not mapped");
}

TEST_F(BadPointerDeathTest, KfreeMisalignedPointers) {
  void* p = kmalloc(200);
  EXPECT_DEATH(kfree(static_cast<char*>(p) + 1), "object boundary");
  kfree(p);
  void* medium = kmalloc(20000);
  EXPECT_DEATH(kfree(static_cast<char*>(medium) + 16), "inside a medium allocation");
  kfree(medium);
  void* big = kmalloc(3u << 20);
  EXPECT_DEATH(kfree(static_cast<char*>(big) + 16), "inside a large allocation");
  kfree(big);
}
#else
TEST(BadPointerDeathTest, NotCheckedBuild) { GTEST_SKIP() << "broken-pointer checks need MEMCG_CHECKED"; }
#endif

}  // namespace
}  // namespace memcg
