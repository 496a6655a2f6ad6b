// Stress: worker threads charge and uncharge (through Reservations and the
// thread stocks) across 64 stable leaves and a churned set of short-lived
// groups, while one thread creates and removes groups and changes limits and
// another samples usage against max.
//
// Oracle:
//   - while it runs: no sampled usage of a fixed-limit group ever exceeds its
//     max (the 4 parents, and every churned group: its max is set once at
//     creation, before any worker can charge it, and never changed)
//   - at quiescence (workers joined, so their stocks are drained): for every
//     group G: G.current == Σ sizes of live reservations in G's subtree
//   - after every reservation and handle is dropped: every group the test
//     created is freed, exactly once (groups_freed grows by the number of
//     groups created, groups_allocated returns to its value before the test)
// Bounded by time (MEMCG_STRESS_MS, default 1500 ms) so it fits CI under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "core/invariants.hpp"
#include "core/group_impl.hpp"
#include "core/runtime.hpp"

namespace memcg {
namespace {

constexpr int kParents = 4, kLeavesPerParent = 16, kWorkers = 3;
constexpr std::uint64_t kParentMax = 4 << 20;

std::chrono::milliseconds stress_duration() {
  const char* e = std::getenv("MEMCG_STRESS_MS");
  return std::chrono::milliseconds(e ? std::atoi(e) : 1500);
}

struct Churned {
  Group group;
  std::uint64_t max;  // set at creation, never changed
};

struct Pool {  // churned groups that workers may charge
  std::mutex m;
  std::vector<Churned> groups;
  Group pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> l(m);
    if (groups.empty()) return {};
    return groups[rng() % groups.size()].group;
  }
  std::vector<Churned> snapshot() {
    std::lock_guard<std::mutex> l(m);
    return groups;
  }
};

TEST(Stress, ChargeUnchargeChurnAndLimitsKeepCountersExact) {
  const auto base = test::settled_groups();
  const auto freed_base = runtime_stats().groups_freed;
  auto top = std::make_unique<test::TempGroup>("stress");
  const Group& root = **top;
  std::vector<Group> parents, leaves;
  for (int p = 0; p < kParents; ++p) {
    parents.push_back(root.create("p" + std::to_string(p)));
    parents.back().set_max(kParentMax);  // fixed limits: sampled against usage
    for (int l = 0; l < kLeavesPerParent; ++l) leaves.push_back(parents.back().create("l" + std::to_string(l)));
  }
  Group churn_parent = root.create("churn");
  Pool pool;

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> over_max{0}, samples{0}, churned_samples{0}, refused{0}, ops{0}, created{0},
      removed{0};
  std::vector<std::vector<Reservation>> held(kWorkers);  // owned here, outlive the workers

  auto worker = [&](int w) {
    std::mt19937_64 rng(1234 + w);
    auto& mine = held[w];
    while (!stop.load(std::memory_order_relaxed)) {
      const unsigned op = rng() % 8;
      if (op < 4 || mine.empty()) {  // new reservation, in a stable leaf or a churned group
        Group g = (rng() % 4 == 0) ? pool.pick(rng) : leaves[rng() % leaves.size()];
        if (!g) continue;
        ScopedGroup scope(g);
        std::error_code ec;
        Reservation r = Reservation::try_make(current_group(), 1 + rng() % (96 << 10), ec);
        if (r) mine.push_back(std::move(r));
        else refused++;
        if (mine.size() > 64) {  // keep each worker's footprint bounded
          mine.erase(mine.begin());
        }
      } else if (op < 6) {
        Reservation& r = mine[rng() % mine.size()];
        if (!r.grow(1 + rng() % 8192)) refused++;
      } else if (op < 7) {
        Reservation& r = mine[rng() % mine.size()];
        r.shrink(1 + rng() % 8192);
      } else {
        mine.erase(mine.begin() + rng() % mine.size());
      }
      ops++;
    }
  };

  auto churner = [&] {
    std::mt19937_64 rng(99);
    int n = 0;
    const std::uint64_t limits[] = {unlimited, 256 << 10, 1 << 20, 3 << 20};
    while (!stop.load(std::memory_order_relaxed)) {
      Group g = churn_parent.create("c" + std::to_string(n++));
      const std::uint64_t max = limits[rng() % 4];
      g.set_max(max);  // before any worker can see it; never changed again
      {
        std::lock_guard<std::mutex> l(pool.m);
        pool.groups.push_back({g, max});
        created++;
        if (pool.groups.size() > 12) {
          std::size_t i = rng() % pool.groups.size();
          pool.groups[i].group.remove();  // reservations in it stay valid
          pool.groups.erase(pool.groups.begin() + i);
          removed++;
        }
      }
      // Limit changes on stable leaves, including below current usage.
      Group& leaf = leaves[rng() % leaves.size()];
      leaf.set_max(limits[rng() % 4]);
      leaf.set_high(limits[rng() % 4]);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };

  auto sampler = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      for (auto& p : parents) {
        if (p.current() > p.max()) over_max++;
        samples++;
      }
      // Churned groups, removed ones included (still charged by live
      // reservations). This thread's copies may hold a last reference.
      for (auto& c : pool.snapshot()) {
        if (c.group.current() > c.max) over_max++;
        if (c.group.max() != c.max) over_max++;
        churned_samples++;
      }
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) threads.emplace_back(worker, w);
  threads.emplace_back(churner);
  threads.emplace_back(sampler);
  test::run_for_at_least(stress_duration(),
                         [&] {
                           return samples.load() > 0u && churned_samples.load() > 0u && ops.load() > 1000u &&
                                  removed.load() > 0u;
                         });
  stop = true;
  for (auto& t : threads) t.join();  // worker exit drains their stocks

  EXPECT_EQ(over_max.load(), 0u) << "usage above a fixed max was observed";
  EXPECT_GT(samples.load(), 0u);
  EXPECT_GT(churned_samples.load(), 0u);
  EXPECT_GT(ops.load(), 1000u);
  EXPECT_GT(removed.load(), 0u);
  // Checkpoint: every layer's invariants, the exact equations included.
  detail::check_invariants(detail::CheckMode::kQuiescent);

  // Quiescence: every group's usage equals what its subtree's reservations hold.
  std::map<detail::GroupImpl*, std::pair<Group, std::uint64_t>> expected;
  auto add_expected = [&](const Group& g, std::uint64_t bytes) {
    for (Group x = g; x; x = x.parent()) {
      auto& e = expected[x.impl()];
      if (!e.first) e.first = x;
      e.second += bytes;
    }
  };
  for (auto& p : parents) add_expected(p, 0);
  for (auto& l : leaves) add_expected(l, 0);
  for (auto& mine : held)
    for (auto& r : mine) add_expected(r.group(), r.size());
  std::uint64_t checked = 0;
  for (auto& [impl, e] : expected) {
    if (impl == detail::runtime().root) continue;  // other tests' leftovers may sit in the root
    EXPECT_EQ(e.first.current(), e.second) << e.first.path() << " (" << to_string(e.first.state()) << ")";
    ++checked;
  }
  EXPECT_GE(checked, 64u + kParents);

  // Tear down: drop every reservation and handle, remove the rest; all freed.
  expected.clear();
  held.clear();
  for (auto& c : pool.groups) c.group.remove();
  pool.groups.clear();
  for (auto& l : leaves) l.remove();
  for (auto& p : parents) p.remove();
  churn_parent.remove();
  for (auto* v : {&leaves, &parents}) v->clear();
  churn_parent = Group();
  top.reset();
  EXPECT_EQ(test::settled_groups(), base) << "some removed group was never freed";
  // top + parents + leaves + churn parent + churned groups, each freed once.
  const std::uint64_t made = 1 + kParents + kParents * kLeavesPerParent + 1 + created.load();
  EXPECT_EQ(runtime_stats().groups_freed - freed_base, made) << "not every group the test created was freed";
  RecordProperty("ops", std::to_string(ops.load()));
  RecordProperty("groups_created", std::to_string(created.load()));
  std::printf("stress: %llu ops, %llu refused, %llu groups created, %llu removed, %llu samples (%llu churned)\n",
              (unsigned long long)ops.load(), (unsigned long long)refused.load(),
              (unsigned long long)created.load(), (unsigned long long)removed.load(),
              (unsigned long long)samples.load(), (unsigned long long)churned_samples.load());
}

}  // namespace
}  // namespace memcg
