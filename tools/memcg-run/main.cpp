// memcg-run: runs CMD with libmemcg_preload.so, its allocations charged to
// the group /run, and reports /run's figures at exit (docs/memcg-run.md).
//
//   memcg-run [--max B] [--high B] [--per-thread] [--report text|json]
//             [--output FILE] -- CMD ARGS...
//
// Exit status: CMD's; 128+N if CMD was killed by signal N; 127 if CMD was not
// found, 126 if it could not be executed; 2 for bad options.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "memcg/fs.hpp"

namespace {

const char* kUsage =
    "usage: memcg-run [--max BYTES] [--high BYTES] [--per-thread] [--report text|json]\n"
    "                 [--output FILE] [--socket PATH] -- CMD [ARGS...]\n"
    "  --max BYTES      memory.max of the group /run (K/M/G/T suffixes, or 'max')\n"
    "  --high BYTES     memory.high of /run\n"
    "  --per-thread     one child group of /run per thread (t<tid>-<name>)\n"
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

}  // namespace

int main(int argc, char** argv) {
  std::string max, high, report = "text", output, socket;
  bool per_thread = false;
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
  std::uint64_t b;
  if (!max.empty() && !memcg::fs::parse_bytes(max, b)) usage_error("bad --max value: " + max);
  if (!high.empty() && !memcg::fs::parse_bytes(high, b)) usage_error("bad --high value: " + high);
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

  // Like system(): the terminal's SIGINT/SIGQUIT go to the child.
  struct sigaction ign{}, old_int{}, old_quit{};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);

  pid_t pid = fork();
  if (pid < 0) {
    perror("memcg-run: fork");
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
    set_or_unset("MEMCG_RUN_MAX", max);
    set_or_unset("MEMCG_RUN_HIGH", high);
    set_or_unset("MEMCG_RUN_PER_THREAD", per_thread ? "1" : "");
    setenv("MEMCG_RUN_REPORT", report.c_str(), 1);
    set_or_unset("MEMCG_RUN_OUTPUT", output);
    if (!socket.empty()) setenv("MEMCG_SOCKET", socket.c_str(), 1);
    setenv("MEMCG_RUN_PID", std::to_string(getpid()).c_str(), 1);
    execvp(argv[i], argv + i);
    const int e = errno;
    fprintf(stderr, "memcg-run: %s: %s\n", argv[i], e == ENOENT ? "command not found" : strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("memcg-run: waitpid");
      return 126;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 126;
}
