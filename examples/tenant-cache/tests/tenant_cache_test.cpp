// tenant-cache: the protocol parser, the store (tenants, eviction under a
// tenant's max, protection, expiry, cas) and the server's replies to bad
// input, in process; a real socket for a client that leaves mid-value.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "protocol.hpp"
#include "server.hpp"
#include "store.hpp"

namespace tcache {
namespace {

StoreOptions small(const std::string& root) {
  StoreOptions o;
  o.root_name = root;
  o.memory_limit = std::uint64_t{256} << 20;
  return o;
}

TEST(Protocol, ParsesEveryCommandAndRefusesMalformedOnes) {
  Request r;
  ASSERT_EQ(parse("set k 5 0 3", r), ParseError::none);
  EXPECT_EQ(r.cmd, Cmd::set);
  EXPECT_EQ(r.keys[0], "k");
  EXPECT_EQ(r.flags, 5u);
  EXPECT_EQ(r.bytes, 3u);
  ASSERT_EQ(parse("cas k 0 0 3 77 noreply", r), ParseError::none);
  EXPECT_EQ(r.cas_unique, 77u);
  EXPECT_TRUE(r.noreply);
  ASSERT_EQ(parse("get a b  c", r), ParseError::none);
  EXPECT_EQ(r.keys.size(), 3u);
  ASSERT_EQ(parse("gat 10 a b", r), ParseError::none);
  EXPECT_EQ(r.exptime, 10);
  EXPECT_EQ(r.keys.size(), 2u);
  ASSERT_EQ(parse("incr k 18446744073709551615", r), ParseError::none);
  EXPECT_EQ(r.delta, UINT64_MAX);
  ASSERT_EQ(parse("flush_all 5 noreply", r), ParseError::none);
  EXPECT_EQ(r.delay, 5);
  EXPECT_EQ(parse("bogus", r), ParseError::unknown);
  EXPECT_EQ(parse("get", r), ParseError::unknown);
  EXPECT_EQ(parse("set k 0 0", r), ParseError::bad_format);
  EXPECT_EQ(parse("set k 0 0 -1", r), ParseError::bad_format);
  EXPECT_EQ(parse("set k x 0 1", r), ParseError::bad_format);
  EXPECT_EQ(parse("set k 0 0 1 extra", r), ParseError::bad_format);
  EXPECT_EQ(parse("incr k -1", r), ParseError::bad_delta);
  EXPECT_EQ(parse("incr k 18446744073709551616", r), ParseError::bad_delta);
  EXPECT_EQ(parse("get " + std::string(251, 'k'), r), ParseError::key_too_long);
  EXPECT_EQ(parse("set " + std::string(251, 'k') + " 0 0 1", r), ParseError::key_too_long);
}

TEST(Store, KeysMapToTenantsByPrefix) {
  Store s(small("tc_map"));
  EXPECT_EQ(s.tenant_of("acme:user42")->name, "acme");
  EXPECT_EQ(s.tenant_of("acme:other"), s.tenant_of("acme:user42"));
  EXPECT_EQ(s.tenant_of("nodelimiter")->name, "default");
  EXPECT_EQ(s.tenant_of("bad/name:x")->name, "default");  // not a valid group name
  EXPECT_EQ(s.tenant_of("acme:x")->group.path(), "/tc_map/acme");
  ASSERT_EQ(s.store(Cmd::set, "acme:a", 0, 0, "hello", 0), Status::stored);
  EXPECT_GT(s.tenant_of("acme:a")->group.current(), 0u);  // the item is charged to its tenant
  EXPECT_EQ(s.tenant_of("default")->group.current(), 0u);
}

TEST(Store, StorageSemanticsFollowMemcached) {
  Store s(small("tc_sem"));
  std::string out;
  EXPECT_EQ(s.store(Cmd::add, "k", 1, 0, "v1", 0), Status::stored);
  EXPECT_EQ(s.store(Cmd::add, "k", 1, 0, "v2", 0), Status::not_stored);
  EXPECT_EQ(s.store(Cmd::replace, "missing", 0, 0, "x", 0), Status::not_stored);
  EXPECT_EQ(s.store(Cmd::append, "k", 0, 0, "+a", 0), Status::stored);
  EXPECT_EQ(s.store(Cmd::prepend, "k", 0, 0, "p+", 0), Status::stored);
  ASSERT_TRUE(s.get("k", true, false, 0, out));
  const std::string cas = out.substr(out.find("6 ") + 2, out.find("\r\n") - out.find("6 ") - 2);
  EXPECT_EQ(out.rfind("VALUE k 1 6 ", 0), 0u) << out;  // flags kept through append/prepend
  EXPECT_NE(out.find("\r\np+v1+a\r\n"), std::string::npos);
  EXPECT_EQ(s.store(Cmd::cas, "k", 0, 0, "new", std::stoull(cas) + 1), Status::exists);
  EXPECT_EQ(s.store(Cmd::cas, "k", 0, 0, "new", std::stoull(cas)), Status::stored);
  EXPECT_EQ(s.store(Cmd::cas, "nothere", 0, 0, "new", 1), Status::not_found);
  std::uint64_t v = 0;
  EXPECT_EQ(s.delta("k", true, 1, &v), Status::non_numeric);
  ASSERT_EQ(s.store(Cmd::set, "n", 0, 0, "18446744073709551615", 0), Status::stored);
  EXPECT_EQ(s.delta("n", true, 2, &v), Status::stored);
  EXPECT_EQ(v, 1u);  // incr wraps at 2^64
  EXPECT_EQ(s.delta("n", false, 5, &v), Status::stored);
  EXPECT_EQ(v, 0u);  // decr stops at 0
  EXPECT_EQ(s.delta("absent", true, 1, &v), Status::not_found);
  EXPECT_EQ(s.remove("n"), Status::deleted);
  EXPECT_EQ(s.remove("n"), Status::not_found);
}

TEST(Store, ExpiredAndFlushedItemsAreGone) {
  Store s(small("tc_exp"));
  std::string out;
  ASSERT_EQ(s.store(Cmd::set, "past", 0, -1, "x", 0), Status::stored);  // negative: expired at once
  EXPECT_FALSE(s.get("past", false, false, 0, out));
  ASSERT_EQ(s.store(Cmd::set, "unix", 0, 1000000000, "x", 0), Status::stored);  // a unix time in 2001
  EXPECT_FALSE(s.get("unix", false, false, 0, out));
  ASSERT_EQ(s.store(Cmd::set, "later", 0, 3600, "x", 0), Status::stored);
  EXPECT_TRUE(s.get("later", false, false, 0, out));
  EXPECT_EQ(s.touch("later", -1), Status::touched);
  EXPECT_FALSE(s.get("later", false, false, 0, out));
  ASSERT_EQ(s.store(Cmd::set, "a", 0, 0, "x", 0), Status::stored);
  s.flush(0);
  EXPECT_FALSE(s.get("a", false, false, 0, out));
  EXPECT_EQ(s.store(Cmd::add, "a", 0, 0, "y", 0), Status::stored);  // stored after the flush: live
  EXPECT_TRUE(s.get("a", false, false, 0, out));
  EXPECT_EQ(s.curr_items(), 1u);
}

TEST(Store, ManyItemsGrowTheTableAndStayReachable) {
  Store s(small("tc_many"));
  const int n = 300000;  // more than twice the initial buckets (64 stripes x 1024)
  for (int i = 0; i < n; ++i) ASSERT_EQ(s.store(Cmd::set, "k" + std::to_string(i), 0, 0, "v", 0), Status::stored);
  std::string out;
  int hits = 0;
  for (int i = 0; i < n; ++i) hits += s.get("k" + std::to_string(i), false, false, 0, out);
  EXPECT_EQ(hits, n);
  EXPECT_EQ(s.curr_items(), static_cast<std::uint64_t>(n));
}

// Limits change at run time through the text tree (what --socket serves).
TEST(Store, ATenantsLimitWrittenThroughTheTextTreeTakesEffect) {
  Store s(small("tc_fs"));
  Tenant* t = s.tenant_of("acme:x");
  memcg::fs::write("/tc_fs/acme/memory.max", "512K");
  EXPECT_EQ(t->group.max(), 512u << 10);
  const std::string value(1000, 'v');
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(s.store(Cmd::set, "acme:k" + std::to_string(i), 0, 0, value, 0), Status::stored);
  EXPECT_LE(t->group.current(), 512u << 10);
  EXPECT_GT(t->st.evictions.load(), 1000u);
  EXPECT_NE(memcg::fs::read("/tc_fs/acme/memory.events").find("max "), std::string::npos);
}

// A tenant at its max evicts its own least recently used items; items read
// since get a second chance; another tenant's items are untouched.
TEST(Store, ATenantAtItsMaxEvictsItsOwnLruItems) {
  StoreOptions o = small("tc_evict");
  o.tenant_max = std::uint64_t{1} << 20;
  Store s(o);
  const std::string value(1000, 'v');
  ASSERT_EQ(s.store(Cmd::set, "other:keep", 0, 0, value, 0), Status::stored);
  ASSERT_EQ(s.store(Cmd::set, "a:hot", 0, 0, value, 0), Status::stored);
  std::string out;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(s.store(Cmd::set, "a:k" + std::to_string(i), 0, 0, value, 0), Status::stored) << i;
    if (i % 50 == 0) ASSERT_TRUE(s.get("a:hot", false, false, 0, out)) << i;  // kept hot
  }
  Tenant* a = s.tenant_of("a:x");
  EXPECT_LE(a->group.current(), o.tenant_max);
  EXPECT_GT(a->st.evictions.load(), 3000u);
  EXPECT_TRUE(s.get("a:hot", false, false, 0, out));
  EXPECT_TRUE(s.get("a:k4999", false, false, 0, out));  // the newest stay
  EXPECT_FALSE(s.get("a:k0", false, false, 0, out));    // the oldest went
  EXPECT_TRUE(s.get("other:keep", false, false, 0, out));
  EXPECT_EQ(s.tenant_of("other:x")->st.evictions.load(), 0u);
}

// Tenant A is protected (memory.low above its working set); B floods the
// shared limit: reclaim takes B's items, not A's.
TEST(Store, ProtectionKeepsAProtectedTenantsItemsUnderAnothersFlood) {
  StoreOptions o = small("tc_prot");
  o.memory_limit = std::uint64_t{4} << 20;
  Store s(o);
  Tenant* a = s.tenant_of("a:x");
  a->group.set_low(std::uint64_t{2} << 20);
  const std::string value(1000, 'v');
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(s.store(Cmd::set, "a:k" + std::to_string(i), 0, 0, value, 0), Status::stored);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(s.store(Cmd::set, "b:k" + std::to_string(i), 0, 0, value, 0), Status::stored) << i;
  std::string out;
  int hits = 0;
  for (int i = 0; i < 1000; ++i) hits += s.get("a:k" + std::to_string(i), false, false, 0, out);
  EXPECT_EQ(hits, 1000);
  EXPECT_EQ(a->st.evictions.load(), 0u);
  EXPECT_GT(s.tenant_of("b:x")->st.evictions.load(), 10000u);
}

std::string run(Server& srv, const std::string& in) { return srv.handle_for_test(in); }

TEST(Server, BadInputGetsMemcachedsErrorLinesAndChangesNothing) {
  StoreOptions o = small("tc_bad");
  o.item_max = 4096;
  Store s(o);
  Server srv(s, ServerOptions{});
  EXPECT_EQ(run(srv, "bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(run(srv, "set k 0 0 notanumber\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(run(srv, "set k 0 0 3\r\nabcde\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_EQ(run(srv, "set k 0 0 8000\r\n" + std::string(8000, 'x') + "\r\nget k\r\n"),
            "SERVER_ERROR object too large for cache\r\nEND\r\n");  // the value is skipped, not parsed
  EXPECT_EQ(run(srv, "incr k abc\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(run(srv, "get " + std::string(300, 'k') + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.curr_items(), 0u);
  EXPECT_EQ(run(srv, "set k 0 0 2 noreply\r\nhi\r\nget k\r\n"), "VALUE k 0 2\r\nhi\r\nEND\r\n");
  EXPECT_EQ(run(srv, "set n 0 0 1\r\n5\r\nincr n 10\r\ndecr n 100\r\n"), "STORED\r\n15\r\n0\r\n");
  EXPECT_EQ(run(srv, "verbosity 1\r\nversion\r\n").substr(0, 12), "OK\r\nVERSION ");
  const std::string st = run(srv, "stats\r\n");
  EXPECT_NE(st.find("STAT curr_items 2\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT tenant:default:items 2\r\n"), std::string::npos);
  EXPECT_EQ(st.substr(st.size() - 5), "END\r\n");
}

// The expected replies are memcached 1.6.18's to the same requests (checked
// against the Debian package), except the unsupported flags (E here).
TEST(Server, MetaCommandsFollowMemcached16) {
  Store s(small("tc_meta"));
  Server srv(s, ServerOptions{});
  EXPECT_EQ(run(srv, "mn\r\n"), "MN\r\n");
  EXPECT_EQ(run(srv, "mg nokey v\r\n"), "EN\r\n");
  EXPECT_EQ(run(srv, "mg nokey v q\r\nmn\r\n"), "MN\r\n");  // q: no EN
  EXPECT_EQ(run(srv, "ms k 5 F7 T0\r\nhello\r\n"), "HD\r\n");
  EXPECT_EQ(run(srv, "mg k v f s k Oxyz\r\n"), "VA 5 f7 s5 kk Oxyz\r\nhello\r\n");
  EXPECT_EQ(run(srv, "mg k h\r\n"), "HD h1\r\n");  // read before by the mg above
  EXPECT_EQ(run(srv, "mg k t\r\n"), "HD t-1\r\n");  // no expiry
  const std::string c = run(srv, "mg k c\r\n");
  ASSERT_EQ(c.rfind("HD c", 0), 0u);
  const std::string cas = c.substr(4, c.size() - 6);
  EXPECT_EQ(run(srv, "ms k 3 C" + std::to_string(std::stoull(cas) + 1) + "\r\nnew\r\n"), "EX\r\n");
  EXPECT_EQ(run(srv, "ms k 3 C" + cas + "\r\nnew\r\n"), "HD\r\n");
  EXPECT_EQ(run(srv, "ms k 2 MA\r\n+a\r\nms k 2 MP\r\np+\r\nmg k v\r\n"), "HD\r\nHD\r\nVA 7\r\np+new+a\r\n");
  EXPECT_EQ(run(srv, "ms k 1 ME\r\nx\r\n"), "NS\r\n");  // add: exists
  EXPECT_EQ(run(srv, "ms other 1 MR\r\nx\r\n"), "NS\r\n");  // replace: absent
  EXPECT_EQ(run(srv, "ms k 1 q\r\nz\r\nmn\r\n"), "MN\r\n");  // q: no HD
  EXPECT_EQ(run(srv, "mg k T100 t v\r\n"), "VA 1 t100\r\nz\r\n");
  EXPECT_EQ(run(srv, "md k q\r\nmd k\r\nmg k v\r\n"), "NF\r\nEN\r\n");
  EXPECT_EQ(run(srv, "ma cnt\r\n"), "NF\r\n");
  EXPECT_EQ(run(srv, "ma cnt N0 J10 v\r\n"), "VA 2\r\n10\r\n");  // created with the initial value
  EXPECT_EQ(run(srv, "ma cnt D5 v\r\nma cnt MD D100 v\r\nma cnt\r\n"), "VA 2\r\n15\r\nVA 1\r\n0\r\nHD\r\n");
  EXPECT_EQ(run(srv, "mg !!!! b v\r\n"), "CLIENT_ERROR error decoding key\r\n");
  EXPECT_EQ(run(srv, "ms Zm9v 3 b\r\nbar\r\nmg foo v\r\nmg Zm9v b k v\r\n"), "HD\r\nVA 3\r\nbar\r\nVA 3 kZm9v b\r\nbar\r\n");
  EXPECT_EQ(run(srv, "md Zm9v b q\r\nmg foo v\r\n"), "EN\r\n");
  EXPECT_EQ(run(srv, "mg k E5\r\n"), "CLIENT_ERROR invalid flag\r\n");  // not supported
  EXPECT_EQ(run(srv, "ms k notanumber\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(run(srv, "ms k 2 Fx\r\nab\r\n"), "CLIENT_ERROR bad command line format\r\n");  // data skipped
}

TEST(Server, ReviewedEdgesBehaveAsMemcached) {
  StoreOptions o = small("tc_edges");
  o.item_max = 4096;
  Store s(o);
  Server srv(s, ServerOptions{});
  // noreply silences errors too
  EXPECT_EQ(run(srv, "set k 0 0 8000 noreply\r\n" + std::string(8000, 'x') + "\r\nincr k x noreply\r\nmn\r\n"),
            "CLIENT_ERROR invalid numeric delta argument\r\nMN\r\n");  // a bad line is still an error
  // a set that fails leaves no stale value
  EXPECT_EQ(run(srv, "set k 0 0 3\r\nold\r\nset k 0 0 8000\r\n" + std::string(8000, 'x') + "\r\nget k\r\n"),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n");
  // a get line may be longer than other lines
  std::string many = "get";
  for (int i = 0; i < 100; ++i) many += " key-" + std::string(40, 'a') + std::to_string(i);
  ASSERT_GT(many.size(), 2048u);
  EXPECT_EQ(run(srv, many + "\r\n"), "END\r\n");
  EXPECT_EQ(run(srv, "set " + std::string(3000, 'k') + " 0 0 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  // stats reset
  EXPECT_EQ(run(srv, "stats reset\r\n"), "RESET\r\n");
  EXPECT_NE(run(srv, "stats\r\n").find("STAT get_misses 0\r\n"), std::string::npos);
}

// A delayed flush_all takes what was stored before it came due, not what
// is stored after; a later flush_all replaces it.
TEST(Store, ADelayedFlushTakesOnlyWhatCameBeforeIt) {
  Store s(small("tc_dflush"));
  std::string out;
  ASSERT_EQ(s.store(Cmd::set, "before", 0, 0, "x", 0), Status::stored);
  const std::int64_t due = Store::expiry(1);
  s.flush(1);
  EXPECT_TRUE(s.get("before", false, false, 0, out));  // not yet due
  while (Store::now() <= due) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(s.store(Cmd::set, "after", 0, 0, "y", 0), Status::stored);  // stored after it came due
  EXPECT_FALSE(s.get("before", false, false, 0, out));
  EXPECT_TRUE(s.get("after", false, false, 0, out));
  s.flush(3600);
  s.flush(0);  // replaces the pending one, and takes everything now
  ASSERT_EQ(s.store(Cmd::set, "later", 0, 0, "z", 0), Status::stored);
  EXPECT_FALSE(s.get("after", false, false, 0, out));
  EXPECT_TRUE(s.get("later", false, false, 0, out));
}

// A server on a free port, served by one worker thread until destroyed.
class LiveServer {
 public:
  explicit LiveServer(Store& s) : srv_(s, options()) {
    std::string err;
    ok_ = srv_.listen(&err);
    EXPECT_TRUE(ok_) << err;
    if (ok_) thread_ = std::thread([this] { srv_.run(); });
  }
  ~LiveServer() {
    srv_.stop();
    if (thread_.joinable()) thread_.join();
  }
  /// A connected client socket.
  int connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(srv_.port()));
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

 private:
  static ServerOptions options() {
    ServerOptions so;
    so.port = 0;
    so.threads = 1;
    return so;
  }
  Server srv_;
  bool ok_ = false;
  std::thread thread_;
};

// A client that sends half a value and disconnects: nothing is stored and
// the server goes on serving.
TEST(Server, AClientThatLeavesMidValueStoresNothing) {
  Store s(small("tc_sock"));
  {
    LiveServer live(s);
    int fd = live.connect();
    const std::string half = "set half 0 0 100\r\n" + std::string(50, 'x');
    ASSERT_EQ(::write(fd, half.data(), half.size()), static_cast<ssize_t>(half.size()));
    ::close(fd);
    fd = live.connect();
    const std::string q = "get half\r\n";
    ASSERT_EQ(::write(fd, q.data(), q.size()), static_cast<ssize_t>(q.size()));
    char buf[64] = {};
    std::string got;
    while (got.find("END\r\n") == std::string::npos) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      ASSERT_GT(n, 0);
      got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(got, "END\r\n");
    ::close(fd);
  }
  EXPECT_EQ(s.curr_items(), 0u);
}


// A client that sends a request and half-closes gets the whole reply.
TEST(Server, AHalfClosedClientGetsItsWholeReply) {
  Store s(small("tc_half"));
  ASSERT_EQ(s.store(Cmd::set, "big", 0, 0, std::string(200000, 'b'), 0), Status::stored);
  std::string got;
  {
    LiveServer live(s);
    const int fd = live.connect();
    const std::string q = "get big\r\nget big\r\n";
    ASSERT_EQ(::write(fd, q.data(), q.size()), static_cast<ssize_t>(q.size()));
    ::shutdown(fd, SHUT_WR);
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  }
  const std::string one = "VALUE big 0 200000\r\n" + std::string(200000, 'b') + "\r\nEND\r\n";
  EXPECT_EQ(got.size(), 2 * one.size());
  EXPECT_EQ(got, one + one);
}

}  // namespace
}  // namespace tcache
