// memcg/serve.hpp - the control socket: the process's text tree (memcg::fs)
// served to other processes on a Unix stream socket, and its client.
// Library target memcg::serve (kept off the core library's link line).
//
// serve(path) starts one server thread for the process. The socket file is
// created with mode 0600 and a peer whose uid differs from the process's
// effective uid is refused (SO_PEERCRED). The protocol is one request line,
// one reply (docs/control-socket.md):
//
//   ping | read PATH | write PATH VALUE | list PATH | mkdir PATH |
//   rmdir PATH | tree [PATH]
//   -> "ok N\n" and N bytes of payload, or "err ENAME message\n"
//
// The server thread never blocks the program: it holds no library lock
// across a client's I/O, every socket is non-blocking, and each request is
// one text-tree call. Under memcg-run its own allocations are not accounted.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace memcg {

/// Limits of the protocol (docs/control-socket.md).
inline constexpr std::size_t kControlMaxRequest = 4096;  ///< bytes of one request line, its '\n' included
inline constexpr std::size_t kControlMaxClients = 64;    ///< connections served at once

/// Starts serving on a new socket at `path` (at most 107 bytes). The file
/// must not exist, unless it is a stale socket of the same uid that nobody
/// listens on (left by a process that exec'd or died): that one is
/// replaced. Errors: EBUSY if this process already serves, ENAMETOOLONG,
/// EADDRINUSE if the file exists (and is not such a socket), or the
/// socket/bind/listen error; the throwing form throws std::system_error
/// naming the path.
void serve(const std::string& path);
void serve(const std::string& path, std::error_code& ec) noexcept;
/// Stops the server, closes every connection and removes the socket file.
/// No-op when not serving. Also runs at exit.
void stop_serving() noexcept;
/// The path being served, or "" when not serving.
std::string serving_path();

/// One reply of the control socket.
struct ControlReply {
  bool ok = false;
  std::string payload;  ///< ok: the payload; else the message after the errno name
  std::string error;    ///< !ok: the errno name ("ENOENT", ...)
};

/// A connection to a control socket (another process's, or this one's).
class ControlClient {
 public:
  ControlClient() noexcept = default;
  ControlClient(ControlClient&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  ControlClient& operator=(ControlClient&& o) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  /// Connects to the socket at `path` (std::system_error naming it).
  static ControlClient connect(const std::string& path);
  static ControlClient connect(const std::string& path, std::error_code& ec) noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// The connection's socket descriptor (for poll: POLLRDHUP when the
  /// server goes away); -1 when not connected.
  int native_handle() const noexcept { return fd_; }
  /// Bounds each send and receive of request() (0: wait forever, the
  /// default); a request that times out throws std::system_error
  /// (ETIMEDOUT) and leaves the connection unusable.
  void set_timeout(std::chrono::milliseconds t);

  /// Sends one request line (without its '\n') and reads its reply.
  /// std::system_error on a transport failure (the server went away, a
  /// malformed reply, a timeout: the connection is closed then) and EINVAL
  /// for a line holding '\n' (it would be two requests); a refused request
  /// is a reply with ok == false.
  ControlReply request(std::string_view line);

 private:
  int fd_ = -1;
  std::string buf_;  // bytes read past the last reply
};

}  // namespace memcg
