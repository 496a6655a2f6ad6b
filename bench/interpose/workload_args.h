// Tiny argument parser shared by the bench/interpose workloads. The workloads
// are plain programs (malloc/free/new/delete only, no memcg headers): they
// are run by interpose_bench under glibc, LD_PRELOAD'ed peers and memcg-run.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

struct WorkloadArgs {
  long threads;
  long size;   // meaning depends on the workload (slots, batch, object size)
  long iters;  // per thread
  unsigned seed = 12345;
};

// Accepts --threads N, --size N, --iters N, --seed N; anything else is an
// error (exit 2).
inline void parse_workload_args(int argc, char** argv, WorkloadArgs& a, const char* usage) {
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> long {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\nusage: %s %s\n", argv[0], argv[i], argv[0], usage);
        exit(2);
      }
      char* end = nullptr;
      long v = strtol(argv[++i], &end, 10);
      if (!end || *end || v <= 0) {
        fprintf(stderr, "%s: bad value '%s'\n", argv[0], argv[i]);
        exit(2);
      }
      return v;
    };
    if (!strcmp(argv[i], "--threads")) a.threads = next();
    else if (!strcmp(argv[i], "--size")) a.size = next();
    else if (!strcmp(argv[i], "--iters")) a.iters = next();
    else if (!strcmp(argv[i], "--seed")) a.seed = static_cast<unsigned>(next());
    else {
      fprintf(stderr, "usage: %s %s\n", argv[0], usage);
      exit(2);
    }
  }
}

// xorshift32: cheap, allocation-free, per-thread.
struct Rng {
  unsigned s;
  explicit Rng(unsigned seed) : s(seed ? seed : 1) {}
  unsigned next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
  unsigned below(unsigned n) { return next() % n; }
};
