// Helpers shared by the tests (not a library layer).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "memcg/memcg.hpp"

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

// Groups not yet freed, after every pending release has completed.
inline std::uint64_t settled_groups() {
  barrier();
  return runtime_stats().groups_allocated;
}

}  // namespace memcg::test
