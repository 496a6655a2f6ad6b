// Pressure stall information (core/psi.hpp).
#include "core/psi.hpp"

#include <cmath>
#include <ctime>

#include "core/group_impl.hpp"
#include "platform/fork.hpp"

namespace memcg::detail {
namespace {

// One lock for every group's PSI state: stalls and ScopedGroup changes are
// slow-path events, and one lock is one fork participant. Constant-
// initialised, never destroyed (exiting threads use it) and never lazily
// constructed (a first use racing fork() would leave the child waiting for
// an initialisation that never finishes).
constinit SpinLock g_psi_lock{LockRank::kPsi};
SpinLock& psi_lock() { return g_psi_lock; }

GroupImpl* g_psi_root = nullptr;  // the tree's root, once the runtime exists (psi_set_root)

constinit thread_local int tls_psi_depth = 0;
constinit thread_local GroupImpl* tls_psi_member = nullptr;  // the group this thread is a member of (ScopedGroup)
constinit thread_local GroupImpl* tls_psi_stall = nullptr;   // the group this thread stalls for (outermost PsiStall)

void fork_child_fixup(void*) noexcept;
fork::HeldAcrossFork<SpinLock> g_psi_fork{g_psi_lock, fork_child_fixup, nullptr};

constexpr std::uint64_t kPeriodNs = 2'000'000'000;  // the kernel's PSI_FREQ
const double kDecay[3] = {std::exp(-2.0 / 10), std::exp(-2.0 / 60), std::exp(-2.0 / 300)};

// base^n by squaring: the averages need whole periods only, and the
// interposer (which carries this file) then needs no libm.
double power(double base, std::uint64_t n) {
  double r = 1.0;
  for (; n != 0; n >>= 1, base *= base)
    if (n & 1) r *= base;
  return r;
}

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// member: a thread whose current group is in a's subtree.
bool is_member(const GroupImpl* a, const GroupImpl* member) noexcept {
  return member && (member == a || member->is_descendant_of(a));
}

bool full_holds(const GroupImpl::Psi& p) { return p.members > 0 && p.member_stalled == p.members; }

// Applies a change to one group's counts, opening or closing the some and
// full spans it starts or ends (psi.lock held).
template <class F>
void change(GroupImpl* a, std::uint64_t now, F&& f) noexcept {
  GroupImpl::Psi& p = a->psi;
  const bool some_before = p.stalled > 0, full_before = full_holds(p);
  f(p);
  const bool some_after = p.stalled > 0, full_after = full_holds(p);
  if (!some_before && some_after) p.some_start = now;
  if (some_before && !some_after) p.some_ns += now - p.some_start;
  if (!full_before && full_after) p.full_start = now;
  if (full_before && !full_after) p.full_ns += now - p.full_start;
}

std::uint64_t total_ns(const GroupImpl::Psi& p, bool full, std::uint64_t now) noexcept {
  if (full) return p.full_ns + (full_holds(p) ? now - p.full_start : 0);
  return p.some_ns + (p.stalled ? now - p.some_start : 0);
}

}  // namespace

PsiStall::PsiStall(GroupImpl* g) noexcept : g_(tls_psi_depth++ == 0 ? g : nullptr), current_(tls_psi_member) {
  if (!g_) return;
  tls_psi_stall = g_;
  LockGuard<SpinLock> l(psi_lock());
  const std::uint64_t now = now_ns();  // under the lock: spans never end before they start
  for (GroupImpl* a = g_; a; a = a->parent) {
    const bool member = is_member(a, current_);
    change(a, now, [&](GroupImpl::Psi& p) {
      ++p.stalled;
      if (member) ++p.member_stalled;
    });
  }
}

PsiStall::~PsiStall() {
  --tls_psi_depth;
  if (!g_) return;
  tls_psi_stall = nullptr;
  LockGuard<SpinLock> l(psi_lock());
  const std::uint64_t now = now_ns();
  for (GroupImpl* a = g_; a; a = a->parent) {
    const bool member = is_member(a, current_);
    change(a, now, [&](GroupImpl::Psi& p) {
      --p.stalled;
      if (member) --p.member_stalled;
    });
  }
}

GroupImpl* psi_member() noexcept { return tls_psi_member; }

void psi_set_root(GroupImpl* root) noexcept { g_psi_root = root; }

void psi_move_member(GroupImpl* from, GroupImpl* to) noexcept {
  LockGuard<SpinLock> l(psi_lock());
  const std::uint64_t now = now_ns();
  for (GroupImpl* a = from; a; a = a->parent)
    if (!is_member(a, to)) change(a, now, [](GroupImpl::Psi& p) { --p.members; });
  for (GroupImpl* a = to; a; a = a->parent)
    if (!is_member(a, from)) change(a, now, [](GroupImpl::Psi& p) { ++p.members; });
  tls_psi_member = to;
}

std::uint64_t psi_total_us(GroupImpl* g, bool full) noexcept {
  LockGuard<SpinLock> l(psi_lock());
  return total_ns(g->psi, full, now_ns()) / 1000;
}

namespace {
// Fork child (the tree mutex and the PSI lock held): the threads that were
// stalled or members are gone. Every group's counts are rebuilt from the
// forking thread's alone; the totals of ended spans are kept, open spans
// are closed at the fork.
void reset_subtree(GroupImpl* g, std::uint64_t now) MEMCG_NO_TSA {
  GroupImpl::Psi& p = g->psi;
  if (p.stalled) p.some_ns += now - p.some_start;
  if (full_holds(p)) p.full_ns += now - p.full_start;
  p.stalled = p.member_stalled = p.members = 0;
  for (GroupImpl* c = g->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed))
    reset_subtree(c, now);
}

void fork_child_fixup(void*) noexcept MEMCG_NO_TSA {
  if (!g_psi_root) return;  // no runtime, no groups
  const std::uint64_t now = now_ns();
  reset_subtree(g_psi_root, now);
  for (GroupImpl* a = tls_psi_member; a; a = a->parent) change(a, now, [](GroupImpl::Psi& p) { ++p.members; });
  if (tls_psi_stall)
    for (GroupImpl* a = tls_psi_stall; a; a = a->parent) {
      const bool member = is_member(a, tls_psi_member);
      change(a, now, [&](GroupImpl::Psi& p) {
        ++p.stalled;
        if (member) ++p.member_stalled;
      });
    }
}
}  // namespace

Pressure psi_read(GroupImpl* g) noexcept {
  GroupImpl::Psi& p = g->psi;
  LockGuard<SpinLock> l(psi_lock());
  const std::uint64_t now = now_ns();
  const std::uint64_t totals[2] = {total_ns(p, false, now), total_ns(p, true, now)};
  if (p.avg_at == 0) {
    p.avg_at = now;
    p.avg_some_ns = totals[0];
    p.avg_full_ns = totals[1];
  } else if (now - p.avg_at >= kPeriodNs) {
    const std::uint64_t span = now - p.avg_at;
    const std::uint64_t periods = span / kPeriodNs;
    const std::uint64_t was[2] = {p.avg_some_ns, p.avg_full_ns};
    for (int k = 0; k < 2; ++k) {
      const double pct = 100.0 * static_cast<double>(totals[k] - was[k]) / static_cast<double>(span);
      for (int w = 0; w < 3; ++w) {
        const double e = power(kDecay[w], periods);
        p.avg[k][w] = p.avg[k][w] * e + std::min(pct, 100.0) * (1 - e);
      }
    }
    p.avg_at = now;
    p.avg_some_ns = totals[0];
    p.avg_full_ns = totals[1];
  }
  Pressure out;
  PressureLine* lines[2] = {&out.some, &out.full};
  for (int k = 0; k < 2; ++k) {
    lines[k]->avg10 = p.avg[k][0];
    lines[k]->avg60 = p.avg[k][1];
    lines[k]->avg300 = p.avg[k][2];
    lines[k]->total_us = totals[k] / 1000;
  }
  return out;
}

}  // namespace memcg::detail
