// The control socket (include/memcg/serve.hpp, docs/control-socket.md): a
// process serving its text tree, requests from clients, refusals.
#include "memcg/serve.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"

namespace memcg {
namespace {

std::string temp_socket(const char* tag) {
  return "/tmp/memcg-serve-test-" + std::to_string(::getpid()) + "-" + tag + ".sock";
}

// Serves for the test's scope.
struct Served {
  std::string path;
  explicit Served(const char* tag) : path(temp_socket(tag)) {
    ::unlink(path.c_str());
    serve(path);
  }
  ~Served() { stop_serving(); }
};

// Waits up to 60 s for `pid`; a child still running then is killed (and
// reaped) and the wait fails, so a hang is a failure, not a test timeout.
bool wait_bounded(pid_t pid, int& status) {
  for (int i = 0; i < 6000; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0) return false;
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return false;
}

bool has_child(const nlohmann::json& j, const std::string& path) {
  for (const auto& c : j["children"])
    if (c["path"] == path || has_child(c, path)) return true;
  return false;
}

TEST(Serve, AClientReadsAndChangesTheTreeAndTheProgramSeesIt) {
  Served s("basic");
  EXPECT_EQ(serving_path(), s.path);
  ControlClient c = ControlClient::connect(s.path);
  ControlReply r = c.request("ping");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.payload, "pong\n");
  ASSERT_TRUE(c.request("mkdir /srvA").ok);
  ASSERT_TRUE(c.request("write /srvA/memory.max 64M").ok);
  EXPECT_EQ(fs::read("/srvA/memory.max"), "67108864\n") << "the program sees the client's write";
  fs::write("/srvA/memory.high", "32M");
  r = c.request("read /srvA/memory.high");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.payload, "33554432\n") << "the client sees the program's write";
  r = c.request("list /");
  ASSERT_TRUE(r.ok);
  EXPECT_NE(r.payload.find("srvA/\n"), std::string::npos) << r.payload;
  r = c.request("tree");
  ASSERT_TRUE(r.ok);
  const nlohmann::json j = nlohmann::json::parse(r.payload);
  EXPECT_EQ(j["path"], "/");
  EXPECT_TRUE(has_child(j, "/srvA")) << r.payload.substr(0, 200);
  r = c.request("tree /srvA");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(nlohmann::json::parse(r.payload)["files"]["memory.max"], "67108864\n");
  ASSERT_TRUE(c.request("rmdir /srvA").ok);
  r = c.request("read /srvA/memory.max");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "ENOENT") << r.payload;
  EXPECT_NE(r.payload.find("/srvA/memory.max"), std::string::npos) << "the error names the path: " << r.payload;
}

TEST(Serve, TheSocketIsPrivateAndServedOnceAndRemovedOnStop) {
  std::string path;
  {
    Served s("mode");
    path = s.path;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::error_code ec;
    serve(temp_socket("second"), ec);
    EXPECT_EQ(ec, std::errc::device_or_resource_busy) << "one server per process";
  }
  EXPECT_EQ(serving_path(), "");
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "stop_serving removes the file";
  // An existing file is never replaced.
  const std::string taken = temp_socket("taken");
  FILE* f = std::fopen(taken.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  std::error_code ec;
  serve(taken, ec);
  EXPECT_EQ(ec, std::errc::address_in_use);
  EXPECT_THROW(serve(taken), std::system_error);
  ::unlink(taken.c_str());
  serve(std::string(200, 'x'), ec);
  EXPECT_EQ(ec, std::errc::filename_too_long);
  EXPECT_EQ(serving_path(), "");
}

// A socket file nobody listens on (its process exec'd or died) is replaced;
// one with a listener is not.
TEST(Serve, AStaleSocketFileIsReplacedALiveOneIsNot) {
  const std::string path = temp_socket("stale");
  ::unlink(path.c_str());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  std::error_code ec;
  serve(path, ec);
  EXPECT_EQ(ec, std::errc::address_in_use) << "a listening socket's file was taken over";
  ::close(fd);  // now stale: the file stays
  ASSERT_EQ(::access(path.c_str(), F_OK), 0);
  serve(path, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(ControlClient::connect(path).request("ping").ok);
  stop_serving();
}

TEST(Serve, MalformedRequestsAreRefusedAndChangeNothing) {
  Served s("bad");
  fs::mkdir("/srvB");
  fs::write("/srvB/memory.max", "1M");
  ControlClient c = ControlClient::connect(s.path);
  const std::string tree_before = c.request("tree").payload;
  for (const char* line : {"", "read", "read srvB/memory.max", "read /srvB/memory.max extra", "write /srvB/memory.max",
                           "write srvB/memory.max 2M", "frob /", "mkdir", "list a b", "ping now", "READ /"}) {
    const ControlReply r = c.request(line);
    EXPECT_FALSE(r.ok) << "'" << line << "'";
    EXPECT_EQ(r.error, "EINVAL") << "'" << line << "': " << r.payload;
  }
  // Values the text tree refuses come back with its errno.
  ControlReply r = c.request("write /srvB/memory.max lots");
  EXPECT_EQ(r.error, "EINVAL");
  r = c.request("mkdir /srvB");
  EXPECT_EQ(r.error, "EEXIST");
  r = c.request("rmdir /nope");
  EXPECT_EQ(r.error, "ENOENT");
  EXPECT_EQ(c.request("tree").payload, tree_before) << "refused requests changed the tree";
  EXPECT_EQ(fs::read("/srvB/memory.max"), "1048576\n");
  fs::rmdir("/srvB");
}

TEST(Serve, AnOversizedRequestIsRefusedAndItsConnectionClosed) {
  Served s("big");
  ControlClient c = ControlClient::connect(s.path);
  const ControlReply r = c.request("read /" + std::string(kControlMaxRequest + 100, 'a'));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "E2BIG") << r.payload;
  EXPECT_THROW(c.request("ping"), std::system_error) << "the server closed the connection";
  // Exactly at the limit (the '\n' included) is served.
  ControlClient d = ControlClient::connect(s.path);
  const std::string at_limit = "read /" + std::string(kControlMaxRequest - 7, 'a');
  ASSERT_EQ(at_limit.size() + 1, kControlMaxRequest);
  const ControlReply at = d.request(at_limit);
  EXPECT_FALSE(at.ok);
  EXPECT_NE(at.error, "E2BIG") << "served: the text tree refuses the path, not the server the line";
  EXPECT_TRUE(d.request("ping").ok);
}

// Connects to `path` as uid/gid 65534 in a fork child (system calls only:
// the parent has threads), sends `request` if it is not empty, and reads
// one reply. The child's exit status: 0 the reply is "err EACCES ...",
// 2 it could not change uid, 3 connect failed (5 if with EACCES), 4 any
// other reply.
int child_as_nobody(const std::string& path, const char* request) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) ::_exit(errno == EACCES ? 5 : 3);
    if (*request) (void)!::send(fd, request, std::strlen(request), MSG_NOSIGNAL);
    char buf[256] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    ::_exit(n > 0 && std::strncmp(buf, "err EACCES ", 11) == 0 ? 0 : 4);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// A peer with another uid is refused: the file is 0600 and the process's.
TEST(Serve, APeerWithAnotherUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  Served s("uid");
  EXPECT_EQ(child_as_nobody(s.path, ""), 5) << "connect(2) itself is refused (EACCES)";
}

// The same with the file's mode opened up: the server itself refuses the
// peer (SO_PEERCRED), not only the file's permissions.
TEST(Serve, TheServerRefusesAnotherUidEvenThroughAnOpenFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  Served s("uid2");
  ASSERT_EQ(::chmod(s.path.c_str(), 0666), 0);
  EXPECT_EQ(child_as_nobody(s.path, "mkdir /srvUid\n"), 0) << "2: no uid change, 3: connect failed, 4: no refusal";
  std::error_code ec;
  fs::read("/srvUid/memory.max", ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << "the refused peer's request ran";
}

// Many clients at once while the program creates and removes groups: every
// reply is whole and either ok or ENOENT for a group removed meanwhile.
TEST(Serve, ConcurrentClientsWhileGroupsChurn) {
  Served s("churn");
  Group top = Group::root().create("srvC");
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, served{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      ControlClient c = ControlClient::connect(s.path);
      for (int i = 0; !stop.load() || i < 50; ++i) {
        const std::string g = "/srvC/g" + std::to_string(i % 4);
        const char* reqs[] = {"read /srvC/memory.current", "list /srvC", "tree /srvC", nullptr};
        std::string line = reqs[i % 4] ? reqs[i % 4] : "write " + g + "/memory.high 8M";
        if (t % 2 && i % 5 == 0) line = "read " + g + "/memory.stat";
        const ControlReply r = c.request(line);
        if (!r.ok && r.error != "ENOENT") bad.fetch_add(1);
        served.fetch_add(1);
        if (i > 400) break;
      }
    });
  for (int round = 0; round < 200; ++round) {
    std::error_code ec;
    Group g = top.create("g" + std::to_string(round % 4), ec);
    if (g) g.remove(ec);
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(served.load(), 8 * 50);
  top.remove();
}

// Raw socket I/O, for what ControlClient never does (pipelining, a
// half-close).
int raw_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? fd : (::close(fd), -1);
}
std::string read_until_eof(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

TEST(Serve, PipelinedRequestsAreAnsweredInOrderAndAHalfCloseEndsTheConnection) {
  Served s("pipe");
  const int fd = raw_connect(s.path);
  ASSERT_GE(fd, 0);
  const std::string reqs = "ping\nmkdir /srvP\nread /srvP/memory.max\nrmdir /srvP\nping";  // the last without '\n'
  ASSERT_EQ(::send(fd, reqs.data(), reqs.size(), MSG_NOSIGNAL), static_cast<ssize_t>(reqs.size()));
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);  // nothing more: the server answers, then closes
  const std::string got = read_until_eof(fd);  // returns only once the server closes
  ::close(fd);
  EXPECT_EQ(got, "ok 5\npong\nok 0\nok 4\nmax\nok 0\n") << "a partial last line is dropped at end of stream";
}

TEST(Serve, NamesThatAreNotUtf8AreServedNotFatal) {
  Served s("utf8");
  Group g = Group::root().create("srv\xe9\xff");  // any byte but '/' is a valid name
  ControlClient c = ControlClient::connect(s.path);
  const ControlReply r = c.request("tree /");
  ASSERT_TRUE(r.ok) << r.error << " " << r.payload;
  EXPECT_NE(r.payload.find("/srv\xef\xbf\xbd"), std::string::npos) << "invalid UTF-8 becomes U+FFFD in JSON";
  EXPECT_TRUE(c.request("ping").ok) << "the server lives on";
  g.remove();
}

TEST(Serve, ARequestLineHoldingANewlineIsRefusedByTheClient) {
  Served s("nl");
  ControlClient c = ControlClient::connect(s.path);
  try {
    c.request("write /memory.high 1M\nrmdir /x");
    ADD_FAILURE() << "a line holding a newline was sent";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  EXPECT_TRUE(c.request("ping").ok);
}

TEST(Serve, AForkChildCanServeOnItsOwnPath) {
#if defined(MEMCG_TSAN)
  GTEST_SKIP() << "ThreadSanitizer does not support threads started in a fork child";
#endif
  Served s("forkserve");
  // The parent's server thread must be idle in poll() at fork: one that is
  // still starting may hold a lock of the sanitizer's allocator, which the
  // child then waits on for ever when its own server thread starts (ASan's
  // allocator is not fork-safe). A reply means the thread is past its start.
  ControlClient parent = ControlClient::connect(s.path);
  ASSERT_TRUE(parent.request("ping").ok);
  const std::string child_path = temp_socket("forkchild");
  ::unlink(child_path.c_str());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::error_code ec;
    serve(child_path, ec);  // the parent's server was forgotten at fork
    if (ec) ::_exit(1);
    const bool ok = ControlClient::connect(child_path).request("ping").ok;
    stop_serving();
    ::_exit(ok && ::access(child_path.c_str(), F_OK) != 0 ? 0 : 2);
  }
  int status = 0;
  ASSERT_TRUE(wait_bounded(pid, status)) << "the fork child did not finish within 60 s";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(parent.request("ping").ok) << "the parent still serves";
}

TEST(Serve, AForkChildNeitherServesNorRemovesTheParentsSocket) {
  Served s("fork");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const bool clean = serving_path().empty();  // forgotten at fork (descriptors closed)
    stop_serving();                             // nothing to stop
    ::_exit(clean ? 0 : 1);
  }
  int status = 0;
  ASSERT_TRUE(wait_bounded(pid, status)) << "the fork child did not finish within 60 s";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(::access(s.path.c_str(), F_OK), 0) << "the child removed the parent's socket";
  EXPECT_TRUE(ControlClient::connect(s.path).request("ping").ok);
}

}  // namespace
}  // namespace memcg
