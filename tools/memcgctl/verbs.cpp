// memcgctl cat / write / ls / mkdir / rmdir / tree: thin wrappers over
// memcg::fs, or, with --attach SOCKET, over another process's control
// socket (memcg::ControlClient, docs/control-socket.md).
//
// Without --attach each invocation is its own process, so these see a fresh
// tree holding only the root; they exist for scripts and for checking the
// text tree's error reporting (the message is the error code's strerror
// text). With --json each prints one object (see docs/memcgctl.md).
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

#include "memcg/fs.hpp"
#include "memcg/metrics.hpp"
#include "memcg/serve.hpp"
#include "memcgctl.hpp"
#include "metrics/exposition.hpp"
#include "serve/protocol.hpp"
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

// The tree the verbs act on: this process's, or the attached one's.
memcg::ControlClient* g_attached = nullptr;

std::error_code remote_error(const memcg::ControlReply& r) {
  const int e = errno_from_name(r.error);
  return std::error_code(e ? e : EIO, std::generic_category());
}

std::string remote_or_local(const std::string& request, std::error_code& ec, std::string (*local)(const std::string&,
                                                                                                   std::error_code&),
                            const std::string& arg) {
  ec.clear();
  if (!g_attached) return local(arg, ec);
  memcg::ControlReply r = g_attached->request(request);
  if (!r.ok) ec = remote_error(r);
  return r.ok ? std::move(r.payload) : std::string();
}

std::string local_read(const std::string& p, std::error_code& ec) { return memcg::fs::read(p, ec); }
std::string local_list(const std::string& p, std::error_code& ec) {
  std::string out;
  for (const auto& e : memcg::fs::list(p, ec)) out += e + "\n";
  return out;
}
std::string local_mkdir(const std::string& p, std::error_code& ec) { return memcg::fs::mkdir(p, ec), std::string(); }
std::string local_rmdir(const std::string& p, std::error_code& ec) { return memcg::fs::rmdir(p, ec), std::string(); }
std::string local_tree(const std::string& p, std::error_code& ec) { return memcg::detail::serve::tree_json(p, ec); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t nl = text.find('\n', i);
    out.push_back(text.substr(i, nl == std::string::npos ? std::string::npos : nl - i));
    if (nl == std::string::npos) break;
    i = nl + 1;
  }
  return out;
}

}  // namespace

void attach(const std::string& socket) {
  static memcg::ControlClient client;
  client = memcg::ControlClient::connect(socket);
  g_attached = &client;
}

std::string errno_name(const std::error_code& ec) {
  if (ec.category() == std::generic_category() || ec.category() == std::system_category())
    for (const auto& e : kErrnoNames)
      if (e.value == ec.value()) return e.name;
  return fmt::format("E{}", ec.value());
}

int errno_from_name(const std::string& name) {
  for (const auto& e : kErrnoNames)
    if (name == e.name) return e.value;
  return memcg::detail::serve::errno_value(name);  // the control socket's names and "E<number>"
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
  std::string text = remote_or_local("read " + path, ec, local_read, path);
  if (ec) return fail("cat", path, ec, json);
  if (json)
    ok_json("cat", path, {{"content", text}, {"value", contents_json(text)}});
  else
    std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

int run_write(const std::string& path, const std::string& value, bool json) {
  std::error_code ec;
  if (g_attached) {
    const memcg::ControlReply r = g_attached->request("write " + path + " " + value);
    if (!r.ok) ec = remote_error(r);
  } else {
    memcg::fs::write(path, value, ec);
  }
  if (ec) return fail("write", path, ec, json);
  if (json) ok_json("write", path, {{"value", value}});
  return kExitOk;
}

int run_ls(const std::string& path, bool json) {
  std::error_code ec;
  const std::vector<std::string> entries = lines_of(remote_or_local("list " + path, ec, local_list, path));
  if (ec) return fail("ls", path, ec, json);
  if (json)
    ok_json("ls", path, {{"entries", entries}});
  else
    for (const auto& e : entries) fmt::print("{}\n", e);
  return kExitOk;
}

int run_mkdir(const std::string& path, bool json) {
  std::error_code ec;
  remote_or_local("mkdir " + path, ec, local_mkdir, path);
  if (ec) return fail("mkdir", path, ec, json);
  if (json) ok_json("mkdir", path);
  return kExitOk;
}

int run_rmdir(const std::string& path, bool json) {
  std::error_code ec;
  remote_or_local("rmdir " + path, ec, local_rmdir, path);
  if (ec) return fail("rmdir", path, ec, json);
  if (json) ok_json("rmdir", path);
  return kExitOk;
}

int run_metrics(const std::string& path, bool json) {
  std::error_code ec;
  std::string text;
  if (g_attached) {
    const std::string tree = remote_or_local("tree " + path, ec, local_tree, path);
    if (!ec) text = memcg::detail::metrics::serialize(memcg::detail::metrics::families_from_tree(tree));
  } else {
    text = memcg::metrics_text(path, ec);
  }
  if (ec) return fail("metrics", path, ec, json);
  if (json) ok_json("metrics", path, {{"text", text}});
  else std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

int run_tree(const std::string& path, bool json) {
  std::error_code ec;
  const std::string text = remote_or_local("tree " + path, ec, local_tree, path);
  if (ec) return fail("tree", path, ec, json);
  if (json) ok_json("tree", path, {{"tree", nlohmann::json::parse(text)}});
  else std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace memcgctl
