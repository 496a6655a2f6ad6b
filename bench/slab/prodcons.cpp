#include "slab/prodcons.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "slab/env.hpp"
#include "slab/impl.hpp"

namespace slab_bench {
namespace {

using memcg_bench::Sample;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spin briefly, then yield: on a 2-vCPU VM the peer thread may not be running.
struct Backoff {
  int spins = 0;
  std::uint64_t waits = 0;
  void operator()() {
    ++waits;
    if (++spins < 128) {
      cpu_relax();
    } else {
      spins = 0;
      std::this_thread::yield();
    }
  }
  void reset() { spins = 0; }
};

class SpscRing {
 public:
  static constexpr std::uint64_t kCap = 1024;  // power of two

  // Producer only.
  bool try_push(void* p) {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ == kCap) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ == kCap) return false;
    }
    slots_[t & (kCap - 1)] = p;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  // Consumer only.
  bool try_pop(void** out) {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    *out = slots_[h & (kCap - 1)];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // producer writes
  std::uint64_t head_cache_ = 0;                     // producer's view of head_
  alignas(64) std::atomic<std::uint64_t> head_{0};  // consumer writes
  std::uint64_t tail_cache_ = 0;                     // consumer's view of tail_
  alignas(64) void* slots_[kCap];
};

// One ring per Impl (benchmarks run one at a time; the indices only grow,
// and every run ends with the ring empty: both threads run the same number
// of iterations).
SpscRing g_rings[kNumImpls];

template <Impl I>
void BM_prodcons(benchmark::State& state) {
  SpscRing& ring = g_rings[static_cast<int>(I)];
  const bool producer = state.thread_index() == 0;
  const memcg::Group& g = g_env->thread_group[state.thread_index() & 1];
  std::optional<memcg::ScopedGroup> scope;
  if constexpr (uses_scope(I)) scope.emplace(g);
  Ctx c = make_ctx(I, cache_for(I, g_env->pc_cache, g_env->pc_cache_iso), g_env->pc_naive.get(), kPcSize, g);
  Backoff backoff;
  std::uint64_t failed = 0;
  if (producer) {
    char v = 0;
    for (auto _ : state) {
      void* p = do_alloc<I>(c);
      if (__builtin_expect(p != nullptr, 1)) *static_cast<char*>(p) = ++v;
      else ++failed;  // still pushed: the consumer pops exactly as many
      while (!ring.try_push(p)) backoff();
      backoff.reset();
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["producer_waits"] = benchmark::Counter(static_cast<double>(backoff.waits));
  } else {
    for (auto _ : state) {
      void* p;
      while (!ring.try_pop(&p)) backoff();
      backoff.reset();
      if (__builtin_expect(p != nullptr, 1)) {
        benchmark::DoNotOptimize(*static_cast<volatile char*>(p));
        do_free<I>(c, p);
      }
    }
    state.counters["consumer_waits"] = benchmark::Counter(static_cast<double>(backoff.waits));
  }
  if (failed) state.SkipWithError("allocation failed");
}

}  // namespace

void register_prodcons(long long fixed_iters) {
  for (Impl impl : kAllImpls) {
    if (impl == Impl::kCacheExplicit || !impl_available(impl)) continue;
    const std::string name = std::string("prodcons/") + impl_name(impl);
    benchmark::internal::Benchmark* b = nullptr;
    switch (impl) {
#define MEMCG_REG(I) \
  case I: b = benchmark::RegisterBenchmark(name.c_str(), BM_prodcons<I>); break;
      MEMCG_REG(Impl::kCache)
      MEMCG_REG(Impl::kCacheIsolated)
      MEMCG_REG(Impl::kKmalloc)
      MEMCG_REG(Impl::kMimalloc)
      MEMCG_REG(Impl::kTcmalloc)
      MEMCG_REG(Impl::kJemalloc)
      MEMCG_REG(Impl::kGlibc)
      MEMCG_REG(Impl::kNaive)
#undef MEMCG_REG
      default: break;
    }
    if (b) with_iterations(b->Threads(2)->UseRealTime(), fixed_iters);
  }
}

void print_prodcons_table(const memcg_bench::CaptureReporter& rep) {
  std::printf("\nPRODUCER/CONSUMER  %zu B objects, thread 0 allocates, thread 1 frees (SPSC ring of %llu)\n",
              kPcSize, static_cast<unsigned long long>(SpscRing::kCap));
  std::printf("%-9s %12s %10s %12s %8s\n", "impl", "Mobjects/s", "ns/object", "vs mimalloc", "conc");
  Sample mi;
  const bool have_mi = rep.get(std::string("prodcons/") + impl_name(Impl::kMimalloc), 2, &mi);
  for (Impl i : kAllImpls) {
    if (i == Impl::kCacheExplicit) continue;
    Sample s;
    if (!rep.get(std::string("prodcons/") + impl_name(i), 2, &s)) continue;
    std::printf("%-9s %12.2f %10.2f", impl_name(i), s.items_per_s / 1e6, s.items_per_s > 0 ? 1e9 / s.items_per_s : 0);
    if (have_mi && mi.items_per_s > 0) std::printf(" %11.3fx", mi.items_per_s / s.items_per_s);
    else std::printf(" %12s", "n/a");
    std::printf(" %8.2f\n", s.real_ns > 0 ? s.cpu_ns / s.real_ns : 0.0);
  }
  std::printf("  (vs mimalloc = time per object relative to mimalloc; > 1 is slower)\n");
}

}  // namespace slab_bench
