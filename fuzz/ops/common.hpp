// What every part of ops_fuzzer uses: the check and trace macros, the
// statistics FZ_STATS prints, and the library constants the model mirrors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "charge/stock.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "memcg/memcg.hpp"
#include "slab/slab_internal.hpp"
#include "slab/thread_mags.hpp"

namespace ops_fuzz {

using namespace memcg;

#define FZ_CHECK(cond, ...)                                                  \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "ops_fuzzer: check failed at line %d: %s\n  ", __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

// FZ_TRACE=1 in the environment: one line per operation on stderr.
inline const bool g_trace = std::getenv("FZ_TRACE") != nullptr;
#define FZ_TRACE(...)                                 \
  do {                                                \
    if (g_trace) std::fprintf(stderr, __VA_ARGS__);   \
  } while (0)

using u64 = std::uint64_t;

// FZ_STATS=1: how often each kind of check fired, printed at exit.
struct CheckStats {
  u64 charges = 0, charges_failed = 0, must_succeed = 0, must_fail = 0, must_fail_shared = 0, stock_excused = 0,
      set_max_oom = 0, forced_charges = 0,
      reclaims = 0, reclaims_short = 0, file_reads = 0, shrinks = 0, checkpoints = 0, barriers = 0,
      late_frees = 0;
};
inline CheckStats g_stats;
#define U(x) static_cast<unsigned long long>(x)

constexpr u64 kSlab = 64 * 1024;         // slab size (page_source kSlabSize)
constexpr u64 kBatch = detail::kChargeBatch;
constexpr u64 kCostly = 64 * 1024;        // kCostlyBytes: no OOM above it
constexpr u64 kObjChunk = detail::kObjStockChunk;  // an object slot charges whole chunks
constexpr u64 kObjSlotMax = detail::kObjStockMax;  // and holds at most this much
// Charged rounds a thread keeps (thread_mags.hpp CHARGED ROUNDS): two
// magazines per table entry of a cache of objects up to kChargedRoundMax
// bytes, each round charged its stride and owner record.
constexpr u64 kChargedRoundsMax =
    u64{detail::kTableSize} * 2 * detail::kMagazineRounds * (detail::kChargedRoundMax + sizeof(detail::OwnerKey));
constexpr u64 kOwnerRecord = sizeof(void*);        // a shared object's ownership record
constexpr u64 kStockThreads = 2;                   // threads that charge: the fuzzing one, other_thread()
static_assert(kSlab == detail::kSlabSize);

}  // namespace ops_fuzz
