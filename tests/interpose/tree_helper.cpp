// A program for the process-tree tests (tree.sh), run under memcg-run:
//
//   tree_helper hold MIB [SECONDS]   malloc MIB MiB (touched), hold it, free, exit 0;
//                                    exit 3 if malloc fails
//   tree_helper hold-and-wait MIB    malloc MIB MiB, print "ready", wait for a signal
//   tree_helper clobber-env MIB      overwrite every environment string (as
//                                    setproctitle does), then hold MIB MiB
//   tree_helper fork-workers N MIB   fork N children that each hold MIB MiB
//                                    (0.3 s) and leave with _exit; exit 3 if one failed
//   tree_helper mmap MIB             map MIB MiB of private anonymous memory (touched)
//                                    and unmap it, ten times; then map it, replace it
//                                    with a MAP_FIXED mapping, unmap half of it, grow
//                                    the rest with mremap back to MIB MiB; exit 3 at
//                                    the first call refused (ENOMEM), with its name
//   tree_helper mremap MIB NEWMIB    map MIB MiB, mremap it to NEWMIB MiB (may move);
//                                    exit 3 if refused
//   tree_helper fork-inherit N MIB   hold MIB MiB, then fork N children that each
//                                    free their copy of it and allocate and free
//                                    MIB/2 MiB ten times, the last one held 0.3 s
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

int hold(long mib, double seconds) {
  const size_t n = static_cast<size_t>(mib) << 20;
  char* p = static_cast<char*>(malloc(n));
  if (!p) {
    fprintf(stderr, "tree_helper: malloc(%ld MiB) failed\n", mib);
    return 3;
  }
  memset(p, 1, n);
  if (seconds > 0) usleep(static_cast<useconds_t>(seconds * 1e6));
  free(p);
  return 0;
}

void* map_anon(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) memset(p, 1, n);
  return p;
}

int refused(const char* call) {
  fprintf(stderr, "tree_helper: %s refused: %s\n", call, strerror(errno));
  return 3;
}

int maps(long mib) {
  const size_t n = static_cast<size_t>(mib) << 20;
  for (int i = 0; i < 10; ++i) {
    void* p = map_anon(n);
    if (p == MAP_FAILED) return refused("mmap");
    munmap(p, n);
  }
  char* p = static_cast<char*>(map_anon(n));
  if (p == MAP_FAILED) return refused("mmap");
  if (mmap(p, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
    return refused("mmap MAP_FIXED");
  munmap(p + n / 2, n / 2);
  void* q = mremap(p, n / 2, n, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return refused("mremap");
  memset(q, 2, n);
  munmap(q, n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* mode = argv[1];
  const bool forks = strcmp(mode, "fork-workers") == 0 || strcmp(mode, "fork-inherit") == 0;
  const long mib = atol(argv[argc >= 4 && forks ? 3 : 2]);
  if (strcmp(mode, "hold") == 0) return hold(mib, argc > 3 ? atof(argv[3]) : 0);
  if (strcmp(mode, "mmap") == 0) return maps(mib);
  if (strcmp(mode, "mremap") == 0 && argc > 3) {
    const size_t n = static_cast<size_t>(mib) << 20, m = static_cast<size_t>(atol(argv[3])) << 20;
    void* p = map_anon(n);
    if (p == MAP_FAILED) return refused("mmap");
    void* q = mremap(p, n, m, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) return refused("mremap");
    memset(q, 3, m);
    munmap(q, m);
    return 0;
  }
  if (strcmp(mode, "hold-and-wait") == 0) {
    char* p = static_cast<char*>(malloc(static_cast<size_t>(mib) << 20));
    if (!p) return 3;
    memset(p, 1, static_cast<size_t>(mib) << 20);
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
  }
  if (strcmp(mode, "clobber-env") == 0) {
    for (char** e = environ; *e; ++e) memset(*e, 'x', strlen(*e));
    return hold(mib, 0);
  }
  if (strcmp(mode, "fork-inherit") == 0) {
    const int n = atoi(argv[2]);
    const size_t len = static_cast<size_t>(mib) << 20;
    char* inherited = static_cast<char*>(malloc(len));
    if (!inherited) return 3;
    memset(inherited, 1, len);
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) return 4;
      if (pid == 0) {
        free(inherited);
        for (int k = 0; k < 10; ++k) {
          const int rc = hold(mib / 2, k == 9 ? 0.3 : 0);
          if (rc) _exit(rc);
        }
        _exit(0);
      }
    }
    int failed = 0, status;
    while (wait(&status) > 0) failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(inherited);
    return failed ? 3 : 0;
  }
  if (strcmp(mode, "fork-workers") == 0) {
    const int n = atoi(argv[2]);
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) return 4;
      if (pid == 0) _exit(hold(mib, 0.3));
    }
    int failed = 0, status;
    while (wait(&status) > 0) failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return failed ? 3 : 0;
  }
  return 2;
}
