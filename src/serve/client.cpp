// ControlClient: one blocking connection to a control socket.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "memcg/serve.hpp"

namespace memcg {

namespace {

[[noreturn]] void fail(std::errc e, const std::string& what) { throw std::system_error(std::make_error_code(e), what); }
[[noreturn]] void fail_errno(const std::string& what) {
  throw std::system_error(std::error_code(errno, std::generic_category()), what);
}

}  // namespace

ControlClient& ControlClient::operator=(ControlClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    buf_ = std::move(o.buf_);
    o.fd_ = -1;
    o.buf_.clear();
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

ControlClient ControlClient::connect(const std::string& path, std::error_code& ec) noexcept {
  ec.clear();
  ControlClient c;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    ec = std::make_error_code(path.empty() ? std::errc::invalid_argument : std::errc::filename_too_long);
    return c;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = std::error_code(errno, std::generic_category());
    return c;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ec = std::error_code(errno, std::generic_category());
    ::close(fd);
    return c;
  }
  c.fd_ = fd;
  return c;
}

void ControlClient::set_timeout(std::chrono::milliseconds t) {
  if (fd_ < 0) fail(std::errc::bad_file_descriptor, "control socket: not connected");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    fail_errno("control socket: setsockopt");
}

ControlClient ControlClient::connect(const std::string& path) {
  std::error_code ec;
  ControlClient c = connect(path, ec);
  if (ec) throw std::system_error(ec, "control socket " + path);
  return c;
}

ControlReply ControlClient::request(std::string_view line) {
  if (fd_ < 0) fail(std::errc::bad_file_descriptor, "control socket: not connected");
  if (line.find('\n') != std::string_view::npos) fail(std::errc::invalid_argument, "control socket: a request is one line");
  // A timeout leaves a reply in flight: the connection is closed, so that
  // no later request reads it as its own.
  auto timed_out = [&](const char* what) {
    ::close(fd_);
    fd_ = -1;
    buf_.clear();
    fail(std::errc::timed_out, what);
  };
  std::string req(line);
  req.push_back('\n');
  for (std::size_t off = 0; off < req.size();) {
    const ssize_t n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EPIPE || errno == ECONNRESET) break;  // the server may have replied before closing
      if (errno == EAGAIN || errno == EWOULDBLOCK) timed_out("control socket: send timed out");
      fail_errno("control socket: send");
    }
    off += static_cast<std::size_t>(n);
  }
  // Reads until buf_ holds a whole reply: "err ...\n" or "ok N\n" + N bytes.
  auto more = [&] {
    char tmp[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) return buf_.append(tmp, static_cast<std::size_t>(n)), void();
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) fail(std::errc::connection_reset, "control socket: the server closed the connection");
      if (errno == EAGAIN || errno == EWOULDBLOCK) timed_out("control socket: no reply in time");
      fail_errno("control socket: recv");
    }
  };
  std::size_t nl;
  while ((nl = buf_.find('\n')) == std::string::npos) more();
  const std::string head = buf_.substr(0, nl);
  ControlReply r;
  if (head.rfind("err ", 0) == 0) {
    const std::size_t sp = head.find(' ', 4);
    r.error = head.substr(4, sp == std::string::npos ? std::string::npos : sp - 4);
    r.payload = sp == std::string::npos ? std::string() : head.substr(sp + 1);
    buf_.erase(0, nl + 1);
    return r;
  }
  if (head.rfind("ok ", 0) != 0 || head.size() == 3 || head.size() > 3 + 19 ||
      head.find_first_not_of("0123456789", 3) != std::string::npos)
    fail(std::errc::protocol_error, "control socket: malformed reply '" + head.substr(0, 64) + "'");
  const std::size_t len = std::stoull(head.substr(3));
  while (buf_.size() < nl + 1 + len) more();
  r.ok = true;
  r.payload = buf_.substr(nl + 1, len);
  buf_.erase(0, nl + 1 + len);
  return r;
}

}  // namespace memcg
