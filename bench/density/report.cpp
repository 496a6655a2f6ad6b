#include "density/report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace density_bench {

std::string human(double bytes) {
  char buf[64];
  const double a = bytes < 0 ? -bytes : bytes;
  if (a >= 1048576.0) std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / 1048576.0);
  else if (a >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  return buf;
}

void print_targets(const std::vector<TargetRow>& rows) {
  std::printf("\nTARGETS (issue 11; informational: the exit code never depends on a density figure)\n");
  std::size_t w = 4;
  for (const TargetRow& r : rows) w = std::max(w, r.what.size());
  const int wi = static_cast<int>(w);
  std::printf("  %-*s  %-13s %-30s %-4s  %s\n", wi, "what", "target", "measured", "", "issue 11 quotes (before)");
  for (const TargetRow& r : rows)
    std::printf("  %-*s  %-13s %-30s %-4s  %s\n", wi, r.what.c_str(), r.target.c_str(), r.measured.c_str(),
                r.measured_ok ? (r.pass ? "PASS" : "MISS") : "-", r.issue.c_str());
}

}  // namespace density_bench
