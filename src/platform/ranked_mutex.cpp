#include "platform/ranked_mutex.hpp"

namespace memcg::detail {
namespace {
// Small fixed stack: no allocation, usable anywhere.
constexpr int kMaxHeld = 16;
struct HeldRanks {
  int n = 0;
  LockRank r[kMaxHeld];
};
constinit thread_local HeldRanks tls_held{};
}  // namespace

void lock_rank_acquire(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = 0; i < h.n; ++i)
    MEMCG_CHECK(static_cast<int>(h.r[i]) < static_cast<int>(r),
                "lock order violated (see src/platform/lock_order.hpp)");
  MEMCG_CHECK(h.n < kMaxHeld, "too many locks held");
  h.r[h.n++] = r;
}

void lock_rank_acquire_nested(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = 0; i < h.n; ++i)
    MEMCG_CHECK(static_cast<int>(h.r[i]) <= static_cast<int>(r),
                "lock order violated (see src/platform/lock_order.hpp)");
  MEMCG_CHECK(h.n < kMaxHeld, "too many locks held");
  h.r[h.n++] = r;
}

void lock_rank_release(LockRank r) noexcept {
  HeldRanks& h = tls_held;
  for (int i = h.n - 1; i >= 0; --i) {
    if (h.r[i] == r) {
      for (int j = i; j + 1 < h.n; ++j) h.r[j] = h.r[j + 1];
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
