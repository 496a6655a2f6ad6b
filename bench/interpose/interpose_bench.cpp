// interpose_bench: runs the bench/interpose workloads (larson, xmalloc,
// cache_scratch) as child processes under glibc (no preload), mimalloc,
// jemalloc, tcmalloc (LD_PRELOAD=<lib>) and memcg (memcg-run -- <workload>),
// and prints wall time (clock_gettime around wait4) and peak RSS (wait4's
// ru_maxrss, which on Linux covers waited-for descendants too, so the memcg
// row is the workload's RSS, not memcg-run's) with ratios vs glibc and vs
// mimalloc. Medians of --reps runs (default 3). A peer whose library is
// missing is skipped. --smoke: 1 repetition, tiny sizes.
//
// Exit status: 0, or 1 if any workload run failed (non-zero exit, signal).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <vector>

extern char** environ;

#ifndef MEMCG_RUN_PATH
#error "MEMCG_RUN_PATH must be defined by CMake"
#endif

namespace {

struct Workload {
  const char* name;
  const char* path;
  std::vector<std::string> args, smoke_args;
};

struct Allocator {
  std::string name;
  std::string preload;  // empty: none
  bool memcg_run = false;
  bool available = true;
};

struct Sample {
  bool ok = false;
  double seconds = 0;
  long maxrss_kib = 0;
};

std::string find_lib(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (access(c.c_str(), R_OK) == 0) return c;
  return {};
}

// Environment for the child: ours without LD_PRELOAD and without memcg-run's
// variables, plus LD_PRELOAD=preload when given.
std::vector<std::string> child_env(const std::string& preload) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "MEMCG_RUN_", 10)) continue;
    env.emplace_back(*e);
  }
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  return env;
}

Sample run_once(const Workload& w, const Allocator& a, bool smoke) {
  std::vector<std::string> argv;
  if (a.memcg_run) {
    argv = {MEMCG_RUN_PATH, "--output", "/dev/null", "--"};
  }
  argv.emplace_back(w.path);
  for (const auto& s : smoke ? w.smoke_args : w.args) argv.push_back(s);
  std::vector<std::string> env = child_env(a.preload);
  std::vector<char*> cargv, cenv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);

  fflush(stdout);
  fflush(stderr);
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("interpose_bench: fork");
    return {};
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);  // workloads' checksum lines
    execve(cargv[0], cargv.data(), cenv.data());
    fprintf(stderr, "interpose_bench: exec %s: %s\n", cargv[0], strerror(errno));
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("interpose_bench: wait4");
      return {};
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  Sample s;
  s.seconds = static_cast<double>(t1.tv_sec - t0.tv_sec) + 1e-9 * static_cast<double>(t1.tv_nsec - t0.tv_nsec);
  s.maxrss_kib = ru.ru_maxrss;
  s.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!s.ok) {
    if (WIFEXITED(status))
      fprintf(stderr, "interpose_bench: %s under %s exited with %d\n", w.name, a.name.c_str(), WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
      fprintf(stderr, "interpose_bench: %s under %s killed by signal %d\n", w.name, a.name.c_str(), WTERMSIG(status));
  }
  return s;
}

template <class T>
T median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void usage(const char* prog) {
  fprintf(stderr, "usage: %s [--smoke] [--reps N] [--workload NAME]\n", prog);
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  int reps = 3;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--smoke")) smoke = true;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(1, atoi(argv[++i]));
    else if (!strcmp(argv[i], "--workload") && i + 1 < argc) only = argv[++i];
    else {
      usage(argv[0]);
      return 2;
    }
  }
  if (smoke) reps = 1;

  const std::vector<Workload> workloads = {
      {"larson", IB_LARSON_PATH, {"--threads", "2", "--size", "1000", "--iters", "10000000"},
       {"--threads", "2", "--size", "100", "--iters", "20000"}},
      {"xmalloc", IB_XMALLOC_PATH, {"--threads", "1", "--size", "64", "--iters", "2000000"},
       {"--threads", "1", "--size", "64", "--iters", "20000"}},
      {"cache_scratch", IB_CACHE_SCRATCH_PATH, {"--threads", "2", "--size", "8", "--iters", "2000000"},
       {"--threads", "2", "--size", "8", "--iters", "10000"}},
      {"thread_churn", IB_THREAD_CHURN_PATH, {"--threads", "2", "--size", "4", "--iters", "100000"},
       {"--threads", "2", "--size", "4", "--iters", "500"}},
  };

  const std::string libdir = "/usr/lib/x86_64-linux-gnu/";
  std::vector<Allocator> allocs = {
      {"glibc", "", false, true},
      {"mimalloc", find_lib({libdir + "libmimalloc.so.2", libdir + "libmimalloc.so", "/usr/local/lib/libmimalloc.so"})},
      {"jemalloc", find_lib({libdir + "libjemalloc.so.2", libdir + "libjemalloc.so", "/usr/local/lib/libjemalloc.so"})},
      {"tcmalloc", find_lib({libdir + "libtcmalloc_minimal.so.4", libdir + "libtcmalloc.so.4",
                             libdir + "libtcmalloc_minimal.so", "/usr/local/lib/libtcmalloc_minimal.so"})},
      {"memcg", "", true, true},
  };
  for (auto& a : allocs) {
    if (a.name == "mimalloc" || a.name == "jemalloc" || a.name == "tcmalloc") a.available = !a.preload.empty();
    if (a.memcg_run) a.available = access(MEMCG_RUN_PATH, X_OK) == 0;
    if (!a.available)
      printf("skip %s: %s not found\n", a.name.c_str(), a.memcg_run ? MEMCG_RUN_PATH : "library");
    else
      printf("%-9s %s\n", a.name.c_str(), a.memcg_run ? MEMCG_RUN_PATH " --" : a.preload.empty() ? "(no preload)" : a.preload.c_str());
  }
  printf("%s, median of %d run(s)\n\n", smoke ? "smoke" : "full", reps);

  bool failed = false;
  printf("%-14s %-9s %9s %10s %9s %9s %9s %9s\n", "workload", "allocator", "time s", "RSS MiB", "t/glibc", "t/mi",
         "rss/glibc", "rss/mi");
  for (const auto& w : workloads) {
    if (!only.empty() && only != w.name) continue;
    std::vector<Sample> med(allocs.size());
    // Interleave allocators within each repetition so a load that comes and
    // goes hits them alike.
    std::vector<std::vector<double>> times(allocs.size());
    std::vector<std::vector<long>> rss(allocs.size());
    std::vector<bool> ok(allocs.size(), true);
    for (int r = 0; r < reps; ++r) {
      for (size_t i = 0; i < allocs.size(); ++i) {
        if (!allocs[i].available) continue;
        Sample s = run_once(w, allocs[i], smoke);
        if (!s.ok) {
          ok[i] = false;
          failed = true;
          continue;
        }
        times[i].push_back(s.seconds);
        rss[i].push_back(s.maxrss_kib);
      }
    }
    for (size_t i = 0; i < allocs.size(); ++i) {
      if (!allocs[i].available || !ok[i] || times[i].empty()) continue;
      med[i] = {true, median(times[i]), median(rss[i])};
    }
    auto ratio = [](double x, const Sample& base, bool rss_ratio) -> std::string {
      if (!base.ok) return "-";
      double b = rss_ratio ? static_cast<double>(base.maxrss_kib) : base.seconds;
      if (b <= 0) return "-";
      char buf[32];
      snprintf(buf, sizeof buf, "%.2f", x / b);
      return buf;
    };
    for (size_t i = 0; i < allocs.size(); ++i) {
      const auto& a = allocs[i];
      if (!a.available) {
        printf("%-14s %-9s %9s\n", w.name, a.name.c_str(), "skipped");
        continue;
      }
      if (!med[i].ok) {
        printf("%-14s %-9s %9s\n", w.name, a.name.c_str(), "FAILED");
        continue;
      }
      const Sample& s = med[i];
      double r = static_cast<double>(s.maxrss_kib);
      printf("%-14s %-9s %9.3f %10.1f %9s %9s %9s %9s\n", w.name, a.name.c_str(), s.seconds, r / 1024.0,
             ratio(s.seconds, med[0], false).c_str(), ratio(s.seconds, med[1], false).c_str(),
             ratio(r, med[0], true).c_str(), ratio(r, med[1], true).c_str());
    }
  }
  return failed ? 1 : 0;
}
