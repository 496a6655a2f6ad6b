// Pressure stall information per group (memory.pressure), the kernel's PSI
// for memory, measured in-process:
//   some  time during which at least one thread was stalled charging the
//         group's subtree: in reclaim, memory.high throttling, or OOM
//         (waiting for another OOM, or running the handler);
//   full  time during which, in addition, every thread whose current group
//         (ScopedGroup) lies in the subtree was among the stalled (and
//         there was at least one such thread).
// A stall counts in the charged group and every ancestor, as a task's stall
// counts in every cgroup above it. Averages (avg10/60/300, percent) are the
// kernel's exponential averages over 2 s periods, brought up to date when
// read; a stretch of periods since the last read counts at its mean.
#pragma once

#include <cstdint>

#include "memcg/notify.hpp"

namespace memcg::detail {

struct GroupImpl;

/// The calling thread stalls on behalf of g's subtree while this lives
/// (nested stalls of one thread count once). Never allocates.
class PsiStall {
 public:
  explicit PsiStall(GroupImpl* g) noexcept;
  ~PsiStall();
  PsiStall(const PsiStall&) = delete;
  PsiStall& operator=(const PsiStall&) = delete;

 private:
  GroupImpl* g_;  // null: an outer stall of this thread already counts
  GroupImpl* current_;
};

/// The calling thread's membership moves from `from` to `to` (ScopedGroup);
/// either may be null (a member of nothing). `from` must be psi_member():
/// memcg-run sets threads' current groups without ScopedGroup, and they are
/// members of nothing.
void psi_move_member(GroupImpl* from, GroupImpl* to) noexcept;
/// The group the calling thread is a member of (its ScopedGroup's), or null.
GroupImpl* psi_member() noexcept;
/// The runtime's root, for the fork child's reset (runtime.cpp, at start).
void psi_set_root(GroupImpl* root) noexcept;

/// memory.pressure of g, averages brought up to date.
Pressure psi_read(GroupImpl* g) noexcept;
/// Stall time of g (some or full), microseconds, ongoing spans included.
std::uint64_t psi_total_us(GroupImpl* g, bool full) noexcept;

}  // namespace memcg::detail
