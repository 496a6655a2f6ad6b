#include "memcg/shrinker.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "page_cache.hpp"
#include "testing_stats.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t kPage = 256 << 10;  // above the stock batch: exact accounting

TEST(Shrinker, ReclaimCallsGroupAwareShrinkersPerGroup) {
  test::TempGroup t("shr");
  Group a = t->create("a"), b = t->create("b");
  test::PageCache cache(kPage);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(cache.add(a));
    ASSERT_TRUE(cache.add(b));
  }
  EXPECT_EQ(t->current(), 16 * kPage);
  const std::uint64_t got = t->reclaim(4 * kPage);
  EXPECT_GE(got, 4 * kPage);
  EXPECT_EQ(t->current(), 16 * kPage - got);
  EXPECT_EQ((cache.pages(a) + cache.pages(b)) * kPage, t->current());
  EXPECT_GT(cache.counts(), 0u);
  EXPECT_GT(t->stat().pgsteal, 0u);
  b.remove();
  a.remove();
}

TEST(Shrinker, ReclaimIsEagainWhenShort) {
  test::TempGroup t("short");
  test::PageCache cache(kPage);
  ASSERT_TRUE(cache.add(*t));
  std::error_code ec;
  const std::uint64_t got = t->reclaim(10 * kPage, ec);
  EXPECT_EQ(got, kPage);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  EXPECT_EQ(t->current(), 0u);
  // Through the text tree.
  ASSERT_TRUE(cache.add(*t));
  fs::write(t->path() + "/memory.reclaim", "256K");
  EXPECT_EQ(t->current(), 0u);
  fs::write(t->path() + "/memory.reclaim", "1M", ec);
  EXPECT_EQ(ec, std::errc::resource_unavailable_try_again);
  fs::write(t->path() + "/memory.reclaim", "max", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  fs::read(t->path() + "/memory.reclaim", ec);
  EXPECT_EQ(ec, std::errc::permission_denied);
}

struct GlobalCounter : Shrinker {
  std::atomic<int> calls{0};
  std::vector<std::string> groups;
  std::mutex m;
  std::uint64_t count(const ShrinkControl& sc) override {
    calls++;
    std::lock_guard<std::mutex> l(m);
    groups.push_back(sc.group.path());
    return 0;
  }
  std::uint64_t scan(const ShrinkControl&) override { return 0; }
};

// A global (not group-aware) shrinker may free anyone's objects: a group's
// limit or memory.reclaim never calls it (the kernel calls memcg-unaware
// shrinkers only in global reclaim); reclaim of the root group does, with
// the root as ShrinkControl::group.
TEST(Shrinker, GlobalShrinkersRunOnlyInReclaimOfTheRoot) {
  test::TempGroup t("glob");
  Group a = t->create("a");
  GlobalCounter gc;
  auto reg = register_shrinker(gc, /*group_aware=*/false);
  test::PageCache cache(kPage);
  ASSERT_TRUE(cache.add(a));
  ASSERT_TRUE(cache.add(a));
  t->reclaim(kPage);  // memory.reclaim of a group
  t.get().set_max(kPage);  // a limit of a group
  ASSERT_TRUE(cache.add(a));  // a charge over the limit: limit reclaim
  EXPECT_EQ(gc.calls.load(), 0) << "a group's reclaim called a global shrinker";
  t.get().set_max(unlimited);
  ASSERT_TRUE(cache.add(a));
  Group::root().reclaim(kPage);  // reclaim of the whole process
  ASSERT_GT(gc.calls.load(), 0);
  std::lock_guard<std::mutex> l(gc.m);
  for (auto& p : gc.groups) EXPECT_EQ(p, Group::root().path());
  a.remove();
}

// A shrinker blocked inside scan() holds at most kMaxConcurrentCalls
// reclaimers; the others skip it and still reclaim from other shrinkers.
struct Blocker : Shrinker {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> inside{0};
  std::uint64_t count(const ShrinkControl&) override { return 1000; }
  std::uint64_t scan(const ShrinkControl&) override {
    inside++;
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return open; });
    inside--;
    return kShrinkStop;
  }
};

TEST(Shrinker, OneBlockedShrinkerDoesNotStallEveryReclaimer) {
  test::TempGroup t("block");
  Blocker blocker;
  auto breg = register_shrinker(blocker, true);
  test::PageCache cache(kPage);
  std::vector<Group> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(t->create("g" + std::to_string(i)));
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(cache.add(gs.back()));
  }
  const auto skips0 = detail::reclaim_stats().shrinker_skips;
  std::atomic<int> finished{0};
  std::vector<std::thread> rs;
  for (int i = 0; i < 4; ++i)
    rs.emplace_back([&, i] {
      std::error_code ec;  // EAGAIN is a legitimate outcome here
      gs[i].reclaim(kPage, ec);
      finished++;
    });
  // Two reclaimers end up stuck in the blocker; the other two skip it.
  for (int spin = 0; spin < 5000 && finished.load() < 2; ++spin)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GE(finished.load(), 2);
  EXPECT_LE(blocker.inside.load(), 2);
  EXPECT_GT(detail::reclaim_stats().shrinker_skips, skips0);
  {
    std::lock_guard<std::mutex> l(blocker.m);
    blocker.open = true;
  }
  blocker.cv.notify_all();
  for (auto& r : rs) r.join();
  EXPECT_EQ(finished.load(), 4);
  for (auto& g : gs) g.remove();
}

TEST(Shrinker, RegistrationChurnWhileReclaimRuns) {
  test::TempGroup t("regchurn");
  test::PageCache cache(kPage);
  std::atomic<bool> stop{false};
  std::thread refill([&] {
    while (!stop) {
      if (!cache.add(*t)) std::this_thread::yield();
      if (t->current() > 64 * kPage) std::this_thread::yield();
    }
  });
  std::thread reclaimer([&] {
    std::error_code ec;  // EAGAIN when the refiller is behind
    while (!stop) t->reclaim(kPage, ec);
  });
  for (int i = 0; i < 300; ++i) {
    GlobalCounter extra;
    auto r1 = register_shrinker(extra, true);
    test::PageCache transient(kPage);  // registers, holds nothing, unregisters
    r1.reset();
  }
  stop = true;
  refill.join();
  reclaimer.join();
  EXPECT_EQ(cache.pages(*t) * kPage, t->current());
}

}  // namespace
}  // namespace memcg
