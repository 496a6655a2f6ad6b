#include "harness/capture_reporter.hpp"

#include <ctime>

#include "harness/report.hpp"

namespace memcg_bench {

CaptureReporter::CaptureReporter(std::FILE* timeline)
    : benchmark::ConsoleReporter(OO_Tabular), timeline_(timeline) {}

void CaptureReporter::ReportRuns(const std::vector<Run>& runs) {
  if (timeline_ && !runs.empty()) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    std::fprintf(timeline_, "%lld.%03ld %s\n", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000000,
                 runs.front().benchmark_name().c_str());
    std::fflush(timeline_);
  }
  for (const Run& r : runs) {
    // Every repetition, or only the "median" aggregate when the user asked
    // for --benchmark_report_aggregates_only.
    const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
    if (r.run_type != Run::RT_Iteration && !median) continue;
    if (r.error_occurred) {
      ++errors_;
      continue;
    }
    Sample s;
    const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
    s.real_ns = r.GetAdjustedRealTime() * to_ns;
    s.cpu_ns = r.GetAdjustedCPUTime() * to_ns;
    s.threads = static_cast<int>(r.threads);
    for (const auto& [name, c] : r.counters) s.counters[name] = static_cast<double>(c);
    auto it = s.counters.find("items_per_second");
    s.items_per_s = it != s.counters.end() ? it->second : 0.0;
    s.ns_per_op = s.items_per_s > 0 ? 1e9 * s.threads / s.items_per_s : 0.0;
    (median ? medians_ : samples_)[Key{r.run_name.function_name, s.threads}].push_back(s);
  }
  ConsoleReporter::ReportRuns(runs);
}

bool CaptureReporter::get(const std::string& name, int threads, Sample* out) const {
  auto it = samples_.find(Key{name, threads});
  if (it == samples_.end() || it->second.empty()) {
    it = medians_.find(Key{name, threads});
    if (it == medians_.end() || it->second.empty()) return false;
  }
  *out = quantile(it->second, 1, 2, [](const Sample& a, const Sample& b) { return a.items_per_s < b.items_per_s; });
  return true;
}

}  // namespace memcg_bench
