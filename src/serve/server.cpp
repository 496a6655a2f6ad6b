// The control socket's server: one thread, one poll loop over the listening
// socket, a stop eventfd and up to kControlMaxClients connections, all
// non-blocking. A connection's requests are executed in order; its next
// request is read only once the previous reply is written (a client that
// does not read its replies stalls only itself).
//
// LIFECYCLE: serve() creates the socket and starts the thread (g_m held);
// stop_serving() signals the eventfd, joins the thread, closes everything
// and unlinks the file (g_m held). A fork child inherits the descriptors
// but not the thread: there stop_serving() only closes them (the file is
// the parent's).
#include "memcg/serve.hpp"

#include <fcntl.h>
#include <poll.h>
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
  std::string in;       // bytes read, not yet a whole request
  std::string out;      // reply bytes not yet written
  bool closing = false; // close once `out` is written
};

struct Server {
  std::string path;
  int listen_fd = -1;
  int stop_fd = -1;
  pid_t pid = 0;
  std::thread thread;
};

std::mutex g_m;           // serve() / stop_serving()
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

// Executes every whole request in c.in while no reply is pending; an
// over-long line is refused and the connection closed after the reply.
void serve_requests(Conn& c) {
  while (c.out.empty() && !c.closing) {
    const std::size_t nl = c.in.find('\n');
    if (nl == std::string::npos) {
      if (c.in.size() >= kControlMaxRequest) {
        c.out = err_reply(std::make_error_code(std::errc::argument_list_too_long),
                          "request longer than " + std::to_string(kControlMaxRequest) + " bytes");
        c.closing = true;
      }
      return;
    }
    if (nl + 1 > kControlMaxRequest) {
      c.out = err_reply(std::make_error_code(std::errc::argument_list_too_long),
                        "request longer than " + std::to_string(kControlMaxRequest) + " bytes");
      c.closing = true;
      return;
    }
    c.out = execute(std::string_view(c.in).substr(0, nl));
    c.in.erase(0, nl + 1);
  }
}

// Reads what is there; false on EOF or error.
bool fill(Conn& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      if (c.in.size() >= kControlMaxRequest) return true;  // enough to decide
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void accept_one(int listen_fd, std::vector<Conn>& conns) {
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  uid_t uid = 0;
  if (!peer_allowed(fd, uid)) {
    const std::string r = err_reply(std::make_error_code(std::errc::permission_denied),
                                    "peer uid " + std::to_string(uid) + " is not the serving process's uid " +
                                        std::to_string(geteuid()));
    (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    return;
  }
  if (conns.size() >= kControlMaxClients) {
    const std::string r = err_reply(std::make_error_code(std::errc::device_or_resource_busy),
                                    "too many clients (" + std::to_string(kControlMaxClients) + ")");
    (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    return;
  }
  conns.push_back(Conn{fd, {}, {}, false});
}

void run(int listen_fd, int stop_fd) {
  mark_library_thread();  // memcg-run does not account this thread's allocations
  std::vector<Conn> conns;
  std::vector<pollfd> pfds;
  for (;;) {
    pfds.clear();
    pfds.push_back({stop_fd, POLLIN, 0});
    pfds.push_back({listen_fd, POLLIN, 0});
    for (const Conn& c : conns) {
      short ev = c.out.empty() ? POLLIN : POLLOUT;
      pfds.push_back({c.fd, ev, 0});
    }
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[0].revents) break;
    const std::size_t polled = conns.size();  // pfds[i + 2] is conns[i] for these
    for (std::size_t i = 0; i < polled; ++i) {
      Conn& c = conns[i];
      const short rev = pfds[i + 2].revents;
      bool alive = true;
      if (rev & (POLLIN | POLLHUP | POLLERR)) alive = fill(c) || !c.in.empty();
      if (alive && (rev & POLLERR)) alive = false;
      if (alive) serve_requests(c);
      if (alive) alive = flush(c);
      if (alive && c.closing && c.out.empty()) alive = false;
      if (alive && (rev & POLLHUP) && c.out.empty() && c.in.find('\n') == std::string::npos) alive = false;
      if (!alive) c.fd = (::close(c.fd), -1);
    }
    // pfds indexes conns: remove the closed ones only after the pass, and
    // accept only then.
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
    if (pfds[1].revents & POLLIN) accept_one(listen_fd, conns);
  }
  for (Conn& c : conns) ::close(c.fd);
}

void stop_at_exit() { ::memcg::stop_serving(); }

// A socket file nobody listens on: left by a process that exec'd or died
// (an exec closes the listening socket but cannot remove the file).
bool stale_socket(const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(addr.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

}  // namespace
}  // namespace detail::serve

void serve(const std::string& path, std::error_code& ec) noexcept {
  using namespace detail::serve;
  ec.clear();
  try {
    std::lock_guard<std::mutex> l(g_m);
    if (g_server && g_server->pid == ::getpid()) {
      ec = std::make_error_code(std::errc::device_or_resource_busy);
      return;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
      ec = std::make_error_code(path.empty() ? std::errc::invalid_argument : std::errc::filename_too_long);
      return;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ec = errno_ec();
      return;
    }
    const int berr = bind_private(fd, addr);
    if (berr != 0 || ::listen(fd, 64) != 0) {
      ec = errno_ec(berr != 0 ? berr : errno);
      ::close(fd);
      if (berr == 0) ::unlink(path.c_str());
      return;
    }
    const int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop < 0) {
      ec = errno_ec();
      ::close(fd);
      ::unlink(path.c_str());
      return;
    }
    auto* s = new Server{path, fd, stop, ::getpid(), {}};
    try {
      s->thread = std::thread(run, fd, stop);
    } catch (const std::system_error& e) {
      ec = e.code();
      ::close(fd);
      ::close(stop);
      ::unlink(path.c_str());
      delete s;
      return;
    }
    delete g_server;  // a fork child's copy of its parent's (descriptors closed by stop_serving)
    g_server = s;
    static const bool registered = (std::atexit(stop_at_exit), true);
    (void)registered;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void serve(const std::string& path) {
  std::error_code ec;
  serve(path, ec);
  if (ec) throw std::system_error(ec, "memcg::serve " + path);
}

void stop_serving() noexcept {
  using namespace detail::serve;
  std::lock_guard<std::mutex> l(g_m);
  Server* s = g_server;
  if (!s) return;
  g_server = nullptr;
  if (s->pid == ::getpid()) {
    const std::uint64_t one = 1;
    (void)!::write(s->stop_fd, &one, sizeof one);
    s->thread.join();
    ::unlink(s->path.c_str());
  } else {
    // A fork child: the thread is its parent's and does not exist here; its
    // handle is left alone (never joined, detached or destroyed).
    new std::thread(std::move(s->thread));
  }
  ::close(s->listen_fd);
  ::close(s->stop_fd);
  delete s;
}

std::string serving_path() {
  std::lock_guard<std::mutex> l(detail::serve::g_m);
  auto* s = detail::serve::g_server;
  return s && s->pid == ::getpid() ? s->path : std::string();
}

}  // namespace memcg
