// density_bench's shared pieces: the process RSS, byte formatting, and the
// TARGETS rows every part adds to (measured value, the issue's target, and
// the value issue 11 quotes for the code it was filed against).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/report.hpp"

namespace density_bench {

using memcg_bench::rss_bytes;  // the process's resident set (bench/harness)

/// "1.23 MiB" / "12.3 KiB" / "123 B".
std::string human(double bytes);

struct TargetRow {
  std::string what;      ///< the figure, with its part: "(a) ..."
  std::string target;    ///< the issue's target, as text (">= 0.90 MiB")
  std::string measured;  ///< this run's value, as text
  std::string issue;     ///< the value issue 11 quotes for the code it was filed against
  bool pass = false;
  bool measured_ok = true;  ///< false: the part did not run (no mark)
};

/// Prints the TARGETS table. Marks are informational: the exit code never
/// depends on them.
void print_targets(const std::vector<TargetRow>& rows);

}  // namespace density_bench
