// memcgctl cat / write / ls / mkdir / rmdir: thin wrappers over memcg::fs.
//
// Each invocation is its own process, so these see a fresh tree holding only
// the root; they exist for scripts and for checking the text tree's error
// reporting (the message is the error code's strerror text). With --json
// each prints one object (see docs/memcgctl.md).
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

#include "memcg/fs.hpp"
#include "memcgctl.hpp"
#include "snapshot.hpp"

namespace memcgctl {
namespace {

struct ErrnoName {
  int value;
  const char* name;
};
constexpr ErrnoName kErrnoNames[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"},   {EINTR, "EINTR"},     {EIO, "EIO"},         {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"},   {EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},   {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"},   {ENOSPC, "ENOSPC"},   {ERANGE, "ERANGE"},   {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOTEMPTY, "ENOTEMPTY"}, {EOVERFLOW, "EOVERFLOW"}, {ENOTSUP, "ENOTSUP"},
};

int fail(const char* verb, const std::string& path, const std::error_code& ec, bool json) {
  if (json)
    fmt::print("{}\n", nlohmann::json{{"verb", verb},
                                      {"path", path},
                                      {"ok", false},
                                      {"error", errno_name(ec)},
                                      {"message", ec.message()}}
                           .dump());
  else
    fmt::print(stderr, "memcgctl: {} {}: {}\n", verb, path, ec.message());
  return kExitFailed;
}

void ok_json(const char* verb, const std::string& path, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json j{{"verb", verb}, {"path", path}, {"ok", true}};
  j.update(extra);
  fmt::print("{}\n", j.dump());
}

}  // namespace

std::string errno_name(const std::error_code& ec) {
  if (ec.category() == std::generic_category() || ec.category() == std::system_category())
    for (const auto& e : kErrnoNames)
      if (e.value == ec.value()) return e.name;
  return fmt::format("E{}", ec.value());
}

int errno_from_name(const std::string& name) {
  for (const auto& e : kErrnoNames)
    if (name == e.name) return e.value;
  return 0;
}

/// The JSON form of a file's contents: one value ("max" or a number), or an
/// object for "key value" files.
nlohmann::json contents_json(const std::string& text) {
  std::uint64_t n;
  if (text.find('\n') == text.size() - 1 && memcg::fs::parse_bytes(text, n))
    return n == UINT64_MAX ? nlohmann::json("max") : nlohmann::json(n);
  KeyValues kv = parse_key_values(text);
  if (kv.empty()) return text;
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : kv) {
    if (memcg::fs::parse_bytes(v, n))
      o[k] = n == UINT64_MAX ? nlohmann::json("max") : nlohmann::json(n);
    else
      o[k] = v;
  }
  return o;
}

int run_cat(const std::string& path, bool json) {
  std::error_code ec;
  std::string text = memcg::fs::read(path, ec);
  if (ec) return fail("cat", path, ec, json);
  if (json)
    ok_json("cat", path, {{"content", text}, {"value", contents_json(text)}});
  else
    std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

int run_write(const std::string& path, const std::string& value, bool json) {
  std::error_code ec;
  memcg::fs::write(path, value, ec);
  if (ec) return fail("write", path, ec, json);
  if (json) ok_json("write", path, {{"value", value}});
  return kExitOk;
}

int run_ls(const std::string& path, bool json) {
  std::error_code ec;
  std::vector<std::string> entries = memcg::fs::list(path, ec);
  if (ec) return fail("ls", path, ec, json);
  if (json)
    ok_json("ls", path, {{"entries", entries}});
  else
    for (const auto& e : entries) fmt::print("{}\n", e);
  return kExitOk;
}

int run_mkdir(const std::string& path, bool json) {
  std::error_code ec;
  memcg::fs::mkdir(path, ec);
  if (ec) return fail("mkdir", path, ec, json);
  if (json) ok_json("mkdir", path);
  return kExitOk;
}

int run_rmdir(const std::string& path, bool json) {
  std::error_code ec;
  memcg::fs::rmdir(path, ec);
  if (ec) return fail("rmdir", path, ec, json);
  if (json) ok_json("rmdir", path);
  return kExitOk;
}

}  // namespace memcgctl
