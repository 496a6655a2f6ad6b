#include "density/per_thread_run.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DENSITY_BENCH_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DENSITY_BENCH_SANITIZER 1
#endif
#endif

// (d) runs memcg-run only when it is built and the bench is not sanitized.
#if defined(DENSITY_MEMCG_RUN_PATH) && !defined(DENSITY_BENCH_SANITIZER)
#define DENSITY_BENCH_WITH_MEMCG_RUN 1
#endif

#ifndef DENSITY_THREADS_PROG_PATH
#error "DENSITY_THREADS_PROG_PATH must be defined by CMake"
#endif

extern char** environ;

namespace density_bench {
namespace {

// Our environment without LD_PRELOAD and memcg-run's variables (the bench
// itself may run under a wrapper).
std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (!std::strncmp(*e, "LD_PRELOAD=", 11) || !std::strncmp(*e, "MEMCG_RUN_", 10)) continue;
    env.emplace_back(*e);
  }
  return env;
}

// Runs argv with stdout on /dev/null; false (and a message) unless it exits 0.
bool run_child(std::vector<std::string> argv, ThreadsRun* out) {
  std::vector<std::string> env = child_env();
  std::vector<char*> cargv, cenv;
  for (std::string& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (std::string& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("density_bench (d): fork");
    return false;
  }
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    execve(cargv[0], cargv.data(), cenv.data());
    std::fprintf(stderr, "density_bench (d): exec %s: %s\n", cargv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::perror("density_bench (d): wait4");
      return false;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  out->seconds = double(t1.tv_sec - t0.tv_sec) + 1e-9 * double(t1.tv_nsec - t0.tv_nsec);
  out->maxrss_kib = ru.ru_maxrss;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status))
    std::fprintf(stderr, "density_bench (d): %s: exit status %d\n", out->mode.c_str(), WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    std::fprintf(stderr, "density_bench (d): %s: killed by signal %d\n", out->mode.c_str(), WTERMSIG(status));
  return false;
}

#if defined(DENSITY_BENCH_WITH_MEMCG_RUN)
// memory.peak and memory.current of the [/run] section of a text report,
// and the number of [/run/...] sections (the per-thread groups).
bool parse_report(const std::string& path, ThreadsRun* out) {
  std::ifstream in(path);
  std::string line;
  bool in_run = false, have_peak = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '[') {
      in_run = line == "[/run]";
      if (line.rfind("[/run/", 0) == 0) ++out->thread_groups;
      continue;
    }
    if (!in_run) continue;
    if (line.rfind("memory.peak: ", 0) == 0) {
      out->peak = std::strtoull(line.c_str() + 13, nullptr, 10);
      have_peak = true;
    } else if (line.rfind("memory.current: ", 0) == 0) {
      out->current = std::strtoull(line.c_str() + 16, nullptr, 10);
    }
  }
  if (!have_peak) std::fprintf(stderr, "density_bench (d): no memory.peak of /run in %s\n", path.c_str());
  return have_peak;
}
#endif

std::vector<std::string> prog_args(const ThreadsParams& p) {
  return {DENSITY_THREADS_PROG_PATH, std::to_string(p.threads), std::to_string(p.rounds), std::to_string(p.ops)};
}

ThreadsRun run_memcg(const ThreadsParams& p, bool per_thread, bool* error) {
  ThreadsRun r;
  r.mode = per_thread ? "memcg-run --per-thread" : "memcg-run";
#if !defined(DENSITY_MEMCG_RUN_PATH)
  r.skip_reason = "memcg-run not built (MEMCG_BUILD_TOOLS=OFF)";
#elif !defined(DENSITY_BENCH_WITH_MEMCG_RUN)
  r.skip_reason = "sanitizer build (its runtime owns malloc; no LD_PRELOAD interposer)";
#else
  const char* tmpdir = std::getenv("TMPDIR");
  std::string report = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/density_bench_report.XXXXXX";
  const int fd = mkstemp(report.data());
  if (fd < 0) {
    std::perror("density_bench (d): mkstemp");
    *error = true;
    return r;
  }
  close(fd);
  std::vector<std::string> argv = {DENSITY_MEMCG_RUN_PATH, "--report", "text", "--output", report};
  if (per_thread) argv.emplace_back("--per-thread");
  argv.emplace_back("--");
  for (std::string& a : prog_args(p)) argv.push_back(std::move(a));
  r.ran = run_child(argv, &r) && parse_report(report, &r);
  if (!r.ran) *error = true;
  unlink(report.c_str());
#endif
  return r;
}

}  // namespace

PerThreadResult run_per_thread(const ThreadsParams& p) {
  PerThreadResult res;
  res.params = p;
  ThreadsRun glibc;
  glibc.mode = "glibc";
  glibc.ran = run_child(prog_args(p), &glibc);
  if (!glibc.ran) res.error = true;
  res.runs.push_back(glibc);
  res.runs.push_back(run_memcg(p, false, &res.error));
  res.runs.push_back(run_memcg(p, true, &res.error));
  return res;
}

void print_per_thread(const PerThreadResult& r, std::vector<TargetRow>* targets) {
  std::printf("\n(d) PER-THREAD GROUPS  density_threads_prog %d threads x %d rounds x %d ops per thread (plain\n"
              "    malloc/free; some objects outlive their thread); peak = memory.peak of /run in memcg-run's report,\n"
              "    maxrss = wait4 ru_maxrss of the child; seconds are informational\n",
              r.params.threads, r.params.rounds, r.params.ops);
  std::printf("    %-24s %14s %14s %14s %8s %8s\n", "mode", "/run peak", "/run at exit", "maxrss", "groups", "seconds");
  for (const ThreadsRun& t : r.runs) {
    if (!t.ran) {
      std::printf("    %-24s %s\n", t.mode.c_str(), t.skip_reason.empty() ? "FAILED (see stderr)" : ("skipped: " + t.skip_reason).c_str());
      continue;
    }
    const bool memcg = t.mode != "glibc";
    std::printf("    %-24s %14s %14s %14s %8d %8.2f\n", t.mode.c_str(), memcg ? human(double(t.peak)).c_str() : "-",
                memcg ? human(double(t.current)).c_str() : "-", human(double(t.maxrss_kib) * 1024).c_str(),
                t.thread_groups, t.seconds);
  }
  const ThreadsRun& plain = r.runs[1];
  const ThreadsRun& per = r.runs[2];
  if (!targets) return;
  TargetRow row{"(d) memcg-run --per-thread peak / plain memcg-run peak", "<= 1.10", "not measured",
                "mstress: 230 / 81 MiB = 2.84", false, false};
  if (plain.ran && per.ran && plain.peak > 0) {
    const double ratio = double(per.peak) / double(plain.peak);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.2f (%s / %s)", ratio, human(double(per.peak)).c_str(),
                  human(double(plain.peak)).c_str());
    row.measured = buf;
    row.pass = ratio <= kPerThreadTarget;
    row.measured_ok = true;
    std::printf("    per-thread / plain: peak %.2fx, maxrss %.2fx\n", ratio,
                double(per.maxrss_kib) / double(plain.maxrss_kib));
  }
  targets->push_back(row);
}

}  // namespace density_bench
