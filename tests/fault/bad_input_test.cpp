// Bad inputs at every public entry point: each test is a row (or a few) of
// docs/bad-inputs.md. The rule: a clean error (error code, exception,
// nullptr, false) and no change; where the input is a broken pointer, checked
// builds (MEMCG_CHECKED) abort with a clear message.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <mutex>
#include <stdexcept>
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

// f() throws std::system_error with code `want`.
template <class F>
void expect_system_error(F&& f, std::errc want, const char* what) {
  try {
    f();
    ADD_FAILURE() << what << ": no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), want) << what << ": " << e.what();
  }
}

// After the last test: every group this file created is removed, and (after
// a barrier) freed, so that nothing is left queued for the worker at exit
// (LeakSanitizer would report it).
class AllGroupsFreed : public ::testing::Environment {
 public:
  void TearDown() override {
    barrier();
    for (const Group& c : Group::root().children())
      EXPECT_NE(c.name().rfind("bi-", 0), 0u) << c.path() << " left online";
    EXPECT_EQ(Group::root().nr_dying_descendants(), 0u);
  }
};
[[maybe_unused]] ::testing::Environment* const kAllGroupsFreed =
    ::testing::AddGlobalTestEnvironment(new AllGroupsFreed);

bool events_zero(const Events& e) { return e.low == 0 && e.high == 0 && e.max == 0 && e.oom == 0 && e.oom_kill == 0; }

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

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
  a.remove();
}

TEST(BadInput, GroupRemovedGroup) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.set_max(8 << 20);
  g.set_high(4 << 20);
  g.set_low(2 << 20);
  g.set_min(1 << 20);
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
  expect_system_error([&] { g.set_max(1); }, errc::no_such_file_or_directory, "set_max");
  expect_system_error([&] { g.set_high(1); }, errc::no_such_file_or_directory, "set_high");
  expect_system_error([&] { g.set_low(1); }, errc::no_such_file_or_directory, "set_low");
  expect_system_error([&] { g.set_min(1); }, errc::no_such_file_or_directory, "set_min");
  // limits unchanged, all four
  EXPECT_EQ(g.max(), 8u << 20);
  EXPECT_EQ(g.high(), 4u << 20);
  EXPECT_EQ(g.low(), 2u << 20);
  EXPECT_EQ(g.min(), 1u << 20);
  // reclaim of a removed group: nothing to reclaim, 0 bytes and EAGAIN
  EXPECT_EQ(g.reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  expect_system_error([&] { g.reclaim(4096); }, errc::resource_unavailable_try_again, "reclaim");
  EXPECT_EQ(g.reclaim(0, ec), 0u);  // nothing asked: no error
  EXPECT_FALSE(ec);
  EXPECT_EQ(g.current(), 0u);
}

// Every Group member on the null (default-constructed) handle.
TEST(BadInput, GroupNullHandle) {
  Group n;
  std::error_code ec;
  EXPECT_FALSE(n.create("x", ec));
  EXPECT_EQ(ec, errc::invalid_argument);
  expect_system_error([&] { n.create("x"); }, errc::invalid_argument, "create");
  n.remove(ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  expect_system_error([&] { n.remove(); }, errc::invalid_argument, "remove");
  using Setter = void (Group::*)(Bytes, std::error_code&) noexcept;
  for (Setter set : std::initializer_list<Setter>{&Group::set_max, &Group::set_high, &Group::set_low, &Group::set_min}) {
    ec.clear();
    (n.*set)(1, ec);
    EXPECT_EQ(ec, errc::invalid_argument);
  }
  expect_system_error([&] { n.set_max(1); }, errc::invalid_argument, "set_max");
  expect_system_error([&] { n.set_high(1); }, errc::invalid_argument, "set_high");
  expect_system_error([&] { n.set_low(1); }, errc::invalid_argument, "set_low");
  expect_system_error([&] { n.set_min(1); }, errc::invalid_argument, "set_min");
  EXPECT_EQ(n.reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::invalid_argument);
  expect_system_error([&] { n.reclaim(4096); }, errc::invalid_argument, "reclaim");
  expect_system_error([&] { n.set_oom_handler([](const OomContext&) { return false; }); }, errc::invalid_argument,
                      "set_oom_handler");
  expect_system_error([&] { n.set_oom_handler(nullptr); }, errc::invalid_argument, "set_oom_handler(empty)");
  n.reset_peak();  // no-op
  EXPECT_FALSE(n);
  EXPECT_FALSE(n.online());
  EXPECT_EQ(n.state(), GroupState::none);
  EXPECT_FALSE(n.parent());
  EXPECT_TRUE(n.children().empty());
  EXPECT_EQ(n.path(), "");
  EXPECT_EQ(n.name(), "");
  EXPECT_EQ(n.id(), UINT32_MAX);
  EXPECT_EQ(n.max(), 0u);
  EXPECT_EQ(n.high(), 0u);
  EXPECT_EQ(n.low(), 0u);
  EXPECT_EQ(n.min(), 0u);
  EXPECT_EQ(n.current(), 0u);
  EXPECT_EQ(n.peak(), 0u);
  EXPECT_EQ(n.failcnt(), 0u);
  EXPECT_EQ(n.effective_min(), 0u);
  EXPECT_EQ(n.effective_low(), 0u);
  EXPECT_EQ(n.effective_min(Group::root()), 0u);
  EXPECT_EQ(n.effective_low(Group::root()), 0u);
  EXPECT_TRUE(events_zero(n.events()));
  EXPECT_TRUE(events_zero(n.events_local()));
  Stat st = n.stat();
  EXPECT_EQ(st.slab() + st.kmalloc_large + st.reservations + st.stock + st.stock_drains + st.pgscan + st.pgsteal, 0u);
  EXPECT_EQ(n.nr_descendants(), 0u);
  EXPECT_EQ(n.nr_dying_descendants(), 0u);
  Group copy = n;  // copies and compares as null
  EXPECT_TRUE(copy == n);
  EXPECT_FALSE(copy == Group::root());
}

// effective_min/low(reclaim_root) with a root that is not an ancestor, null,
// removed, or the group itself.
TEST(BadInput, GroupEffectiveProtectionBadRoot) {
  test::TempGroup t("bi");
  Group a = t->create("a");
  Group b = t->create("b");
  a.set_min(1 << 20);
  a.set_low(2 << 20);
  auto r = Reservation::make(a, 512 << 10);
  // reference: a child of the reclaim root is protected by its own settings
  EXPECT_EQ(a.effective_min(*t), 1u << 20);
  EXPECT_EQ(a.effective_low(*t), 2u << 20);
  // null root: the tree root (the one-argument-less form)
  EXPECT_EQ(a.effective_min(Group()), a.effective_min(Group::root()));
  EXPECT_EQ(a.effective_low(Group()), a.effective_low(Group::root()));
  EXPECT_EQ(a.effective_min(Group()), a.effective_min());
  EXPECT_EQ(a.effective_low(Group()), a.effective_low());
  // not an ancestor: a sibling, a descendant, the group itself
  Group c = a.create("c");
  for (const Group* root : {&b, &c, &a}) {
    EXPECT_EQ(a.effective_min(*root), 0u) << root->path();
    EXPECT_EQ(a.effective_low(*root), 0u) << root->path();
  }
  // a removed root (not an ancestor of any online group)
  Group x = t->create("x");
  Group y = x.create("y");
  y.remove();
  x.remove();
  EXPECT_EQ(a.effective_min(x), 0u);
  EXPECT_EQ(a.effective_low(x), 0u);
  // removed groups under a removed root, and a removed group under a live root: no usage, 0
  EXPECT_EQ(y.effective_min(x), 0u);
  EXPECT_EQ(y.effective_low(x), 0u);
  EXPECT_EQ(x.effective_min(*t), 0u);
  EXPECT_EQ(x.effective_low(*t), 0u);
  // nothing changed
  EXPECT_EQ(a.min(), 1u << 20);
  EXPECT_EQ(a.effective_min(*t), 1u << 20);
  c.remove();
  a.remove();
  b.remove();
}

// reset_peak and set_oom_handler on a removed group.
TEST(BadInput, GroupResetPeakAndOomHandlerRemoved) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  {
    auto r = Reservation::make(g, 1 << 20);
  }
  quiesce_thread();
  EXPECT_GE(g.peak(), 1u << 20);
  EXPECT_EQ(g.current(), 0u);
  g.remove();
  g.reset_peak();  // allowed: peak := current, as on an online group
  EXPECT_EQ(g.peak(), 0u);
  expect_system_error([&] { g.set_oom_handler([](const OomContext&) { return false; }); },
                      errc::no_such_file_or_directory, "set_oom_handler on a removed group");
  g.set_oom_handler(nullptr);  // removing a handler is always allowed
  g.set_oom_handler(OomHandler());
}

TEST(BadInput, GroupStateToString) {
  EXPECT_STREQ(to_string(GroupState::online), "online");
  EXPECT_STREQ(to_string(GroupState::dying), "dying");
  EXPECT_STREQ(to_string(GroupState::none), "none");
  EXPECT_STREQ(to_string(static_cast<GroupState>(3)), "?");
  EXPECT_STREQ(to_string(static_cast<GroupState>(255)), "?");
}

// ScopedGroup with the null handle or a removed group.
TEST(BadInput, ScopedGroupNullAndRemoved) {
  test::TempGroup t("bi");
  {
    ScopedGroup outer(*t);
    {
      ScopedGroup n{Group()};  // the null handle selects the root, not the enclosing scope's group
      EXPECT_TRUE(current_group() == Group::root());
    }
    EXPECT_TRUE(current_group() == *t);
  }
  Group g = t->create("g");
  g.remove();
  Cache c = Cache::create("bi-scoped", 64);
  {
    ScopedGroup s(g);
    EXPECT_TRUE(current_group() == g);  // the removed group itself
    std::error_code ec;
    auto r = Reservation::make(current_group(), 10, ec);
    EXPECT_EQ(ec, errc::no_such_file_or_directory);
    void* p = c.alloc();  // charged to the nearest online ancestor
    ASSERT_NE(p, nullptr);
    EXPECT_GE(t->current(), 64u << 10);
    EXPECT_EQ(g.current(), 0u);
    EXPECT_NE(slabinfo(*t).find("bi-scoped"), std::string::npos);
    void* big = kmalloc(100000);  // large path: the same
    ASSERT_NE(big, nullptr);
    EXPECT_GE(t->stat().kmalloc_large, 100000u);
    EXPECT_EQ(g.stat().kmalloc_large, 0u);
    kfree(big);
    Cache::free(p);
  }
  quiesce_thread();
  c.destroy();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
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
  c.remove();
}

TEST(BadInput, GroupOpenPaths) {
  test::TempGroup t("bi");
  for (const std::string& bad : {std::string(""), std::string("a"), std::string("//"), t->path() + "/",
                                 t->path() + "//", std::string("a/b"), std::string("/./x"), std::string("/../x"),
                                 t->path() + "/./x"}) {
    std::error_code ec;
    Group g = Group::open(bad, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << bad << ": " << ec.message();
    EXPECT_FALSE(g);
  }
  {
    std::error_code ec;
    EXPECT_FALSE(Group::open("/no-such-group-xyz/", ec));  // the missing component is found first
    EXPECT_EQ(ec, errc::no_such_file_or_directory);
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
  auto r = Reservation::make(*t, 1, ec);
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
  auto r = Reservation::make(Group(), 10, ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  EXPECT_FALSE(r);
  EXPECT_THROW(Reservation::make(Group(), 10), std::system_error);
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.remove();
  r = Reservation::make(g, 10, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
}

TEST(BadInput, ReservationOverflow) {
  test::TempGroup t("bi");
  std::error_code ec;
  // Bigger than anything: ENOMEM (the root's usage would overflow), no change.
  auto r = Reservation::make(*t, UINT64_MAX, ec);
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

// The four limit files: garbage, negative, overflow, empty, wrong suffixes.
TEST(BadInput, FsWriteValues) {
  test::TempGroup t("bi");
  const std::string huge(1 << 20, '9');
  for (const char* file : {"memory.max", "memory.high", "memory.low", "memory.min"}) {
    const std::string f = t->path() + "/" + file;
    fs::write(f, "1M");
    for (const std::string& bad : std::vector<std::string>{"", " ", "\n", "-1", "-0", "+1", "1.5G", "0x10", "1KB", "1Ki", "1kk", "1P", "1E", "MAX", "Max", "max\x01",
          "18446744073709551616", "17179869184G", "16777216T", "99999999999999999999", "1 M", "k", "1\x01",
          "\xff\xfe", "max max", "1 2", std::string("1\0", 2)}) {
      std::error_code ec;
      fs::write(f, bad, ec);
      EXPECT_EQ(ec, errc::invalid_argument) << file << " '" << bad << "'";
      EXPECT_EQ(fs::read(f), "1048576\n") << file;
    }
    std::error_code ec;
    fs::write(f, huge, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << file;
    expect_system_error([&] { fs::write(f, "junk"); }, errc::invalid_argument, file);
    EXPECT_EQ(fs::read(f), "1048576\n") << file;
    // Accepted forms: suffixes in either case, white space around, the
    // largest values (2^64 - 1 is the "max" sentinel itself).
    struct Ok {
      const char* in;
      const char* out;
    };
    for (const Ok& ok : {Ok{"1k", "1024\n"}, Ok{"1K", "1024\n"}, Ok{"2m", "2097152\n"}, Ok{"2M", "2097152\n"},
                         Ok{"1g", "1073741824\n"}, Ok{"1G", "1073741824\n"}, Ok{"1t", "1099511627776\n"},
                         Ok{"1T", "1099511627776\n"}, Ok{" \t3M\n", "3145728\n"}, Ok{"0", "0\n"},
                         Ok{"00000000000000000001", "1\n"}, Ok{"16777215T", "18446742974197923840\n"},
                         Ok{"18446744073709551614", "18446744073709551614\n"}, Ok{"18446744073709551615", "max\n"},
                         Ok{"max\n", "max\n"}}) {
      fs::write(f, ok.in, ec);
      EXPECT_FALSE(ec) << file << " '" << ok.in << "': " << ec.message();
      EXPECT_EQ(fs::read(f), ok.out) << file << " '" << ok.in << "'";
    }
    fs::write(f, std::string(file) == "memory.low" || std::string(file) == "memory.min" ? "0" : "max");
  }
  std::uint64_t v = 7;
  EXPECT_FALSE(fs::parse_bytes("1.0", v));
  EXPECT_FALSE(fs::parse_bytes("", v));
  EXPECT_FALSE(fs::parse_bytes("-1", v));
  EXPECT_FALSE(fs::parse_bytes("18446744073709551616", v));
  EXPECT_FALSE(fs::parse_bytes("17179869184G", v));
  EXPECT_EQ(v, 7u);
}

// memory.reclaim (write-only): a byte count, suffixes allowed, "max" not.
TEST(BadInput, FsReclaimFile) {
  test::TempGroup t("bi");
  const std::string f = t->path() + "/memory.reclaim";
  for (const std::string& bad : std::vector<std::string>{"", " ", "max", "max\n", "-1", "+1", "junk", "1.5M", "0x10", "1KB", "1 M",
                                "18446744073709551615", "18446744073709551616", "17179869184G",
                                "99999999999999999999", std::string(1 << 20, '9')}) {
    std::error_code ec;
    fs::write(f, bad, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << "'" << bad.substr(0, 32) << "'";
  }
  expect_system_error([&] { fs::write(f, "junk"); }, errc::invalid_argument, "throwing form");
  std::error_code ec;
  fs::read(f, ec);
  EXPECT_EQ(ec, errc::permission_denied);
  expect_system_error([&] { fs::read(f); }, errc::permission_denied, "read memory.reclaim");
  fs::write(f, "0", ec);  // nothing asked: done
  EXPECT_FALSE(ec);
  // Valid but more than the (empty) group holds, up to the largest value
  // below the sentinel: EAGAIN, as Group::reclaim.
  for (const char* big : {"4096", "1T", "16777215T", "18446744073709551614"}) {
    fs::write(f, big, ec);
    EXPECT_EQ(ec, errc::resource_unavailable_try_again) << big;
  }
  EXPECT_EQ(t->current(), 0u);
}

// memory.peak: any write (the kernel's peak_write ignores the value) resets
// the peak to the current usage; reads as decimal bytes.
TEST(BadInput, FsPeakFile) {
  test::TempGroup t("bi");
  const std::string f = t->path() + "/memory.peak";
  auto r = Reservation::make(*t, 256 << 10);
  for (const std::string& any : std::vector<std::string>{"junk", "", "-1", "max", "0", "18446744073709551616", std::string("\xff\0", 2)}) {
    {
      auto spike = Reservation::make(*t, 1 << 20);
    }
    EXPECT_GE(t->peak(), (1u << 20) + (256u << 10));
    std::error_code ec;
    fs::write(f, any, ec);
    EXPECT_FALSE(ec) << "'" << any << "': " << ec.message();
    EXPECT_EQ(t->peak(), t->current()) << "'" << any << "'";
    EXPECT_EQ(fs::read(f), std::to_string(t->current()) + "\n");
  }
}

// Files without a writer: EACCES and nothing changes; the list of files is
// checked whole, so that a file added later needs a row here.
TEST(BadInput, FsReadOnlyFiles) {
  test::TempGroup t("bi");
  const std::string p = t->path();
  std::vector<std::string> files;
  for (auto& e : fs::list(p))
    if (e.back() != '/') files.push_back(e);
  EXPECT_EQ(files, (std::vector<std::string>{"cgroup.stat", "memory.current", "memory.events", "memory.events.local",
                                              "memory.high", "memory.kmem.slabinfo", "memory.low", "memory.max",
                                              "memory.min", "memory.peak", "memory.reclaim", "memory.stat"}));
  for (const char* file : {"cgroup.stat", "memory.current", "memory.events", "memory.events.local",
                           "memory.kmem.slabinfo", "memory.stat"}) {
    const std::string f = p + "/" + file;
    const std::string before = fs::read(f);
    for (const char* value : {"0", "", "max", "junk"}) {
      std::error_code ec;
      fs::write(f, value, ec);
      EXPECT_EQ(ec, errc::permission_denied) << file << " '" << value << "'";
    }
    expect_system_error([&] { fs::write(f, "0"); }, errc::permission_denied, file);
    EXPECT_EQ(fs::read(f), before) << file;
  }
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
  expect([&] { fs::list("", ec); }, errc::invalid_argument, "list empty path");
  expect([&] { fs::list("relative", ec); }, errc::invalid_argument, "list relative path");
  expect([&] { fs::list(p.substr(1), ec); }, errc::invalid_argument, "list relative path of a group");
  expect([&] { fs::list("//", ec); }, errc::invalid_argument, "list //");
  expect([&] { fs::list(p + "//", ec); }, errc::invalid_argument, "list double slash");
  expect([&] { fs::list(p + "/", ec); }, errc::invalid_argument, "list trailing slash");
  expect([&] { fs::read("", ec); }, errc::invalid_argument, "read empty path");
  expect([&] { fs::read("/", ec); }, errc::is_a_directory, "read /");
  expect([&] { fs::write("", "1", ec); }, errc::invalid_argument, "write empty path");
  expect([&] { fs::mkdir("", ec); }, errc::invalid_argument, "mkdir empty path");
  expect([&] { fs::mkdir(p + "/", ec); }, errc::invalid_argument, "mkdir trailing slash");
  expect([&] { fs::rmdir("", ec); }, errc::invalid_argument, "rmdir empty path");
  expect([&] { fs::list("/memory.max", ec); }, errc::not_a_directory, "list a root file");
  expect_system_error([&] { fs::read(p + "/memory.nope"); }, errc::no_such_file_or_directory, "throwing read");
  expect_system_error([&] { fs::list("relative"); }, errc::invalid_argument, "throwing list");
}

TEST(BadInput, FsRemovedGroup) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.set_max(8 << 20);
  g.set_high(4 << 20);
  g.set_low(2 << 20);
  g.set_min(1 << 20);
  const std::string p = g.path();
  g.remove();
  std::error_code ec;
  fs::read(p + "/memory.current", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  for (const char* file : {"memory.max", "memory.high", "memory.low", "memory.min", "memory.peak", "memory.reclaim"}) {
    fs::write(p + "/" + file, "1M", ec);
    EXPECT_EQ(ec, errc::no_such_file_or_directory) << file;
  }
  fs::rmdir(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::list(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::mkdir(p + "/c", ec);  // under the removed group
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(g.nr_descendants(), 0u);
  for (auto& e : fs::list(t->path())) EXPECT_NE(e, "g/");
  // limits unchanged, all four
  EXPECT_EQ(g.max(), 8u << 20);
  EXPECT_EQ(g.high(), 4u << 20);
  EXPECT_EQ(g.low(), 2u << 20);
  EXPECT_EQ(g.min(), 1u << 20);
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
  Group mid = t->create("mid");
  Group g = mid.create("g");
  g.remove();
  mid.remove();
  EXPECT_EQ(t->current(), 0u);
  void* p = c.alloc(g);  // a removed group charges its nearest online ancestor (t, past the removed mid)
  ASSERT_NE(p, nullptr);
  EXPECT_GE(t->current(), 64u << 10);  // one slab
  EXPECT_EQ(g.current(), 0u);
  EXPECT_EQ(mid.current(), 0u);
  EXPECT_GE(t->stat().slab_unreclaimable, 64u << 10);
  EXPECT_NE(c.slabinfo(*t).find("bi-cache"), std::string::npos);
  EXPECT_EQ(count_lines(c.slabinfo(g)), 2u);  // the header only
  Cache::free(p);
  EXPECT_EQ(c.alloc(Group()), nullptr);  // the null group
  Group l = t->create("l");
  l.set_max(0);
  EXPECT_EQ(c.alloc(l), nullptr);
  Cache::free(nullptr);  // no-op
  l.remove();
  quiesce_thread();
  c.shrink();
  c.destroy();
}

// The null Cache handle, and a handle after destroy (destroy nulls it).
TEST(BadInput, CacheNullAndDestroyedHandle) {
  const std::string header = slabinfo(Group());  // the header alone
  EXPECT_EQ(count_lines(header), 2u);
  EXPECT_EQ(header.rfind("slabinfo - version: 2.1\n", 0), 0u);
  Cache n;
  Cache c = Cache::create("bi-twice", 64);
  void* p = c.alloc(Group::root());
  ASSERT_NE(p, nullptr);
  Cache::free(p);
  quiesce_thread();
  c.destroy();
  for (Cache* k : {&n, &c}) {
    EXPECT_FALSE(*k);
    EXPECT_EQ(k->alloc(), nullptr);
    EXPECT_EQ(k->alloc(Group::root()), nullptr);
    k->shrink();  // no-op
    std::error_code ec;
    k->destroy(ec);  // destroy twice, or of nothing
    EXPECT_EQ(ec, errc::invalid_argument);
    expect_system_error([&] { k->destroy(); }, errc::invalid_argument, "destroy");
    EXPECT_EQ(k->slabinfo(Group::root()), header);
    EXPECT_EQ(k->name(), "");
    EXPECT_EQ(k->object_size(), 0u);
  }
  TypedCache<std::uint64_t> tn;  // default-constructed: a null cache
  EXPECT_EQ(tn.make(1), nullptr);
  EXPECT_EQ(tn.make_in(Group::root(), 1), nullptr);
  TypedCache<std::uint64_t>::destroy(nullptr);  // no-op
}

// Cache::slabinfo(g) and memcg::slabinfo(g): null and removed groups.
TEST(BadInput, CacheSlabinfoNullAndRemovedGroup) {
  test::TempGroup t("bi");
  const std::string header = slabinfo(Group());
  Cache c = Cache::create("bi-info", 64);
  Group g = t->create("g");
  void* p = c.alloc(g);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(count_lines(c.slabinfo(g)), 3u);  // header + g's child cache
  EXPECT_NE(slabinfo(g).find("bi-info"), std::string::npos);
  EXPECT_EQ(c.slabinfo(Group()), header);
  EXPECT_EQ(slabinfo(Group()), header);
  g.remove();  // its child cache (a live object) moves to t
  EXPECT_EQ(c.slabinfo(g), header);
  EXPECT_EQ(slabinfo(g), header);
  EXPECT_NE(c.slabinfo(*t).find("bi-info"), std::string::npos);
  Cache::free(p);
  quiesce_thread();
  c.destroy();
}

// TypedCache::make/make_in when T's constructor throws: the object goes
// back, nothing stays charged, the exception reaches the caller.
struct ThrowingCtor {
  explicit ThrowingCtor(bool fail) {
    if (fail) throw std::runtime_error("ctor");
  }
  char pad[48] = {};
};

TEST(BadInput, TypedCacheConstructorThrows) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  TypedCache<ThrowingCtor> tc("bi-typed");
  EXPECT_THROW(tc.make_in(g, true), std::runtime_error);
  {
    ScopedGroup s(g);
    EXPECT_THROW(tc.make(true), std::runtime_error);
  }
  ThrowingCtor* ok = tc.make_in(g, false);  // the cache still works
  ASSERT_NE(ok, nullptr);
  TypedCache<ThrowingCtor>::destroy(ok);
  quiesce_thread();
  std::error_code ec;
  tc.cache().destroy(ec);  // no live object: nothing leaked
  EXPECT_FALSE(ec) << ec.message();
  quiesce_thread();
  EXPECT_EQ(g.current(), 0u);
  EXPECT_EQ(g.stat().slab(), 0u);
  g.remove();
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

// count/count_all/walk with a null or removed group, nr_to_walk 0 and UINT64_MAX.
TEST(BadInput, ListLruNullRemovedGroupAndWalkBounds) {
  test::TempGroup t("bi");
  ListLru<Item, &Item::hook> lru;
  EXPECT_EQ(lru.count_all(), 0u);  // nothing added yet
  Item items[4];
  for (Item& it : items) ASSERT_TRUE(lru.add(it, *t));
  Item stray;
  EXPECT_FALSE(lru.add(stray, Group()));  // the null group: refused
  EXPECT_FALSE(lru.del(stray));
  int calls = 0;
  // (walk takes the callable by forwarding reference but only compiles with
  // an rvalue: each walk gets a fresh one)
  auto visit = [&calls] { return [&calls](Item&) { ++calls; return LruStatus::skip; }; };
  // the null group: nothing counted or visited
  EXPECT_EQ(lru.count(Group()), 0u);
  EXPECT_EQ(lru.walk(Group(), visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 0);
  // a removed group: its objects are on its parent's list now
  Group g = t->create("g");
  Item gi;
  ASSERT_TRUE(lru.add(gi, g));
  EXPECT_EQ(lru.count(g), 1u);
  g.remove();
  EXPECT_EQ(lru.count(g), 0u);
  EXPECT_EQ(lru.walk(g, visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(lru.count(*t), 5u);
  EXPECT_EQ(lru.count_all(), 5u);
  // nr_to_walk 0: nothing visited
  EXPECT_EQ(lru.walk(*t, visit(), 0), 0u);
  EXPECT_EQ(calls, 0);
  // UINT64_MAX: every object once, rotated ones are not visited again
  EXPECT_EQ(lru.walk(*t, visit(), UINT64_MAX), 0u);
  EXPECT_EQ(calls, 5);
  calls = 0;
  EXPECT_EQ(lru.walk(*t, [&](Item&) { ++calls; return LruStatus::rotate; }, UINT64_MAX), 0u);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(lru.count(*t), 5u);
  EXPECT_EQ(lru.walk(*t, [](Item&) { return LruStatus::removed; }, UINT64_MAX), 5u);
  EXPECT_EQ(lru.count(*t), 0u);
  EXPECT_EQ(lru.count_all(), 0u);
  EXPECT_FALSE(lru.del(gi));  // taken off by the walk
}

// A shrinker of `n` objects of 4 KiB each (Reservations of g), with knobs
// for the bad behaviours.
struct ResShrinker : Shrinker {
  explicit ResShrinker(Group grp, int n) : g(std::move(grp)) {
    for (int i = 0; i < n; ++i) objs.push_back(Reservation::make(g, 4096));
  }
  std::uint64_t count(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(mu);
    if (!(sc.group == g)) return 0;
    ++counts;
    return count_override ? count_override : objs.size();
  }
  std::uint64_t scan(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(mu);
    if (!(sc.group == g)) return kShrinkStop;
    ++scans;
    if (stop_scan) return kShrinkStop;
    const std::size_t n = std::min<std::size_t>(sc.nr_to_scan, objs.size());
    objs.resize(objs.size() - n);  // uncharges n * 4 KiB
    return n * overreport;
  }
  unsigned seeks() const override { return seeks_; }
  std::size_t left() {
    std::lock_guard<std::mutex> l(mu);
    return objs.size();
  }

  Group g;
  std::mutex mu;
  std::vector<Reservation> objs;
  std::uint64_t counts = 0, scans = 0;
  std::uint64_t count_override = 0;  // count() returns this if set
  std::uint64_t overreport = 1;      // scan() returns freed * this
  bool stop_scan = false;            // scan() frees nothing, returns kShrinkStop
  unsigned seeks_ = 2;
};

// The same shrinker registered twice: called once per registration; each
// registration unregisters on its own.
TEST(BadInput, ShrinkerRegisteredTwice) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 0);
  s.count_override = 1;
  s.stop_scan = true;
  ShrinkerRegistration r1 = register_shrinker(s);
  ShrinkerRegistration r2 = register_shrinker(s);
  EXPECT_TRUE(r1);
  EXPECT_TRUE(r2);
  std::error_code ec;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  const std::uint64_t both = s.counts;
  EXPECT_GE(both, 2u);
  EXPECT_EQ(both % 2, 0u);  // every visit calls it once per registration
  r1.reset();
  s.counts = 0;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_GE(s.counts, 1u);
  r2.reset();
  s.counts = 0;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(s.counts, 0u);  // both gone
}

// seeks() == 0 is taken as 1 (no division by zero); reclaim works.
TEST(BadInput, ShrinkerSeeksZero) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 64);
  s.seeks_ = 0;
  quiesce_thread();
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  const std::uint64_t got = t->reclaim(64 << 10, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GE(got, 64u << 10);
  EXPECT_EQ(got, (64 - s.left()) * 4096);
  EXPECT_GT(s.scans, 0u);
}

// scan() claiming more than it was asked to free, or more than it freed:
// reclaim counts the bytes really uncharged, not the claim.
TEST(BadInput, ShrinkerScanOverreports) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 64);
  s.overreport = 1000;
  quiesce_thread();
  const std::uint64_t before = t->current();
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  const std::uint64_t got = t->reclaim(32 << 10, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, (64 - s.left()) * 4096);
  EXPECT_EQ(t->current(), before - got);
  EXPECT_EQ(t->stat().pgsteal, got);
  // asked for more than there is: everything, then EAGAIN
  const std::uint64_t rest = t->reclaim(1 << 30, ec);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_EQ(s.left(), 0u);
  EXPECT_EQ(got + rest, 64u * 4096);
}

// count() returning garbage: kShrinkStop is "nothing"; a count far above
// what the shrinker holds costs bounded work (its scans free nothing) and
// reclaim reports the truth.
TEST(BadInput, ShrinkerCountGarbage) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 0);
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  s.count_override = kShrinkStop;  // taken as 0: never scanned
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.counts, 0u);
  EXPECT_EQ(s.scans, 0u);
  s.count_override = kShrinkStop - 1;  // huge, with a scan that says stop
  s.stop_scan = true;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.scans, 0u);
  s.scans = 0;
  s.stop_scan = false;
  s.count_override = 1 << 16;  // 65536 claimed, none there: every scan frees 0
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.scans, 0u);
  // at most 2 * count objects per visit, kShrinkBatch per scan, 13
  // priorities, 17 attempts, twice (the low-reclaim retry)
  EXPECT_LE(s.scans, 2u * 17 * 13 * (2 * (1u << 16) / kShrinkBatch + 1));
  EXPECT_EQ(t->current(), 0u);
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

TEST_F(BadPointerDeathTest, KfreeLargeDoubleFree) {
  // A large allocation is unmapped by its kfree: the second kfree (or a
  // ksize) finds no mapping. Reported as a foreign pointer, not a double free.
  void* big = kmalloc(100000);
  ASSERT_NE(big, nullptr);
  kfree(big);
  EXPECT_DEATH(kfree(big), "span not mapped");
  EXPECT_DEATH(ksize(big), "span not mapped");
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
