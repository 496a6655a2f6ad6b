// memcg::fs: path resolution and the five verbs over the control files.
#include <algorithm>
#include <new>

#include "core/errors.hpp"
#include "fs/control_files.hpp"
#include "memcg/fs.hpp"
#include "memcg/group.hpp"

#include <system_error>

namespace memcg::fs {
namespace {

using memcg::detail::make_err;

// The throwing forms: std::system_error whose what() names the path.
void throw_if_at(const std::error_code& ec, const char* what, std::string_view path) {
  if (ec) throw std::system_error(ec, std::string(what) + " " + std::string(path));
}

struct Resolved {
  Group group;
  const detail::ControlFile* file = nullptr;  // null: the path names a group
};

// "/a/b" -> group; "/a/b/memory.max" -> group + file. A last component that
// is a control-file name is a file (group names cannot take those names).
Resolved resolve(std::string_view path, std::error_code& ec) {
  Resolved r;
  if (path.empty() || path.front() != '/') {
    ec = make_err(std::errc::invalid_argument);
    return r;
  }
  std::size_t slash = path.rfind('/');
  std::string_view last = path.substr(slash + 1);
  if (const detail::ControlFile* f = detail::find_control_file(last)) {
    std::string_view dir = slash == 0 ? std::string_view("/") : path.substr(0, slash);
    r.group = Group::open(dir, ec);
    if (!ec) r.file = f;
    return r;
  }
  if (last.rfind("memory.", 0) == 0 || last.rfind("cgroup.", 0) == 0) {
    ec = make_err(std::errc::no_such_file_or_directory);  // looks like a file we do not have
    return r;
  }
  r.group = Group::open(path, ec);
  return r;
}

// Splits "/a/b/c" into ("/a/b", "c"); ec on "/" or malformed paths.
bool split_parent(std::string_view path, std::string_view& parent, std::string_view& name, std::error_code& ec) {
  if (path.empty() || path.front() != '/' || path.size() == 1 || path.back() == '/') {
    ec = make_err(path == "/" ? std::errc::file_exists : std::errc::invalid_argument);
    return false;
  }
  std::size_t slash = path.rfind('/');
  parent = slash == 0 ? std::string_view("/") : path.substr(0, slash);
  name = path.substr(slash + 1);
  return true;
}

}  // namespace

// The error_code forms are noexcept: lack of memory for the result is ENOMEM.
std::string read(std::string_view path, std::error_code& ec) noexcept try {
  Resolved r = resolve(path, ec);
  if (ec) return {};
  if (!r.file) {
    ec = make_err(std::errc::is_a_directory);
    return {};
  }
  if (!r.file->read) {
    ec = make_err(std::errc::permission_denied);
    return {};
  }
  ec.clear();
  return r.file->read(r.group);
} catch (const std::bad_alloc&) {
  ec = make_err(std::errc::not_enough_memory);
  return {};
}

std::string read(std::string_view path) {
  std::error_code ec;
  std::string s = read(path, ec);
  throw_if_at(ec, "memcg::fs::read", path);
  return s;
}

void write(std::string_view path, std::string_view value, std::error_code& ec) noexcept {
  try {
    Resolved r = resolve(path, ec);
    if (ec) return;
    if (!r.file) {
      ec = make_err(std::errc::is_a_directory);
      return;
    }
    if (!r.file->write) {
      ec = make_err(std::errc::permission_denied);
      return;
    }
    ec.clear();
    r.file->write(r.group, value, ec);
  } catch (const std::bad_alloc&) {
    ec = make_err(std::errc::not_enough_memory);
  }
}

void write(std::string_view path, std::string_view value) {
  std::error_code ec;
  write(path, value, ec);
  throw_if_at(ec, "memcg::fs::write", path);
}

void mkdir(std::string_view path, std::error_code& ec) noexcept {
  try {
    std::string_view parent, name;
    if (!split_parent(path, parent, name, ec)) return;
    Group p = Group::open(parent, ec);
    if (ec) return;
    p.create(name, ec);
  } catch (const std::bad_alloc&) {
    ec = make_err(std::errc::not_enough_memory);
  }
}

void mkdir(std::string_view path) {
  std::error_code ec;
  mkdir(path, ec);
  throw_if_at(ec, "memcg::fs::mkdir", path);
}

void rmdir(std::string_view path, std::error_code& ec) noexcept {
  try {
    Resolved r = resolve(path, ec);
    if (ec) return;
    if (r.file) {
      ec = make_err(std::errc::not_a_directory);
      return;
    }
    r.group.remove(ec);
  } catch (const std::bad_alloc&) {
    ec = make_err(std::errc::not_enough_memory);
  }
}

void rmdir(std::string_view path) {
  std::error_code ec;
  rmdir(path, ec);
  throw_if_at(ec, "memcg::fs::rmdir", path);
}

std::vector<std::string> list(std::string_view path, std::error_code& ec) noexcept try {
  std::vector<std::string> out;
  Resolved r = resolve(path, ec);
  if (ec) return out;
  if (r.file) {
    ec = make_err(std::errc::not_a_directory);
    return out;
  }
  for (const Group& c : r.group.children()) out.push_back(c.name() + "/");
  std::sort(out.begin(), out.end());
  std::size_t n;
  const detail::ControlFile* files = detail::control_files(n);
  for (std::size_t i = 0; i < n; ++i) out.emplace_back(files[i].name);
  ec.clear();
  return out;
} catch (const std::bad_alloc&) {
  ec = make_err(std::errc::not_enough_memory);
  return {};
}

std::vector<std::string> list(std::string_view path) {
  std::error_code ec;
  auto out = list(path, ec);
  throw_if_at(ec, "memcg::fs::list", path);
  return out;
}

}  // namespace memcg::fs
