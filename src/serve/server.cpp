// The control socket's server: one thread, one poll loop over the listening
// socket, a stop eventfd and up to kControlMaxClients connections, all
// non-blocking. A connection's requests are executed in order: its next
// request is taken once the previous reply is written (a client that does
// not read its replies stalls only its own connection; a slow request, one
// that reclaims or runs an OOM handler, delays every client).
//
// LIFECYCLE: serve() creates the socket and starts the thread; stop_serving()
// takes the server out of g_server (g_m held), then signals the eventfd,
// joins the thread, closes everything and unlinks the file if it is still
// the one it bound (same inode). FORK (pthread_atfork): g_m is held across
// fork(); a child closes the inherited descriptors and forgets the server
// (its thread is the parent's), so it neither serves nor touches the file.
#include "memcg/serve.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "platform/library_thread.hpp"
#include "serve/protocol.hpp"

namespace memcg {

namespace detail::serve {
namespace {

struct Conn {
  int fd = -1;
  std::string in;        // bytes read, not yet a whole request
  std::string out;       // reply bytes not yet written
  bool closing = false;  // close once `out` is written
  bool eof = false;      // the peer will send nothing more
};

struct Server {
  std::string path;
  ino_t inode = 0;  // the socket file bind() created
  int listen_fd = -1;
  int stop_fd = -1;
  std::thread thread;
};

std::mutex g_m;              // serve() / stop_serving() / fork
Server* g_server = nullptr;  // g_m

std::error_code errno_ec(int e = errno) { return {e, std::generic_category()}; }

// The peer's uid must be the process's effective uid.
bool peer_allowed(int fd, uid_t& uid) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  uid = cred.uid;
  return cred.uid == geteuid();
}

// Writes what it can of c.out; false when the connection is dead.
bool flush(Conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

std::string too_long() {
  return err_reply(std::make_error_code(std::errc::argument_list_too_long),
                   "request longer than " + std::to_string(kControlMaxRequest) + " bytes");
}

// One request's reply; a failure of the request itself (out of memory, a
// text the JSON encoder refuses) is an error reply, never an exception.
std::string reply_to(std::string_view line) {
  try {
    return execute(line);
  } catch (const std::bad_alloc&) {
    return "err ENOMEM out of memory\n";
  } catch (const std::exception& e) {
    try {
      return err_reply(std::make_error_code(std::errc::io_error), e.what());
    } catch (...) {
      return "err EIO\n";
    }
  }
}

// Executes the next whole request in c.in if no reply is pending; an
// over-long line is refused and the connection closed after the reply.
// True if it produced a reply.
bool serve_one(Conn& c) {
  if (!c.out.empty() || c.closing) return false;
  const std::size_t nl = c.in.find('\n');
  if (nl == std::string::npos) {
    if (c.in.size() >= kControlMaxRequest) {
      c.out = too_long();
      c.closing = true;
      return true;
    }
    return false;
  }
  if (nl + 1 > kControlMaxRequest) {
    c.out = too_long();
    c.closing = true;
    return true;
  }
  c.out = reply_to(std::string_view(c.in).substr(0, nl));
  c.in.erase(0, nl + 1);
  return true;
}

// Reads what is there; false on an error. Sets c.eof at end of stream.
bool fill(Conn& c) {
  char buf[4096];
  while (c.in.size() < kControlMaxRequest) {  // enough to decide on a request
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      c.eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

// Serves c after poll reported `rev`; false when it is to be closed.
bool service(Conn& c, short rev) {
  if (rev & (POLLERR | POLLNVAL)) return false;
  if ((rev & (POLLIN | POLLHUP)) && !c.eof && !fill(c)) return false;
  // Pipelined requests: answer each whole line while replies go out at once.
  while (serve_one(c))
    if (!flush(c)) return false;
  if (!flush(c)) return false;
  if (c.closing && c.out.empty()) return false;
  // At end of stream: done once every whole request is answered (a partial
  // last line is dropped).
  if (c.eof && c.out.empty() && c.in.find('\n') == std::string::npos) return false;
  return true;
}

void refuse(int fd, const std::string& reply) {
  (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd);
}

// False if accept failed for lack of descriptors (the caller backs off).
bool accept_one(int listen_fd, std::vector<Conn>& conns) {
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return !(errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM);
  uid_t uid = 0;
  if (!peer_allowed(fd, uid)) {
    refuse(fd, err_reply(std::make_error_code(std::errc::permission_denied),
                         "peer uid " + std::to_string(uid) + " is not the serving process's uid " +
                             std::to_string(geteuid())));
    return true;
  }
  if (conns.size() >= kControlMaxClients) {
    refuse(fd, err_reply(std::make_error_code(std::errc::device_or_resource_busy),
                         "too many clients (" + std::to_string(kControlMaxClients) + ")"));
    return true;
  }
  conns.push_back(Conn{fd, {}, {}, false, false});
  return true;
}

void run(int listen_fd, int stop_fd) {
  mark_library_thread();  // memcg-run does not account this thread's allocations
  std::vector<Conn> conns;
  std::vector<pollfd> pfds;
  int accept_pause_ms = 0;  // out of descriptors: stop watching the listener for a while
  for (;;) {
    pfds.clear();
    pfds.push_back({stop_fd, POLLIN, 0});
    pfds.push_back({accept_pause_ms ? -1 : listen_fd, POLLIN, 0});
    for (const Conn& c : conns) pfds.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
    const int n = ::poll(pfds.data(), pfds.size(), accept_pause_ms ? accept_pause_ms : -1);
    if (n < 0 && errno != EINTR) break;
    accept_pause_ms = 0;
    if (n <= 0) continue;
    if (pfds[0].revents) break;
    const std::size_t polled = conns.size();  // pfds[i + 2] is conns[i] for these
    for (std::size_t i = 0; i < polled; ++i) {
      const short rev = pfds[i + 2].revents;
      if (rev && !service(conns[i], rev)) conns[i].fd = (::close(conns[i].fd), -1);
    }
    // pfds indexes conns: remove the closed ones only after the pass, and
    // accept only then.
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
    if ((pfds[1].revents & POLLIN) && !accept_one(listen_fd, conns)) accept_pause_ms = 100;
  }
  for (Conn& c : conns) ::close(c.fd);
}

void stop_at_exit() { ::memcg::stop_serving(); }

// A socket file nobody listens on: left by a process that exec'd or died
// (an exec closes the listening socket but cannot remove the file). The
// probe never blocks: a full backlog (EAGAIN) means someone listens.
bool stale_socket(const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(addr.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const bool refused = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

// bind() with the file created 0600 (the umask's mode); a stale socket
// file of ours is replaced once.
int bind_private(int fd, const sockaddr_un& addr) {
  for (int attempt = 0;; ++attempt) {
    const mode_t old = ::umask(0177);
    const int b = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    ::umask(old);
    if (b == 0 || err != EADDRINUSE || attempt > 0 || !stale_socket(addr)) return b == 0 ? 0 : err;
    ::unlink(addr.sun_path);
  }
}

// Unlinks `path` only if it is still the socket file we bound.
void unlink_ours(const std::string& path, ino_t inode) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode) ::unlink(path.c_str());
}

// fork(): g_m held across it; the child forgets the parent's server.
void fork_prepare() { g_m.lock(); }
void fork_parent() { g_m.unlock(); }
void fork_child() {
  if (Server* s = g_server) {
    ::close(s->listen_fd);
    ::close(s->stop_fd);
    new std::thread(std::move(s->thread));  // the parent's thread: never joined, detached or destroyed here
    delete s;
    g_server = nullptr;
  }
  g_m.unlock();
}

}  // namespace
}  // namespace detail::serve

void serve(const std::string& path, std::error_code& ec) noexcept {
  using namespace detail::serve;
  ec.clear();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    ec = std::make_error_code(path.empty() ? std::errc::invalid_argument : std::errc::filename_too_long);
    return;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  static const bool hooks = (pthread_atfork(fork_prepare, fork_parent, fork_child), std::atexit(stop_at_exit), true);
  (void)hooks;
  std::lock_guard<std::mutex> l(g_m);
  if (g_server) {
    ec = std::make_error_code(std::errc::device_or_resource_busy);
    return;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = errno_ec();
    return;
  }
  const int berr = bind_private(fd, addr);
  struct stat st {};
  if (berr != 0 || ::listen(fd, 64) != 0 || ::lstat(path.c_str(), &st) != 0) {
    ec = errno_ec(berr != 0 ? berr : errno);
    ::close(fd);
    if (berr == 0) ::unlink(path.c_str());
    return;
  }
  const int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  Server* s = stop < 0 ? nullptr : new (std::nothrow) Server;
  if (s) {
    try {
      s->path = path;
      s->thread = std::thread(run, fd, stop);
    } catch (const std::system_error& e) {
      ec = e.code();
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
  } else {
    ec = stop < 0 ? errno_ec() : std::make_error_code(std::errc::not_enough_memory);
  }
  if (ec) {
    delete s;
    if (stop >= 0) ::close(stop);
    ::close(fd);
    unlink_ours(path, st.st_ino);
    return;
  }
  s->inode = st.st_ino;
  s->listen_fd = fd;
  s->stop_fd = stop;
  g_server = s;
}

void serve(const std::string& path) {
  std::error_code ec;
  serve(path, ec);
  if (ec) throw std::system_error(ec, "memcg::serve " + path);
}

void stop_serving() noexcept {
  using namespace detail::serve;
  Server* s;
  {
    std::lock_guard<std::mutex> l(g_m);  // not held while joining: fork may come meanwhile
    s = g_server;
    g_server = nullptr;
  }
  if (!s) return;
  const std::uint64_t one = 1;
  (void)!::write(s->stop_fd, &one, sizeof one);
  // exit() called from a request on the server thread itself (a kill or
  // OOM handler): that thread never returns to the loop.
  if (s->thread.get_id() == std::this_thread::get_id()) s->thread.detach(); else s->thread.join();
  unlink_ours(s->path, s->inode);
  ::close(s->listen_fd);
  ::close(s->stop_fd);
  delete s;
}

std::string serving_path() {
  std::lock_guard<std::mutex> l(detail::serve::g_m);
  return detail::serve::g_server ? detail::serve::g_server->path : std::string();
}

}  // namespace memcg
