// memcg/fs.hpp - the cgroupfs-like text tree.
//
// Paths: "/" is the root, "/a/b" a group, "/a/b/memory.max" a file. Files
// read and write as in cgroup v2: bytes in decimal, "max" for unlimited.
// Writes accept "max" or a decimal number with an optional K/M/G/T suffix
// (binary units, either case), with surrounding white space allowed; anything
// else is EINVAL and changes nothing.
//
// Errors: ENOENT (no such group or file), EINVAL (malformed value or path),
// EACCES (writing a read-only file or reading a write-only one), EBUSY/EEXIST
// as for Group::remove/create, EISDIR/ENOTDIR for a group used as a file or
// the reverse; ENOMEM when the result cannot be allocated. Every function
// has the two forms described in memcg/types.hpp (throwing, and error_code
// + noexcept).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace memcg::fs {

std::string read(std::string_view path);
std::string read(std::string_view path, std::error_code& ec) noexcept;
void write(std::string_view path, std::string_view value);
void write(std::string_view path, std::string_view value, std::error_code& ec) noexcept;
void mkdir(std::string_view path);
void mkdir(std::string_view path, std::error_code& ec) noexcept;
void rmdir(std::string_view path);
void rmdir(std::string_view path, std::error_code& ec) noexcept;
/// Child groups (with a trailing '/') then files, each sorted by name.
std::vector<std::string> list(std::string_view path);
std::vector<std::string> list(std::string_view path, std::error_code& ec) noexcept;

/// Parses a limit value as a write would; false (and `out` untouched) on
/// anything malformed. Exposed for tools that validate before writing.
bool parse_bytes(std::string_view text, std::uint64_t& out) noexcept;
/// Parses a count as a write of cgroup.max.depth / cgroup.max.descendants
/// would: "max" or a decimal number, no suffix; false on anything else.
bool parse_count(std::string_view text, std::uint64_t& out) noexcept;
/// Formats a limit: "max" for unlimited, else decimal bytes.
std::string format_limit(std::uint64_t bytes);

}  // namespace memcg::fs
