// xmalloc-style producer/consumer workload (after xmalloc-test): --threads
// producers and --threads consumers. Each producer mallocs --iters objects of
// random size 16..1024 (writing the first byte), in batches of --size
// pointers (the batch array itself is new[]'ed), and pushes each batch
// through a shared bounded queue; consumers pop batches and free every object
// and the batch array. Almost every free is remote. Prints a checksum.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "workload_args.h"

namespace {
struct Batch {
  char** objs;
  long n;
};

class Queue {
 public:
  explicit Queue(size_t cap) : cap_(cap) {}
  void push(Batch b) {
    std::unique_lock<std::mutex> l(m_);
    not_full_.wait(l, [&] { return q_.size() < cap_; });
    q_.push_back(b);
    not_empty_.notify_one();
  }
  // False once the queue is closed and drained.
  bool pop(Batch& b) {
    std::unique_lock<std::mutex> l(m_);
    not_empty_.wait(l, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    b = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> l(m_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> q_;
  size_t cap_;
  bool closed_ = false;
};
}  // namespace

int main(int argc, char** argv) {
  WorkloadArgs a{1, 64, 2000000};
  parse_workload_args(argc, argv, a, "[--threads N] [--size BATCH] [--iters N] [--seed N]");
  Queue q(64);
  std::vector<uint64_t> sums(static_cast<size_t>(a.threads) * 8, 0);  // padded per consumer
  std::vector<std::thread> producers, consumers;
  for (long t = 0; t < a.threads; ++t) {
    consumers.emplace_back([&, t] {
      uint64_t sum = 0;
      Batch b;
      while (q.pop(b)) {
        for (long i = 0; i < b.n; ++i) {
          sum += static_cast<unsigned char>(b.objs[i][0]);
          free(b.objs[i]);
        }
        delete[] b.objs;
      }
      sums[static_cast<size_t>(t) * 8] = sum;
    });
  }
  for (long t = 0; t < a.threads; ++t) {
    producers.emplace_back([&, t] {
      Rng r(a.seed + 104729u * static_cast<unsigned>(t));
      long left = a.iters;
      while (left > 0) {
        long n = left < a.size ? left : a.size;
        Batch b{new char*[static_cast<size_t>(n)], n};
        for (long i = 0; i < n; ++i) {
          size_t sz = 16 + r.below(1024 - 16 + 1);
          char* p = static_cast<char*>(malloc(sz));
          if (!p) {
            fprintf(stderr, "xmalloc: malloc(%zu) failed\n", sz);
            exit(1);
          }
          p[0] = static_cast<char>(sz);
          b.objs[i] = p;
        }
        q.push(b);
        left -= n;
      }
    });
  }
  for (auto& th : producers) th.join();
  q.close();
  for (auto& th : consumers) th.join();
  uint64_t total = 0;
  for (size_t t = 0; t < static_cast<size_t>(a.threads); ++t) total += sums[t * 8];
  printf("xmalloc checksum %llu\n", static_cast<unsigned long long>(total));
  return 0;
}
