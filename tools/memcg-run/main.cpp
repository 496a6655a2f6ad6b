// memcg-run: runs CMD with libmemcg_preload.so, the allocations of CMD and
// of every process it starts charged to the group /run, and reports /run's
// figures when CMD ends (docs/memcg-run.md).
//
//   memcg-run [--max B] [--high B] [--per-thread] [--per-process]
//             [--report text|json] [--output FILE] -- CMD ARGS...
//
// The process tree's counters live in a shared memory segment that
// memcg-run creates (src/interpose/shared_tree.hpp); memcg-run watches it
// while CMD runs, gives back the charges of processes that died without
// exiting, and writes the report from it.
//
// Exit status: CMD's; 128+N if CMD was killed by signal N; 127 if CMD was not
// found, 126 if it could not be executed; 2 for bad options.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "interpose/shared_tree.hpp"
#include "memcg/fs.hpp"
#include "report.hpp"

namespace {

const char* kUsage =
    "usage: memcg-run [--max BYTES] [--high BYTES] [--per-thread] [--report text|json]\n"
    "                 [--output FILE] [--socket PATH] [--per-process] -- CMD [ARGS...]\n"
    "  --max BYTES      memory.max of the group /run: CMD and every process it starts,\n"
    "                   together (K/M/G/T suffixes, or 'max')\n"
    "  --high BYTES     memory.high of /run\n"
    "  --per-thread     one child group per thread (t<tid>-<name>) under its process's\n"
    "  --per-process    each process its own /run, limits and report (no process tree)\n"
    "  --report FORMAT  report format at exit: text (default) or json\n"
    "  --output FILE    write the report to FILE instead of stderr\n"
    "  --socket PATH    serve the program's tree on this control socket while it runs\n"
    "                   (memcgctl top --attach PATH; sets MEMCG_SOCKET)\n";

[[noreturn]] void usage_error(const std::string& msg) {
  if (!msg.empty()) fprintf(stderr, "memcg-run: %s\n", msg.c_str());
  fputs(kUsage, stderr);
  exit(2);
}

bool readable(const std::string& p) { return !p.empty() && access(p.c_str(), R_OK) == 0; }

std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string s(buf, static_cast<std::size_t>(n));
  auto slash = s.rfind('/');
  return slash == std::string::npos ? std::string() : s.substr(0, slash);
}

std::string find_preload() {
  if (const char* e = getenv("MEMCG_PRELOAD"); e && *e) return e;
  const std::string name = "libmemcg_preload.so";
  const std::string dir = exe_dir();
  std::vector<std::string> candidates;
  if (!dir.empty()) {
    candidates.push_back(dir + "/../" MEMCG_INSTALL_LIBDIR "/" + name);  // installed (relocatable)
    candidates.push_back(dir + "/" + name);
  }
  candidates.push_back(MEMCG_PRELOAD_BUILD_PATH);
  candidates.push_back(MEMCG_PRELOAD_INSTALL_PATH);
  for (const auto& c : candidates) {
    if (readable(c)) {
      char real[4096];
      return realpath(c.c_str(), real) ? std::string(real) : c;
    }
  }
  return {};
}

// Waits for CMD; meanwhile, every 100 ms, gives back the charges of the
// tree's processes that died without exiting (a pidfd wakes the wait as
// soon as CMD ends).
bool wait_for(pid_t pid, memcg::interpose::tree::Segment* seg, int* status) {
  const int pfd = seg ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1;
  for (;;) {
    const pid_t r = waitpid(pid, status, seg ? WNOHANG : 0);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      if (pfd >= 0) close(pfd);
      return false;
    }
    if (r == 0) {
      if (pfd >= 0) {
        struct pollfd p{pfd, POLLIN, 0};
        poll(&p, 1, 100);
      } else {
        usleep(20 * 1000);
      }
      memcg::interpose::tree::sweep(seg);
      memcg::interpose::tree::sample_resident(seg);
    }
  }
  if (pfd >= 0) close(pfd);
  return true;
}

// Writes the report to FILE (created or truncated) or to stderr.
void write_report(const std::string& file, const std::string& text) {
  FILE* f = stderr;
  if (!file.empty()) {
    f = fopen(file.c_str(), "we");
    if (!f) {
      fprintf(stderr, "memcg-run: cannot write the report to %s: %s\n", file.c_str(), strerror(errno));
      f = stderr;
    }
  }
  fwrite(text.data(), 1, text.size(), f);
  if (f != stderr) fclose(f); else fflush(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::string max, high, report = "text", output, socket;
  bool per_thread = false, per_process = false;
  int i = 1;
  auto value = [&](const std::string& opt, std::string& out) {
    const std::string a = argv[i];
    if (a.size() > opt.size() && a.compare(0, opt.size() + 1, opt + "=") == 0) {
      out = a.substr(opt.size() + 1);
      return;
    }
    if (i + 1 >= argc) usage_error(opt + " needs a value");
    out = argv[++i];
  };
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    auto is = [&](const char* o) { return a == o || a.rfind(std::string(o) + "=", 0) == 0; };
    if (a == "--") {
      ++i;
      break;
    } else if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    } else if (is("--max")) {
      value("--max", max);
    } else if (is("--high")) {
      value("--high", high);
    } else if (a == "--per-thread") {
      per_thread = true;
    } else if (a == "--per-process") {
      per_process = true;
    } else if (is("--report")) {
      value("--report", report);
    } else if (is("--output")) {
      value("--output", output);
    } else if (is("--socket")) {
      value("--socket", socket);
    } else if (!a.empty() && a[0] == '-') {
      usage_error("unknown option: " + a);
    } else {
      break;  // the command (without "--")
    }
  }
  std::uint64_t max_bytes = UINT64_MAX, high_bytes = UINT64_MAX;
  if (!max.empty() && !memcg::fs::parse_bytes(max, max_bytes)) usage_error("bad --max value: " + max);
  if (!high.empty() && !memcg::fs::parse_bytes(high, high_bytes)) usage_error("bad --high value: " + high);
  if (report != "text" && report != "json") usage_error("bad --report value: " + report + " (text or json)");
  if (i >= argc) usage_error("no command given");

  for (std::string* f : {&output, &socket}) {
    if (f->empty() || (*f)[0] == '/') continue;  // the child may change directory
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) *f = std::string(cwd) + "/" + *f;
  }
  if (socket.size() > 107) usage_error("--socket path too long (at most 107 bytes, made absolute): " + socket);
  const std::string preload = find_preload();
  if (preload.empty()) {
    fprintf(stderr, "memcg-run: cannot find libmemcg_preload.so (set MEMCG_PRELOAD)\n");
    return 127;
  }

  namespace tree = memcg::interpose::tree;
  tree::Segment* seg = nullptr;
  std::string shm_name;
  if (!per_process) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    shm_name = "/memcg-run-" + std::to_string(getpid()) + "-" + std::to_string(ts.tv_nsec);
    seg = tree::create(shm_name, max_bytes, high_bytes);
    if (!seg) {
      fprintf(stderr, "memcg-run: cannot create the shared segment %s: %s\n", shm_name.c_str(), strerror(errno));
      return 126;
    }
  }

  // Like system(): the terminal's SIGINT/SIGQUIT go to the child.
  struct sigaction ign{}, old_int{}, old_quit{};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);

  pid_t pid = fork();
  if (pid < 0) {
    perror("memcg-run: fork");
    if (seg) shm_unlink(shm_name.c_str());
    return 126;
  }
  if (pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    std::string ld = preload;
    if (const char* e = getenv("LD_PRELOAD"); e && *e) ld += std::string(":") + e;
    setenv("LD_PRELOAD", ld.c_str(), 1);
    auto set_or_unset = [](const char* k, const std::string& v) {
      if (v.empty()) unsetenv(k); else setenv(k, v.c_str(), 1);
    };
    set_or_unset("MEMCG_RUN_PER_THREAD", per_thread ? "1" : "");
    if (!socket.empty()) setenv("MEMCG_SOCKET", socket.c_str(), 1);
    if (seg) {  // a process tree: limits and report are memcg-run's
      setenv("MEMCG_RUN_SHM", shm_name.c_str(), 1);
      for (const char* k : {"MEMCG_RUN_MAX", "MEMCG_RUN_HIGH", "MEMCG_RUN_REPORT", "MEMCG_RUN_OUTPUT", "MEMCG_RUN_PID"})
        unsetenv(k);
    } else {
      unsetenv("MEMCG_RUN_SHM");
      set_or_unset("MEMCG_RUN_MAX", max);
      set_or_unset("MEMCG_RUN_HIGH", high);
      setenv("MEMCG_RUN_REPORT", report.c_str(), 1);
      set_or_unset("MEMCG_RUN_OUTPUT", output);
      setenv("MEMCG_RUN_PID", std::to_string(getpid()).c_str(), 1);
    }
    execvp(argv[i], argv + i);
    const int e = errno;
    fprintf(stderr, "memcg-run: %s: %s\n", argv[i], e == ENOENT ? "command not found" : strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  int status = 0;
  if (!wait_for(pid, seg, &status)) {
    perror("memcg-run: waitpid");
    if (seg) shm_unlink(shm_name.c_str());
    return 126;
  }
  if (seg) {
    tree::sweep(seg);  // processes that ended with CMD (a killed pipeline)
    const std::string out = memcg::run::tree_report(seg, pid, report == "json");
    write_report(output, out);
    shm_unlink(shm_name.c_str());
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}
