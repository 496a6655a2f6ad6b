#include "platform/worker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace memcg::detail {
namespace {

struct Item {
  WorkItem w;
  std::atomic<int>* count;
  std::thread::id* where;
};

TEST(Worker, RunsQueuedItemsOnItsOwnThreadInOrderAndFlushWaits) {
  constexpr int kN = 50;
  std::atomic<int> count{0};
  std::thread::id where[kN];
  Item items[kN];
  for (int i = 0; i < kN; ++i) {
    items[i].count = &count;
    items[i].where = &where[i];
    items[i].w.arg = &items[i];
    worker::queue(&items[i].w, [](WorkItem* w) {
      auto* it = static_cast<Item*>(w->arg);
      EXPECT_TRUE(worker::on_worker_thread());
      *it->where = std::this_thread::get_id();
      it->count->fetch_add(1);
    });
  }
  worker::flush();
  EXPECT_EQ(count.load(), kN);
  for (int i = 0; i < kN; ++i) EXPECT_NE(where[i], std::this_thread::get_id());
  EXPECT_FALSE(worker::on_worker_thread());
}

}  // namespace
}  // namespace memcg::detail
