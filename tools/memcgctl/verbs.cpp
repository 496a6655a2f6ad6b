// memcgctl cat / write / ls / mkdir / rmdir: thin wrappers over memcg::fs.
//
// Each invocation is its own process, so these see a fresh tree holding only
// the root; they exist for scripts and for checking the text tree's error
// reporting (the message is the error code's strerror text).
#include <fmt/format.h>

#include <cstdio>
#include <system_error>

#include "memcg/fs.hpp"
#include "memcgctl.hpp"

namespace memcgctl {
namespace {

int fail(const char* verb, const std::string& path, const std::error_code& ec) {
  fmt::print(stderr, "memcgctl: {} {}: {}\n", verb, path, ec.message());
  return kExitFailed;
}

}  // namespace

int run_cat(const std::string& path) {
  std::error_code ec;
  std::string text = memcg::fs::read(path, ec);
  if (ec) return fail("cat", path, ec);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

int run_write(const std::string& path, const std::string& value) {
  std::error_code ec;
  memcg::fs::write(path, value, ec);
  if (ec) return fail("write", path, ec);
  return kExitOk;
}

int run_ls(const std::string& path) {
  std::error_code ec;
  std::vector<std::string> entries = memcg::fs::list(path, ec);
  if (ec) return fail("ls", path, ec);
  for (const auto& e : entries) fmt::print("{}\n", e);
  return kExitOk;
}

int run_mkdir(const std::string& path) {
  std::error_code ec;
  memcg::fs::mkdir(path, ec);
  if (ec) return fail("mkdir", path, ec);
  return kExitOk;
}

int run_rmdir(const std::string& path) {
  std::error_code ec;
  memcg::fs::rmdir(path, ec);
  if (ec) return fail("rmdir", path, ec);
  return kExitOk;
}

}  // namespace memcgctl
