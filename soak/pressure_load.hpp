// PressureLoad: the soak's notification, pressure-stall and OOM load. It
// runs beside the workers, the coordinator and the watcher of soak.cpp.
//
// Checks:
//   continuously  - each on_events subscription (the top group and every
//                   fixed group): its calls never overlap; each call's
//                   `previous` is the `current` of the call before it;
//                   previous <= current <= the group's memory.events read
//                   in the call (counts only grow).
//                 - churned groups' subscriptions, dropped by the
//                   coordinator before or after it removes the group: the
//                   same order of counts (the Subscription lifecycle
//                   against removal; ASan/TSan watch the rest).
//                 - the watcher's events fd on the top group: whenever it
//                   is readable, the top group's memory.events has grown
//                   since the last time it was consumed, or is unchanged
//                   (a change it already saw), never smaller.
//                 - memory.pressure of the top and fixed groups, read by
//                   the watcher: totals never decrease; full <= some;
//                   averages within [0, 100].
//                 - OOM handlers on fixed[1] (refuses) and fixed[2]
//                   (reclaims its group): two handlers of one domain never
//                   run at once; the context names the group and a
//                   victim in its subtree; a charge the refusing handler
//                   makes that does not fit fails at once (a nested OOM
//                   would show as a second handler of the domain).
//   at the end    (finish(), workers stopped) one more max event, made at
//                 a child of the top group: the events fd becomes readable
//                 and every subscription on the top group reports the top
//                 group's final memory.events, each within a bounded wait
//                 (delivery is eventual, never lost); the PSI trigger on
//                 the top group fired at most once per window.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "memcg/memcg.hpp"

namespace soak {

class PressureLoad {
 public:
  /// Subscribes to `top` and to fixed[0..n-1], opens an events fd and a PSI
  /// trigger on `top`, and sets the OOM handlers (n >= 3).
  PressureLoad(const memcg::Group& top, const memcg::Group* fixed, int n);
  ~PressureLoad();
  PressureLoad(const PressureLoad&) = delete;
  PressureLoad& operator=(const PressureLoad&) = delete;

  /// The watcher thread, often: the events fd and memory.pressure.
  void poll();
  /// The coordinator: a subscription on a churned group.
  memcg::Subscription subscribe_churned(const memcg::Group& g);
  /// After the workers stopped: the final checks (see above); drops every
  /// subscription and handler. Prints one summary line.
  void finish();

 private:
  struct Watched;
  struct PsiSeen {
    std::uint64_t some = 0, full = 0;
  };
  void check_pressure(const memcg::Group& g, PsiSeen& seen);

  memcg::Group top_;
  std::vector<memcg::Group> fixed_;
  std::vector<std::unique_ptr<Watched>> watched_;  // top first
  memcg::EventsFd fd_;
  memcg::Events fd_seen_;  // the watcher's
  std::vector<PsiSeen> psi_seen_;  // the watcher's: top, then fixed
  memcg::PressureTrigger trigger_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<std::uint64_t> fd_wakeups_{0}, trigger_fires_{0}, churned_calls_{0};
  std::atomic<int> in_handler_[2] = {};  // fixed[1], fixed[2]: handlers running
  std::atomic<std::uint64_t> handler_calls_[2] = {};
};

}  // namespace soak
