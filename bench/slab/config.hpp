// slab_bench's workload parameters and its (informational) targets.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLAB_BENCH_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLAB_BENCH_SANITIZER 1
#endif
#endif

namespace slab_bench {

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

// Targets (informational; issue 11), alloc+free on the warm heap, 64 and
// 256 B, 1 and 2 threads, each ratio over mimalloc from the same run.
constexpr double kTargetShared = 1.10;    // cache (shared slabs) / mimalloc
constexpr double kTargetIsolated = 1.00;  // cache_iso (CacheOptions::isolate) / mimalloc
constexpr double kTargetKmalloc = 1.00;   // kmalloc / mimalloc
constexpr double kTargetPairBytes = 16 * 1024;  // RSS of a (group, cache) pair with one live object

}  // namespace slab_bench
