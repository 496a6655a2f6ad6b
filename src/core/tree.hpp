// Tree operations behind Group::create/open/remove and memcg::fs.
#pragma once

#include <string_view>
#include <system_error>

#include "core/group_impl.hpp"

namespace memcg::detail {

inline constexpr std::size_t kMaxNameLen = 255;

/// Non-empty, at most 255 bytes, not "." or "..", no '/' or control
/// characters, not starting with "memory." or "cgroup." (control files).
bool valid_group_name(std::string_view name) noexcept;
/// Tree mutex held. The online group at an absolute path, or null with ec.
GroupImpl* lookup_path_locked(std::string_view path, std::error_code& ec) MEMCG_REQUIRES(tree_mutex());
/// Creates an online child; returns it with one reference for the caller.
GroupImpl* create_child(GroupImpl* parent, std::string_view name, std::error_code& ec);
/// rmdir semantics; see Group::remove.
void remove_group(GroupImpl* g, std::error_code& ec) noexcept;

}  // namespace memcg::detail
