// memcgctl mount --attach SOCKET DIR: a running process's tree as a real
// filesystem (FUSE 3), so that ls, cat, echo > and mkdir/rmdir work on it as
// on cgroupfs. Every operation is one control-socket request; errors are
// the text tree's errno.
//
// Files are opened with direct_io: a read returns the contents captured at
// open (one `read` request per open, so a reader sees one consistent value),
// and st_size is 0, as on cgroupfs. A write(2) is one `write PATH VALUE`
// request (a trailing newline dropped), so `echo 64M > memory.max` fails on
// its write with the text tree's error. O_TRUNC is accepted and ignored.
//
// LIFECYCLE: the loop is single-threaded (one connection). It ends on
// SIGINT/SIGTERM/SIGHUP (libfuse's handlers), on `umount`, or when the
// serving process goes away: a watchdog connection sees the hangup and
// detaches the mount, which ends the loop. Either way the mount is gone
// when the command exits.
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "memcg/serve.hpp"
#include "memcgctl.hpp"

namespace memcgctl {
namespace {

memcg::ControlClient* g_client = nullptr;  // the loop's connection (single-threaded loop)

// -errno of a refused reply; -EIO when the process went away. A line the
// protocol cannot carry (a '\n' in a name or value, or longer than a
// request may be) is EINVAL here: sent, it would close the connection.
int request(const std::string& line, std::string* payload = nullptr) {
  if (line.find('\n') != std::string::npos || line.size() + 1 > memcg::kControlMaxRequest) return -EINVAL;
  try {
    memcg::ControlReply r = g_client->request(line);
    if (!r.ok) {
      const int e = errno_from_name(r.error);
      return -(e ? e : EIO);
    }
    if (payload) *payload = std::move(r.payload);
    return 0;
  } catch (const std::system_error&) {
    return -EIO;
  }
}

std::string parent_of(const std::string& p) {
  const std::size_t s = p.rfind('/');
  return s == 0 ? "/" : p.substr(0, s);
}

// Is `path` a group (true), a file (false), or neither (-errno)?
int kind_of(const std::string& path, bool& group) {
  if (path == "/") return group = true, 0;
  std::string listing;
  if (int e = request("list " + parent_of(path), &listing)) return e == -ENOENT ? -ENOENT : e;
  const std::string name = path.substr(path.rfind('/') + 1);
  std::size_t i = 0;
  while (i < listing.size()) {
    const std::size_t nl = listing.find('\n', i);
    const std::string e = listing.substr(i, nl - i);
    if (e == name) return group = false, 0;
    if (e == name + "/") return group = true, 0;
    i = nl == std::string::npos ? listing.size() : nl + 1;
  }
  return -ENOENT;
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info*) {
  std::memset(st, 0, sizeof *st);
  bool group = false;
  if (int e = kind_of(path, group)) return e;
  st->st_uid = ::geteuid();
  st->st_gid = ::getegid();
  st->st_nlink = group ? 2 : 1;
  st->st_mode = group ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  return 0;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
  std::string listing;
  if (int e = request(std::string("list ") + path, &listing)) return e;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  std::size_t i = 0;
  while (i < listing.size()) {
    const std::size_t nl = listing.find('\n', i);
    std::string e = listing.substr(i, nl - i);
    if (!e.empty() && e.back() == '/') e.pop_back();
    if (!e.empty()) fill(buf, e.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    i = nl == std::string::npos ? listing.size() : nl + 1;
  }
  return 0;
}

int fs_open(const char* path, fuse_file_info* fi) {
  bool group = false;
  if (int e = kind_of(path, group)) return e;
  if (group) return -EISDIR;
  auto contents = std::make_unique<std::string>();
  if ((fi->flags & O_ACCMODE) != O_WRONLY) {  // a reader sees the value at open
    if (int e = request(std::string("read ") + path, contents.get())) return e;
  }
  fi->direct_io = 1;
  fi->fh = reinterpret_cast<std::uint64_t>(contents.release());
  return 0;
}

int fs_read(const char*, char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
  const auto* contents = reinterpret_cast<const std::string*>(fi->fh);
  if (off < 0 || static_cast<std::size_t>(off) >= contents->size()) return 0;
  const std::size_t n = std::min(size, contents->size() - static_cast<std::size_t>(off));
  std::memcpy(buf, contents->data() + off, n);
  return static_cast<int>(n);
}

int fs_write(const char* path, const char* buf, std::size_t size, off_t, fuse_file_info*) {
  std::string value(buf, size);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty() || value.find('\n') != std::string::npos) return -EINVAL;
  if (int e = request(std::string("write ") + path + " " + value)) return e;
  return static_cast<int>(size);
}

int fs_release(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<std::string*>(fi->fh);
  return 0;
}

int fs_truncate(const char* path, off_t, fuse_file_info*) {
  bool group = false;
  if (int e = kind_of(path, group)) return e;
  return group ? -EISDIR : 0;  // O_TRUNC before a write: the write replaces the value
}

int fs_mkdir(const char* path, mode_t) { return request(std::string("mkdir ") + path); }
int fs_rmdir(const char* path) { return request(std::string("rmdir ") + path); }

// Detaches the mount when the serving process goes away (its connection
// hangs up; a refusal, such as too many clients, ends the watch instead).
void watchdog(const std::string& socket, const std::string& dir, std::atomic<bool>& stop) {
  std::error_code ec;
  memcg::ControlClient c = memcg::ControlClient::connect(socket, ec);
  if (ec) return;
  try {
    c.set_timeout(std::chrono::seconds(5));
    if (!c.request("ping").ok) return;  // refused (EBUSY): no watch
  } catch (const std::system_error&) {
    return;
  }
  while (!stop.load()) {
    pollfd p{c.native_handle(), POLLRDHUP, 0};
    if (::poll(&p, 1, 200) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      if (::umount2(dir.c_str(), MNT_DETACH) != 0) {  // not root: the setuid helper
        const pid_t pid = ::fork();
        if (pid == 0) {
          ::execlp("fusermount3", "fusermount3", "-u", "-z", "--", dir.c_str(), static_cast<char*>(nullptr));
          ::_exit(127);
        }
        if (pid > 0) ::waitpid(pid, nullptr, 0);
      }
      return;
    }
  }
}

}  // namespace

int run_mount(const MountOptions& o) {
  memcg::ControlClient client = memcg::ControlClient::connect(o.attach);
  g_client = &client;
  if (client.request("ping").payload != "pong\n") throw std::runtime_error(o.attach + " is not a control socket");
  fuse_operations ops{};
  ops.getattr = fs_getattr;
  ops.readdir = fs_readdir;
  ops.open = fs_open;
  ops.read = fs_read;
  ops.write = fs_write;
  ops.release = fs_release;
  ops.truncate = fs_truncate;
  ops.mkdir = fs_mkdir;
  ops.rmdir = fs_rmdir;
  // libfuse's options; fuse_loop() below is the single-threaded loop, in
  // the foreground.
  std::string prog = "memcgctl", opt = "-o", opts = "default_permissions,fsname=memcg";
  char* args[] = {prog.data(), opt.data(), opts.data()};
  fuse_args fa = FUSE_ARGS_INIT(3, args);
  fuse* f = fuse_new(&fa, &ops, sizeof ops, nullptr);
  if (!f) throw std::runtime_error("fuse_new failed");
  if (fuse_mount(f, o.dir.c_str()) != 0) {
    fuse_destroy(f);
    throw std::runtime_error("cannot mount on " + o.dir + " (is /dev/fuse usable?)");
  }
  fuse_session* se = fuse_get_session(f);
  fuse_set_signal_handlers(se);
  std::atomic<bool> stop{false};
  std::thread dog(watchdog, o.attach, o.dir, std::ref(stop));
  const int rc = fuse_loop(f);
  stop = true;
  dog.join();
  fuse_remove_signal_handlers(se);
  fuse_unmount(f);
  fuse_destroy(f);
  g_client = nullptr;
  return rc == 0 ? kExitOk : kExitFailed;
}

}  // namespace memcgctl
