// Bad inputs at every public entry point: each test is a row (or a few) of
// docs/bad-inputs.md. The rule: a clean error (error code, exception,
// nullptr, false) and no change; where the input is a broken pointer, checked
// builds (MEMCG_CHECKED) abort with a clear message.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <limits>
#include <memory_resource>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"

namespace memcg {
namespace {

using std::errc;

void quiesce_thread() {
  detail::flush_own_magazines();
  detail::drain_own_stock();
}

// ---- Group ------------------------------------------------------------------

TEST(BadInput, GroupCreateNames) {
  test::TempGroup t("bi");
  for (std::string bad : {std::string(), std::string("/"), std::string("."), std::string(".."), std::string("a/b"),
                          std::string("x\x01"), std::string("x\n"), std::string(256, 'n'), std::string("memory.x"),
                          std::string("cgroup.x")}) {
    std::error_code ec;
    Group g = t->create(bad, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << "name '" << bad << "'";
    EXPECT_FALSE(g);
  }
  EXPECT_EQ(t->nr_descendants(), 0u);
  EXPECT_THROW(t->create(""), std::system_error);
  Group a = t->create(std::string(255, 'n'));  // the longest valid name
  std::error_code ec;
  t->create(std::string(255, 'n'), ec);
  EXPECT_EQ(ec, errc::file_exists);
}

TEST(BadInput, GroupRemovedGroup) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.remove();
  std::error_code ec;
  g.remove(ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.create("c", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.set_max(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.set_high(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.set_low(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.set_min(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_THROW(g.set_max(1), std::system_error);
  EXPECT_EQ(g.max(), unlimited);
  // reclaim of a removed group: nothing to do, no crash
  g.reclaim(4096, ec);
  EXPECT_EQ(g.current(), 0u);
}

TEST(BadInput, GroupRemoveRootAndBusy) {
  std::error_code ec;
  Group::root().remove(ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  test::TempGroup t("bi");
  Group c = t->create("c");
  t.get().remove(ec);
  EXPECT_EQ(ec, errc::device_or_resource_busy);
  EXPECT_TRUE(t->online());
}

TEST(BadInput, GroupOpenPaths) {
  for (const char* bad : {"", "a", "//", "/a/", "a/b", "/./x", "/../x"}) {
    std::error_code ec;
    Group g = Group::open(bad, ec);
    EXPECT_TRUE(ec == errc::invalid_argument || ec == errc::no_such_file_or_directory) << bad << ": " << ec.message();
    EXPECT_FALSE(g);
  }
  std::error_code ec;
  Group::open("/no-such-group-xyz", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_THROW(Group::open("/no-such-group-xyz"), std::system_error);
}

TEST(BadInput, GroupLimitExtremes) {
  test::TempGroup t("bi");
  t.get().set_max(0);  // allowed: every charge fails
  std::error_code ec;
  auto r = Reservation::try_make(*t, 1, ec);
  EXPECT_EQ(ec, errc::not_enough_memory);
  t.get().set_max(unlimited);
  t.get().set_min(unlimited);
  t.get().set_low(unlimited);
  EXPECT_EQ(t->min(), unlimited);
  t.get().set_min(0);
  t.get().set_low(0);
}

TEST(BadInput, GroupReclaimHuge) {
  test::TempGroup t("bi");
  std::error_code ec;
  EXPECT_EQ(t->reclaim(UINT64_MAX, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_EQ(t->reclaim(0, ec), 0u);
}

// ---- Reservation --------------------------------------------------------------

TEST(BadInput, ReservationNullAndRemovedGroup) {
  std::error_code ec;
  auto r = Reservation::try_make(Group(), 10, ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  EXPECT_FALSE(r);
  EXPECT_THROW(Reservation::make(Group(), 10), std::system_error);
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.remove();
  r = Reservation::try_make(g, 10, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
}

TEST(BadInput, ReservationOverflow) {
  test::TempGroup t("bi");
  std::error_code ec;
  // Bigger than anything: ENOMEM (the root's usage would overflow), no change.
  auto r = Reservation::try_make(*t, UINT64_MAX, ec);
  EXPECT_EQ(ec, errc::not_enough_memory);
  EXPECT_EQ(t->current(), 0u);
  auto r2 = Reservation::make(*t, 4096);
  EXPECT_FALSE(r2.grow(UINT64_MAX));
  EXPECT_FALSE(r2.grow(UINT64_MAX - 4096));
  EXPECT_EQ(r2.size(), 4096u);
  r2.shrink(UINT64_MAX);  // more than it holds: everything
  EXPECT_EQ(r2.size(), 0u);
  r2.shrink(1);
  r2.reset();
  r2.reset();
  Reservation empty;
  EXPECT_FALSE(empty.grow(1));  // an empty (moved-from / default) reservation
  empty.shrink(1);
  empty.reset();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

TEST(BadInput, ReservationGrowAfterRemove) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  auto r = Reservation::make(g, 100);
  g.remove();
  EXPECT_FALSE(r.grow(1));
  EXPECT_EQ(r.size(), 100u);
  r.shrink(50);
  EXPECT_EQ(r.size(), 50u);
}

// ---- memcg::fs ------------------------------------------------------------------

TEST(BadInput, FsWriteValues) {
  test::TempGroup t("bi");
  const std::string f = t->path() + "/memory.max";
  fs::write(f, "1M");
  for (const char* bad : {"", " ", "-1", "+1", "1.5G", "0x10", "1KB", "MAX", "18446744073709551616", "17179869184G",
                          "99999999999999999999", "1 M", "k", "1\x01", "\xff\xfe", "max max"}) {
    std::error_code ec;
    fs::write(f, bad, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << "'" << bad << "'";
    EXPECT_EQ(fs::read(f), "1048576\n");
  }
  EXPECT_THROW(fs::write(f, "junk"), std::system_error);
  std::string huge(1 << 20, '9');
  std::error_code ec;
  fs::write(f, huge, ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  std::uint64_t v = 7;
  EXPECT_FALSE(fs::parse_bytes("1.0", v));
  EXPECT_EQ(v, 7u);
}

TEST(BadInput, FsPaths) {
  test::TempGroup t("bi");
  const std::string p = t->path();
  std::error_code ec;
  auto expect = [&](auto&& op, std::errc want, const std::string& what) {
    ec.clear();
    op();
    EXPECT_EQ(ec, want) << what << ": " << ec.message();
  };
  expect([&] { fs::read(p + "/memory.nope", ec); }, errc::no_such_file_or_directory, "read unknown file");
  expect([&] { fs::read(p + "/nochild/memory.max", ec); }, errc::no_such_file_or_directory, "read missing group");
  expect([&] { fs::read(p, ec); }, errc::is_a_directory, "read a group");
  expect([&] { fs::read("relative", ec); }, errc::invalid_argument, "relative path");
  expect([&] { fs::read(p + "//memory.max", ec); }, errc::invalid_argument, "double slash");
  expect([&] { fs::read(p + "/", ec); }, errc::invalid_argument, "trailing slash");
  expect([&] { fs::write(p + "/memory.current", "1", ec); }, errc::permission_denied, "write read-only");
  expect([&] { fs::write(p + "/memory.stat", "1", ec); }, errc::permission_denied, "write memory.stat");
  expect([&] { fs::write(p, "1", ec); }, errc::is_a_directory, "write a group");
  expect([&] { fs::list(p + "/memory.max", ec); }, errc::not_a_directory, "list a file");
  expect([&] { fs::rmdir(p + "/memory.max", ec); }, errc::not_a_directory, "rmdir a file");
  expect([&] { fs::rmdir("/", ec); }, errc::invalid_argument, "rmdir /");
  expect([&] { fs::mkdir("/", ec); }, errc::file_exists, "mkdir /");
  expect([&] { fs::mkdir(p, ec); }, errc::file_exists, "mkdir existing");
  expect([&] { fs::mkdir(p + "/memory.x", ec); }, errc::invalid_argument, "mkdir reserved name");
  expect([&] { fs::mkdir(p + "/a/b", ec); }, errc::no_such_file_or_directory, "mkdir under missing parent");
  expect([&] { fs::list("", ec); }, errc::invalid_argument, "empty path");
  EXPECT_THROW(fs::read(p + "/memory.nope"), std::system_error);
}

TEST(BadInput, FsRemovedGroup) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  const std::string p = g.path();
  g.remove();
  std::error_code ec;
  fs::read(p + "/memory.current", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::write(p + "/memory.max", "1M", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::rmdir(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::list(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  for (auto& e : fs::list(t->path())) EXPECT_NE(e, "g/");
}

// ---- Cache --------------------------------------------------------------------

TEST(BadInput, CacheCreate) {
  struct Case {
    std::string name;
    std::size_t size;
    std::size_t align;
  };
  for (const Case& c : std::vector<Case>{{"", 8, 8},
                                         {"x", 0, 8},
                                         {"x", Cache::kMaxObjectSize + 1, 8},
                                         {"x", SIZE_MAX, 8},
                                         {"x", 8, 0},
                                         {"x", 8, 3},
                                         {"x", 8, 8192},
                                         {std::string(65, 'n'), 8, 8},
                                         {"a b", 8, 8},
                                         {"a\x01", 8, 8}}) {
    std::error_code ec;
    CacheOptions o;
    o.align = c.align;
    Cache k = Cache::create(c.name, c.size, o, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << c.name << " " << c.size << " " << c.align;
    EXPECT_FALSE(k);
  }
  EXPECT_THROW(Cache::create("", 8), std::system_error);
}

TEST(BadInput, CacheAllocRemovedAndLimitedGroup) {
  test::TempGroup t("bi");
  Cache c = Cache::create("bi-cache", 64);
  Group g = t->create("g");
  g.remove();
  void* p = c.alloc(g);  // a removed group charges its nearest online ancestor
  ASSERT_NE(p, nullptr);
  Cache::free(p);
  Group l = t->create("l");
  l.set_max(0);
  EXPECT_EQ(c.alloc(l), nullptr);
  Cache::free(nullptr);  // no-op
  l.remove();
  quiesce_thread();
  c.shrink();
  c.destroy();
}

TEST(BadInput, CacheDestroyWithLiveObjects) {
  test::TempGroup t("bi");
  Cache c = Cache::create("bi-live", 64);
  void* p = c.alloc(*t);
  std::error_code ec;
  c.destroy(ec);
  EXPECT_EQ(ec, errc::device_or_resource_busy);
  Cache::free(p);
  quiesce_thread();
  c.destroy(ec);
  EXPECT_FALSE(ec);
}

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
  EXPECT_THROW(mr.allocate(100000), std::bad_alloc);
  l.remove();
  quiesce_thread();
}

// ---- ListLru / shrinkers -----------------------------------------------------------

struct Item {
  ListLruHook hook;
};

TEST(BadInput, ListLruDoubleAddDelAndRemovedGroup) {
  test::TempGroup t("bi");
  ListLru<Item, &Item::hook> lru;
  Item a;
  EXPECT_FALSE(lru.del(a));  // on no list
  EXPECT_TRUE(lru.add(a, *t));
  EXPECT_FALSE(lru.add(a, *t));  // already on a list
  EXPECT_TRUE(lru.del(a));
  EXPECT_FALSE(lru.del(a));
  Group g = t->create("g");
  g.remove();
  EXPECT_TRUE(lru.add(a, g));  // goes to the nearest online ancestor
  EXPECT_EQ(lru.count(*t), 1u);
  EXPECT_TRUE(lru.del(a));
}

struct NopShrinker : Shrinker {
  std::uint64_t count(const ShrinkControl&) override { return 0; }
  std::uint64_t scan(const ShrinkControl&) override { return kShrinkStop; }
};

TEST(BadInput, ShrinkerResetTwiceAndStop) {
  NopShrinker s;
  ShrinkerRegistration r = register_shrinker(s);
  EXPECT_TRUE(r);
  r.reset();
  r.reset();
  EXPECT_FALSE(r);
  ShrinkerRegistration empty;
  empty.reset();
}

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

TEST_F(BadPointerDeathTest, KfreeMisalignedPointers) {
  void* p = kmalloc(200);
  EXPECT_DEATH(kfree(static_cast<char*>(p) + 1), "object boundary");
  kfree(p);
  void* big = kmalloc(100000);
  EXPECT_DEATH(kfree(static_cast<char*>(big) + 16), "inside a large allocation");
  kfree(big);
}
#else
TEST(BadPointerDeathTest, NotCheckedBuild) { GTEST_SKIP() << "broken-pointer checks need MEMCG_CHECKED"; }
#endif

}  // namespace
}  // namespace memcg
