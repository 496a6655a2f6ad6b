#include "harness/report.hpp"

#include <unistd.h>

#include <cstdio>
#include <thread>

namespace memcg_bench {

void print_targets_heading() { std::printf("\nTARGETS (informational; the exit code never depends on timings)\n"); }

void print_shared_machine_note() {
  std::printf("  (2-thread figures share the machine's %u CPUs with whatever else runs)\n",
              std::thread::hardware_concurrency());
}

std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace memcg_bench
