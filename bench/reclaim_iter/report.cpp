#include "reclaim_iter/report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

namespace reclaim_iter_bench {
namespace {

std::string fmt_ratio(double a, double b, double floor_b) {
  char buf[64];
  if (b > 0)
    std::snprintf(buf, sizeof buf, "%.1fx", a / b);
  else if (a > 0)
    std::snprintf(buf, sizeof buf, "> %.0fx (old: 0)", a / floor_b);
  else
    std::snprintf(buf, sizeof buf, "n/a (both 0)");
  return buf;
}

// The phase's last run (--benchmark_repetitions runs a phase more than once).
const PhaseResult* find(const std::vector<PhaseResult>& rs, int n, int t, Scheme p) {
  const PhaseResult* last = nullptr;
  for (const PhaseResult& r : rs)
    if (r.n == n && r.threads == t && r.scheme == p) last = &r;
  return last;
}

}  // namespace

void print_report(const std::vector<PhaseResult>& rs, const Options& opt) {
  std::printf(
      "\nSUMMARY  tree: /bench-iter-<k> -> %d parents -> N/%d leaves each (N + %d groups per round);\n"
      "         churn: 1 leaf destroyed + recreated every %.0f us; reclaim work %.2f us/group; phase %.2f s\n",
      kParents, kParents, kParents + 1, opt.churn_us, opt.work_us, opt.seconds);
  std::printf("%-6s %3s %-8s | %10s | %8s %9s %9s %10s | %8s %8s %8s %11s | %7s %9s\n", "N", "thr", "scheme",
              "full rnd/s", "started", "completed", "premature", "longest", "max gap", "median", "p90", "starved",
              "destr/s", "visits/s");
  std::printf("%-6s %3s %-8s | %10s | %8s %9s %9s %10s | %8s %8s %8s %11s | %7s %9s\n", "", "", "", "(coverage)",
              "<------", "shared rounds", "------>", "round ms", "ms", "gap ms", "gap ms", "groups", "", "");
  for (const PhaseResult& r : rs) {
    const double s = r.seconds > 0 ? r.seconds : 1;
    char starved[32];
    std::snprintf(starved, sizeof starved, "%" PRIu64 "/%" PRIu64, r.starved, r.whole_phase_groups);
    std::printf("%-6d %3d %-8s | %10.1f | %8" PRIu64 " %9" PRIu64 " %9" PRIu64 " %10.1f | %8.1f %8.1f %8.1f %11s"
                " | %7.0f %9.0f\n",
                r.n, r.threads, scheme_name(r.scheme), static_cast<double>(r.full_rounds) / s, r.shared_started,
                r.shared_completed, r.premature, r.longest_shared_ms, r.max_gap_ms, r.median_gap_ms, r.p90_gap_ms,
                starved, static_cast<double>(r.destructions) / s, static_cast<double>(r.visits) / s);
  }
  std::printf("  started = the iterator's rounds (generations) walked in, the one open at the phase end included;\n"
              "  completed = ended by the walk falling off the subtree; premature = completed without visiting every\n"
              "  group alive throughout (root-only misses: see DETAIL); longest round = longest shared round, the open one's age included;\n"
              "  starved = alive for the whole phase and never visited / alive for the whole phase\n");

  std::printf("\nDETAIL   reclaimer loops (cookie loops started / ended by reclaim_iter -> nullptr), library round\n"
              "         counter delta, age of the shared round open at the end, median coverage round, visits not\n"
              "         counted (group dying or not yet registered), completed rounds that missed only the root (a\n"
              "         2-reclaimer straggler took it under the old generation: not a skip, not premature), groups\n"
              "         missed by premature rounds (sum, max in one round), groups that lived in the phase, root\n"
              "         handed out after a loop's first group (old: restarts; targeted: straggler took a reset cursor),\n"
              "         late = visits recorded after their round had ended (they count for it; 2 reclaimers),\n"
              "         CPUs = the reclaimer threads' CPU time / phase length (2 reclaimers on a busy machine: < 2)\n");
  std::printf("%-6s %3s %-8s | %8s %9s %10s %9s %10s | %10s %9s %7s %7s %8s %9s %5s %5s\n", "N", "thr", "scheme", "loops",
              "loops end", "lib rounds", "open ms", "cov rnd ms", "uncounted", "root-only", "missed", "max", "groups", "root mid", "late", "CPUs");
  for (const PhaseResult& r : rs)
    std::printf("%-6d %3d %-8s | %8" PRIu64 " %9" PRIu64 " %10" PRIu64 " %9.1f %10.2f | %10" PRIu64 " %9" PRIu64
                " %7" PRIu64 " %7" PRIu64 " %8" PRIu64 " %9" PRIu64 " %5" PRIu64 " %5.2f\n",
                r.n, r.threads, scheme_name(r.scheme), r.loops_started, r.loops_completed, r.lib_rounds,
                r.open_round_ms, r.median_round_ms, r.uncounted_visits, r.root_only, r.premature_missing,
                r.premature_max, r.groups_seen, r.root_mid_loop, r.late_visits, r.reclaimer_cpus);

  std::printf("\nRATIOS   targeted / old, full rounds per second\n");
  for (int n : opt.sizes)
    for (int t : opt.threads) {
      const PhaseResult* a = find(rs, n, t, Scheme::kTargeted);
      const PhaseResult* b = find(rs, n, t, Scheme::kOld);
      if (!a || !b) continue;
      const double ra = static_cast<double>(a->full_rounds) / a->seconds;
      const double rb = static_cast<double>(b->full_rounds) / b->seconds;
      std::printf("  N=%-6d %d thr: targeted %8.1f/s  old %8.1f/s  ratio %s;  max gap %.1f ms vs %.1f ms\n", n, t,
                  ra, rb, fmt_ratio(ra, rb, 1.0 / b->seconds).c_str(), a->max_gap_ms, b->max_gap_ms);
    }

  // Acceptance (targeted invalidation): with the largest N at one destruction per ms, the
  // targeted scheme completes every round it starts (all but the one the
  // phase end cuts, none premature); the old one completes few or none
  // (here: at most 10% of the targeted scheme's full rounds).
  const int big = *std::max_element(opt.sizes.begin(), opt.sizes.end());
  std::printf("\nACCEPTANCE (N=%d, one destruction every %.0f us; informational)\n", big, opt.churn_us);
  for (int t : opt.threads) {
    const PhaseResult* a = find(rs, big, t, Scheme::kTargeted);
    const PhaseResult* b = find(rs, big, t, Scheme::kOld);
    if (!a || !b) {
      std::printf("  %d thr: not run (--benchmark_filter left out a side)\n", t);
      continue;
    }
    // Every round it starts completes: none premature, and no round (the
    // one open at the end included) lasted more than a quarter of the phase.
    const bool a_ok = a->premature == 0 && a->shared_completed > 0 && a->longest_shared_ms < a->seconds * 250.0;
    const bool b_ok = b->full_rounds * 10 <= a->full_rounds && b->shared_completed * 10 <= a->shared_completed;
    std::printf("  %d thr: targeted completed %" PRIu64 " of %" PRIu64 " shared rounds started (the last one cut by the"
                " phase end), %" PRIu64 " premature, longest round %.1f ms, %" PRIu64 " full rounds: %s\n",
                t, a->shared_completed, a->shared_started, a->premature, a->longest_shared_ms, a->full_rounds,
                a_ok ? "PASS" : "MISS");
    std::printf("  %d thr: old      completed %" PRIu64 " of %" PRIu64 " shared rounds started, longest round %.1f ms,"
                " %" PRIu64 " full rounds, %" PRIu64 "/%" PRIu64 " groups never visited: %s\n",
                t, b->shared_completed, b->shared_started, b->longest_shared_ms, b->full_rounds, b->starved,
                b->whole_phase_groups, b_ok ? "PASS (few or none)" : "MISS");
  }
}

}  // namespace reclaim_iter_bench
