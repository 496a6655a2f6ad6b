#include "platform/ranked_mutex.hpp"

namespace memcg::detail {
namespace {
// Small fixed stack: no allocation, usable anywhere. Ranks on it strictly
// increase; locks of one rank taken nested (lock_nested) share an entry and
// count in it, so a thread may hold any number of them (the fork handler
// holds every cache lock).
constexpr int kMaxHeld = 16;
struct HeldRanks {
  int n = 0;
  LockRank r[kMaxHeld];
  unsigned count[kMaxHeld];
};
constinit thread_local HeldRanks tls_held{};
}  // namespace

void lock_rank_acquire(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = 0; i < h.n; ++i)
    MEMCG_CHECK(static_cast<int>(h.r[i]) < static_cast<int>(r),
                "lock order violated (see src/platform/lock_order.hpp)");
  MEMCG_CHECK(h.n < kMaxHeld, "too many locks held");
  h.r[h.n] = r;
  h.count[h.n++] = 1;
}

void lock_rank_acquire_nested(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = 0; i < h.n; ++i)
    MEMCG_CHECK(static_cast<int>(h.r[i]) <= static_cast<int>(r),
                "lock order violated (see src/platform/lock_order.hpp)");
  if (h.n > 0 && h.r[h.n - 1] == r) {
    ++h.count[h.n - 1];
    return;
  }
  MEMCG_CHECK(h.n < kMaxHeld, "too many locks held");
  h.r[h.n] = r;
  h.count[h.n++] = 1;
}

void lock_rank_release(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = h.n - 1; i >= 0; --i) {
    if (h.r[i] == r) {
      if (--h.count[i] != 0) return;
      for (int j = i; j + 1 < h.n; ++j) {
        h.r[j] = h.r[j + 1];
        h.count[j] = h.count[j + 1];
      }
      --h.n;
      return;
    }
  }
  MEMCG_CHECK(false, "releasing a lock that is not held");
}

bool lock_rank_held(LockRank r) noexcept {
  const HeldRanks& h = tls_held;
  for (int i = 0; i < h.n; ++i)
    if (h.r[i] == r) return true;
  return false;
}

}  // namespace memcg::detail
