// density_bench: memory density of the slab layer, not time (issue 11,
// "How it is checked"). Four parts, in this order, each freeing everything
// and removing its groups before the next:
//
//   (a) small group   a group with memory.max = 1M: live bytes it holds in
//                     kmalloc objects of 25 sizes (16 B .. 4 KiB, geometric),
//                     allocated round-robin, before the first ENOMEM; target
//                     >= 0.9 MiB                       (density/small_group.*)
//   (b) many groups   10,000 groups each holding one kmalloc object of 8 size
//                     classes (16 .. 2048 B): process RSS and root
//                     memory.current per group beyond its live bytes; target
//                     <= 2 KiB; glibc malloc of the same sets for reference
//                                                      (density/many_groups.*)
//   (c) page objects  150 MiB of 4096-byte memcg::Cache objects in one group:
//                     memory.current; target <= 153 MiB
//                                                      (density/page_objects.*)
//   (d) per-thread    a 64-thread allocation program (density/threads_prog.cpp)
//                     under `memcg-run --per-thread` vs plain `memcg-run`:
//                     memory.peak of /run; target: within 10%
//                                                      (density/per_thread_run.*)
//
// Then a TARGETS table: the measured value, the target and the value
// the issue quotes for the code it was filed against. Density has no peer
// allocator (only (b) prints glibc's RSS for the same objects, and (d) the
// program's peak RSS without memcg-run).
//
// Exit status: 0, or 1 on a real error (an allocation that must succeed
// failed, a group operation threw, a child process failed or its report was
// unreadable, groups still allocated after the parts and memcg::barrier()).
// PASS/MISS marks never decide it.
//
// Flags (besides Google Benchmark's, which are accepted and unused: nothing
// here is timed):
//   --smoke        (b) with 500 groups, (d) with 8 threads x 2 rounds x 2,000
//                  ops: what the ctest test bench.density_smoke runs
//   --groups=N     (b) with N groups (default 10,000)
//   --threads=N, --rounds=N, --ops=N   (d)'s program (default 64, 4, 40,000)
//   --only=LIST    the parts to run, e.g. --only=ad (default abcd)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "density/many_groups.hpp"
#include "density/page_objects.hpp"
#include "density/per_thread_run.hpp"
#include "density/report.hpp"
#include "density/small_group.hpp"
#include "harness/command_line.hpp"
#include "memcg/group.hpp"
#include "testing_stats.hpp"

int main(int argc, char** argv) {
  using namespace density_bench;
  memcg_bench::CommandLine cl(argc, argv);
  bool smoke = false;
  int groups = -1;
  ThreadsParams tp;
  int threads = -1, rounds = -1, ops = -1;
  std::string only = "abcd";
  constexpr auto kEqualsOnly = memcg_bench::CommandLine::Form::kEqualsOnly;
  const char* v;
  while (cl.next()) {
    if (cl.flag("--smoke")) smoke = true;
    else if ((v = cl.value("--groups", kEqualsOnly))) groups = std::atoi(v);
    else if ((v = cl.value("--threads", kEqualsOnly))) threads = std::atoi(v);
    else if ((v = cl.value("--rounds", kEqualsOnly))) rounds = std::atoi(v);
    else if ((v = cl.value("--ops", kEqualsOnly))) ops = std::atoi(v);
    else if ((v = cl.value("--only", kEqualsOnly))) only = v;
  }
  if (smoke) cl.add_forced(memcg_bench::kSmokeMinTime);
  if (!cl.initialize()) return 1;
  if (groups < 0) groups = smoke ? 500 : 10000;
  if (smoke) tp = {8, 2, 2000};
  if (threads >= 0) tp.threads = threads;
  if (rounds >= 0) tp.rounds = rounds;
  if (ops >= 0) tp.ops = ops;
  if (groups < 1 || tp.threads < 1 || tp.threads > 1024 || tp.rounds < 1 || tp.ops < 0) {
    std::fprintf(stderr, "density_bench: --groups, --threads (1..1024), --rounds must be positive\n");
    return 2;
  }
  auto wants = [&](char part) { return only.find(part) != std::string::npos; };

  memcg::barrier();
  const std::uint64_t groups_baseline = memcg::detail::runtime_stats().groups_allocated;
  std::vector<TargetRow> targets;
  bool error = false;

  std::printf("density_bench: memory density (bytes, not time)%s\n", smoke ? " -- smoke mode, reduced sizes" : "");
  if (wants('a')) {
    const SmallGroupResult r = run_small_group();
    print_small_group(r, &targets);
    error |= r.error;
  }
  if (wants('b')) {
    const ManyGroupsResult r = run_many_groups(groups);
    print_many_groups(r, &targets);
    error |= r.error;
  }
  if (wants('c')) {
    const PageObjectsResult r = run_page_objects();
    print_page_objects(r, &targets);
    error |= r.error;
  }
  if (wants('d')) {
    const PerThreadResult r = run_per_thread(tp);
    print_per_thread(r, &targets);
    error |= r.error;
  }

  memcg::barrier();
  const std::uint64_t groups_after = memcg::detail::runtime_stats().groups_allocated;
  print_targets(targets);
  if (smoke) std::printf("(smoke mode: (b) with %d groups and (d) with %d threads: not the issue's sizes)\n", groups,
                         tp.threads);
  if (groups_after != groups_baseline) {
    std::printf("ERROR: %llu groups allocated after every part removed its groups and barrier(), %llu before\n",
                static_cast<unsigned long long>(groups_after), static_cast<unsigned long long>(groups_baseline));
    error = true;
  }
  return error ? 1 : 0;
}
