// Helpers shared by the tests (not a library layer).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "memcg/memcg.hpp"
#include "testing_stats.hpp"

namespace memcg::test {

// A uniquely named child of the root, removed (if still online) at scope exit.
class TempGroup {
 public:
  explicit TempGroup(const std::string& prefix = "t") {
    static std::atomic<int> n{0};
    g_ = Group::root().create(prefix + "-" + std::to_string(n.fetch_add(1)) + "-" +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  ~TempGroup() {
    std::error_code ec;
    if (g_.online()) g_.remove(ec);
  }
  const Group& operator*() const { return g_; }
  const Group* operator->() const { return &g_; }
  Group& get() { return g_; }

 private:
  Group g_;
};

// A stress test's run: at least `d`, and on until `enough()` says it did the
// minimum work its checks expect, so that those checks do not depend on how
// loaded the machine is (scripts/race_hunt.sh runs many copies at once); at
// most 20 x d.
template <class F>
void run_for_at_least(std::chrono::milliseconds d, F&& enough) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t = std::chrono::steady_clock::now() - start;
    if ((t >= d && enough()) || t >= 20 * d) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Groups not yet freed, after every pending release has completed.
inline std::uint64_t settled_groups() {
  barrier();
  return detail::runtime_stats().groups_allocated;
}

}  // namespace memcg::test
