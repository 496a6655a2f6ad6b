// larson-style server workload (after Larson & Krishnan, "Memory allocation
// for long-running server applications"): each thread owns --size slots and,
// --iters times, frees a random slot and mallocs a random size in 16..1024
// into it (touching the first and last byte). Every 16th iteration the thread
// swaps the slot's object with one in a shared mailbox, so objects allocated
// by one thread are freed by another. Prints a checksum.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "workload_args.h"

namespace {
constexpr size_t kMailboxes = 64;
std::atomic<char*> g_mailbox[kMailboxes];

char* alloc_obj(Rng& r) {
  size_t n = 16 + r.below(1024 - 16 + 1);
  char* p = static_cast<char*>(malloc(n));
  if (!p) {
    fprintf(stderr, "larson: malloc(%zu) failed\n", n);
    exit(1);
  }
  p[0] = static_cast<char>(n);
  p[n - 1] = 1;
  return p;
}
}  // namespace

int main(int argc, char** argv) {
  WorkloadArgs a{2, 1000, 10000000};
  parse_workload_args(argc, argv, a, "[--threads N] [--size SLOTS] [--iters N] [--seed N]");
  std::atomic<uint64_t> checksum{0};
  std::vector<std::thread> threads;
  for (long t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      Rng r(a.seed + 7919u * static_cast<unsigned>(t));
      std::vector<char*> slots(static_cast<size_t>(a.size));
      for (auto& s : slots) s = alloc_obj(r);
      uint64_t sum = 0;
      for (long i = 0; i < a.iters; ++i) {
        size_t k = r.below(static_cast<unsigned>(slots.size()));
        if ((i & 15) == 15) {
          // Hand our object to whoever takes this mailbox next; adopt theirs.
          char* theirs = g_mailbox[r.below(kMailboxes)].exchange(slots[k], std::memory_order_acq_rel);
          slots[k] = theirs ? theirs : alloc_obj(r);
        } else {
          sum += static_cast<unsigned char>(slots[k][0]);
          free(slots[k]);
          slots[k] = alloc_obj(r);
        }
      }
      for (char* p : slots) free(p);
      checksum.fetch_add(sum, std::memory_order_relaxed);
    });
  }
  for (auto& th : threads) th.join();
  for (auto& m : g_mailbox) free(m.exchange(nullptr));
  printf("larson checksum %llu\n", static_cast<unsigned long long>(checksum.load()));
  return 0;
}
