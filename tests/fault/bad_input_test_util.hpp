// Shared by the bad-input tests (tests/fault/bad_input_<component>_test.cpp):
// each test is a row (or a few) of docs/bad-inputs.md. The rule: a clean
// error (error code, exception, nullptr, false) and no change; where the
// input is a broken pointer, checked builds (MEMCG_CHECKED) abort with a
// clear message. Groups the tests create are named "bi-..."; after the last
// test of a program every one of them must be removed and freed.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "../test_util.hpp"
#include "charge/stock.hpp"
#include "slab/slab_internal.hpp"

namespace memcg::bad_input {

inline void quiesce_thread() {
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

// After the last test: every group the program created is removed, and
// (after a barrier) freed, so that nothing is left queued for the worker at
// exit (LeakSanitizer would report it).
class AllGroupsFreed : public ::testing::Environment {
 public:
  void TearDown() override {
    barrier();
    for (const Group& c : Group::root().children())
      EXPECT_NE(c.name().rfind("bi-", 0), 0u) << c.path() << " left online";
    EXPECT_EQ(Group::root().nr_dying_descendants(), 0u);
  }
};
inline ::testing::Environment* const kAllGroupsFreed = ::testing::AddGlobalTestEnvironment(new AllGroupsFreed);

// A child "g" of parent with every limit set (max 8M, high 4M, low 2M,
// min 1M): the removed-group rows check that nothing reads or writes them.
inline Group child_with_limits(const Group& parent) {
  Group g = parent.create("g");
  g.set_max(8 << 20);
  g.set_high(4 << 20);
  g.set_low(2 << 20);
  g.set_min(1 << 20);
  return g;
}

inline bool events_zero(const Events& e) {
  return e.low == 0 && e.high == 0 && e.max == 0 && e.oom == 0 && e.oom_kill == 0;
}

inline std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace memcg::bad_input
