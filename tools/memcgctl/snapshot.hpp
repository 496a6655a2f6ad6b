// Reading the group tree through the text tree (memcg::fs) only: group walk,
// "key value" files, one table row per group, and a grep-style dump.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace memcgctl {

/// The lines of a "key value" file (memory.events, memory.stat, cgroup.stat).
using KeyValues = std::vector<std::pair<std::string, std::string>>;
KeyValues parse_key_values(std::string_view text);
/// The value of `key` as a number ("max" is memcg::unlimited); nullopt if the
/// key is absent or its value malformed.
std::optional<std::uint64_t> key_value(const KeyValues& kv, std::string_view key);

/// Where file contents come from: this process's text tree by default, or
/// another process's snapshot (memcgctl top).
using Reader = std::function<std::string(const std::string& file, std::error_code& ec)>;
std::string fs_reader(const std::string& file, std::error_code& ec);

/// Reads a one-value file ("123\n", "max\n"). ec set on any error,
/// EINVAL if the contents do not parse.
std::uint64_t read_value(const std::string& file, std::error_code& ec, const Reader& read = fs_reader);
/// Reads `key` of a "key value" file. ec set on any error, EINVAL if the
/// key is missing or its value malformed.
std::uint64_t read_key(const std::string& file, std::string_view key, std::error_code& ec,
                       const Reader& read = fs_reader);

/// "/" + "a" = "/a", "/a" + "b" = "/a/b"; also for file names.
std::string join_path(std::string_view dir, std::string_view name);

/// Every online group in pre-order (a group, then its children by name),
/// starting at `root`. Groups removed during the walk are skipped.
std::vector<std::string> walk_groups(const std::string& root = "/");

/// One row of the table: what the demo shows per group.
struct GroupRow {
  std::string path;
  std::uint64_t current = 0;  ///< memory.current
  std::uint64_t peak = 0;     ///< memory.peak
  std::uint64_t max = 0;      ///< memory.max (memcg::unlimited for "max")
  std::uint64_t high = 0;     ///< memory.high
  std::uint64_t low = 0;      ///< memory.low
  std::uint64_t ev_max = 0;   ///< memory.events: max
  std::uint64_t ev_high = 0;  ///< memory.events: high
  std::uint64_t ev_low = 0;   ///< memory.events: low
  std::uint64_t ev_oom = 0;   ///< memory.events: oom
  std::uint64_t ev_oom_kill = 0;  ///< memory.events: oom_kill
  std::uint64_t nr_dying = 0; ///< cgroup.stat: nr_dying_descendants
  std::uint64_t slab = 0;     ///< memory.stat: slab
  std::uint64_t pgsteal = 0;  ///< memory.stat: pgsteal (objects shrinkers freed)
  std::uint64_t reclaimed = 0;  ///< memory.stat: reclaimed (bytes reclaimed, by reclaim rooted here)
  std::uint64_t pgscan = 0;   ///< memory.stat: pgscan
  std::uint64_t reservations = 0;   ///< memory.stat: reservations
  std::uint64_t kmalloc_large = 0;  ///< memory.stat: kmalloc_large
  std::uint64_t stock = 0;          ///< memory.stat: stock
};

/// Reads one group's row; false (ec set) if the group vanished or a file
/// failed to read or parse.
bool read_row(const std::string& path, GroupRow& row, std::error_code& ec, const Reader& read = fs_reader);
/// Rows of every group that could be read, in walk order.
std::vector<GroupRow> snapshot_rows(const std::string& root = "/");

/// `grep . <every file>` for every group under `root`: one "path/file:line"
/// per non-empty line of every readable file (memcg::fs::list order).
void dump_tree(std::FILE* out, const std::string& root = "/");

}  // namespace memcgctl
