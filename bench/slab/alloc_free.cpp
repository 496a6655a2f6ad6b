#include "slab/alloc_free.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "harness/report.hpp"
#include "slab/env.hpp"
#include "slab/impl.hpp"

namespace slab_bench {
namespace {

using memcg_bench::CaptureReporter;
using memcg_bench::mark;
using memcg_bench::Sample;

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
  Ctx c = make_ctx(I, cache_for(I, g_env->cache[si], g_env->cache_iso[si]), g_env->naive[si].get(), kSizes[si], g);
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
  Ctx c = make_ctx(I, cache_for(I, g_env->cache[si], g_env->cache_iso[si]), g_env->naive[si].get(), kSizes[si], g);
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

std::string af_name(const char* kind, Impl i, std::size_t size) {
  return std::string(kind) + "/" + impl_name(i) + "/" + std::to_string(size);
}

}  // namespace

void register_alloc_free(long long fixed_iters) {
  static std::vector<std::unique_ptr<AfCase>> cases;  // live until exit
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
      MEMCG_REG(Impl::kCacheIsolated)
      MEMCG_REG(Impl::kKmalloc)
      MEMCG_REG(Impl::kMimalloc)
      MEMCG_REG(Impl::kTcmalloc)
      MEMCG_REG(Impl::kJemalloc)
      MEMCG_REG(Impl::kGlibc)
      MEMCG_REG(Impl::kNaive)
#undef MEMCG_REG
    }
    with_iterations(b->Threads(1)->Threads(2)->UseRealTime(), fixed_iters);
  };
  for (const char* kind : {"alloc_free", "alloc_free_empty", "burst"})
    for (int si = 0; si < kNumSizes; ++si)
      for (Impl impl : kAllImpls)
        if (impl_available(impl)) reg_af(kind, impl, si);
}

namespace {

// One targeted ratio of a row: impl's ns/op over mimalloc's.
struct RowTarget {
  Impl impl;
  const char* label;  // in TARGETS
  const char* tag;    // in the row
  double limit;
};
constexpr RowTarget kRowTargets[] = {
    {Impl::kCache, "cache/mimalloc", "cache", kTargetShared},
    {Impl::kCacheIsolated, "cache_iso/mimalloc", "iso", kTargetIsolated},
    {Impl::kKmalloc, "kmalloc/mimalloc", "kmal", kTargetKmalloc},
};

}  // namespace

bool af_measured(const CaptureReporter& rep, const char* kind) {
  Sample s;
  for (int si = 0; si < kNumSizes; ++si)
    for (Impl i : kAllImpls)
      for (int th : {1, 2})
        if (rep.get(af_name(kind, i, kSizes[si]), th, &s)) return true;
  return false;
}

void print_af_table(const CaptureReporter& rep, const char* kind, const char* target_label,
                    std::vector<TargetResult>* targets, double* min_concurrency) {
  std::printf("%-5s %-3s", "size", "thr");
  for (Impl i : kAllImpls) std::printf(" %9s", impl_name(i));
  std::printf(" %9s %9s %9s %9s  %s\n", "cache/mi", "iso/mi", "kmal/mi", "conc",
              target_label ? "targets (over mimalloc)" : "");
  const int km = static_cast<int>(Impl::kMimalloc);
  for (int si = 0; si < kNumSizes; ++si) {
    for (int th : {1, 2}) {
      Sample s[kNumImpls];
      bool have[kNumImpls];
      bool any = false;
      for (int k = 0; k < kNumImpls; ++k)
        any |= have[k] = rep.get(af_name(kind, kAllImpls[k], kSizes[si]), th, &s[k]);
      if (!any) continue;
      std::printf("%-5zu %-3d", kSizes[si], th);
      for (int k = 0; k < kNumImpls; ++k) {
        if (have[k]) std::printf(" %9.2f", s[k].ns_per_op);
        else std::printf(" %9s", "n/a");
      }
      // ratio[t]: kRowTargets[t].impl's ns/op over mimalloc's, -1 if either is missing.
      double ratio[3];
      for (int t = 0; t < 3; ++t) {
        const int k = static_cast<int>(kRowTargets[t].impl);
        ratio[t] = have[k] && have[km] && s[km].ns_per_op > 0 ? s[k].ns_per_op / s[km].ns_per_op : -1;
        if (ratio[t] >= 0) std::printf(" %9.3f", ratio[t]);
        else std::printf(" %9s", "n/a");
      }
      // Concurrency of the memcg cache run: cpu time / real time (2.00 = both
      // threads on a CPU all the time); min_concurrency takes the lowest of
      // the 2-thread cache, cache_iso and kmalloc runs.
      const int kc = static_cast<int>(Impl::kCache);
      if (have[kc] && s[kc].real_ns > 0) std::printf(" %9.2f", s[kc].cpu_ns / s[kc].real_ns);
      else std::printf(" %9s", "");
      if (th == 2 && min_concurrency)
        for (const RowTarget& rt : kRowTargets) {
          const int k = static_cast<int>(rt.impl);
          if (have[k] && s[k].real_ns > 0) *min_concurrency = std::min(*min_concurrency, s[k].cpu_ns / s[k].real_ns);
        }
      if (target_label && (kSizes[si] == 64 || kSizes[si] == 256)) {
        std::printf(" ");
        for (int t = 0; t < 3; ++t) {
          const RowTarget& rt = kRowTargets[t];
          if (ratio[t] >= 0) std::printf(" %s<=%.2f:%s", rt.tag, rt.limit, mark(ratio[t] <= rt.limit));
          else std::printf(" %s<=%.2f:n/a", rt.tag, rt.limit);
          if (!targets) continue;
          TargetResult r;
          r.what = std::string(rt.label) + " " + target_label + " " + std::to_string(kSizes[si]) + " B, " +
                   std::to_string(th) + " thread" + (th == 1 ? "" : "s");
          r.limit = rt.limit;
          r.value = ratio[t];
          const int k = static_cast<int>(rt.impl);
          if (th == 2 && ratio[t] >= 0 && s[km].cpu_ns > 0) r.cpu_value = s[k].cpu_ns / s[km].cpu_ns;
          targets->push_back(r);
        }
      }
      std::printf("\n");
    }
  }
}

}  // namespace slab_bench
