#include "memcg/group.hpp"

#include "memcg/fs.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "../test_util.hpp"
#include "core/access.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

std::errc err_of(const std::function<void(std::error_code&)>& f) {
  std::error_code ec;
  f(ec);
  return static_cast<std::errc>(ec.value());
}

TEST(Group, RootIsOnlineAndNamedSlash) {
  Group r = Group::root();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r.online());
  EXPECT_EQ(r.path(), "/");
  EXPECT_FALSE(r.parent());
  EXPECT_EQ(r, Group::open("/"));
}

TEST(Group, CreateOpenPathParentChildren) {
  test::TempGroup t("tree");
  Group a = t->create("a");
  Group b = a.create("b");
  EXPECT_EQ(b.path(), t->path() + "/a/b");
  EXPECT_EQ(Group::open(b.path()), b);
  EXPECT_EQ(b.parent(), a);
  auto kids = a.children();
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0], b);
  EXPECT_EQ(b.name(), "b");
  b.remove();
  a.remove();
}

TEST(Group, CreateErrors) {
  test::TempGroup t("errs");
  t->create("x");
  auto create_err = [&](std::string_view name) {
    return err_of([&](std::error_code& ec) { t->create(name, ec); });
  };
  EXPECT_EQ(create_err("x"), std::errc::file_exists);
  EXPECT_EQ(create_err(""), std::errc::invalid_argument);
  EXPECT_EQ(create_err("/"), std::errc::invalid_argument);
  EXPECT_EQ(create_err("a/b"), std::errc::invalid_argument);
  EXPECT_EQ(create_err("."), std::errc::invalid_argument);
  EXPECT_EQ(create_err(".."), std::errc::invalid_argument);
  EXPECT_EQ(create_err(std::string("a\nb")), std::errc::invalid_argument);
  EXPECT_EQ(create_err(std::string("a\x7f")), std::errc::invalid_argument);
  EXPECT_EQ(create_err(std::string(256, 'n')), std::errc::invalid_argument);
  EXPECT_EQ(create_err("memory.max"), std::errc::invalid_argument);
  EXPECT_EQ(create_err("cgroup.stat"), std::errc::invalid_argument);
  EXPECT_EQ(create_err(std::string(255, 'n')), std::errc{});  // exactly 255 is fine
  EXPECT_THROW(t->create("x"), std::system_error);
  EXPECT_EQ(err_of([](std::error_code& ec) { Group().create("a", ec); }), std::errc::invalid_argument);
  Group::open(t->path() + "/x").remove();
  Group::open(t->path() + "/" + std::string(255, 'n')).remove();
}

TEST(Group, OpenErrors) {
  std::error_code ec;
  EXPECT_FALSE(Group::open("relative", ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_FALSE(Group::open("/no-such-group", ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_FALSE(Group::open("//x", ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_FALSE(Group::open("", ec));
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_THROW(Group::open("/no-such-group"), std::system_error);
}

// cgroup.max.depth and cgroup.max.descendants, checked at every ancestor
// (the kernel's cgroup_check_hierarchy_limits): EAGAIN, nothing created.
TEST(Group, HierarchyLimitsRefuseTooDeepOrTooManyGroups) {
  test::TempGroup t("hier");
  t.get().set_max_depth(2);
  Group a = t->create("a");
  Group b = a.create("b");  // two levels below t: allowed
  std::error_code ec;
  Group c = b.create("c", ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again) << "three levels below t";
  EXPECT_FALSE(c);
  EXPECT_EQ(t->nr_descendants(), 2u);
  a.set_max_descendants(1);  // a has b already
  Group a2 = a.create("b2", ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  t.get().set_max_descendants(3);
  Group d = t->create("d");  // t's third
  Group e = t->create("e", ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again) << "t's fourth";
  EXPECT_EQ(t->max_descendants(), 3u);
  EXPECT_EQ(t->max_depth(), 2u);
  EXPECT_EQ(fs::read(t->path() + "/cgroup.max.depth"), "2\n");
  // Removed groups do not count: the slot is free again.
  d.remove();
  Group e2 = t->create("e");
  EXPECT_TRUE(e2);
  // Through the text tree: mkdir gets EAGAIN too.
  fs::mkdir(b.path() + "/deep", ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  t.get().set_max_depth(unlimited);
  t.get().set_max_descendants(unlimited);
  a.set_max_descendants(unlimited);
  Group c2 = b.create("c");  // now allowed
  c2.remove();
  e2.remove();
  b.remove();
  a.remove();
}

TEST(Group, RemoveHasRmdirSemantics) {
  test::TempGroup t("rm");
  Group a = t->create("a");
  Group b = a.create("b");
  EXPECT_EQ(err_of([&](std::error_code& ec) { a.remove(ec); }), std::errc::device_or_resource_busy);
  EXPECT_TRUE(a.online());
  b.remove();
  EXPECT_FALSE(b.online());
  EXPECT_EQ(b.state(), GroupState::dying);  // our handle keeps it
  EXPECT_EQ(err_of([&](std::error_code& ec) { b.remove(ec); }), std::errc::no_such_file_or_directory);
  // A dying child does not block the parent's removal.
  a.remove();
  EXPECT_EQ(err_of([&](std::error_code& ec) { Group::root().remove(ec); }), std::errc::invalid_argument);
  // Removed groups cannot be opened, get children, or have limits written.
  std::error_code ec;
  EXPECT_FALSE(Group::open(t->path() + "/a", ec));
  EXPECT_EQ(err_of([&](std::error_code& e) { b.create("c", e); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(err_of([&](std::error_code& e) { b.set_max(1, e); }), std::errc::no_such_file_or_directory);
  // The name can be reused at once.
  Group a2 = t->create("a");
  EXPECT_NE(a2, a);
  a2.remove();
}

TEST(Group, TrygetOnlineFailsAfterRemove) {
  test::TempGroup t("tryget");
  Group a = t->create("a");
  detail::GroupImpl* p = detail::Access::impl(a);
  ASSERT_TRUE(detail::group_tryget_online(p));
  detail::group_put(p);
  a.remove();
  EXPECT_FALSE(detail::group_tryget_online(p));
  EXPECT_TRUE(detail::group_tryget(p));  // still referenced by `a`
  detail::group_put(p);
}

TEST(Group, LifecycleReachesFreedOnTheWorkerAfterLastPut) {
  const auto base = test::settled_groups();
  const auto freed0 = detail::runtime_stats().groups_freed;
  {
    test::TempGroup t("life");
    Group a = t->create("a");
    Group copy = a;
    EXPECT_EQ(detail::runtime_stats().groups_allocated, base + 2);
    a.remove();
    EXPECT_EQ(t->nr_dying_descendants(), 1u);
    EXPECT_EQ(t->nr_descendants(), 0u);
  }
  // Frees run on the worker (a MEMCG_CHECK there would abort otherwise) after
  // an RCU grace period; barrier() waits for both.
  EXPECT_EQ(test::settled_groups(), base);
  EXPECT_EQ(detail::runtime_stats().groups_freed, freed0 + 2);
}

TEST(Group, ChildPinsParent) {
  const auto base = test::settled_groups();
  Group b;
  {
    test::TempGroup t("pin");
    Group a = t->create("a");
    b = a.create("b");
    b.remove();
    a.remove();
  }
  // t and a are removed and unreferenced but b still holds a (and a holds t).
  EXPECT_EQ(test::settled_groups(), base + 3);
  EXPECT_EQ(b.parent().state(), GroupState::dying);
  b = Group();
  EXPECT_EQ(test::settled_groups(), base);
}

// barrier() after dropping a removed chain frees all of it: freeing a child
// releases its parent from the worker, and barrier() must not take the
// child's free as the end while the parent's release is still to be
// counted. A race (a window between two counter updates on the worker), so
// tried many times with a busy thread competing for the CPU.
TEST(Group, BarrierFreesAWholeRemovedChain) {
  const auto base = test::settled_groups();
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load(std::memory_order_relaxed)) std::this_thread::yield();
  });
  for (int round = 0; round < 300; ++round) {
    {
      test::TempGroup t("chain");
      Group p = t->create("p");
      Group x = p.create("x");
      Group y = x.create("y");
      y.remove();
      x.remove();
      p.remove();
    }  // every handle dropped: y's free releases x, x's p, p's t
    ASSERT_EQ(test::settled_groups(), base) << "round " << round;
  }
  stop = true;
  busy.join();
}

TEST(Group, DescendantCounters) {
  test::TempGroup t("desc");
  Group a = t->create("a"), b = a.create("b"), c = a.create("c");
  EXPECT_EQ(t->nr_descendants(), 3u);
  EXPECT_EQ(a.nr_descendants(), 2u);
  c.remove();
  EXPECT_EQ(t->nr_descendants(), 2u);
  EXPECT_EQ(t->nr_dying_descendants(), 1u);
  EXPECT_EQ(a.nr_dying_descendants(), 1u);
  c = Group();
  barrier();
  EXPECT_EQ(t->nr_dying_descendants(), 0u);
  b.remove();
  a.remove();
}

TEST(Group, IdsAreRecycledOnlyAfterFree) {
  test::TempGroup t("ids");
  Group a = t->create("a");
  const std::uint32_t id = a.id();
  a.remove();
  // While a is referenced (dying), its id is not handed out again.
  std::set<std::uint32_t> seen;
  std::vector<Group> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back(t->create("o" + std::to_string(i)));
    seen.insert(others.back().id());
  }
  EXPECT_EQ(seen.count(id), 0u);
  for (auto& g : others) g.remove();
  others.clear();
  a = Group();
  barrier();
  // Freed now: the lowest free id comes back first.
  Group again = t->create("again");
  EXPECT_LE(again.id(), id);
  again.remove();
}

TEST(Group, LimitsRoundTrip) {
  test::TempGroup t("lim");
  Group& g = t.get();
  EXPECT_EQ(g.max(), unlimited);
  EXPECT_EQ(g.high(), unlimited);
  EXPECT_EQ(g.low(), 0u);
  EXPECT_EQ(g.min(), 0u);
  g.set_max(1000);
  g.set_high(900);
  g.set_low(100);
  g.set_min(10);
  EXPECT_EQ(g.max(), 1000u);
  EXPECT_EQ(g.high(), 900u);
  EXPECT_EQ(g.low(), 100u);
  EXPECT_EQ(g.min(), 10u);
  EXPECT_THROW(Group().set_max(1), std::system_error);
}

}  // namespace
}  // namespace memcg
