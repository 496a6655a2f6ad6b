#include "serve/protocol.hpp"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "memcg/fs.hpp"

namespace memcg::detail::serve {

namespace {

struct Name {
  int e;
  const char* name;
};
constexpr Name kNames[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"},   {EINTR, "EINTR"},       {EIO, "EIO"},
    {E2BIG, "E2BIG"},   {EBADF, "EBADF"},     {EAGAIN, "EAGAIN"},     {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"}, {EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},     {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"},   {ENOSPC, "ENOSPC"},     {ERANGE, "ERANGE"},
    {ENAMETOOLONG, "ENAMETOOLONG"},           {ENOTEMPTY, "ENOTEMPTY"}, {ENOSYS, "ENOSYS"},
    {EOPNOTSUPP, "EOPNOTSUPP"},               {EADDRINUSE, "EADDRINUSE"}, {ECANCELED, "ECANCELED"},
    {EOVERFLOW, "EOVERFLOW"},                 {ETIMEDOUT, "ETIMEDOUT"},
};

std::string_view next_field(std::string_view& rest) {
  const std::size_t sp = rest.find(' ');
  std::string_view f = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  return f;
}

std::error_code invalid() { return std::make_error_code(std::errc::invalid_argument); }

nlohmann::json group_json(const std::string& path, std::error_code& ec) {
  const std::vector<std::string> entries = fs::list(path, ec);
  if (ec) return nullptr;
  nlohmann::json files = nlohmann::json::object();
  nlohmann::json children = nlohmann::json::array();
  const std::string dir = path == "/" ? "" : path;
  for (const std::string& e : entries) {
    if (!e.empty() && e.back() == '/') {
      std::error_code cec;
      nlohmann::json c = group_json(dir + "/" + e.substr(0, e.size() - 1), cec);
      if (!cec) children.push_back(std::move(c));  // removed meanwhile: left out
      continue;
    }
    std::error_code fec;
    std::string text = fs::read(dir + "/" + e, fec);
    if (!fec) files[e] = std::move(text);
  }
  return nlohmann::json{{"path", path}, {"files", std::move(files)}, {"children", std::move(children)}};
}

}  // namespace

std::string errno_name(int e) {
  for (const Name& n : kNames)
    if (n.e == e) return n.name;
  return "E" + std::to_string(e);
}

int errno_value(std::string_view name) {
  for (const Name& n : kNames)
    if (name == n.name) return n.e;
  if (name.size() < 2 || name.size() > 5 || name[0] != 'E') return 0;
  int v = 0;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string ok_reply(std::string_view payload) {
  std::string r = "ok " + std::to_string(payload.size()) + "\n";
  r.append(payload);
  return r;
}

std::string err_reply(const std::error_code& ec, std::string_view message) {
  std::string r = "err " + errno_name(ec.value()) + " ";
  for (char c : message) r.push_back(c == '\n' || c == '\r' ? ' ' : c);
  r.push_back('\n');
  return r;
}

std::string tree_json(const std::string& path, std::error_code& ec) {
  nlohmann::json j = group_json(path, ec);
  if (ec) return {};
  // Group names may hold any byte but '/': invalid UTF-8 becomes U+FFFD.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string execute(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view rest = line;
  const std::string_view verb = next_field(rest);
  auto need_path = [&](std::string_view p) { return !p.empty() && p.front() == '/'; };
  std::error_code ec;
  if (verb == "ping") {
    if (!rest.empty()) return err_reply(invalid(), "ping takes no argument");
    return ok_reply("pong\n");
  }
  if (verb == "read" || verb == "list" || verb == "mkdir" || verb == "rmdir" || verb == "tree") {
    std::string path(rest);
    if (verb == "tree" && path.empty()) path = "/";
    if (!need_path(path) || path.find(' ') != std::string::npos)
      return err_reply(invalid(), std::string(verb) + " takes one absolute path");
    if (verb == "read") {
      std::string text = fs::read(path, ec);
      return ec ? err_reply(ec, path + ": " + ec.message()) : ok_reply(text);
    }
    if (verb == "list") {
      std::string out;
      for (const std::string& e : fs::list(path, ec)) out += e + "\n";
      return ec ? err_reply(ec, path + ": " + ec.message()) : ok_reply(out);
    }
    if (verb == "tree") {
      std::string out = tree_json(path, ec);
      return ec ? err_reply(ec, path + ": " + ec.message()) : ok_reply(out);
    }
    if (verb == "mkdir") fs::mkdir(path, ec); else fs::rmdir(path, ec);
    return ec ? err_reply(ec, path + ": " + ec.message()) : ok_reply("");
  }
  if (verb == "write") {
    const std::string path(next_field(rest));
    if (!need_path(path) || rest.empty()) return err_reply(invalid(), "write takes an absolute path and a value");
    fs::write(path, rest, ec);
    return ec ? err_reply(ec, path + ": " + ec.message()) : ok_reply("");
  }
  if (verb.empty()) return err_reply(invalid(), "empty request");
  return err_reply(invalid(), "unknown request '" + std::string(verb.substr(0, 64)) +
                                  "' (ping, read, write, list, mkdir, rmdir, tree)");
}

}  // namespace memcg::detail::serve
