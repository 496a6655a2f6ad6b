// Linked into every gtest executable: after the last test, wait until every
// group the tests released has been freed (memcg::barrier()).
//
// Why: release and free are deferred (last put -> worker -> call_rcu ->
// worker), so a test that drops its last handles just before the process
// exits leaves groups in flight. LeakSanitizer runs at exit while the worker
// and liburcu's callback thread are still moving them and can find a group
// at a moment when no scanned word points to it (seen in CI: 1 group of 3,
// about half of the runs of ProtectionReclaim.MinIsNeverReclaimed). This is
// the liburcu rule "call rcu_barrier() before exit" applied to the tests;
// the README (Group lifecycle) states it for applications.
#include <gtest/gtest.h>

#include "memcg/group.hpp"

namespace {

class QuiesceAtExit : public ::testing::Environment {
 public:
  void TearDown() override { memcg::barrier(); }
};

[[maybe_unused]] ::testing::Environment* const g_quiesce =
    ::testing::AddGlobalTestEnvironment(new QuiesceAtExit);

}  // namespace
