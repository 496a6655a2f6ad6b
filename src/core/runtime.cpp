#include "core/runtime.hpp"

#include "core/notify.hpp"
#include "core/psi.hpp"

#include "platform/membarrier.hpp"
#include "platform/rcu.hpp"
#include "platform/worker.hpp"

namespace memcg::detail {

void StatCounters::add_into(StatCounters& dst) const noexcept {
  auto mv = [](const std::atomic<std::uint64_t>& s, std::atomic<std::uint64_t>& d) {
    d.fetch_add(s.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  mv(slab_reclaimable, dst.slab_reclaimable);
  mv(slab_unreclaimable, dst.slab_unreclaimable);
  mv(kmalloc_large, dst.kmalloc_large);
  mv(reservations, dst.reservations);
}

void count_stat(GroupImpl* g, std::atomic<std::uint64_t> StatCounters::*field, std::uint64_t n) noexcept {
  for (GroupImpl* a = g; a; a = a->parent) (a->stats.*field).fetch_add(n, std::memory_order_relaxed);
}

GroupImpl::GroupImpl(GroupImpl* p, std::string n, std::uint32_t i)
    : id(i), depth(p ? p->depth + 1 : 0), parent(p), name(std::move(n)),
      counter(p ? &p->counter : nullptr, this) {
  work.arg = this;
  rcu_head.arg = this;
}

GroupImpl::~GroupImpl() = default;

// The kernel's memcg_memory_event: the group and its ancestors up to, not
// including, the root. The root counts only its own events (it can carry a
// process-wide limit here, which the kernel's root cannot).
void record_event(GroupImpl* g, Event e) noexcept {
  g->events_local.inc(e);
  g->events.inc(e);
  for (GroupImpl* a = g->parent; a && !a->is_root(); a = a->parent) a->events.inc(e);
  for (GroupImpl* a = g; a; a = a->parent) {  // the first level with an upstream counts it there too
    if (ChargeUpstream* u = a->counter.upstream()) {
      u->on_event(static_cast<int>(e));
      break;
    }
  }
  if (g_event_watches.load(std::memory_order_relaxed) != 0) wake_notifier();  // memcg/notify.hpp
}

Runtime::Runtime() {
  rcu::init();
  fork::install();  // the library is fork-safe from its first group on
  membarrier::init();
  worker::init();  // constructed before any thread can fork during its first use
  LockGuard<RankedMutex> l(tree_mutex);
  std::uint32_t id = ids.alloc();
  root = new GroupImpl(nullptr, "", id);
  ids.publish(id, root);
  psi_set_root(root);
  groups_allocated.store(1, std::memory_order_relaxed);
}

Runtime& runtime() noexcept {
  static Runtime* rt = new Runtime;  // never destroyed, see runtime.hpp
  return *rt;
}

RankedMutex& tree_mutex() noexcept { return runtime().tree_mutex; }

GroupImpl* find_online_child_locked(GroupImpl* parent, std::string_view name) {
  MEMCG_ASSERT_HELD(tree_mutex());
  for (GroupImpl* c = parent->first_child.load(std::memory_order_relaxed); c;
       c = c->next_sibling.load(std::memory_order_relaxed)) {
    if (c->state.load(std::memory_order_relaxed) == Lifecycle::online && c->name == name) return c;
  }
  return nullptr;
}

}  // namespace memcg::detail
