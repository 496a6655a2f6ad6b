// OOM: when reclaim cannot make a charge fit, the nearest OOM handler (the
// group's own or an ancestor's) is called with a victim suggestion (the
// group of the subtree with the largest own usage, see OomContext::victim).
// Events as the kernel counts them: oom at the group whose limit failed,
// oom_kill, when the handler freed memory, at the group it says it acted on
// (OomContext::killed), by default the victim. Charges above
// kCostlyBytes (one slab) never invoke OOM (the kernel skips costly orders).
//
// SERIALISATION (the kernel's oom_lock, per domain like memcg's
// hierarchical OOM lock): an OOM at group D runs only while no other OOM
// runs at D, an ancestor of D or a descendant of D; such a thread waits,
// then re-checks whether its charge fits (the kernel's
// mem_cgroup_margin() test under oom_lock) and calls no handler if it
// does. So N threads failing at one full group call the handler once when
// one kill frees enough. OOMs in disjoint subtrees run concurrently.
//
// RETRIES: the charge is retried after every handler call that reports
// memory freed. A call counts as progress when the domain's usage fell
// across it or the charge fits; after kMaxOomStalls consecutive calls that
// report freed without progress, the charge fails. There is no cap on calls
// that make progress (each one freed memory, as the kernel's OOM killer
// loop).
//
// HANDLER CONTRACT: it runs on the thread whose charge failed, with no
// library lock held, at most one at a time per overlapping domain; it may
// call the library (remove groups, free memory, change limits); a charge it
// makes that does not fit fails at once (no reclaim, no nested OOM).
#include <condition_variable>
#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/access.hpp"
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "core/upcalls.hpp"
#include "memcg/group.hpp"
#include "platform/fork.hpp"
#include "platform/rcu.hpp"
#include "platform/ranked_mutex.hpp"
#include "reclaim/reclaim.hpp"

namespace memcg {
namespace detail {
namespace {

GroupImpl* next_online_sibling(GroupImpl* c) {
  do c = c->next_sibling.load(std::memory_order_acquire);
  while (c && !c->is_online());
  return c;
}

GroupImpl* first_online_child(GroupImpl* g) {
  GroupImpl* c = g->first_child.load(std::memory_order_acquire);
  return c && !c->is_online() ? next_online_sibling(c) : c;
}

// The next online group after x in a pre-order walk of root's subtree. A
// removed group's descendants are all removed: skipping it skips nothing.
GroupImpl* preorder_next(GroupImpl* x, GroupImpl* root) {
  if (GroupImpl* c = first_online_child(x)) return c;
  for (; x != root; x = x->parent)
    if (GroupImpl* s = next_online_sibling(x)) return s;
  return nullptr;
}

// The victim suggestion (see OomContext::victim): the group of g's subtree
// with the largest own usage (usage minus its online children's usage), the
// first in pre-order on ties. Usages are read racily; a sum of children
// above the parent's usage (charges moving meanwhile) counts as 0. Returned
// with a reference. (Not inlined: GCC 12 then warns falsely about the
// group_get in run_oom, -Wstringop-overflow.)
[[gnu::noinline]] GroupImpl* pick_victim(GroupImpl* g) {
  rcu::ReadGuard rg;
  GroupImpl* best = g;
  std::uint64_t best_own = 0;
  bool first = true;
  for (GroupImpl* x = g; x; x = preorder_next(x, g)) {
    if (x != g && !x->is_online()) continue;  // removed meanwhile
    std::uint64_t own = x->counter.usage();
    for (GroupImpl* c = first_online_child(x); c; c = next_online_sibling(c)) {
      const std::uint64_t u = c->counter.usage();
      own = own > u ? own - u : 0;
    }
    if (first || own > best_own) {
      best = x;
      best_own = own;
      first = false;
    }
  }
  if (best != g && group_tryget(best)) return best;
  group_get(g);  // g is held by the caller
  return g;
}

}  // namespace

namespace {

constexpr int kMaxOomStalls = 4;  // consecutive "freed" handler calls without progress
constexpr int kMaxOomDomains = 64;  // OOMs in flight at once (more wait)

constinit thread_local bool tls_in_oom_handler = false;

// The OOM domains in flight. A leaf lock: nothing else is taken under it,
// and it is never held across a handler.
struct OomDomains {
  RankedMutex mutex{LockRank::kOomDomains};
  std::condition_variable_any cv;
  GroupImpl* running[kMaxOomDomains] MEMCG_GUARDED_BY(mutex) = {};
  int n MEMCG_GUARDED_BY(mutex) = 0;
};

// Forgets the parent's OOMs in flight: their threads do not exist in the child.
void forget_running(void* arg) noexcept MEMCG_NO_TSA {
  auto* d = static_cast<OomDomains*>(arg);
  d->n = 0;
  new (&d->cv) std::condition_variable_any;  // its internal mutex may be held by a thread that is gone
}

OomDomains& domains() {
  static OomDomains* d = [] {
    auto* x = new OomDomains;  // leaked: outlives static destructors
    static fork::HeldAcrossFork<RankedMutex> fork{x->mutex, forget_running, x};
    return x;
  }();
  return *d;
}

bool overlaps(const GroupImpl* a, const GroupImpl* b) {
  return a == b || a->is_descendant_of(b) || b->is_descendant_of(a);
}

// Holds the OOM domain `g` (waits while an overlapping one is in flight).
class DomainGuard {
 public:
  explicit DomainGuard(GroupImpl* g) noexcept : g_(g) {
    OomDomains& d = domains();
    LockGuard<RankedMutex> l(d.mutex);
    for (;;) {
      bool busy = d.n == kMaxOomDomains;
      for (int i = 0; i < d.n && !busy; ++i) busy = overlaps(d.running[i], g);
      if (!busy) break;
      d.cv.wait(d.mutex);
    }
    d.running[d.n++] = g;
  }
  ~DomainGuard() {
    OomDomains& d = domains();
    {
      LockGuard<RankedMutex> l(d.mutex);
      for (int i = 0; i < d.n; ++i)
        if (d.running[i] == g_) {
          d.running[i] = d.running[--d.n];
          break;
        }
    }
    d.cv.notify_all();
  }
  DomainGuard(const DomainGuard&) = delete;
  DomainGuard& operator=(const DomainGuard&) = delete;

 private:
  GroupImpl* g_;
};

// Whether `bytes` more fit under over's max (bytes 0: whether over is
// within it, for memory.max writes), and under its upstream's (margin()).
bool fits(const GroupImpl* over, std::uint64_t bytes) {
  const std::uint64_t usage = over->counter.usage(), max = over->counter.max();
  return usage <= max && bytes <= over->counter.margin();
}

}  // namespace

bool in_oom_handler() noexcept { return tls_in_oom_handler; }

namespace {

// Groups with memory.oom.group set (any): without a handler and without
// any of them, an OOM has nothing to do and returns at once.
std::atomic<std::int64_t> g_oom_groups{0};

// memory.oom.group: the highest ancestor-or-self of victim, up to `domain`,
// with oom_group set (the kernel's mem_cgroup_get_oom_group), or null.
GroupImpl* oom_group_of(GroupImpl* victim, GroupImpl* domain) {
  GroupImpl* out = nullptr;
  for (GroupImpl* a = victim; a; a = a->parent) {
    if (a->oom_group.load(std::memory_order_relaxed)) out = a;
    if (a == domain) break;
  }
  return out;
}

// The nearest oom wait at or above `domain`.
std::uint64_t oom_wait_us(GroupImpl* domain) {
  for (GroupImpl* a = domain; a; a = a->parent)
    if (const std::uint64_t w = a->oom_wait_us.load(std::memory_order_relaxed)) return w;
  return 0;
}

// Waits up to `us` for the charge to fit (a victim giving memory back).
void wait_for_release(GroupImpl* over, std::uint64_t bytes, std::uint64_t us) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (!fits(over, bytes) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(500));
}

}  // namespace

bool run_oom(GroupImpl* over, std::uint64_t bytes, OomRetry& retry) noexcept {
  record_event(over, Event::kOom);
  if (tls_in_oom_handler) return false;  // never a nested OOM
  OomHandler handler;
  {
    LockGuard<RankedMutex> l(tree_mutex());
    for (GroupImpl* a = over; a; a = a->parent) {
      if (a->oom_handler) {
        handler = *static_cast<OomHandler*>(a->oom_handler);
        break;
      }
    }
  }
  if (!handler && g_oom_groups.load(std::memory_order_relaxed) == 0) return false;
  DomainGuard domain(over);
  if (fits(over, bytes)) return true;  // an OOM we waited for freed enough
  const std::uint64_t usage_before = over->counter.usage();
  group_get(over);
  Group g = Access::adopt(over);
  Group victim = Access::adopt(pick_victim(over));
  Group kill_unit;  // memory.oom.group
  if (GroupImpl* u = oom_group_of(Access::impl(victim), over)) {
    group_get(u);
    kill_unit = Access::adopt(u);
  }
  if (!handler && !kill_unit) return false;
  OomContext ctx = Access::oom_context(&g, &victim, bytes);
  if (kill_unit) ctx.oom_group = &kill_unit;
  bool freed = false;
  tls_in_oom_handler = true;
  try {
    // Without a handler, the oom group is killed as a whole (the kernel's
    // default with memory.oom.group set).
    freed = handler ? handler(ctx) : kill_unit.kill() > 0;
    if (!handler) ctx.killed(kill_unit);
  } catch (...) {
    freed = false;  // a throwing handler counts as "nothing freed"
  }
  tls_in_oom_handler = false;
  if (!freed) return false;
  if (const std::uint64_t wait = oom_wait_us(over)) wait_for_release(over, bytes, wait);
  // The kernel counts oom_kill at the memcg of the task it killed: here the
  // group the handler says it acted on (OomContext::killed), else the victim.
  const Group& named = Access::killed(ctx);
  record_event(Access::impl(named ? named : victim), Event::kOomKill);
  if (over->counter.usage() < usage_before || fits(over, bytes)) {
    retry.stalls = 0;
    return true;
  }
  return ++retry.stalls < kMaxOomStalls;
}

bool oom_for_charge(GroupImpl* over, std::uint64_t bytes, OomRetry& retry) noexcept {
  if (bytes > kCostlyBytes) return false;
  return run_oom(over, bytes, retry);
}

void free_reclaim_state(GroupImpl* g) noexcept {
  OomHandler* h;
  KillHandler* k;
  {
    LockGuard<RankedMutex> l(tree_mutex());
    h = static_cast<OomHandler*>(g->oom_handler);
    g->oom_handler = nullptr;
    k = static_cast<KillHandler*>(g->kill_handler);
    g->kill_handler = nullptr;
  }
  delete h;  // the handlers' destructors run with no library lock held
  delete k;
}

}  // namespace detail

void Group::set_oom_handler(OomHandler h, std::error_code& ec) noexcept {
  if (!p_) {
    ec = detail::make_err(std::errc::invalid_argument);
    return;
  }
  OomHandler* fresh = nullptr;
  if (h) {
    fresh = new (std::nothrow) OomHandler(std::move(h));  // std::function's move does not throw
    if (!fresh) {
      ec = detail::make_err(std::errc::not_enough_memory);
      return;
    }
  }
  OomHandler* old = nullptr;
  bool removed = false;
  {
    detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
    // As set_max: a removed group takes no new handler (it would never be
    // called); removing one is always allowed.
    removed = fresh && !p_->is_online();
    if (!removed) {
      old = static_cast<OomHandler*>(p_->oom_handler);
      p_->oom_handler = fresh;
    }
  }
  if (removed) {
    delete fresh;
    ec = detail::make_err(std::errc::no_such_file_or_directory);
    return;
  }
  delete old;  // copies taken by running OOMs are their own
  ec.clear();
}

void Group::set_kill_handler(KillHandler h, std::error_code& ec) noexcept {
  if (!p_) {
    ec = detail::make_err(std::errc::invalid_argument);
    return;
  }
  KillHandler* fresh = nullptr;
  if (h) {
    fresh = new (std::nothrow) KillHandler(std::move(h));
    if (!fresh) {
      ec = detail::make_err(std::errc::not_enough_memory);
      return;
    }
  }
  KillHandler* old = nullptr;
  bool removed = false;
  {
    detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
    removed = fresh && !p_->is_online();
    if (!removed) {
      old = static_cast<KillHandler*>(p_->kill_handler);
      p_->kill_handler = fresh;
    }
  }
  if (removed) {
    delete fresh;
    ec = detail::make_err(std::errc::no_such_file_or_directory);
    return;
  }
  delete old;
  ec.clear();
}

void Group::set_kill_handler(KillHandler h) {
  std::error_code ec;
  set_kill_handler(std::move(h), ec);
  detail::throw_if(ec, "memcg::Group::set_kill_handler");
}

std::uint64_t Group::kill() const {
  if (!p_) return 0;
  // Copies of the handlers of the subtree (pre-order), called with no lock held.
  std::vector<std::pair<Group, KillHandler>> handlers;
  {
    detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
    std::vector<detail::GroupImpl*> stack{p_};
    while (!stack.empty()) {
      detail::GroupImpl* x = stack.back();
      stack.pop_back();
      // A group whose last reference is gone is being released: never revive it.
      if (x->kill_handler && detail::group_tryget(x))
        handlers.emplace_back(detail::Access::adopt(x), *static_cast<KillHandler*>(x->kill_handler));
      for (detail::GroupImpl* c = x->first_child.load(std::memory_order_relaxed); c;
           c = c->next_sibling.load(std::memory_order_relaxed))
        stack.push_back(c);
    }
  }
  for (auto& [g, h] : handlers) h(g);
  return handlers.size();
}

void Group::set_oom_group(bool on) noexcept {
  if (!p_) return;
  if (p_->oom_group.exchange(on, std::memory_order_relaxed) != on)
    detail::g_oom_groups.fetch_add(on ? 1 : -1, std::memory_order_relaxed);
}
bool Group::oom_group() const noexcept { return p_ && p_->oom_group.load(std::memory_order_relaxed); }

void Group::set_oom_wait(std::chrono::microseconds wait) noexcept {
  constexpr std::int64_t kMaxUs = 3600ll * 1000 * 1000;  // an hour: "forever" without overflowing a deadline
  if (p_) p_->oom_wait_us.store(static_cast<std::uint64_t>(std::clamp<std::int64_t>(wait.count(), 0, kMaxUs)),
                                std::memory_order_relaxed);
}
std::chrono::microseconds Group::oom_wait() const noexcept {
  return std::chrono::microseconds(p_ ? static_cast<std::int64_t>(p_->oom_wait_us.load(std::memory_order_relaxed)) : 0);
}

void Group::set_oom_handler(OomHandler h) {
  std::error_code ec;
  set_oom_handler(std::move(h), ec);
  detail::throw_if(ec, "memcg::Group::set_oom_handler");
}

}  // namespace memcg
