// The C API (memcg/memcg.h) called from C++: every function, its success
// path and its error cases, checked against the C++ API where the two must
// agree (limits, counters, lifecycle).
#include "memcg/memcg.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "memcg/memcg.hpp"
#include "testing_stats.hpp"

namespace {

constexpr std::uint64_t kMiB = 1u << 20;

// A handle that is released at the end of the scope (tests only).
struct Handle {
  memcg_group* g = nullptr;
  Handle() = default;
  explicit Handle(memcg_group* p) : g(p) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { memcg_group_release(g); }
  memcg_group** out() { return &g; }
};

struct Res {
  memcg_reservation* r = nullptr;
  Res() = default;
  Res(const Res&) = delete;
  Res& operator=(const Res&) = delete;
  ~Res() { memcg_reservation_destroy(r); }
  memcg_reservation** out() { return &r; }
};

// A fresh child of the root named after the running test, removed at the end
// when the test did not remove it itself.
class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(memcg_group_root(root_.out()), 0);
    name_ = std::string("capi_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(memcg_group_create(root_.g, name_.c_str(), g_.out()), 0);
    path_ = "/" + name_;
  }
  void TearDown() override {
    if (g_.g && memcg_group_is_online(g_.g) == 1) {
      EXPECT_EQ(memcg_group_remove(g_.g), 0);
    }
  }

  std::string read(const std::string& path) {
    char buf[512];
    size_t len = 0;
    const int r = memcg_fs_read(path.c_str(), buf, sizeof buf, &len);
    EXPECT_EQ(r, 0) << path;
    return r == 0 ? std::string(buf, len) : std::string();
  }

  Handle root_;
  Handle g_;
  std::string name_;
  std::string path_;
};

// ---- groups ---------------------------------------------------------------

TEST_F(CApiTest, RootIsOnlineAtSlashAndCannotBeRemoved) {
  char buf[8];
  size_t len = 99;
  EXPECT_EQ(memcg_group_path(root_.g, buf, sizeof buf, &len), 0);
  EXPECT_STREQ(buf, "/");
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(memcg_group_is_online(root_.g), 1);
  EXPECT_EQ(memcg_group_remove(root_.g), -EINVAL);
  EXPECT_EQ(memcg_group_is_online(root_.g), 1);
  EXPECT_EQ(memcg_group_root(nullptr), -EINVAL);
}

TEST_F(CApiTest, CreateMakesAnOnlineChildWithItsPath) {
  Handle c;
  ASSERT_EQ(memcg_group_create(g_.g, "child", c.out()), 0);
  ASSERT_NE(c.g, nullptr);
  char buf[256];
  ASSERT_EQ(memcg_group_path(c.g, buf, sizeof buf, nullptr), 0);
  EXPECT_EQ(std::string(buf), path_ + "/child");
  EXPECT_EQ(memcg_group_is_online(c.g), 1);
  // The C++ API sees the same group.
  memcg::Group cxx = memcg::Group::open(path_ + "/child");
  EXPECT_TRUE(cxx.online());
  EXPECT_EQ(memcg_group_remove(c.g), 0);
  EXPECT_FALSE(cxx.online());
}

TEST_F(CApiTest, CreateRejectsBadNamesWithEinvalAndSetsOutToNull) {
  const std::string long_name(MEMCG_NAME_MAX + 1, 'x');
  const char* bad[] = {"", ".", "..", "a/b", "/", "memory.x", "cgroup.y", "tab\there", "\x01", long_name.c_str()};
  for (const char* name : bad) {
    memcg_group* out = reinterpret_cast<memcg_group*>(0x1);  // must be overwritten
    EXPECT_EQ(memcg_group_create(g_.g, name, &out), -EINVAL) << '"' << name << '"';
    EXPECT_EQ(out, nullptr) << '"' << name << '"';
  }
  // The longest allowed name is fine.
  Handle ok;
  EXPECT_EQ(memcg_group_create(g_.g, std::string(MEMCG_NAME_MAX, 'y').c_str(), ok.out()), 0);
  EXPECT_EQ(memcg_group_remove(ok.g), 0);
}

TEST_F(CApiTest, CreateReportsEexistEnoentAndNullArguments) {
  Handle a, b;
  ASSERT_EQ(memcg_group_create(g_.g, "a", a.out()), 0);
  EXPECT_EQ(memcg_group_create(g_.g, "a", b.out()), -EEXIST);
  EXPECT_EQ(b.g, nullptr);
  EXPECT_EQ(memcg_group_remove(a.g), 0);
  // A removed group has no new children; its name is free again.
  EXPECT_EQ(memcg_group_create(a.g, "x", b.out()), -ENOENT);
  EXPECT_EQ(b.g, nullptr);
  Handle again;
  EXPECT_EQ(memcg_group_create(g_.g, "a", again.out()), 0);
  EXPECT_EQ(memcg_group_remove(again.g), 0);

  EXPECT_EQ(memcg_group_create(nullptr, "n", b.out()), -EINVAL);
  EXPECT_EQ(memcg_group_create(g_.g, nullptr, b.out()), -EINVAL);
  EXPECT_EQ(memcg_group_create(g_.g, "n", nullptr), -EINVAL);
  EXPECT_EQ(b.g, nullptr);
}

TEST_F(CApiTest, OpenFindsOnlineGroupsOnly) {
  Handle h;
  ASSERT_EQ(memcg_group_open(path_.c_str(), h.out()), 0);
  char buf[256];
  ASSERT_EQ(memcg_group_path(h.g, buf, sizeof buf, nullptr), 0);
  EXPECT_EQ(std::string(buf), path_);
  Handle r;
  ASSERT_EQ(memcg_group_open("/", r.out()), 0);
  EXPECT_EQ(memcg_group_remove(r.g), -EINVAL);  // the root

  Handle none;
  EXPECT_EQ(memcg_group_open((path_ + "/absent").c_str(), none.out()), -ENOENT);
  EXPECT_EQ(none.g, nullptr);
  EXPECT_EQ(memcg_group_open("relative", none.out()), -EINVAL);
  EXPECT_EQ(memcg_group_open(nullptr, none.out()), -EINVAL);
  EXPECT_EQ(memcg_group_open("/", nullptr), -EINVAL);

  ASSERT_EQ(memcg_group_remove(g_.g), 0);
  EXPECT_EQ(memcg_group_open(path_.c_str(), none.out()), -ENOENT);
  EXPECT_EQ(none.g, nullptr);
}

TEST_F(CApiTest, RemoveReportsEbusyEnoentAndEinval) {
  Handle c;
  ASSERT_EQ(memcg_group_create(g_.g, "c", c.out()), 0);
  EXPECT_EQ(memcg_group_remove(g_.g), -EBUSY);
  EXPECT_EQ(memcg_group_is_online(g_.g), 1);
  EXPECT_EQ(memcg_group_remove(c.g), 0);
  EXPECT_EQ(memcg_group_remove(c.g), -ENOENT);
  EXPECT_EQ(memcg_group_is_online(c.g), 0);
  EXPECT_EQ(memcg_group_remove(g_.g), 0);  // a dying child does not block it
  EXPECT_EQ(memcg_group_remove(nullptr), -EINVAL);
  EXPECT_EQ(memcg_group_is_online(nullptr), -EINVAL);
}

TEST_F(CApiTest, DupIsAnIndependentReference) {
  memcg_group* d = nullptr;
  ASSERT_EQ(memcg_group_dup(g_.g, &d), 0);
  ASSERT_NE(d, nullptr);
  ASSERT_NE(d, g_.g);
  ASSERT_EQ(memcg_group_remove(g_.g), 0);
  memcg_group_release(g_.g);  // the first handle goes; the dup still works
  g_.g = nullptr;
  EXPECT_EQ(memcg_group_is_online(d), 0);
  char buf[256];
  EXPECT_EQ(memcg_group_path(d, buf, sizeof buf, nullptr), 0);
  EXPECT_EQ(std::string(buf), path_);
  memcg_group_release(d);
  memcg_group_release(nullptr);  // no-op

  memcg_group* out = reinterpret_cast<memcg_group*>(0x1);
  EXPECT_EQ(memcg_group_dup(nullptr, &out), -EINVAL);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(memcg_group_dup(root_.g, nullptr), -EINVAL);
}

TEST_F(CApiTest, ReleasingTheLastHandleFreesARemovedGroup) {
  memcg::barrier();
  const std::uint64_t before = memcg::detail::runtime_stats().groups_allocated;
  memcg_group* c = nullptr;
  ASSERT_EQ(memcg_group_create(g_.g, "gone", &c), 0);
  EXPECT_EQ(memcg::detail::runtime_stats().groups_allocated, before + 1);
  ASSERT_EQ(memcg_group_remove(c), 0);
  memcg_group_release(c);
  memcg_barrier();
  EXPECT_EQ(memcg::detail::runtime_stats().groups_allocated, before);
}

// ---- the text convention (memcg_group_path and memcg_fs_read share it) ----

TEST_F(CApiTest, PathReportsItsLengthAndErangeLeavesTheBufferAlone) {
  const size_t n = path_.size();
  std::vector<char> buf(n + 1, '#');
  size_t len = 0;
  // Too small by one (no room for the NUL): -ERANGE, length reported, untouched.
  EXPECT_EQ(memcg_group_path(g_.g, buf.data(), n, &len), -ERANGE);
  EXPECT_EQ(len, n);
  EXPECT_EQ(std::string(buf.data(), n), std::string(n, '#'));
  // A length query.
  len = 0;
  EXPECT_EQ(memcg_group_path(g_.g, nullptr, 0, &len), -ERANGE);
  EXPECT_EQ(len, n);
  // Exactly enough.
  EXPECT_EQ(memcg_group_path(g_.g, buf.data(), n + 1, &len), 0);
  EXPECT_EQ(std::string(buf.data()), path_);
  // NULL buffer with a size, NULL handle.
  EXPECT_EQ(memcg_group_path(g_.g, nullptr, 8, &len), -EINVAL);
  EXPECT_EQ(memcg_group_path(nullptr, buf.data(), buf.size(), &len), -EINVAL);
}

// ---- limits and counters ----------------------------------------------------

TEST_F(CApiTest, LimitsDefaultSetAndReadBackEverySelector) {
  std::uint64_t v = 0;
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MAX, &v), 0);
  EXPECT_EQ(v, MEMCG_UNLIMITED);
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_HIGH, &v), 0);
  EXPECT_EQ(v, MEMCG_UNLIMITED);
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_LOW, &v), 0);
  EXPECT_EQ(v, 0u);
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MIN, &v), 0);
  EXPECT_EQ(v, 0u);

  const int all[] = {MEMCG_LIMIT_MIN, MEMCG_LIMIT_LOW, MEMCG_LIMIT_HIGH, MEMCG_LIMIT_MAX};
  std::uint64_t bytes = 8 * kMiB;
  for (int which : all) {
    ASSERT_EQ(memcg_group_set_limit(g_.g, which, bytes), 0) << which;
    ASSERT_EQ(memcg_group_get_limit(g_.g, which, &v), 0);
    EXPECT_EQ(v, bytes) << which;
    bytes += kMiB;
  }
  memcg::Group cxx = memcg::Group::open(path_);
  EXPECT_EQ(cxx.min(), 8 * kMiB);
  EXPECT_EQ(cxx.low(), 9 * kMiB);
  EXPECT_EQ(cxx.high(), 10 * kMiB);
  EXPECT_EQ(cxx.max(), 11 * kMiB);
  EXPECT_EQ(read(path_ + "/memory.max"), std::to_string(11 * kMiB) + "\n");

  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, MEMCG_UNLIMITED), 0);
  EXPECT_EQ(read(path_ + "/memory.max"), "max\n");
}

TEST_F(CApiTest, LimitsRejectBadSelectorsNullsAndRemovedGroups) {
  std::uint64_t v = 7;
  for (int bad : {-1, 4, 1000, INT32_MIN}) {
    EXPECT_EQ(memcg_group_set_limit(g_.g, bad, kMiB), -EINVAL) << bad;
    EXPECT_EQ(memcg_group_get_limit(g_.g, bad, &v), -EINVAL) << bad;
    EXPECT_EQ(v, 7u);
  }
  EXPECT_EQ(memcg_group_set_limit(nullptr, MEMCG_LIMIT_MAX, kMiB), -EINVAL);
  EXPECT_EQ(memcg_group_get_limit(nullptr, MEMCG_LIMIT_MAX, &v), -EINVAL);
  EXPECT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MAX, nullptr), -EINVAL);

  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, 4 * kMiB), 0);
  ASSERT_EQ(memcg_group_remove(g_.g), 0);
  EXPECT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, kMiB), -ENOENT);
  EXPECT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_LOW, kMiB), -ENOENT);
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MAX, &v), 0);  // readable after removal
  EXPECT_EQ(v, 4 * kMiB);
}

TEST_F(CApiTest, CurrentPeakAndResetPeakFollowAReservation) {
  std::uint64_t cur = 1, peak = 1;
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, 0u);
  {
    Res r;
    ASSERT_EQ(memcg_reservation_create(g_.g, 3 * kMiB, r.out()), 0);
    ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
    EXPECT_EQ(cur, 3 * kMiB);
    EXPECT_EQ(read(path_ + "/memory.current"), std::to_string(3 * kMiB) + "\n");
  }
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, 0u);
  ASSERT_EQ(memcg_group_peak(g_.g, &peak), 0);
  EXPECT_EQ(peak, 3 * kMiB);
  ASSERT_EQ(memcg_group_reset_peak(g_.g), 0);
  ASSERT_EQ(memcg_group_peak(g_.g, &peak), 0);
  EXPECT_EQ(peak, 0u);

  EXPECT_EQ(memcg_group_current(nullptr, &cur), -EINVAL);
  EXPECT_EQ(memcg_group_current(g_.g, nullptr), -EINVAL);
  EXPECT_EQ(memcg_group_peak(nullptr, &peak), -EINVAL);
  EXPECT_EQ(memcg_group_peak(g_.g, nullptr), -EINVAL);
  EXPECT_EQ(memcg_group_reset_peak(nullptr), -EINVAL);
}

TEST_F(CApiTest, EventsHierarchicalAndLocal) {
  Handle c;
  ASSERT_EQ(memcg_group_create(g_.g, "c", c.out()), 0);
  ASSERT_EQ(memcg_group_set_limit(c.g, MEMCG_LIMIT_MAX, kMiB), 0);
  Res r;
  EXPECT_EQ(memcg_reservation_create(c.g, 2 * kMiB, r.out()), -ENOMEM);
  EXPECT_EQ(r.r, nullptr);

  memcg_events child{}, child_local{}, parent{}, parent_local{};
  ASSERT_EQ(memcg_group_events(c.g, 0, &child), 0);
  ASSERT_EQ(memcg_group_events(c.g, 1, &child_local), 0);
  ASSERT_EQ(memcg_group_events(g_.g, 0, &parent), 0);
  ASSERT_EQ(memcg_group_events(g_.g, 1, &parent_local), 0);
  EXPECT_GE(child.max, 1u);
  EXPECT_EQ(child_local.max, child.max);
  EXPECT_EQ(parent.max, child.max);  // hierarchical: the child's events count here
  EXPECT_EQ(parent_local.max, 0u);   // local: only the group's own
  const memcg::Events cxx = memcg::Group::open(path_ + "/c").events();
  EXPECT_EQ(child.low, cxx.low);
  EXPECT_EQ(child.high, cxx.high);
  EXPECT_EQ(child.max, cxx.max);
  EXPECT_EQ(child.oom, cxx.oom);
  EXPECT_EQ(child.oom_kill, cxx.oom_kill);

  EXPECT_EQ(memcg_group_events(nullptr, 0, &child), -EINVAL);
  EXPECT_EQ(memcg_group_events(c.g, 0, nullptr), -EINVAL);
  EXPECT_EQ(memcg_group_remove(c.g), 0);
}

// ---- kmalloc ----------------------------------------------------------------

TEST_F(CApiTest, KmallocChargesTheGroupAndReportsSizes) {
  void* p = memcg_kmalloc(100, g_.g);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
  EXPECT_EQ(memcg_ksize(p), memcg_kmalloc_size_roundup(100));
  EXPECT_GE(memcg_ksize(p), 100u);
  std::memset(p, 0xab, 100);
  std::uint64_t cur = 0;
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_GT(cur, 0u);  // a slab or a stock batch
  memcg_kfree(p);

  void* big = memcg_kmalloc(2 * kMiB, g_.g);  // the large path: charged whole
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(memcg_ksize(big), memcg_kmalloc_size_roundup(2 * kMiB));
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_GE(cur, 2 * kMiB);
  memcg_kfree(big);

  void* cur_group = memcg_kmalloc(64, nullptr);  // the thread's current group (root)
  ASSERT_NE(cur_group, nullptr);
  memcg_kfree(cur_group);

  memcg_kfree(nullptr);
  EXPECT_EQ(memcg_ksize(nullptr), 0u);
  EXPECT_EQ(memcg_kmalloc_size_roundup(0), memcg_kmalloc_size_roundup(1));
  EXPECT_EQ(memcg_kmalloc_size_roundup(SIZE_MAX), 0u);
}

// memcg_kzalloc returns zeroes, also where a freed block's memory is reused
// (a slab object, a cached large span).
TEST_F(CApiTest, KzallocZeroesReusedMemory) {
  for (size_t n : {size_t{100}, size_t{3000}, 300 * size_t{1024}}) {
    auto* a = static_cast<unsigned char*>(memcg_kmalloc(n, g_.g));
    ASSERT_NE(a, nullptr);
    std::memset(a, 0xee, n);
    memcg_kfree(a);
    auto* z = static_cast<unsigned char*>(memcg_kzalloc(n, g_.g));
    ASSERT_NE(z, nullptr);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += z[i] != 0;
    EXPECT_EQ(nonzero, 0u) << n;
    memcg_kfree(z);
  }
}

TEST_F(CApiTest, KmallocOverTheLimitReturnsNullWithEnomem) {
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, 256 * 1024), 0);
  errno = 0;
  EXPECT_EQ(memcg_kmalloc(kMiB, g_.g), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, 0), 0);
  errno = 0;
  EXPECT_EQ(memcg_kmalloc(64, g_.g), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  memcg_events e{};
  ASSERT_EQ(memcg_group_events(g_.g, 1, &e), 0);
  EXPECT_GE(e.max, 2u);  // each refusal hit memory.max
}

// ---- reservations -------------------------------------------------------------

TEST_F(CApiTest, ReservationGrowShrinkSizeAndGroup) {
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, 4 * kMiB), 0);
  Res r;
  ASSERT_EQ(memcg_reservation_create(g_.g, kMiB, r.out()), 0);
  std::uint64_t size = 0, cur = 0;
  ASSERT_EQ(memcg_reservation_grow(r.r, 2 * kMiB), 0);
  ASSERT_EQ(memcg_reservation_size(r.r, &size), 0);
  EXPECT_EQ(size, 3 * kMiB);
  // Over the limit: refused, nothing changes.
  EXPECT_EQ(memcg_reservation_grow(r.r, 2 * kMiB), -ENOMEM);
  ASSERT_EQ(memcg_reservation_size(r.r, &size), 0);
  EXPECT_EQ(size, 3 * kMiB);
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, 3 * kMiB);
  // Past 2^64-1: refused before any charge.
  EXPECT_EQ(memcg_reservation_grow(r.r, UINT64_MAX), -EOVERFLOW);
  ASSERT_EQ(memcg_reservation_shrink(r.r, kMiB), 0);
  ASSERT_EQ(memcg_reservation_size(r.r, &size), 0);
  EXPECT_EQ(size, 2 * kMiB);
  ASSERT_EQ(memcg_reservation_shrink(r.r, 100 * kMiB), 0);  // min(bytes, size)
  ASSERT_EQ(memcg_reservation_size(r.r, &size), 0);
  EXPECT_EQ(size, 0u);
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, 0u);

  Handle owner;
  ASSERT_EQ(memcg_reservation_group(r.r, owner.out()), 0);
  char buf[256];
  ASSERT_EQ(memcg_group_path(owner.g, buf, sizeof buf, nullptr), 0);
  EXPECT_EQ(std::string(buf), path_);
}

TEST_F(CApiTest, ReservationErrors) {
  Res r;
  EXPECT_EQ(memcg_reservation_create(nullptr, kMiB, r.out()), -EINVAL);
  EXPECT_EQ(memcg_reservation_create(g_.g, kMiB, nullptr), -EINVAL);
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, kMiB), 0);
  memcg_reservation* out = reinterpret_cast<memcg_reservation*>(0x1);
  EXPECT_EQ(memcg_reservation_create(g_.g, 2 * kMiB, &out), -ENOMEM);
  EXPECT_EQ(out, nullptr);
  std::uint64_t size = 0;
  EXPECT_EQ(memcg_reservation_grow(nullptr, 1), -EINVAL);
  EXPECT_EQ(memcg_reservation_shrink(nullptr, 1), -EINVAL);
  EXPECT_EQ(memcg_reservation_size(nullptr, &size), -EINVAL);
  Handle h;
  EXPECT_EQ(memcg_reservation_group(nullptr, h.out()), -EINVAL);
  EXPECT_EQ(h.g, nullptr);
  ASSERT_EQ(memcg_reservation_create(g_.g, 0, r.out()), 0);
  EXPECT_EQ(memcg_reservation_size(r.r, nullptr), -EINVAL);
  EXPECT_EQ(memcg_reservation_group(r.r, nullptr), -EINVAL);
  memcg_reservation_destroy(nullptr);  // no-op

  ASSERT_EQ(memcg_group_remove(g_.g), 0);
  Res late;
  EXPECT_EQ(memcg_reservation_create(g_.g, 1, late.out()), -ENOENT);
  EXPECT_EQ(late.r, nullptr);
}

TEST_F(CApiTest, ReservationOutlivesItsGroupAndItsDestroyFreesTheGroup) {
  memcg::barrier();
  const std::uint64_t before = memcg::detail::runtime_stats().groups_allocated;
  memcg_group* c = nullptr;
  ASSERT_EQ(memcg_group_create(g_.g, "pinned", &c), 0);
  memcg_reservation* r = nullptr;
  ASSERT_EQ(memcg_reservation_create(c, kMiB, &r), 0);
  ASSERT_EQ(memcg_group_remove(c), 0);
  memcg_group_release(c);
  memcg_barrier();
  // The reservation pins the removed group: it still charges it and its parent.
  EXPECT_EQ(memcg::detail::runtime_stats().groups_allocated, before + 1);
  std::uint64_t cur = 0;
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, kMiB);
  EXPECT_EQ(memcg_reservation_grow(r, 1), -ENOENT);  // no new charges to a removed group
  EXPECT_EQ(memcg_reservation_shrink(r, kMiB / 2), 0);  // uncharging still works
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, kMiB / 2);
  Handle owner;
  ASSERT_EQ(memcg_reservation_group(r, owner.out()), 0);
  EXPECT_EQ(memcg_group_is_online(owner.g), 0);
  memcg_group_release(owner.g);
  owner.g = nullptr;
  memcg_reservation_destroy(r);
  memcg_barrier();
  EXPECT_EQ(memcg::detail::runtime_stats().groups_allocated, before);
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, 0u);
}

// ---- the text tree --------------------------------------------------------------

TEST_F(CApiTest, FsReadAndWriteControlFiles) {
  ASSERT_EQ(memcg_fs_write((path_ + "/memory.max").c_str(), "64M"), 0);
  std::uint64_t v = 0;
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MAX, &v), 0);
  EXPECT_EQ(v, 64 * kMiB);
  EXPECT_EQ(read(path_ + "/memory.max"), std::to_string(64 * kMiB) + "\n");
  ASSERT_EQ(memcg_fs_write((path_ + "/memory.high").c_str(), " max\n"), 0);
  EXPECT_EQ(read(path_ + "/memory.high"), "max\n");
  const std::string events = read(path_ + "/memory.events");
  EXPECT_EQ(events.rfind("low 0\n", 0), 0u) << events;

  // Size reporting: a length query, then too small, then exact.
  const std::string file = path_ + "/memory.max";
  size_t len = 0;
  EXPECT_EQ(memcg_fs_read(file.c_str(), nullptr, 0, &len), -ERANGE);
  EXPECT_EQ(len, std::to_string(64 * kMiB).size() + 1);
  std::vector<char> buf(len + 1, '#');
  EXPECT_EQ(memcg_fs_read(file.c_str(), buf.data(), len, nullptr), -ERANGE);
  EXPECT_EQ(std::string(buf.data(), len), std::string(len, '#'));
  EXPECT_EQ(memcg_fs_read(file.c_str(), buf.data(), len + 1, nullptr), 0);
  EXPECT_EQ(std::string(buf.data()), std::to_string(64 * kMiB) + "\n");
}

TEST_F(CApiTest, FsErrors) {
  char buf[64];
  size_t len = 0;
  const std::string max = path_ + "/memory.max";
  EXPECT_EQ(memcg_fs_write(max.c_str(), "12 apples"), -EINVAL);
  std::uint64_t v = 0;
  ASSERT_EQ(memcg_group_get_limit(g_.g, MEMCG_LIMIT_MAX, &v), 0);
  EXPECT_EQ(v, MEMCG_UNLIMITED);  // unchanged
  EXPECT_EQ(memcg_fs_write((path_ + "/memory.current").c_str(), "0"), -EACCES);
  EXPECT_EQ(memcg_fs_read((path_ + "/memory.reclaim").c_str(), buf, sizeof buf, &len), -EACCES);
  EXPECT_EQ(memcg_fs_read((path_ + "/memory.nope").c_str(), buf, sizeof buf, &len), -ENOENT);
  EXPECT_EQ(memcg_fs_read((path_ + "/absent/memory.max").c_str(), buf, sizeof buf, &len), -ENOENT);
  EXPECT_EQ(memcg_fs_read(path_.c_str(), buf, sizeof buf, &len), -EISDIR);
  EXPECT_EQ(memcg_fs_write(path_.c_str(), "1"), -EISDIR);
  EXPECT_EQ(memcg_fs_read(nullptr, buf, sizeof buf, &len), -EINVAL);
  EXPECT_EQ(memcg_fs_read(max.c_str(), nullptr, 4, &len), -EINVAL);
  EXPECT_EQ(memcg_fs_write(nullptr, "1"), -EINVAL);
  EXPECT_EQ(memcg_fs_write(max.c_str(), nullptr), -EINVAL);
  ASSERT_EQ(memcg_group_remove(g_.g), 0);
  EXPECT_EQ(memcg_fs_write(max.c_str(), "1M"), -ENOENT);
  EXPECT_EQ(memcg_fs_read(max.c_str(), buf, sizeof buf, &len), -ENOENT);
}

// ---- concurrency ------------------------------------------------------------

// One group handle shared by threads that dup/release it, reserve and
// unreserve through it and change its limit: the books balance at the end.
TEST_F(CApiTest, SharedGroupHandleAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, 64 * kMiB), 0);
  std::atomic<int> errors{0};
  std::atomic<std::uint64_t> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        memcg_group* d = nullptr;
        if (memcg_group_dup(g_.g, &d) != 0) ++errors;
        memcg_reservation* r = nullptr;
        const int rc = memcg_reservation_create(d, 64 * 1024 * (1 + i % 4), &r);
        if (rc == -ENOMEM) ++refused;
        else if (rc != 0) ++errors;
        if (r && memcg_reservation_grow(r, 4096) != 0 && memcg_reservation_shrink(r, 1) != 0) ++errors;
        void* p = memcg_kmalloc(static_cast<size_t>(16 + i % 512), d);
        memcg_kfree(p);
        if (t == 0 && i % 100 == 0 &&
            memcg_group_set_limit(d, MEMCG_LIMIT_MAX, (i % 200 == 0 ? 1 : 64) * kMiB) != 0)
          ++errors;
        memcg_reservation_destroy(r);
        memcg_group_release(d);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(memcg_group_set_limit(g_.g, MEMCG_LIMIT_MAX, MEMCG_UNLIMITED), 0);
  // Every reservation is gone; what stays charged is slab pages and stock
  // bytes (memory.current = slab + stock + large + reservations).
  const memcg::Stat st = memcg::Group::open(path_).stat();
  EXPECT_EQ(st.reservations, 0u);
  EXPECT_EQ(st.kmalloc_large, 0u);
  std::uint64_t cur = 0;
  ASSERT_EQ(memcg_group_current(g_.g, &cur), 0);
  EXPECT_EQ(cur, st.slab() + st.stock);
}

// ---- the header -------------------------------------------------------------------

TEST(CApiHeader, ConstantsMatchTheCxxApi) {
  EXPECT_EQ(MEMCG_UNLIMITED, memcg::unlimited);
  static_assert(noexcept(memcg_fs_read(nullptr, nullptr, 0, nullptr)), "C API functions are noexcept in C++");
  static_assert(noexcept(memcg_kmalloc(0, nullptr)), "C API functions are noexcept in C++");
}

}  // namespace
