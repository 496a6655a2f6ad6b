// The public Group handle.
#include "memcg/group.hpp"

#include <algorithm>
#include <vector>

#include "core/access.hpp"
#include "core/errors.hpp"
#include "core/invariants.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "core/tree.hpp"
#include "core/upcalls.hpp"
#include "counter/protection.hpp"
#include "platform/assert.hpp"
#include "platform/rcu.hpp"
#include "platform/worker.hpp"

namespace memcg {

using detail::GroupImpl;
using detail::Lifecycle;
constexpr auto adopt = detail::Access::adopt;
using detail::make_err;

const char* to_string(GroupState s) noexcept {
  switch (s) {
    case GroupState::online: return "online";
    case GroupState::dying: return "dying";
    case GroupState::none: return "none";
  }
  return "?";
}

Group::Group(const Group& o) noexcept : p_(o.p_) {
  if (p_) detail::group_get(p_);
}

Group& Group::operator=(const Group& o) noexcept {
  if (o.p_) detail::group_get(o.p_);
  if (p_) detail::group_put(p_);
  p_ = o.p_;
  return *this;
}

Group& Group::operator=(Group&& o) noexcept {
  if (this != &o) {
    if (p_) detail::group_put(p_);
    p_ = o.p_;
    o.p_ = nullptr;
  }
  return *this;
}

Group::~Group() {
  if (p_) detail::group_put(p_);
}

Group Group::root() {
  GroupImpl* r = detail::runtime().root;
  detail::group_get(r);
  return adopt(r);
}

Group Group::create(std::string_view name, std::error_code& ec) const noexcept {
  if (!p_) {
    ec = make_err(std::errc::invalid_argument);
    return {};
  }
  try {
    return adopt(detail::create_child(p_, name, ec));
  } catch (const std::bad_alloc&) {
    ec = make_err(std::errc::not_enough_memory);
    return {};
  }
}

Group Group::create(std::string_view name) const {
  std::error_code ec;
  Group g = create(name, ec);
  detail::throw_if(ec, "memcg::Group::create");
  return g;
}

Group Group::open(std::string_view path, std::error_code& ec) noexcept {
  detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
  GroupImpl* g = detail::lookup_path_locked(path, ec);
  if (!g) return {};
  detail::group_get(g);  // online under the tree mutex: the base ref is held
  return adopt(g);
}

Group Group::open(std::string_view path) {
  std::error_code ec;
  Group g = open(path, ec);
  detail::throw_if(ec, "memcg::Group::open");
  return g;
}

void Group::remove(std::error_code& ec) noexcept {
  if (!p_) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  detail::remove_group(p_, ec);
}

void Group::remove() {
  std::error_code ec;
  remove(ec);
  detail::throw_if(ec, "memcg::Group::remove");
}

bool Group::online() const noexcept { return p_ && p_->is_online(); }
GroupState Group::state() const noexcept {
  if (!p_) return GroupState::none;
  // A handle holds a reference: its group is never released or freed.
  return p_->state.load(std::memory_order_acquire) == Lifecycle::online ? GroupState::online : GroupState::dying;
}

Group Group::parent() const {
  if (!p_ || !p_->parent) return {};
  detail::group_get(p_->parent);
  return adopt(p_->parent);
}

std::vector<Group> Group::children() const {
  std::vector<Group> out;
  if (!p_) return out;
  detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
  for (GroupImpl* c = p_->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed)) {
    if (!c->is_online()) continue;
    detail::group_get(c);
    out.push_back(adopt(c));
  }
  return out;
}

std::string Group::path() const {
  if (!p_) return {};
  if (p_->is_root()) return "/";
  std::vector<const GroupImpl*> chain;
  for (const GroupImpl* g = p_; !g->is_root(); g = g->parent) chain.push_back(g);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    out += '/';
    out += (*it)->name;
  }
  return out;
}

std::string Group::name() const { return p_ ? p_->name : std::string(); }
std::uint32_t Group::id() const noexcept { return p_ ? p_->id : detail::IdTable::kNoId; }

namespace {
enum class Limit { kMax, kHigh, kLow, kMin };

void set_limit(GroupImpl* g, Limit which, std::uint64_t v, std::error_code& ec) noexcept {
  if (!g) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  {
  // Limit writes are serialised with remove() so a removed group's limits
  // never change (cgroupfs: the files are gone).
  detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
  if (!g->is_online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  switch (which) {
    case Limit::kMax: g->counter.set_max(v); break;
    case Limit::kHigh: g->counter.set_high(v); break;
    case Limit::kLow: g->counter.set_low(v); break;
    case Limit::kMin: g->counter.set_min(v); break;
  }
  }
  ec.clear();
  // As cgroup v2 does after the write: reclaim towards a max (then OOM) or a
  // high below the current usage. Outside the tree mutex: reclaim calls
  // shrinkers and handlers.
  if (which == Limit::kMax) detail::enforce_max(g);
  if (which == Limit::kHigh) detail::enforce_high(g);
}

void set_limit_or_throw(GroupImpl* g, Limit which, std::uint64_t v, const char* what) {
  std::error_code ec;
  set_limit(g, which, v, ec);
  detail::throw_if(ec, what);
}
}  // namespace

void Group::set_max(Bytes b, std::error_code& ec) noexcept { set_limit(p_, Limit::kMax, b, ec); }
void Group::set_high(Bytes b, std::error_code& ec) noexcept { set_limit(p_, Limit::kHigh, b, ec); }
void Group::set_low(Bytes b, std::error_code& ec) noexcept { set_limit(p_, Limit::kLow, b, ec); }
void Group::set_min(Bytes b, std::error_code& ec) noexcept { set_limit(p_, Limit::kMin, b, ec); }
void Group::set_max(Bytes b) { set_limit_or_throw(p_, Limit::kMax, b, "memcg::Group::set_max"); }
void Group::set_high(Bytes b) { set_limit_or_throw(p_, Limit::kHigh, b, "memcg::Group::set_high"); }
void Group::set_low(Bytes b) { set_limit_or_throw(p_, Limit::kLow, b, "memcg::Group::set_low"); }
void Group::set_min(Bytes b) { set_limit_or_throw(p_, Limit::kMin, b, "memcg::Group::set_min"); }

std::uint64_t Group::max() const noexcept { return p_ ? p_->counter.max() : 0; }
std::uint64_t Group::high() const noexcept { return p_ ? p_->counter.high() : 0; }
std::uint64_t Group::low() const noexcept { return p_ ? p_->counter.low() : 0; }
std::uint64_t Group::min() const noexcept { return p_ ? p_->counter.min() : 0; }
std::uint64_t Group::current() const noexcept { return p_ ? p_->counter.usage() : 0; }
std::uint64_t Group::peak() const noexcept { return p_ ? p_->counter.watermark() : 0; }
void Group::reset_peak() noexcept {
  if (p_) p_->counter.reset_watermark();
}
std::uint64_t Group::failcnt() const noexcept { return p_ ? p_->counter.failcnt() : 0; }

namespace {
// Pure top-down computation of (emin, elow) for `target` under reclaim root
// `root`, from current usages and settings; writes nothing.
void effective_protection_of(const GroupImpl* root, const GroupImpl* target, std::uint64_t& emin,
                             std::uint64_t& elow) {
  emin = elow = 0;
  if (target == root || !target->is_descendant_of(root)) return;
  std::vector<const GroupImpl*> chain;  // target ... child of root
  for (const GroupImpl* g = target; g != root; g = g->parent) chain.push_back(g);
  std::uint64_t pmin = 0, plow = 0;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const GroupImpl* g = *it;
    std::uint64_t usage = g->counter.usage();
    if (g->parent == root) {
      emin = usage ? g->counter.min() : 0;
      elow = usage ? g->counter.low() : 0;
    } else {
      const bool recursive = detail::g_memory_recursiveprot.load(std::memory_order_relaxed);
      const std::uint64_t parent_usage = g->parent->counter.usage();
      emin = detail::effective_protection(usage, parent_usage, g->counter.min(), pmin,
                                          g->parent->counter.children_min_usage(), recursive);
      elow = detail::effective_protection(usage, parent_usage, g->counter.low(), plow,
                                          g->parent->counter.children_low_usage(), recursive);
    }
    pmin = emin;
    plow = elow;
  }
}
}  // namespace

std::uint64_t Group::effective_min(const Group& reclaim_root) const {
  if (!p_) return 0;
  std::uint64_t emin, elow;
  effective_protection_of(reclaim_root ? reclaim_root.p_ : detail::runtime().root, p_, emin, elow);
  return emin;
}

std::uint64_t Group::effective_low(const Group& reclaim_root) const {
  if (!p_) return 0;
  std::uint64_t emin, elow;
  effective_protection_of(reclaim_root ? reclaim_root.p_ : detail::runtime().root, p_, emin, elow);
  return elow;
}

void set_memory_recursiveprot(bool on) noexcept {
  detail::g_memory_recursiveprot.store(on, std::memory_order_relaxed);
}
bool memory_recursiveprot() noexcept { return detail::g_memory_recursiveprot.load(std::memory_order_relaxed); }

std::uint64_t Group::effective_min() const { return effective_min(Group()); }
std::uint64_t Group::effective_low() const { return effective_low(Group()); }

Events Group::events() const noexcept { return p_ ? p_->events.snapshot() : Events{}; }
Events Group::events_local() const noexcept { return p_ ? p_->events_local.snapshot() : Events{}; }
std::uint64_t Group::nr_descendants() const noexcept { return p_ ? p_->nr_descendants.load() : 0; }
std::uint64_t Group::nr_dying_descendants() const noexcept { return p_ ? p_->nr_dying_descendants.load() : 0; }

namespace {
void set_hierarchy_limit(GroupImpl* g, std::atomic<std::uint64_t> GroupImpl::*field, std::uint64_t v,
                         std::error_code& ec) noexcept {
  if (!g) {
    ec = make_err(std::errc::invalid_argument);
    return;
  }
  detail::LockGuard<detail::RankedMutex> l(detail::tree_mutex());
  if (!g->is_online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return;
  }
  (g->*field).store(v, std::memory_order_relaxed);
  ec.clear();
}
}  // namespace

void Group::set_max_depth(std::uint64_t depth, std::error_code& ec) noexcept {
  set_hierarchy_limit(p_, &GroupImpl::max_depth, depth, ec);
}
void Group::set_max_descendants(std::uint64_t n, std::error_code& ec) noexcept {
  set_hierarchy_limit(p_, &GroupImpl::max_descendants, n, ec);
}
void Group::set_max_depth(std::uint64_t depth) {
  std::error_code ec;
  set_max_depth(depth, ec);
  detail::throw_if(ec, "memcg::Group::set_max_depth");
}
void Group::set_max_descendants(std::uint64_t n) {
  std::error_code ec;
  set_max_descendants(n, ec);
  detail::throw_if(ec, "memcg::Group::set_max_descendants");
}
std::uint64_t Group::max_depth() const noexcept { return p_ ? p_->max_depth.load(std::memory_order_relaxed) : 0; }
std::uint64_t Group::max_descendants() const noexcept {
  return p_ ? p_->max_descendants.load(std::memory_order_relaxed) : 0;
}

void barrier() {
  MEMCG_CHECK(!detail::rcu::in_read_section(), "memcg::barrier inside an RCU read section");
  detail::Runtime& rt = detail::runtime();
  // Each round finishes every release queued so far; freeing a child may
  // release its parent, so repeat until nothing released is left unfreed.
  do {
    detail::worker::flush();   // releases: unlinked, call_rcu queued
    detail::rcu::barrier();    // callbacks: frees queued on the worker
    detail::worker::flush();   // frees done
  } while (rt.groups_freed.load() < rt.releases_queued.load());
#if defined(MEMCG_CHECKED)
  // Other threads may still run: only the checks that hold at any time.
  detail::check_invariants(detail::CheckMode::kLive);
#endif
}

}  // namespace memcg
