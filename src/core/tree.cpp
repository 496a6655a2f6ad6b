// The group tree: create (mkdir), open (path lookup), remove (rmdir).
#include <algorithm>
#include <string>

#include "core/errors.hpp"
#include "core/offline.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "core/tree.hpp"
#include "memcg/group.hpp"

namespace memcg {
namespace detail {

[[noreturn]] void throw_error(const std::error_code& ec, const char* what) {
  throw std::system_error(ec, what);
}

bool valid_group_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNameLen || name == "." || name == "..") return false;
  // Control files live beside child groups in the text tree.
  if (name.rfind("memory.", 0) == 0 || name.rfind("cgroup.", 0) == 0) return false;
  return std::none_of(name.begin(), name.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c == '/' || c < 0x20 || c == 0x7f;
  });
}

GroupImpl* lookup_path_locked(std::string_view path, std::error_code& ec) {
  MEMCG_ASSERT_HELD(tree_mutex());
  Runtime& rt = runtime();
  if (path.empty() || path.front() != '/') {
    ec = make_err(std::errc::invalid_argument);
    return nullptr;
  }
  GroupImpl* g = rt.root;
  std::size_t pos = 1;
  while (pos < path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(pos, end - pos);
    if (!valid_group_name(comp)) {
      ec = make_err(std::errc::invalid_argument);
      return nullptr;
    }
    g = find_online_child_locked(g, comp);
    if (!g) {
      ec = make_err(std::errc::no_such_file_or_directory);
      return nullptr;
    }
    pos = end + 1;
    if (end + 1 == path.size()) {  // trailing '/'
      ec = make_err(std::errc::invalid_argument);
      return nullptr;
    }
  }
  ec.clear();
  return g;
}

GroupImpl* create_child(GroupImpl* parent, std::string_view name, std::error_code& ec) {
  if (!valid_group_name(name)) {
    ec = make_err(std::errc::invalid_argument);
    return nullptr;
  }
  Runtime& rt = runtime();
  LockGuard<RankedMutex> l(tree_mutex());
  if (!parent->is_online()) {
    ec = make_err(std::errc::no_such_file_or_directory);
    return nullptr;
  }
  if (find_online_child_locked(parent, name)) {
    ec = make_err(std::errc::file_exists);
    return nullptr;
  }
  // cgroup.max.descendants and cgroup.max.depth of the parent and every
  // ancestor (the kernel's cgroup_check_hierarchy_limits): EAGAIN.
  std::uint64_t level = 1;  // the new group's depth below `a`
  for (GroupImpl* a = parent; a; a = a->parent, ++level) {
    if (a->nr_descendants.load(std::memory_order_relaxed) >= a->max_descendants.load(std::memory_order_relaxed) ||
        level > a->max_depth.load(std::memory_order_relaxed)) {
      ec = make_err(std::errc::resource_unavailable_try_again);
      return nullptr;
    }
  }
  std::uint32_t id = rt.ids.alloc();
  if (id == IdTable::kNoId) {
    ec = make_err(std::errc::no_space_on_device);
    return nullptr;
  }
  group_get(parent);  // the child's reference on its parent
  auto* g = new GroupImpl(parent, std::string(name), id);
  rt.groups_allocated.fetch_add(1, std::memory_order_relaxed);
  // Link at the tail; publish last so RCU readers see a constructed node.
  g->prev_sibling = parent->last_child;
  if (parent->last_child)
    parent->last_child->next_sibling.store(g, std::memory_order_release);
  else
    parent->first_child.store(g, std::memory_order_release);
  parent->last_child = g;
  rt.ids.publish(id, g);
  for (GroupImpl* a = parent; a; a = a->parent) a->nr_descendants.fetch_add(1, std::memory_order_relaxed);
  group_get(g);  // the caller's handle; the base reference stays with the tree
  ec.clear();
  return g;
}

void remove_group(GroupImpl* g, std::error_code& ec) noexcept {
  {
    LockGuard<RankedMutex> l(tree_mutex());
    if (g->is_root()) {
      ec = make_err(std::errc::invalid_argument);
      return;
    }
    if (!g->is_online()) {
      ec = make_err(std::errc::no_such_file_or_directory);
      return;
    }
    for (GroupImpl* c = g->first_child.load(std::memory_order_relaxed); c;
         c = c->next_sibling.load(std::memory_order_relaxed)) {
      if (c->is_online()) {
        ec = make_err(std::errc::device_or_resource_busy);
        return;
      }
    }
    g->state.store(Lifecycle::dying, std::memory_order_seq_cst);
    for (GroupImpl* a = g->parent; a; a = a->parent) {
      a->nr_descendants.fetch_sub(1, std::memory_order_relaxed);
      a->nr_dying_descendants.fetch_add(1, std::memory_order_relaxed);
    }
  }
  group_kill(g);       // tryget_online fails from here on
  offline_charge(g);   // stocks drained, reservation pin marked dead
  offline_slab(g);     // child caches destroyed or reparented
  offline_reclaim(g);  // reclaim cursors moved off g, LRU lists reparented
  group_put(g);        // the base reference
  ec.clear();
}

}  // namespace detail
}  // namespace memcg
