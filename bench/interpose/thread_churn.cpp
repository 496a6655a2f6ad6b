// thread-churn: short threads. --iters threads in all, --threads of them
// alive at a time; each mallocs --size blocks (cycling 64 B, 5000 B and
// 40 KiB: slab classes and a medium block), writes them, frees half itself
// and hands the rest to the next thread of its lane, and exits. What it
// measures is the cost of a thread's start and exit in the allocator
// (registration, the first allocation, the flush at exit). Prints the
// thread rate and a checksum.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "workload_args.h"

int main(int argc, char** argv) {
  WorkloadArgs a{2, 4, 100000};
  parse_workload_args(argc, argv, a, "[--threads N] [--size BLOCKS_PER_THREAD] [--iters THREADS] [--seed N]");
  static const size_t kSizes[] = {64, 5000, 40 * 1024};
  const auto lanes = static_cast<size_t>(a.threads);
  const auto blocks = static_cast<size_t>(a.size);
  // Each lane's handed-over blocks, freed by the lane's next thread.
  std::vector<std::vector<char*>> handed(lanes);
  std::vector<uint64_t> sums(lanes * 8, 0);
  auto t0 = std::chrono::steady_clock::now();
  long started = 0;
  while (started < a.iters) {
    std::vector<std::thread> wave;
    for (size_t lane = 0; lane < lanes && started < a.iters; ++lane, ++started) {
      wave.emplace_back([&, lane, started] {
        for (char* p : handed[lane]) free(p);  // remote frees: another thread's blocks
        handed[lane].clear();
        uint64_t sum = 0;
        for (size_t i = 0; i < blocks; ++i) {
          const size_t n = kSizes[(static_cast<size_t>(started) + i) % 3];
          char* p = static_cast<char*>(malloc(n));
          if (!p) {
            fprintf(stderr, "thread_churn: malloc failed\n");
            exit(1);
          }
          memset(p, static_cast<int>(i), n);
          sum += static_cast<unsigned char>(p[n - 1]);
          if (i % 2) handed[lane].push_back(p);
          else free(p);
        }
        sums[lane * 8] += sum;
      });
    }
    for (auto& t : wave) t.join();
  }
  for (auto& h : handed)
    for (char* p : h) free(p);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t total = 0;
  for (size_t l = 0; l < lanes; ++l) total += sums[l * 8];
  printf("thread_churn: %ld threads in %.3f s (%.0f threads/s), checksum %llu\n", a.iters, s, a.iters / s,
         static_cast<unsigned long long>(total));
  return 0;
}
