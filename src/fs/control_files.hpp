// The control files of a group in the text tree, one table.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "memcg/group.hpp"

namespace memcg::fs::detail {

struct ControlFile {
  const char* name;
  std::string (*read)(const Group&);  // null: write-only
  void (*write)(const Group&, std::string_view, std::error_code&);  // null: read-only
};

/// All files, sorted by name.
const ControlFile* control_files(std::size_t& count) noexcept;
const ControlFile* find_control_file(std::string_view name) noexcept;

}  // namespace memcg::fs::detail
