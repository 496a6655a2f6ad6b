// slab_bench: the slab layer (memcg::Cache, memcg::kmalloc) against general
// purpose allocators loaded into the same process, plus producer/consumer
// (cross-thread free), group churn and the RSS cost of per-group caches.
//
// Cases (all in one run):
//
//   alloc_free/<impl>/<size>, 1 and 2 threads (real time)
//       one op = allocate <size> bytes, write one byte into the object, free
//       it. Sizes 64, 256, 1024. Every thread allocates into its own group
//       (memory.max 1 GiB, created once before the benchmarks run) and keeps
//       16 other objects of the size live from the same allocator for the
//       whole run (a warm heap: the page/slab of the object never empties).
//       The targets are read on this case.
//   alloc_free_empty/<impl>/<size>: the same with nothing else live. The
//       object is then alone in its page, and mimalloc retires the page on
//       every free (_mi_page_retire), which makes it 1.7-2.2x slower than its
//       own fast path: reported, but not what the targets mean.
//     <impl>:
//         cache     memcg::Cache (one root cache per size), the calling
//                   thread inside a memcg::ScopedGroup, cache.alloc() - the
//                   form users write; the targets are read on this one
//         cache_g   the same with the group given: cache.alloc(group)
//         kmalloc   memcg::kmalloc / kfree inside the ScopedGroup
//         mimalloc  mi_malloc / mi_free         (libmimalloc.so.2)
//         tcmalloc  tc_malloc / tc_free         (libtcmalloc_minimal.so.4)
//         jemalloc  mallocx / dallocx, flags 0  (libjemalloc.so.2)
//         glibc     malloc / free of the process
//         naive     one std::mutex-protected free list of fixed-size blocks
//                   per size, shared by all threads
//   burst/<impl>/<size>, 1 and 2 threads: allocate 64 objects, then free
//       them (one op = one alloc + one free). 64 is more than a thread's two
//       magazines hold (2 x 30), so memcg goes through its depot; peers
//       through their own second levels. Informational (no target).
//   prodcons/<impl>: thread 0 allocates 256-byte objects and pushes them
//       through a bounded lock-free SPSC ring (1024 slots) to thread 1, which
//       frees them: every free is a cross-thread free. objects/second.
//   churn/free_then_remove, churn/remove_then_free: create a group, allocate
//       K=100 objects of 256 B from a Cache in it, free them and remove the
//       group (or remove it first and free the objects afterwards: the
//       reparenting path), drop the handle. groups/second. After the run
//       memcg::barrier() and memcg::detail::runtime_stats().groups_allocated show that every
//       churned group was freed.
//   RSS overhead (measured once, before the benchmarks so that no freed slab
//       of a benchmark is reused; printed after them): G=200 groups x 10
//       caches (32..1024 B), L in {1, 10, 100} live objects per (group,
//       cache); RSS (/proc/self/statm) and memcg::detail::slab_runtime_stats() before and
//       after. Target: a (group, cache) pair holding one object costs < 16 KiB.
//
// Peers are loaded with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) and
// called through their non-overriding entry points (dlsym), so the process
// malloc stays glibc's and nothing is interposed. jemalloc's shared object
// uses the initial-exec TLS model: glibc refuses to dlopen it when its TLS
// (2.6 KiB) does not fit the static TLS surplus (512 B by default). Then the
// program re-executes itself once with
// GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 (which only enlarges
// that surplus) and says so; --no-reexec skips jemalloc instead.
//
// Under ASan/TSan the peers are skipped (those runtimes abort on
// RTLD_DEEPBIND).
//
// After the run: RATIOS (ns/op per case, memcg/mimalloc; warm and empty heap),
// BURST, PRODUCER/CONSUMER, CHURN, RSS and TARGETS tables. PASS/MISS marks are
// informational; the exit code is nonzero only if a benchmark or an RSS
// allocation failed or the churned groups were not all freed (correctness,
// never a timing). docs/benchmarks.md explains the cases and the results.
//
// Flags (besides Google Benchmark's):
//   --smoke        min time 0.01 s, no warm-up, RSS with G=20: what the ctest
//                  test bench.slab_smoke runs (a few seconds)
//   --no-peers     do not load mimalloc/tcmalloc/jemalloc (memcg alone)
//   --no-reexec    do not re-execute for jemalloc's static TLS; skip it
//                  (use it under valgrind and other process wrappers)
//   --no-rss       skip the RSS measurement
//   --iterations=N run every benchmark for exactly N iterations (callgrind)
//   --timeline=F   append "<epoch seconds> <benchmark>" to F as each one ends,
//                  to match the runs against a monitor of the machine's load
// Default warm-up is 0.1 s per case. For decision-grade numbers on a noisy
// machine add --benchmark_repetitions=5: the tables then use the median.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"
#include "testing_stats.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLAB_BENCH_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLAB_BENCH_SANITIZER 1
#endif
#endif

namespace {

#if defined(SLAB_BENCH_SANITIZER)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

constexpr std::uint64_t kMax = std::uint64_t{1} << 30;
constexpr std::size_t kSizes[] = {64, 256, 1024};
constexpr int kNumSizes = 3;
constexpr int kBurst = 64;
constexpr int kWarmLive = 16;  // alloc_free: objects each thread keeps live (a warm heap)
constexpr std::size_t kPcSize = 256;
constexpr int kChurnObjects = 100;  // K
constexpr std::size_t kChurnSize = 256;
constexpr std::size_t kRssSizes[] = {32, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
constexpr int kRssCaches = 10;
constexpr int kRssLive[] = {1, 10, 100};

// Targets (informational).
constexpr double kTarget1T = 1.25;  // cache / mimalloc, 64 and 256 B, 1 thread
constexpr double kTarget2T = 1.50;  // same, 2 threads
constexpr double kTargetPairBytes = 16 * 1024;  // RSS of a (group, cache) pair with one live object

const char* mark(bool pass) { return pass ? "PASS" : "MISS"; }

// ---------------------------------------------------------------------------
// Peers: dlopen'ed privately, called through function pointers.

using MallocFn = void* (*)(std::size_t);
using FreeFn = void (*)(void*);
using MallocxFn = void* (*)(std::size_t, int);
using DallocxFn = void (*)(void*, int);

struct Peers {
  MallocFn mi_malloc = nullptr;
  FreeFn mi_free = nullptr;
  MallocFn tc_malloc = nullptr;
  FreeFn tc_free = nullptr;
  MallocxFn je_mallocx = nullptr;
  DallocxFn je_dallocx = nullptr;
  std::string mi_status = "not loaded", tc_status = "not loaded", je_status = "not loaded";
};
Peers g_peers;

constexpr const char* kReexecEnv = "MEMCG_SLAB_BENCH_REEXEC";
constexpr const char* kStaticTlsTunable = "glibc.rtld.optional_static_tls=16384";

void* open_peer(const char* lib, std::string* status, bool* static_tls_failure) {
  dlerror();
  void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    const char* e = dlerror();
    std::string err = e ? e : "unknown dlopen error";
    if (static_tls_failure) *static_tls_failure = err.find("static TLS") != std::string::npos;
    *status = "SKIPPED: dlopen(" + std::string(lib) + ") failed: " + err;
  }
  return h;
}

template <class F>
bool bind(void* h, const char* sym, F* out, std::string* status) {
  *out = reinterpret_cast<F>(dlsym(h, sym));
  if (!*out) *status = std::string("SKIPPED: dlsym(") + sym + ") failed";
  return *out != nullptr;
}

// May re-execute the program (jemalloc's static TLS); returns only otherwise.
void load_peers(char** argv, bool allow_reexec) {
  const bool reexeced = std::getenv(kReexecEnv) != nullptr;
  if (void* h = open_peer("libmimalloc.so.2", &g_peers.mi_status, nullptr)) {
    if (bind(h, "mi_malloc", &g_peers.mi_malloc, &g_peers.mi_status) &&
        bind(h, "mi_free", &g_peers.mi_free, &g_peers.mi_status))
      g_peers.mi_status = "loaded libmimalloc.so.2: mi_malloc / mi_free";
    else
      g_peers.mi_malloc = nullptr, g_peers.mi_free = nullptr;
  }
  if (void* h = open_peer("libtcmalloc_minimal.so.4", &g_peers.tc_status, nullptr)) {
    if (bind(h, "tc_malloc", &g_peers.tc_malloc, &g_peers.tc_status) &&
        bind(h, "tc_free", &g_peers.tc_free, &g_peers.tc_status))
      g_peers.tc_status = "loaded libtcmalloc_minimal.so.4: tc_malloc / tc_free";
    else
      g_peers.tc_malloc = nullptr, g_peers.tc_free = nullptr;
  }
  bool static_tls = false;
  if (void* h = open_peer("libjemalloc.so.2", &g_peers.je_status, &static_tls)) {
    if (bind(h, "mallocx", &g_peers.je_mallocx, &g_peers.je_status) &&
        bind(h, "dallocx", &g_peers.je_dallocx, &g_peers.je_status))
      g_peers.je_status = std::string("loaded libjemalloc.so.2: mallocx / dallocx (flags 0)") +
                          (reexeced ? "; after re-executing with GLIBC_TUNABLES=" + std::string(kStaticTlsTunable) +
                                          " (its initial-exec TLS does not fit glibc's default static TLS surplus)"
                                    : "");
    else
      g_peers.je_mallocx = nullptr, g_peers.je_dallocx = nullptr;
  } else if (static_tls && !reexeced && allow_reexec) {
    // Enlarge the static TLS surplus and start over; the process malloc is
    // still glibc's (the tunable only reserves TLS space for dlopen).
    std::string t = kStaticTlsTunable;
    if (const char* old = std::getenv("GLIBC_TUNABLES"); old && *old) t = std::string(old) + ":" + t;
    std::fprintf(stderr,
                 "slab_bench: dlopen(libjemalloc.so.2) failed: jemalloc's initial-exec TLS does not fit the static\n"
                 "            TLS surplus; re-executing once with GLIBC_TUNABLES=%s\n",
                 t.c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    setenv("GLIBC_TUNABLES", t.c_str(), 1);
    setenv(kReexecEnv, "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "slab_bench: re-exec failed (%s); skipping jemalloc\n", std::strerror(errno));
    unsetenv(kReexecEnv);
    g_peers.je_status += " (re-exec with a larger static TLS surplus failed too)";
  } else if (static_tls) {
    g_peers.je_status += reexeced ? " (even with " + std::string(kStaticTlsTunable) + ")"
                                  : " (--no-reexec: not retried with a larger static TLS surplus)";
  }
}

// ---------------------------------------------------------------------------
// The naive peer: one mutex and one free list of fixed-size blocks per size,
// shared by every thread; blocks carved from 64 KiB chunks of malloc.

class NaivePool {
 public:
  explicit NaivePool(std::size_t size) : size_((std::max(size, sizeof(void*)) + 15) & ~std::size_t{15}) {}
  NaivePool(const NaivePool&) = delete;
  NaivePool& operator=(const NaivePool&) = delete;
  ~NaivePool() {
    for (char* c : chunks_) std::free(c);
  }

  void* alloc() {
    std::lock_guard<std::mutex> l(mu_);
    if (!head_ && !refill_locked()) return nullptr;
    Block* b = head_;
    head_ = b->next;
    return b;
  }
  void free(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> l(mu_);
    auto* b = static_cast<Block*>(p);
    b->next = head_;
    head_ = b;
  }

 private:
  struct Block {
    Block* next;
  };
  static constexpr std::size_t kChunk = 64 * 1024;
  bool refill_locked() {
    char* c = static_cast<char*>(std::malloc(kChunk));
    if (!c) return false;
    chunks_.push_back(c);  // kept until exit
    for (std::size_t off = 0; off + size_ <= kChunk; off += size_) {
      auto* b = reinterpret_cast<Block*>(c + off);
      b->next = head_;
      head_ = b;
    }
    return true;
  }
  const std::size_t size_;
  std::mutex mu_;
  Block* head_ = nullptr;
  std::vector<char*> chunks_;
};

// ---------------------------------------------------------------------------
// Environment: built once, in main, before any benchmark thread exists.

struct Env {
  memcg::Group thread_group[2];  // benchmark thread i allocates into thread_group[i]
  memcg::Cache cache[kNumSizes];  // "slab_bench-64", ...
  std::unique_ptr<NaivePool> naive[kNumSizes];
  memcg::Cache pc_cache;          // 256 B, producer/consumer
  std::unique_ptr<NaivePool> pc_naive;
  memcg::Group churn_parent;
  memcg::Cache churn_cache;       // 256 B
  memcg::Group rss_parent;
  std::uint64_t groups_baseline = 0;  // memcg::detail::runtime_stats().groups_allocated once built
  int churn_seq = 0;
};
Env* g_env = nullptr;

void build_env(Env& e) {
  memcg::Group root = memcg::Group::root();
  for (int i = 0; i < 2; ++i) {
    e.thread_group[i] = root.create("slab_bench_t" + std::to_string(i));
    e.thread_group[i].set_max(kMax);
  }
  for (int s = 0; s < kNumSizes; ++s) {
    e.cache[s] = memcg::Cache::create("slab_bench-" + std::to_string(kSizes[s]), kSizes[s]);
    e.naive[s] = std::make_unique<NaivePool>(kSizes[s]);
  }
  e.pc_cache = memcg::Cache::create("slab_bench-pc-256", kPcSize);
  e.pc_naive = std::make_unique<NaivePool>(kPcSize);
  e.churn_parent = root.create("slab_bench_churn");
  e.churn_parent.set_max(kMax);
  e.churn_cache = memcg::Cache::create("slab_bench-churn-256", kChurnSize);
  e.rss_parent = root.create("slab_bench_rss");
}

// ---------------------------------------------------------------------------
// Allocation policies.

enum class Impl { kCache, kCacheExplicit, kKmalloc, kMimalloc, kTcmalloc, kJemalloc, kGlibc, kNaive };
constexpr Impl kAllImpls[] = {Impl::kCache,    Impl::kCacheExplicit, Impl::kKmalloc, Impl::kMimalloc,
                              Impl::kTcmalloc, Impl::kJemalloc,      Impl::kGlibc,   Impl::kNaive};

const char* impl_name(Impl i) {
  switch (i) {
    case Impl::kCache: return "cache";
    case Impl::kCacheExplicit: return "cache_g";
    case Impl::kKmalloc: return "kmalloc";
    case Impl::kMimalloc: return "mimalloc";
    case Impl::kTcmalloc: return "tcmalloc";
    case Impl::kJemalloc: return "jemalloc";
    case Impl::kGlibc: return "glibc";
    case Impl::kNaive: return "naive";
  }
  return "?";
}

bool impl_available(Impl i) {
  switch (i) {
    case Impl::kMimalloc: return g_peers.mi_malloc != nullptr;
    case Impl::kTcmalloc: return g_peers.tc_malloc != nullptr;
    case Impl::kJemalloc: return g_peers.je_mallocx != nullptr;
    default: return true;
  }
}

// Everything an op needs, copied into locals before the timed loop.
struct Ctx {
  memcg::Cache cache;
  memcg::Group group;
  std::size_t size = 0;
  NaivePool* naive = nullptr;
  MallocFn m = nullptr;
  FreeFn f = nullptr;
  MallocxFn mx = nullptr;
  DallocxFn dx = nullptr;
};

Ctx make_ctx(Impl impl, memcg::Cache cache, NaivePool* naive, std::size_t size, const memcg::Group& g) {
  Ctx c;
  c.cache = cache;
  c.group = g;
  c.size = size;
  c.naive = naive;
  if (impl == Impl::kMimalloc) c.m = g_peers.mi_malloc, c.f = g_peers.mi_free;
  if (impl == Impl::kTcmalloc) c.m = g_peers.tc_malloc, c.f = g_peers.tc_free;
  if (impl == Impl::kJemalloc) c.mx = g_peers.je_mallocx, c.dx = g_peers.je_dallocx;
  return c;
}

template <Impl I>
inline void* do_alloc(Ctx& c) {
  if constexpr (I == Impl::kCache) return c.cache.alloc();
  else if constexpr (I == Impl::kCacheExplicit) return c.cache.alloc(c.group);
  else if constexpr (I == Impl::kKmalloc) return memcg::kmalloc(c.size);
  else if constexpr (I == Impl::kMimalloc || I == Impl::kTcmalloc) return c.m(c.size);
  else if constexpr (I == Impl::kJemalloc) return c.mx(c.size, 0);
  else if constexpr (I == Impl::kGlibc) return std::malloc(c.size);
  else return c.naive->alloc();
}

template <Impl I>
inline void do_free(Ctx& c, void* p) {
  if constexpr (I == Impl::kCache || I == Impl::kCacheExplicit) memcg::Cache::free(p);
  else if constexpr (I == Impl::kKmalloc) memcg::kfree(p);
  else if constexpr (I == Impl::kMimalloc || I == Impl::kTcmalloc) c.f(p);
  else if constexpr (I == Impl::kJemalloc) c.dx(p, 0);
  else if constexpr (I == Impl::kGlibc) std::free(p);
  else c.naive->free(p);
}

// The ScopedGroup forms run inside the thread's group; the others need none
// (cache_g names the group; the peers are not accounted).
constexpr bool uses_scope(Impl i) { return i == Impl::kCache || i == Impl::kKmalloc; }

struct AfCase {
  int size_index;
  int live;  // objects of the same size each thread keeps allocated during the run
};

// Frees the objects a thread kept live during the timed loop.
template <Impl I>
struct LiveSet {
  Ctx* c = nullptr;
  int n = 0;
  void* objs[kWarmLive];
  bool fill(Ctx& ctx, int want) {
    c = &ctx;
    for (; n < want; ++n)
      if (!(objs[n] = do_alloc<I>(ctx))) return false;
    return true;
  }
  ~LiveSet() {
    for (int i = 0; i < n; ++i) do_free<I>(*c, objs[i]);
  }
};

template <Impl I>
void BM_alloc_free(benchmark::State& state, const AfCase* k) {
  const int si = k->size_index;
  const memcg::Group& g = g_env->thread_group[state.thread_index() & 1];
  std::optional<memcg::ScopedGroup> scope;
  if constexpr (uses_scope(I)) scope.emplace(g);
  Ctx c = make_ctx(I, g_env->cache[si], g_env->naive[si].get(), kSizes[si], g);
  LiveSet<I> live;
  if (!live.fill(c, k->live)) {
    state.SkipWithError("allocation failed");
    return;
  }
  char v = 0;
  for (auto _ : state) {
    void* p = do_alloc<I>(c);
    if (__builtin_expect(p == nullptr, 0)) {
      state.SkipWithError("allocation failed");
      break;
    }
    *static_cast<char*>(p) = ++v;
    benchmark::DoNotOptimize(p);
    do_free<I>(c, p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <Impl I>
void BM_burst(benchmark::State& state, const AfCase* k) {
  const int si = k->size_index;
  const memcg::Group& g = g_env->thread_group[state.thread_index() & 1];
  std::optional<memcg::ScopedGroup> scope;
  if constexpr (uses_scope(I)) scope.emplace(g);
  Ctx c = make_ctx(I, g_env->cache[si], g_env->naive[si].get(), kSizes[si], g);
  void* objs[kBurst];
  char v = 0;
  bool failed = false;
  for (auto _ : state) {
    for (int i = 0; i < kBurst; ++i) {
      void* p = do_alloc<I>(c);
      if (__builtin_expect(p == nullptr, 0)) {
        failed = true;
        for (int j = 0; j < i; ++j) do_free<I>(c, objs[j]);
        break;
      }
      *static_cast<char*>(p) = ++v;
      objs[i] = p;
    }
    if (failed) break;
    benchmark::DoNotOptimize(objs[kBurst - 1]);
    for (int i = 0; i < kBurst; ++i) do_free<I>(c, objs[i]);
  }
  if (failed) state.SkipWithError("allocation failed");
  state.SetItemsProcessed(state.iterations() * kBurst);
}

// ---------------------------------------------------------------------------
// Producer/consumer through a bounded single-producer single-consumer ring.

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
SpscRing g_rings[8];

template <Impl I>
void BM_prodcons(benchmark::State& state) {
  SpscRing& ring = g_rings[static_cast<int>(I)];
  const bool producer = state.thread_index() == 0;
  const memcg::Group& g = g_env->thread_group[state.thread_index() & 1];
  std::optional<memcg::ScopedGroup> scope;
  if constexpr (uses_scope(I)) scope.emplace(g);
  Ctx c = make_ctx(I, g_env->pc_cache, g_env->pc_naive.get(), kPcSize, g);
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

// ---------------------------------------------------------------------------
// Group churn.

template <bool kRemoveFirst>
void BM_churn(benchmark::State& state) {
  Env& e = *g_env;
  void* objs[kChurnObjects];
  char name[32];
  bool failed = false;
  for (auto _ : state) {
    std::snprintf(name, sizeof name, "c%d", e.churn_seq++);
    memcg::Group g = e.churn_parent.create(name);
    {
      memcg::ScopedGroup s(g);
      for (int i = 0; i < kChurnObjects; ++i) {
        void* p = e.churn_cache.alloc();
        if (__builtin_expect(p == nullptr, 0)) failed = true;
        else *static_cast<char*>(p) = static_cast<char>(i);
        objs[i] = p;
      }
    }
    benchmark::DoNotOptimize(objs[kChurnObjects - 1]);
    if constexpr (kRemoveFirst) {
      g.remove();
      for (void* p : objs) memcg::Cache::free(p);  // reparented: straight to the slabs
    } else {
      for (void* p : objs) memcg::Cache::free(p);
      g.remove();
    }
    // g's handle goes here
  }
  state.SetItemsProcessed(state.iterations());
  // Groups churned but not yet freed (the worker and RCU free them later).
  state.counters["groups_pending"] =
      static_cast<double>(memcg::detail::runtime_stats().groups_allocated) - static_cast<double>(e.groups_baseline);
  if (failed) state.SkipWithError("allocation failed");
}

// ---------------------------------------------------------------------------
// RSS overhead.

std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

struct RssResult {
  int groups = 0, live = 0;
  std::uint64_t rss0 = 0, rss1 = 0, rss2 = 0, rss3 = 0;  // start, groups made, objects live, all freed
  memcg::detail::SlabRuntimeStats s0, s1, s2, s3;
  std::uint64_t live_bytes = 0;
  std::uint64_t slabs_free_at_start = 0;  // free slabs that could be reused (resident already)
  bool failed = false;

  double pairs() const { return static_cast<double>(groups) * kRssCaches; }
  double group_creation_per_group() const { return (double(rss1) - double(rss0)) / groups; }
  double pair_rss() const { return (double(rss2) - double(rss1)) / pairs(); }
  double pair_overhead() const { return (double(rss2) - double(rss1) - double(live_bytes)) / pairs(); }
  double group_rss() const { return (double(rss2) - double(rss0)) / groups; }
  double group_overhead() const { return (double(rss2) - double(rss0) - double(live_bytes)) / groups; }
  double meta_per_pair() const { return (double(s2.metadata_bytes) - double(s1.metadata_bytes)) / pairs(); }
  double slabs_per_pair() const { return (double(s2.slabs_in_use) - double(s1.slabs_in_use)) / pairs(); }
};

RssResult measure_rss(Env& e, std::vector<memcg::Cache>& caches, int G, int L, int round) {
  RssResult r;
  r.groups = G;
  r.live = L;
  std::vector<memcg::Group> groups;
  groups.reserve(G);
  std::vector<void*> objs;
  objs.reserve(std::size_t(G) * kRssCaches * L);
  std::vector<std::string> names;
  for (int i = 0; i < G; ++i) {
    char n[32];
    std::snprintf(n, sizeof n, "r%d_%d", round, i);
    names.emplace_back(n);
  }
  memcg::barrier();
  r.s0 = memcg::detail::slab_runtime_stats();
  r.slabs_free_at_start = r.s0.slabs_free;
  r.rss0 = rss_bytes();
  for (int i = 0; i < G; ++i) {
    groups.push_back(e.rss_parent.create(names[i]));
    groups.back().set_max(kMax);
  }
  r.rss1 = rss_bytes();
  r.s1 = memcg::detail::slab_runtime_stats();
  for (int i = 0; i < G && !r.failed; ++i) {
    memcg::ScopedGroup s(groups[i]);
    for (int c = 0; c < kRssCaches && !r.failed; ++c) {
      for (int l = 0; l < L; ++l) {
        void* p = caches[c].alloc();
        if (!p) {
          r.failed = true;
          break;
        }
        std::memset(p, 0x5a, kRssSizes[c]);  // the user initialises its object
        objs.push_back(p);
        r.live_bytes += kRssSizes[c];
      }
    }
  }
  r.rss2 = rss_bytes();
  r.s2 = memcg::detail::slab_runtime_stats();
  for (void* p : objs) memcg::Cache::free(p);
  for (memcg::Group& g : groups) g.remove();
  groups.clear();
  memcg::barrier();
  r.rss3 = rss_bytes();
  r.s3 = memcg::detail::slab_runtime_stats();
  return r;
}

std::vector<RssResult> run_rss(Env& e, int G) {
  std::vector<memcg::Cache> caches;
  for (std::size_t s : kRssSizes) caches.push_back(memcg::Cache::create("slab_bench-rss-" + std::to_string(s), s));
  std::vector<RssResult> out;
  int round = 0;
  for (int L : kRssLive) out.push_back(measure_rss(e, caches, G, L, round++));
  for (memcg::Cache& c : caches) {
    std::error_code ec;
    c.destroy(ec);
    if (ec) std::fprintf(stderr, "slab_bench: destroying an RSS cache: %s\n", ec.message().c_str());
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reporter: the console output as usual, plus each run captured for the tables.

struct Sample {
  double real_ns = 0;      // real time per iteration as reported
  double cpu_ns = 0;       // cpu time per iteration as reported (summed over threads)
  double items_per_s = 0;  // aggregate throughput over all threads
  double ns_per_op = 0;    // per-thread latency: threads / items_per_s
  int threads = 1;
  std::map<std::string, double> counters;
};

using Key = std::pair<std::string, int>;  // (function name, threads)

class CaptureReporter : public benchmark::ConsoleReporter {
 public:
  explicit CaptureReporter(std::FILE* timeline) : benchmark::ConsoleReporter(OO_Tabular), timeline_(timeline) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    if (timeline_ && !runs.empty()) {
      // When each benchmark ended (wall clock), to match against a monitor
      // of the machine's load: "<epoch seconds> <benchmark name>".
      timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      std::fprintf(timeline_, "%lld.%03ld %s\n", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000000,
                   runs.front().benchmark_name().c_str());
      std::fflush(timeline_);
    }
    for (const Run& r : runs) {
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      if (r.error_occurred) {
        ++errors_;
        continue;
      }
      Sample s;
      const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
      s.real_ns = r.GetAdjustedRealTime() * to_ns;
      s.cpu_ns = r.GetAdjustedCPUTime() * to_ns;
      s.threads = static_cast<int>(r.threads);
      for (const auto& [name, c] : r.counters) s.counters[name] = static_cast<double>(c);
      auto it = s.counters.find("items_per_second");
      s.items_per_s = it != s.counters.end() ? it->second : 0.0;
      s.ns_per_op = s.items_per_s > 0 ? 1e9 * s.threads / s.items_per_s : 0.0;
      (median ? medians_ : samples_)[Key{r.run_name.function_name, s.threads}].push_back(s);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  bool get(const std::string& name, int threads, Sample* out) const {
    auto it = samples_.find(Key{name, threads});
    if (it == samples_.end() || it->second.empty()) {
      it = medians_.find(Key{name, threads});
      if (it == medians_.end() || it->second.empty()) return false;
    }
    std::vector<Sample> v = it->second;
    std::sort(v.begin(), v.end(), [](const Sample& a, const Sample& b) { return a.items_per_s < b.items_per_s; });
    *out = v[v.size() / 2];
    return true;
  }
  int errors() const { return errors_; }

 private:
  std::map<Key, std::vector<Sample>> samples_;
  std::map<Key, std::vector<Sample>> medians_;
  int errors_ = 0;
  std::FILE* timeline_ = nullptr;
};

std::string af_name(const char* kind, Impl i, std::size_t size) {
  return std::string(kind) + "/" + impl_name(i) + "/" + std::to_string(size);
}

struct TargetResult {
  std::string what;
  double limit = 0, value = -1;
  double cpu_value = -1;  // the same ratio on cpu time per op (2-thread cases: robust to descheduling)
};

void print_af_table(const CaptureReporter& rep, const char* kind, const char* target_label,
                    std::vector<TargetResult>* targets, double* min_concurrency) {
  std::printf("%-5s %-3s", "size", "thr");
  for (Impl i : kAllImpls) std::printf(" %9s", impl_name(i));
  std::printf(" %9s %9s %9s  %s\n", "cache/mi", "kmal/mi", "conc", targets ? "target (cache/mimalloc)" : "");
  for (int si = 0; si < kNumSizes; ++si) {
    for (int th : {1, 2}) {
      Sample s[8];
      bool have[8];
      bool any = false;
      for (int k = 0; k < 8; ++k) any |= have[k] = rep.get(af_name(kind, kAllImpls[k], kSizes[si]), th, &s[k]);
      if (!any) continue;
      std::printf("%-5zu %-3d", kSizes[si], th);
      for (int k = 0; k < 8; ++k) {
        if (have[k]) std::printf(" %9.2f", s[k].ns_per_op);
        else std::printf(" %9s", "n/a");
      }
      const int kc = static_cast<int>(Impl::kCache), kk = static_cast<int>(Impl::kKmalloc),
                km = static_cast<int>(Impl::kMimalloc);
      double ratio = -1;
      if (have[kc] && have[km] && s[km].ns_per_op > 0) {
        ratio = s[kc].ns_per_op / s[km].ns_per_op;
        std::printf(" %9.3f", ratio);
      } else {
        std::printf(" %9s", "n/a");
      }
      if (have[kk] && have[km] && s[km].ns_per_op > 0) std::printf(" %9.3f", s[kk].ns_per_op / s[km].ns_per_op);
      else std::printf(" %9s", "n/a");
      // Concurrency of the memcg cache run: cpu time / real time (2.00 = both
      // threads on a CPU all the time).
      if (have[kc] && s[kc].real_ns > 0) {
        const double conc = s[kc].cpu_ns / s[kc].real_ns;
        std::printf(" %9.2f", conc);
        if (th == 2 && min_concurrency) *min_concurrency = std::min(*min_concurrency, conc);
      } else {
        std::printf(" %9s", "");
      }
      if (targets && (kSizes[si] == 64 || kSizes[si] == 256)) {
        const double limit = th == 1 ? kTarget1T : kTarget2T;
        TargetResult t;
        t.what = std::string(target_label) + " " + std::to_string(kSizes[si]) + " B, " + std::to_string(th) +
                 " thread" + (th == 1 ? "" : "s");
        t.limit = limit;
        t.value = ratio;
        if (th == 2 && ratio >= 0 && s[km].cpu_ns > 0) t.cpu_value = s[kc].cpu_ns / s[km].cpu_ns;
        targets->push_back(t);
        if (ratio >= 0) std::printf("  <= %.2f: %s", limit, mark(ratio <= limit));
        else std::printf("  <= %.2f: not measured", limit);
      }
      std::printf("\n");
    }
  }
}

void print_tables(const CaptureReporter& rep, const std::vector<RssResult>& rss, std::uint64_t groups_baseline,
                  std::uint64_t groups_after, std::uint64_t child_caches_after, bool smoke) {
  std::vector<TargetResult> targets;
  double min_conc = 2.0;

  std::printf("\nPEERS\n");
  std::printf("  mimalloc: %s\n  tcmalloc: %s\n  jemalloc: %s\n", g_peers.mi_status.c_str(),
              g_peers.tc_status.c_str(), g_peers.je_status.c_str());
  std::printf("  glibc:    the process malloc / free\n  naive:    std::mutex + free list per size, all threads\n");

  std::printf("\nRATIOS  alloc+free, warm  (one op = alloc + write 1 byte + free of one object, while the thread keeps\n"
              "        %d other objects of that size live from the same allocator; ns/op = per-thread latency\n"
              "        = threads / aggregate throughput, real time; cache = Cache::alloc() in a ScopedGroup,\n"
              "        cache_g = Cache::alloc(group); conc = cpu/real of the cache run, 2.00 = both threads ran)\n",
              kWarmLive);
  print_af_table(rep, "alloc_free", "cache/mimalloc alloc+free (warm)", &targets, &min_conc);

  std::printf("\nRATIOS  alloc+free, empty heap  (the same with nothing else live: the one object is alone in its\n"
              "        page/slab, so mimalloc retires its page on every free (_mi_page_retire); see docs/benchmarks.md)\n");
  print_af_table(rep, "alloc_free_empty", "cache/mimalloc alloc+free (empty heap)", &targets, &min_conc);

  std::printf("\nBURST  allocate %d objects, then free them (ns per alloc+free; informational)\n", kBurst);
  print_af_table(rep, "burst", nullptr, nullptr, nullptr);

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

  std::printf("\nCHURN  create group, %d x %zu B from a Cache in it, free, remove, drop the handle\n", kChurnObjects,
              kChurnSize);
  for (const char* v : {"free_then_remove", "remove_then_free"}) {
    Sample s;
    if (!rep.get(std::string("churn/") + v, 1, &s)) continue;
    auto pend = s.counters.find("groups_pending");
    std::printf("  %-17s %10.0f groups/s  %8.2f us/group  (groups not yet freed at the end of the run: %.0f)\n", v,
                s.items_per_s, s.items_per_s > 0 ? 1e6 / s.items_per_s : 0.0,
                pend != s.counters.end() ? pend->second : -1.0);
  }
  std::printf("  after memcg::barrier(): memcg::detail::runtime_stats().groups_allocated = %llu (baseline before the benchmarks %llu:"
              " %s); live child caches %llu\n",
              static_cast<unsigned long long>(groups_after), static_cast<unsigned long long>(groups_baseline),
              groups_after == groups_baseline ? "every churned group was freed" : "GROUPS LEAKED",
              static_cast<unsigned long long>(child_caches_after));

  double pair_l1 = -1;
  if (!rss.empty()) {
    std::printf("\nRSS OVERHEAD  G=%d groups x %d caches (32..1024 B), L live objects per (group, cache), one thread;\n"
                "              measured before the benchmarks ran; bytes from /proc/self/statm\n",
                rss.front().groups, kRssCaches);
    std::printf("%-4s %11s %11s %11s %11s %11s %10s %10s %10s %9s\n", "L", "grp create", "RSS/group", "ovh/group",
                "RSS/pair", "ovh/pair", "meta/pair", "slabs/pair", "live MiB", "freed");
    for (const RssResult& r : rss) {
      if (r.failed) {
        std::printf("%-4d allocation failed\n", r.live);
        continue;
      }
      // freed: RSS after freeing everything and removing the groups, relative to before.
      std::printf("%-4d %11.0f %11.0f %11.0f %11.0f %11.0f %10.0f %10.3f %10.2f %8.1f%%\n", r.live,
                  r.group_creation_per_group(), r.group_rss(), r.group_overhead(), r.pair_rss(), r.pair_overhead(),
                  r.meta_per_pair(), r.slabs_per_pair(), r.live_bytes / 1048576.0,
                  r.rss2 > r.rss0 ? 100.0 * (double(r.rss2) - double(r.rss3)) / (double(r.rss2) - double(r.rss0))
                                  : 0.0);
      if (r.live == 1) pair_l1 = r.pair_rss();
    }
    std::printf("  grp create = RSS of creating a group (no allocation), per group; RSS/group = all of it per group;\n"
                "  ovh = minus the bytes of the live objects; pair = one (group, cache) child cache, allocation phase\n"
                "  only; meta = memcg::detail::slab_runtime_stats().metadata_bytes; slabs = slabs_in_use (64 KiB virtual each);\n"
                "  freed = share of the added RSS returned after freeing, removing the groups and barrier().\n"
                "  free slabs already resident at the start of each round (reusable, so not counted): ");
    for (const RssResult& r : rss) std::printf("L=%d: %llu  ", r.live, static_cast<unsigned long long>(r.slabs_free_at_start));
    std::printf("\n  after each round (all freed, groups removed, barrier()), against its start:");
    for (const RssResult& r : rss)
      std::printf("\n    L=%-3d RSS %+.1f KiB, metadata %+lld B, slabs in use %+lld, free slabs %llu, child caches %+lld",
                  r.live, (double(r.rss3) - double(r.rss0)) / 1024.0,
                  static_cast<long long>(r.s3.metadata_bytes) - static_cast<long long>(r.s0.metadata_bytes),
                  static_cast<long long>(r.s3.slabs_in_use) - static_cast<long long>(r.s0.slabs_in_use),
                  static_cast<unsigned long long>(r.s3.slabs_free),
                  static_cast<long long>(r.s3.child_caches) - static_cast<long long>(r.s0.child_caches));
    std::printf("\n");
  }

  std::printf("\nTARGETS (informational; the exit code never depends on timings)\n");
  for (const TargetResult& t : targets) {
    if (t.value >= 0 && t.cpu_value >= 0)
      std::printf("  %-56s <= %.2f : %.3f  %s   (on cpu time: %.3f)\n", t.what.c_str(), t.limit, t.value,
                  mark(t.value <= t.limit), t.cpu_value);
    else if (t.value >= 0)
      std::printf("  %-56s <= %.2f : %.3f  %s\n", t.what.c_str(), t.limit, t.value, mark(t.value <= t.limit));
    else
      std::printf("  %-56s <= %.2f : not measured\n", t.what.c_str(), t.limit);
  }
  if (pair_l1 >= 0)
    std::printf("  %-56s <  %.0f : %.0f B  %s\n", "RSS of a (group, cache) pair with 1 live object", kTargetPairBytes,
                pair_l1, mark(pair_l1 < kTargetPairBytes));
  else
    std::printf("  %-56s <  %.0f : not measured\n", "RSS of a (group, cache) pair with 1 live object",
                kTargetPairBytes);
  std::printf("  (2-thread figures share the machine's %u CPUs with whatever else runs)\n",
              std::thread::hardware_concurrency());
  if (min_conc < 1.9)
    std::printf("  CAVEAT: a 2-thread cache run got only %.2f CPUs on average: the machine was busy; the 2-thread\n"
                "          ratios compare runs made at different moments of that load\n",
                min_conc);
  if (smoke) std::printf("(smoke mode: min time 0.01 s per benchmark, G=%d; numbers are rough)\n",
                         rss.empty() ? 0 : rss.front().groups);
}

}  // namespace

int main(int argc, char** argv) {
  static char warmup_flag[] = "--benchmark_min_warmup_time=0.1";
  static char smoke_min_time_flag[] = "--benchmark_min_time=0.01";
  static char smoke_warmup_flag[] = "--benchmark_min_warmup_time=0";
  std::vector<char*> args;
  bool smoke = false, no_peers = false, no_reexec = false, no_rss = false;
  long long fixed_iters = 0;
  const char* timeline_path = nullptr;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) {
      if (std::strcmp(argv[i], "--smoke") == 0) { smoke = true; continue; }
      if (std::strcmp(argv[i], "--no-peers") == 0) { no_peers = true; continue; }
      if (std::strcmp(argv[i], "--no-reexec") == 0) { no_reexec = true; continue; }
      if (std::strcmp(argv[i], "--no-rss") == 0) { no_rss = true; continue; }
      if (std::strncmp(argv[i], "--iterations=", 13) == 0) { fixed_iters = std::atoll(argv[i] + 13); continue; }
      if (std::strncmp(argv[i], "--timeline=", 11) == 0) { timeline_path = argv[i] + 11; continue; }
    }
    args.push_back(argv[i]);
    if (i == 0) args.push_back(warmup_flag);
  }
  if (smoke) {
    args.push_back(smoke_min_time_flag);
    args.push_back(smoke_warmup_flag);
  }

  // Peers first: this may re-execute the program (jemalloc), so before
  // anything else runs.
  if (kSanitizerBuild) {
    // ASan and TSan abort on dlopen(RTLD_DEEPBIND); a second allocator
    // under a sanitizer would measure nothing anyway.
    g_peers.mi_status = g_peers.tc_status = g_peers.je_status =
        "SKIPPED: sanitizer build (its runtime rejects dlopen with RTLD_DEEPBIND)";
  } else if (no_peers) {
    g_peers.mi_status = g_peers.tc_status = g_peers.je_status = "SKIPPED: --no-peers";
  } else {
    load_peers(argv, !no_reexec);
  }

  int nargs = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;

  static Env env;
  g_env = &env;
  build_env(env);
  memcg::barrier();
  env.groups_baseline = memcg::detail::runtime_stats().groups_allocated;

  // RSS first (a fresh slab layer), printed at the end.
  std::vector<RssResult> rss;
  if (!no_rss) rss = run_rss(env, smoke ? 20 : 200);

  static std::vector<std::unique_ptr<AfCase>> cases;
  auto apply = [&](benchmark::internal::Benchmark* b) {
    if (fixed_iters > 0) b->Iterations(fixed_iters);
    return b;
  };
  auto reg_af = [&](const char* kind, Impl impl, int si) {
    const int live = std::strcmp(kind, "alloc_free") == 0 ? kWarmLive : 0;
    cases.push_back(std::make_unique<AfCase>(AfCase{si, live}));
    const AfCase* k = cases.back().get();
    const std::string name = af_name(kind, impl, kSizes[si]);
    const bool burst = std::strcmp(kind, "burst") == 0;
    benchmark::internal::Benchmark* b = nullptr;
    switch (impl) {
#define MEMCG_REG(I)                                                                                      \
  case I:                                                                                                 \
    b = burst ? benchmark::RegisterBenchmark(name.c_str(), BM_burst<I>, k)                                \
              : benchmark::RegisterBenchmark(name.c_str(), BM_alloc_free<I>, k);                          \
    break;
      MEMCG_REG(Impl::kCache)
      MEMCG_REG(Impl::kCacheExplicit)
      MEMCG_REG(Impl::kKmalloc)
      MEMCG_REG(Impl::kMimalloc)
      MEMCG_REG(Impl::kTcmalloc)
      MEMCG_REG(Impl::kJemalloc)
      MEMCG_REG(Impl::kGlibc)
      MEMCG_REG(Impl::kNaive)
#undef MEMCG_REG
    }
    apply(b->Threads(1)->Threads(2)->UseRealTime());
  };
  for (const char* kind : {"alloc_free", "alloc_free_empty", "burst"})
    for (int si = 0; si < kNumSizes; ++si)
      for (Impl impl : kAllImpls)
        if (impl_available(impl)) reg_af(kind, impl, si);

  for (Impl impl : kAllImpls) {
    if (impl == Impl::kCacheExplicit || !impl_available(impl)) continue;
    const std::string name = std::string("prodcons/") + impl_name(impl);
    benchmark::internal::Benchmark* b = nullptr;
    switch (impl) {
#define MEMCG_REG(I) \
  case I: b = benchmark::RegisterBenchmark(name.c_str(), BM_prodcons<I>); break;
      MEMCG_REG(Impl::kCache)
      MEMCG_REG(Impl::kKmalloc)
      MEMCG_REG(Impl::kMimalloc)
      MEMCG_REG(Impl::kTcmalloc)
      MEMCG_REG(Impl::kJemalloc)
      MEMCG_REG(Impl::kGlibc)
      MEMCG_REG(Impl::kNaive)
#undef MEMCG_REG
      default: break;
    }
    if (b) apply(b->Threads(2)->UseRealTime());
  }

  apply(benchmark::RegisterBenchmark("churn/free_then_remove", BM_churn<false>)->UseRealTime());
  apply(benchmark::RegisterBenchmark("churn/remove_then_free", BM_churn<true>)->UseRealTime());

  std::FILE* timeline = timeline_path ? std::fopen(timeline_path, "w") : nullptr;
  if (timeline_path && !timeline) std::fprintf(stderr, "slab_bench: cannot write %s\n", timeline_path);
  if (timeline) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    std::fprintf(timeline, "%lld.%03ld start\n", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000000);
  }
  CaptureReporter reporter(timeline);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  memcg::barrier();
  const memcg::detail::RuntimeStats rs = memcg::detail::runtime_stats();
  const memcg::detail::SlabRuntimeStats ss = memcg::detail::slab_runtime_stats();
  print_tables(reporter, rss, env.groups_baseline, rs.groups_allocated, ss.child_caches, smoke);
  if (timeline) std::fclose(timeline);

  const bool groups_ok = rs.groups_allocated == env.groups_baseline;
  bool rss_ok = true;
  for (const RssResult& r : rss) rss_ok &= !r.failed;
  if (reporter.errors()) std::printf("%d benchmark run(s) failed\n", reporter.errors());
  return groups_ok && rss_ok && reporter.errors() == 0 ? 0 : 1;
}
