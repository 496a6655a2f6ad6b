#include "harness/report.hpp"

#include <cstdio>
#include <thread>

namespace memcg_bench {

void print_targets_heading() { std::printf("\nTARGETS (informational; the exit code never depends on timings)\n"); }

void print_shared_machine_note() {
  std::printf("  (2-thread figures share the machine's %u CPUs with whatever else runs)\n",
              std::thread::hardware_concurrency());
}

}  // namespace memcg_bench
