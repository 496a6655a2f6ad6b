// Small pieces every benchmark's own tables use: order statistics, the
// PASS/MISS mark of an informational target, and the TARGETS section's
// frame (a heading, and the note that 2-thread figures share the machine).
#pragma once

#include <cstdint>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <vector>

namespace memcg_bench {

/// The element of rank size * num / den (clamped to the last) of v sorted
/// by less: quantile(v, 1, 2) is the median (the upper one for an even
/// size), quantile(v, 9, 10) the 90th percentile. v must not be empty.
template <class T, class Less = std::less<T>>
T quantile(std::vector<T> v, std::size_t num, std::size_t den, Less less = Less()) {
  std::sort(v.begin(), v.end(), less);
  return v[std::min(v.size() - 1, v.size() * num / den)];
}

inline const char* mark(bool pass) { return pass ? "PASS" : "MISS"; }

/// "\nTARGETS (informational; ...)": timings never decide the exit code.
void print_targets_heading();
/// The closing line of TARGETS: 2-thread figures share the machine's CPUs.
void print_shared_machine_note();

/// Resident set size of this process (/proc/self/statm), 0 if unreadable.
std::uint64_t rss_bytes();

}  // namespace memcg_bench
