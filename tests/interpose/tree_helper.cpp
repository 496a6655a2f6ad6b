// A program for the process-tree tests (tree.sh), run under memcg-run:
//
//   tree_helper hold MIB [SECONDS]   malloc MIB MiB (touched), hold it, free, exit 0;
//                                    exit 3 if malloc fails
//   tree_helper hold-and-wait MIB    malloc MIB MiB, print "ready", wait for a signal
//   tree_helper clobber-env MIB      overwrite every environment string (as
//                                    setproctitle does), then hold MIB MiB
//   tree_helper fork-workers N MIB   fork N children that each hold MIB MiB
//                                    (0.3 s) and leave with _exit; exit 3 if one failed
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* mode = argv[1];
  const long mib = atol(argv[argc >= 4 && strcmp(mode, "fork-workers") == 0 ? 3 : 2]);
  if (strcmp(mode, "hold") == 0) return hold(mib, argc > 3 ? atof(argv[3]) : 0);
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
