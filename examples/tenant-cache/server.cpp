#include "server.hpp"

#include "meta.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <unordered_map>

namespace tcache {

namespace {
constexpr const char* kVersion = "1.6.21-memcg-tenant-cache";
constexpr std::size_t kReadChunk = 16384;
constexpr std::size_t kReadPerEvent = 256 * 1024;     // per connection and event: others get their turn
constexpr std::size_t kOutHigh = 4 * 1024 * 1024;     // pending replies past this: stop reading and running
constexpr std::size_t kMaxRetrievalLine = 1024 * 1024;  // a get line may hold many keys (memcached: unbounded)
const std::time_t kStarted = std::time(nullptr);
}  // namespace

// One client. `in` holds unparsed input from `pos`; a storage command whose
// data block has not fully arrived waits in `pending`; `swallow` bytes of
// an oversized value are skipped as they arrive.
struct Server::Conn {
  int fd = -1;
  std::string in;
  std::size_t pos = 0;
  std::string out;
  bool pending = false;
  Request req;
  std::string pending_line;  // the storage command, parsed again when its data is in (`in` moves)
  std::size_t swallow = 0;
  bool close_after_write = false;
  bool eof = false;       // the client half-closed: no more input
  bool want_in = true;    // EPOLLIN is in the connection's interest set
  bool want_out = false;  // EPOLLOUT is
};

// A worker's event loop and its inbox of connections handed to it.
struct Server::Worker {
  int epfd = -1;
  int wake_fd = -1;  // eventfd: the inbox has connections
  std::mutex mu;
  std::vector<int> inbox;
  ~Worker() {
    if (epfd >= 0) ::close(epfd);
    if (wake_fd >= 0) ::close(wake_fd);
    for (int fd : inbox) ::close(fd);
  }
};

Server::Server(Store& store, const ServerOptions& o) : store_(store), opt_(o) {}

Server::~Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

bool Server::listen(std::string* err) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    *err = std::string("socket: ") + strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(opt_.port));
  if (::inet_pton(AF_INET, opt_.host.c_str(), &a.sin_addr) != 1) {
    *err = "bad address: " + opt_.host;
    return false;
  }
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 1024) != 0) {
    *err = "bind " + opt_.host + ":" + std::to_string(opt_.port) + ": " + strerror(errno);
    return false;
  }
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return stop_fd_ >= 0;
}

void Server::stop() noexcept {
  stopping_.store(true);
  const std::uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!::write(stop_fd_, &one, sizeof one);
}

void Server::run() {
  int n = opt_.threads > 0 ? opt_.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->epfd = ::epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.events = EPOLLIN;  // level-triggered: every worker wakes to stop
    ev.data.fd = stop_fd_;
    ::epoll_ctl(w->epfd, EPOLL_CTL_ADD, stop_fd_, &ev);
    ev.data.fd = w->wake_fd;
    ::epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev);
    workers_.push_back(std::move(w));
  }
  std::vector<std::thread> ts;
  for (auto& w : workers_) ts.emplace_back([this, wp = w.get()] { worker(*wp); });
  for (auto& t : ts) t.join();
  workers_.clear();
}

void Server::worker(Worker& self) {
  const int epfd = self.epfd;
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  epoll_event evs[64];
  auto close_conn = [&](int fd) {
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
    stats_.curr_connections.fetch_sub(1, std::memory_order_relaxed);
  };
  auto adopt = [&](int c) {
    auto conn = std::make_unique<Conn>();
    conn->fd = c;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = c;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev);
    conns.emplace(c, std::move(conn));
  };
  while (!stopping_.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(epfd, evs, 64, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == stop_fd_) continue;
      if (fd == self.wake_fd) {  // connections another worker accepted for us
        std::uint64_t v;
        (void)!::read(self.wake_fd, &v, sizeof v);
        std::vector<int> got;
        {
          std::lock_guard<std::mutex> l(self.mu);
          got.swap(self.inbox);
        }
        for (int c : got) adopt(c);
        continue;
      }
      if (fd == listen_fd_) {
        for (;;) {
          const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0 && (errno == EMFILE || errno == ENFILE)) {
            // Out of descriptors: the connection would stay queued and the
            // level-triggered listener would wake us forever. Refuse it with
            // the spare descriptor's slot.
            std::lock_guard<std::mutex> l(spare_mu_);
            if (spare_fd_ >= 0) {
              ::close(spare_fd_);
              const int x = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
              if (x >= 0) ::close(x);
              spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
              continue;
            }
          }
          if (c < 0) break;
          if (stats_.curr_connections.load(std::memory_order_relaxed) >= opt_.max_connections) {
            static const char kBusy[] = "SERVER_ERROR Too many open connections\r\n";
            (void)!::write(c, kBusy, sizeof kBusy - 1);
            ::close(c);
            continue;
          }
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          stats_.curr_connections.fetch_add(1, std::memory_order_relaxed);
          stats_.total_connections.fetch_add(1, std::memory_order_relaxed);
          Worker& to = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
          if (&to == &self) {
            adopt(c);
          } else {
            {
              std::lock_guard<std::mutex> l(to.mu);
              to.inbox.push_back(c);
            }
            const std::uint64_t one_event = 1;
            (void)!::write(to.wake_fd, &one_event, sizeof one_event);
          }
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      bool broken = false;
      // Read while the client keeps up with its replies (backpressure: a
      // client that sends without reading is not read until its replies
      // drain), at most kReadPerEvent bytes per event.
      if (!c.eof && !c.close_after_write && c.out.size() < kOutHigh &&
          (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        char buf[kReadChunk];
        for (std::size_t got = 0; got < kReadPerEvent;) {
          const ssize_t r = ::read(fd, buf, sizeof buf);
          if (r > 0) {
            stats_.bytes_read.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
            c.in.append(buf, static_cast<std::size_t>(r));
            got += static_cast<std::size_t>(r);
            if (static_cast<std::size_t>(r) < sizeof buf) break;  // drained (epoll is level-triggered)
            continue;
          }
          if (r < 0 && errno == EINTR) continue;
          if (r == 0) c.eof = true;  // half-closed: answer what came, then close
          else if (errno != EAGAIN) broken = true;
          break;
        }
      }
      // Run the commands and write the replies, as long as replies drain.
      for (;;) {
        if (!c.close_after_write && !process(c)) c.close_after_write = true;
        const std::size_t before = c.out.size();
        while (!c.out.empty()) {
          const ssize_t w = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
          if (w > 0) {
            stats_.bytes_written.fetch_add(static_cast<std::uint64_t>(w), std::memory_order_relaxed);
            c.out.erase(0, static_cast<std::size_t>(w));
            continue;
          }
          if (w < 0 && errno == EINTR) continue;
          if (w < 0 && errno != EAGAIN) broken = true;
          break;
        }
        // More input waited for room in `out`: run it now that some drained.
        if (broken || c.close_after_write || !c.out.empty() || before < kOutHigh || c.in.size() == c.pos) break;
      }
      if (broken || ((c.close_after_write || c.eof) && c.out.empty())) {
        close_conn(fd);
        continue;
      }
      const bool want_in = !c.eof && !c.close_after_write && c.out.size() < kOutHigh;
      const bool want_out = !c.out.empty();
      if (c.want_in != want_in || c.want_out != want_out) {  // change the interest set only when it changes
        c.want_in = want_in;
        c.want_out = want_out;
        epoll_event ev{};
        ev.events = (want_in ? static_cast<unsigned>(EPOLLIN | EPOLLRDHUP) : 0u) |
                    (want_out ? static_cast<unsigned>(EPOLLOUT) : 0u);
        ev.data.fd = fd;
        ::epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
      }
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
  stats_.curr_connections.fetch_sub(conns.size(), std::memory_order_relaxed);
}

bool Server::process(Conn& c) {
  for (;;) {
    if (c.out.size() >= kOutHigh) break;  // backpressure: the rest waits until replies drain
    const std::size_t avail = c.in.size() - c.pos;
    if (c.swallow) {
      const std::size_t k = avail < c.swallow ? avail : c.swallow;
      c.pos += k;
      c.swallow -= k;
      if (c.swallow) break;
      continue;
    }
    if (c.pending) {
      const std::size_t need = std::size_t{c.req.bytes} + 2;
      if (avail < need) break;
      const std::string_view data(c.in.data() + c.pos, c.req.bytes);
      const bool framed = c.in[c.pos + c.req.bytes] == '\r' && c.in[c.pos + c.req.bytes + 1] == '\n';
      c.pending = false;
      if (!framed) {
        c.pos += need;
        c.out += "CLIENT_ERROR bad data chunk\r\n";
        continue;
      }
      Request r;
      parse(c.pending_line, r);  // parsed before: cannot fail
      stats_.cmd_set.fetch_add(1, std::memory_order_relaxed);
      if (r.cmd == Cmd::ms) {
        meta_command(store_, r, data, c.out);
        c.pos += need;
        continue;
      }
      const Status st = store_.store(r.cmd, r.keys[0], r.flags, r.exptime, data, r.cas_unique);
      c.pos += need;
      // As memcached: a set that fails leaves no stale value behind.
      if (r.cmd == Cmd::set && (st == Status::too_large || st == Status::no_memory)) store_.remove(r.keys[0]);
      if (r.cmd == Cmd::cas) {
        (st == Status::stored ? stats_.cas_hits : st == Status::exists ? stats_.cas_badval : stats_.cas_misses)
            .fetch_add(1, std::memory_order_relaxed);
      }
      const char* reply = st == Status::stored       ? "STORED\r\n"
                          : st == Status::not_stored ? "NOT_STORED\r\n"
                          : st == Status::exists     ? "EXISTS\r\n"
                          : st == Status::not_found  ? "NOT_FOUND\r\n"
                          : st == Status::too_large  ? "SERVER_ERROR object too large for cache\r\n"
                                                     : "SERVER_ERROR out of memory storing object\r\n";
      if (!r.noreply) c.out += reply;  // noreply silences errors too, as memcached's out_string does
      continue;
    }
    const std::size_t nl = c.in.find('\n', c.pos);
    if (nl == std::string::npos) {
      // A get line may hold many keys; any other line is short.
      const std::string_view head(c.in.data() + c.pos, avail < 5 ? avail : 5);
      const bool retrieval = head.rfind("get", 0) == 0 || head.rfind("gat", 0) == 0;
      if (avail > (retrieval ? kMaxRetrievalLine : kMaxLine)) {
        c.out += "CLIENT_ERROR line too long\r\n";
        return false;
      }
      break;
    }
    std::string_view line(c.in.data() + c.pos, nl - c.pos);
    c.pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Request r;
    const ParseError e = parse(line, r);
    if (e == ParseError::unknown) {
      c.out += "ERROR\r\n";
      continue;
    }
    if (e == ParseError::bad_delta) {
      c.out += "CLIENT_ERROR invalid numeric delta argument\r\n";
      continue;
    }
    if (e != ParseError::none) {
      c.out += "CLIENT_ERROR bad command line format\r\n";
      continue;
    }
    if (is_storage(r.cmd)) {
      if (std::size_t{r.bytes} + r.keys[0].size() + sizeof(Item) > store_.options().item_max) {
        if (!r.noreply || r.cmd == Cmd::ms) c.out += "SERVER_ERROR object too large for cache\r\n";
        if (r.cmd == Cmd::set) store_.remove(r.keys[0]);  // no stale value behind a failed set
        c.swallow = std::size_t{r.bytes} + 2;
        continue;
      }
      c.req = r;
      c.pending_line.assign(line);
      c.pending = true;
      continue;
    }
    if (r.cmd == Cmd::quit) return false;
    command(c, r);
  }
  // Drop the consumed input.
  if (c.pos > 0) {
    c.in.erase(0, c.pos);
    c.pos = 0;
  }
  return true;
}

void Server::command(Conn& c, const Request& r) {
  std::string& out = c.out;
  auto reply = [&](const char* s) {
    if (!r.noreply) out += s;
  };
  switch (r.cmd) {
    case Cmd::get:
    case Cmd::gets:
    case Cmd::gat:
    case Cmd::gats: {
      const bool with_cas = r.cmd == Cmd::gets || r.cmd == Cmd::gats;
      const bool touch = r.cmd == Cmd::gat || r.cmd == Cmd::gats;
      for (std::string_view k : r.keys) {
        const bool hit = store_.get(k, with_cas, touch, r.exptime, out);
        stats_.cmd_get.fetch_add(1, std::memory_order_relaxed);
        if (touch) stats_.cmd_touch.fetch_add(1, std::memory_order_relaxed);
        (hit ? stats_.get_hits : stats_.get_misses).fetch_add(1, std::memory_order_relaxed);
      }
      out += "END\r\n";
      return;
    }
    case Cmd::del: {
      const Status st = store_.remove(r.keys[0]);
      (st == Status::deleted ? stats_.delete_hits : stats_.delete_misses).fetch_add(1, std::memory_order_relaxed);
      reply(st == Status::deleted ? "DELETED\r\n" : "NOT_FOUND\r\n");
      return;
    }
    case Cmd::incr:
    case Cmd::decr: {
      std::uint64_t v = 0;
      const Status st = store_.delta(r.keys[0], r.cmd == Cmd::incr, r.delta, &v);
      auto& hits = r.cmd == Cmd::incr ? stats_.incr_hits : stats_.decr_hits;
      auto& misses = r.cmd == Cmd::incr ? stats_.incr_misses : stats_.decr_misses;
      (st == Status::stored ? hits : misses).fetch_add(1, std::memory_order_relaxed);
      if (st == Status::stored) {
        if (!r.noreply) out += std::to_string(v) + "\r\n";
      } else if (st == Status::not_found) {
        reply("NOT_FOUND\r\n");
      } else if (st == Status::non_numeric) {
        reply("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
      } else {
        reply("SERVER_ERROR out of memory\r\n");
      }
      return;
    }
    case Cmd::touch: {
      const Status st = store_.touch(r.keys[0], r.exptime);
      stats_.cmd_touch.fetch_add(1, std::memory_order_relaxed);
      (st == Status::touched ? stats_.touch_hits : stats_.touch_misses).fetch_add(1, std::memory_order_relaxed);
      reply(st == Status::touched ? "TOUCHED\r\n" : "NOT_FOUND\r\n");
      return;
    }
    case Cmd::flush_all:
      store_.flush(r.delay);
      stats_.cmd_flush.fetch_add(1, std::memory_order_relaxed);
      reply("OK\r\n");
      return;
    case Cmd::stats:
      stats_reply(out, r.args);
      return;
    case Cmd::mg:
    case Cmd::md:
    case Cmd::ma:
    case Cmd::mn:
      if (r.cmd == Cmd::mg) stats_.cmd_get.fetch_add(1, std::memory_order_relaxed);
      meta_command(store_, r, {}, out);
      return;
    case Cmd::version:
      out += std::string("VERSION ") + kVersion + "\r\n";
      return;
    case Cmd::verbosity:
      reply("OK\r\n");
      return;
    default:
      out += "ERROR\r\n";
      return;
  }
}

void Server::stats_reply(std::string& out, std::string_view args) {
  auto stat = [&](const std::string& k, const std::string& v) { out += "STAT " + k + " " + v + "\r\n"; };
  auto num = [&](const std::string& k, std::uint64_t v) { stat(k, std::to_string(v)); };
  if (args == "reset") {
    stats_.reset();
    store_.reset_stats();
    out += "RESET\r\n";
    return;
  }
  if (!args.empty() && args != "tenants") {
    out += "ERROR\r\n";
    return;
  }
  if (args.empty()) {
    num("pid", static_cast<std::uint64_t>(::getpid()));
    num("uptime", static_cast<std::uint64_t>(Store::now()));
    num("time", static_cast<std::uint64_t>(std::time(nullptr)));
    stat("version", kVersion);
    num("pointer_size", sizeof(void*) * 8);
    num("curr_connections", stats_.curr_connections.load());
    num("total_connections", stats_.total_connections.load());
    num("cmd_get", stats_.cmd_get.load());
    num("cmd_set", stats_.cmd_set.load());
    num("cmd_flush", stats_.cmd_flush.load());
    num("cmd_touch", stats_.cmd_touch.load());
    num("get_hits", stats_.get_hits.load());
    num("get_misses", stats_.get_misses.load());
    num("delete_misses", stats_.delete_misses.load());
    num("delete_hits", stats_.delete_hits.load());
    num("incr_misses", stats_.incr_misses.load());
    num("incr_hits", stats_.incr_hits.load());
    num("decr_misses", stats_.decr_misses.load());
    num("decr_hits", stats_.decr_hits.load());
    num("cas_misses", stats_.cas_misses.load());
    num("cas_hits", stats_.cas_hits.load());
    num("cas_badval", stats_.cas_badval.load());
    num("touch_hits", stats_.touch_hits.load());
    num("touch_misses", stats_.touch_misses.load());
    num("bytes_read", stats_.bytes_read.load());
    num("bytes_written", stats_.bytes_written.load());
    num("limit_maxbytes", store_.options().memory_limit);
    num("threads", static_cast<std::uint64_t>(opt_.threads > 0 ? opt_.threads : std::thread::hardware_concurrency()));
    num("bytes", store_.bytes());
    num("curr_items", store_.curr_items());
    num("total_items", store_.total_items());
    num("evictions", store_.evictions());
    num("memory_current", store_.root().current());
  }
  // Per tenant: items, bytes, evictions, hits, misses and the group's figures.
  for (Tenant* t : store_.tenants()) {
    const std::string p = "tenant:" + t->name + ":";
    num(p + "items", t->st.items.load());
    num(p + "bytes", t->st.bytes.load());
    num(p + "evictions", t->st.evictions.load());
    num(p + "get_hits", t->st.hits.load());
    num(p + "get_misses", t->st.misses.load());
    num(p + "memory_current", t->group.current());
    num(p + "memory_low", t->group.low());
    const std::uint64_t max = t->group.max();
    stat(p + "memory_max", max == UINT64_MAX ? "max" : std::to_string(max));
  }
  out += "END\r\n";
}

std::string Server::handle_for_test(const std::string& input) {
  Conn c;
  c.in = input;
  process(c);
  return c.out;
}

}  // namespace tcache
