// tenant-cache's network side: a TCP listener on 127.0.0.1, one epoll
// event loop per worker thread, memcached's text protocol per connection
// (protocol.hpp), the items in a Store. Workers wait on the shared listening
// socket (EPOLLEXCLUSIVE); whoever accepts hands each connection to the
// next worker in turn (its inbox and eventfd), as memcached dispatches
// them, so that one worker never serves every connection of a burst.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store.hpp"

namespace tcache {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 11211;  // 0: any free port (Server::port() tells which)
  int threads = 0;   // 0: one per CPU
  std::size_t max_connections = 4096;
};

struct ServerStats {
  std::atomic<std::uint64_t> curr_connections{0}, total_connections{0};
  std::atomic<std::uint64_t> cmd_get{0}, cmd_set{0}, cmd_touch{0}, cmd_flush{0};
  std::atomic<std::uint64_t> get_hits{0}, get_misses{0}, delete_hits{0}, delete_misses{0};
  std::atomic<std::uint64_t> incr_hits{0}, incr_misses{0}, decr_hits{0}, decr_misses{0};
  std::atomic<std::uint64_t> cas_hits{0}, cas_misses{0}, cas_badval{0}, touch_hits{0}, touch_misses{0};
  std::atomic<std::uint64_t> bytes_read{0}, bytes_written{0};
  /// stats reset: every counter but the connections now open.
  void reset() noexcept {
    for (auto* a : {&total_connections, &cmd_get, &cmd_set, &cmd_touch, &cmd_flush, &get_hits, &get_misses,
                    &delete_hits, &delete_misses, &incr_hits, &incr_misses, &decr_hits, &decr_misses, &cas_hits,
                    &cas_misses, &cas_badval, &touch_hits, &touch_misses, &bytes_read, &bytes_written})
      a->store(0, std::memory_order_relaxed);
  }
};

class Server {
 public:
  Server(Store& store, const ServerOptions& o);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens; false with a message in *err.
  bool listen(std::string* err);
  /// Runs the workers until stop() (blocks).
  void run();
  /// Makes run() return (any thread, or a signal handler: it writes an eventfd).
  void stop() noexcept;
  int port() const { return port_; }
  ServerStats& stats() { return stats_; }

  /// The reply to one complete request, for the tests: `input` holds whole
  /// commands (and their data blocks); returns what the server would send.
  std::string handle_for_test(const std::string& input);

 private:
  struct Conn;
  struct Worker;
  void worker(Worker& w);
  void on_readable(Conn& c);
  bool process(Conn& c);  // false: close the connection
  void command(Conn& c, const Request& r);
  void stats_reply(std::string& out, std::string_view args);

  Store& store_;
  ServerOptions opt_;
  ServerStats stats_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::mutex spare_mu_;
  int spare_fd_ = -1;  // held open, given up to refuse a connection when descriptors run out
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> next_worker_{0};
};

}  // namespace tcache
