// A reader that finds a group under RCU never sees freed memory: readers walk
// the id table and the sibling lists and check each group's magic while other
// threads create, remove and drop groups. Freed groups are poisoned before
// delete, and ASan reports any access after it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "platform/rcu.hpp"

namespace memcg {
namespace {

using detail::GroupImpl;

TEST(RcuReaders, NeverSeeFreedGroupsUnderChurn) {
  test::TempGroup top("rcu");
  GroupImpl* top_impl = top->impl();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> visits{0}, bad{0}, tryget_ok{0};

  auto reader = [&] {
    detail::Runtime& rt = detail::runtime();
    while (!stop.load(std::memory_order_relaxed)) {
      detail::rcu::ReadGuard g;
      // Walk the sibling list under the churned parent.
      for (GroupImpl* c = top_impl->first_child.load(std::memory_order_acquire); c;
           c = c->next_sibling.load(std::memory_order_acquire)) {
        if (c->magic.load(std::memory_order_relaxed) != detail::kGroupMagicLive) bad++;
        if (c->parent != top_impl) bad++;
        visits++;
      }
      // And the id table; tryget on what we find, as child-cache lookups do.
      std::uint32_t hw = rt.ids.high_water();
      for (std::uint32_t id = 0; id < hw; ++id) {
        GroupImpl* x = rt.ids.lookup(id);
        if (!x) continue;
        if (x->magic.load(std::memory_order_relaxed) != detail::kGroupMagicLive) bad++;
        if (detail::group_tryget(x)) {
          tryget_ok++;
          detail::group_put(x);  // may be the last put: queued, never freed here
        }
      }
    }
  };

  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader);
  {
    // At least 300 rounds, and until the readers have seen plenty of groups
    // (bounded at 10 s so a slow sanitizer run still ends).
    std::vector<Group> live;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int round = 0; round < 300 || (visits.load() < 20000 && std::chrono::steady_clock::now() < deadline);
         ++round) {
      live.push_back(top->create("g" + std::to_string(round)));
      if (live.size() > 8) {
        live.front().remove();
        live.erase(live.begin());  // drop the last handle: release -> RCU -> free
      }
    }
    for (auto& g : live) g.remove();
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(visits.load(), 0u);
  EXPECT_GT(tryget_ok.load(), 0u);
  barrier();
  EXPECT_EQ(top->nr_dying_descendants(), 0u);
}

}  // namespace
}  // namespace memcg
