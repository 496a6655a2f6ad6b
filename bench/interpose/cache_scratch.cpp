// cache-scratch (after Hoard's cache-scratch): tests passive false sharing.
// The main thread mallocs one --size byte object per thread, back to back, and
// hands object i to thread i, which frees it (a remote free). Each thread then
// --iters times mallocs a --size byte object, writes every byte of it 64
// times, and frees it. An allocator that hands a thread memory on a cache
// line another thread writes makes the write loop slow. Prints the write
// throughput and a checksum.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "workload_args.h"

int main(int argc, char** argv) {
  WorkloadArgs a{2, 8, 2000000};
  parse_workload_args(argc, argv, a, "[--threads N] [--size OBJ_BYTES] [--iters N] [--seed N]");
  constexpr int kRepeats = 64;
  std::vector<char*> initial(static_cast<size_t>(a.threads));
  for (auto& p : initial) {
    p = static_cast<char*>(malloc(static_cast<size_t>(a.size)));
    if (!p) return 1;
    p[0] = 1;
  }
  std::vector<uint64_t> sums(static_cast<size_t>(a.threads) * 8, 0);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (long t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      free(initial[static_cast<size_t>(t)]);
      uint64_t sum = 0;
      for (long i = 0; i < a.iters; ++i) {
        volatile char* p = static_cast<char*>(malloc(static_cast<size_t>(a.size)));
        if (!p) {
          fprintf(stderr, "cache_scratch: malloc failed\n");
          exit(1);
        }
        for (int j = 0; j < kRepeats; ++j)
          for (long k = 0; k < a.size; ++k) p[k] = static_cast<char>(p[k] + 1);
        sum += static_cast<unsigned char>(p[0]);
        free(const_cast<char*>(p));
      }
      sums[static_cast<size_t>(t) * 8] = sum;
    });
  }
  for (auto& th : threads) th.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t total = 0;
  for (size_t t = 0; t < static_cast<size_t>(a.threads); ++t) total += sums[t * 8];
  double writes = static_cast<double>(a.threads) * static_cast<double>(a.iters) * kRepeats * static_cast<double>(a.size);
  printf("cache_scratch %.1f Mwrites/s checksum %llu\n", writes / s / 1e6, static_cast<unsigned long long>(total));
  return 0;
}
