// memcgctl --pid N: finds the control socket a process serves. Its
// listening Unix sockets are the inodes of its socket descriptors
// (/proc/N/fd/* -> "socket:[INODE]") that /proc/net/unix lists as
// listening (flag __SO_ACCEPTCON) with a path; the first of them that
// answers `ping` is the one.
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>

#include "memcg/serve.hpp"
#include "memcgctl.hpp"

namespace memcgctl {

std::string find_control_socket(long pid) {
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(fd_dir.c_str());
  if (!d) throw std::system_error(std::error_code(errno, std::generic_category()), "--pid " + std::to_string(pid));
  std::set<std::string> inodes;
  while (dirent* e = ::readdir(d)) {
    char target[64];
    const std::string link = fd_dir + "/" + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    const std::string t(target, static_cast<std::size_t>(n));
    if (t.rfind("socket:[", 0) == 0 && t.back() == ']') inodes.insert(t.substr(8, t.size() - 9));
  }
  ::closedir(d);
  constexpr unsigned long kAcceptCon = 0x10000;  // __SO_ACCEPTCON: listening
  std::ifstream unix_table("/proc/" + std::to_string(pid) + "/net/unix");  // its network namespace's
  std::string line;
  std::getline(unix_table, line);  // header
  while (std::getline(unix_table, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state, inode, path;
    if (!(f >> num >> refs >> proto >> flags >> type >> state >> inode >> path)) continue;  // no path: unnamed
    if (!inodes.count(inode) || !(std::stoul(flags, nullptr, 16) & kAcceptCon) || path[0] != '/') continue;
    std::error_code ec;
    memcg::ControlClient c = memcg::ControlClient::connect(path, ec);
    if (ec) continue;
    try {
      c.set_timeout(std::chrono::milliseconds(500));  // another program's socket may never answer
      if (c.request("ping").ok) return path;
    } catch (const std::system_error&) {
    }
  }
  throw std::system_error(std::make_error_code(std::errc::no_such_file_or_directory),
                          "--pid " + std::to_string(pid) + ": the process serves no control socket");
}

}  // namespace memcgctl
