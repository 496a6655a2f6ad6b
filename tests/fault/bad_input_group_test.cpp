// Bad inputs: Group and ScopedGroup (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

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
  Group g = child_with_limits(*t);
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
  // max and high unchanged; removal itself zeroed min and low (the
  // kernel's css_offline: a removed group claims no protection)
  EXPECT_EQ(g.max(), 8u << 20);
  EXPECT_EQ(g.high(), 4u << 20);
  EXPECT_EQ(g.low(), 0u);
  EXPECT_EQ(g.min(), 0u);
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
  EXPECT_EQ(st.slab() + st.kmalloc_large + st.reservations + st.stock + st.stock_drains + st.pgscan + st.pgsteal + st.reclaimed, 0u);
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
  CacheOptions iso;
  iso.isolate = true;
  Cache c = Cache::create("bi-scoped", 64, iso);
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
    void* big = kmalloc(100000);  // a medium block: the same
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

// Charge flags with bits no flag names are ignored: the charge behaves as
// with the named bits alone.
TEST(BadInput, ChargeFlagsUnknownBitsAreIgnored) {
  test::TempGroup t("bicf");
  const auto junk = static_cast<ChargeFlags>(0xffffff00u);
  void* p = kmalloc(100, *t, junk);
  EXPECT_NE(p, nullptr);
  kfree(p);
  std::error_code ec;
  Reservation r = Reservation::make(*t, 4096, junk, ec);
  EXPECT_TRUE(r) << ec.message();
  {
    ScopedChargeFlags s(junk);
    EXPECT_EQ(current_charge_flags(), junk);
  }
  EXPECT_EQ(current_charge_flags(), ChargeFlags::none);
}

}  // namespace
}  // namespace memcg
