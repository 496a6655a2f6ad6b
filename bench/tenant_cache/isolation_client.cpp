// The isolation benchmark's client (bench/tenant_cache/isolation.sh): over
// memcached's text protocol, tenant A stores its working set, then tenant B
// writes unique keys while A keeps reading its own; prints A's hit ratio
// during B's flood.
//
//   isolation_client PORT A_ITEMS B_WRITES VALUE_SIZE WRITES_PER_READ
//   (A reads one of its keys, at random, every WRITES_PER_READ writes of B)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace {

int fd = -1;
std::string buf;

void send_all(const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) {
      perror("write");
      std::exit(1);
    }
    off += static_cast<std::size_t>(n);
  }
}

// Reads until `end` has arrived; returns everything up to and including it.
std::string read_until(const std::string& end) {
  for (;;) {
    const std::size_t p = buf.find(end);
    if (p != std::string::npos) {
      std::string r = buf.substr(0, p + end.size());
      buf.erase(0, p + end.size());
      return r;
    }
    char tmp[65536];
    const ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) {
      fprintf(stderr, "isolation_client: the server closed the connection\n");
      std::exit(1);
    }
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

void set(const std::string& key, const std::string& value) {
  send_all("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
  const std::string r = read_until("\r\n");
  if (r != "STORED\r\n" && r.rfind("SERVER_ERROR", 0) != 0) {
    fprintf(stderr, "isolation_client: set %s: %s", key.c_str(), r.c_str());
    std::exit(1);
  }
}

bool get(const std::string& key) {
  send_all("get " + key + "\r\n");
  const std::string r = read_until("END\r\n");
  return r.rfind("VALUE ", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: isolation_client PORT A_ITEMS B_WRITES VALUE_SIZE WRITES_PER_READ\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const long a_items = std::atol(argv[2]), b_writes = std::atol(argv[3]);
  const std::string value(static_cast<std::size_t>(std::atol(argv[4])), 'v');
  const long every = std::atol(argv[5]) > 0 ? std::atol(argv[5]) : 1;
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    perror("connect");
    return 1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (long i = 0; i < a_items; ++i) set("a:k" + std::to_string(i), value);
  long warm = 0;
  for (long i = 0; i < a_items; ++i) warm += get("a:k" + std::to_string(i));
  std::mt19937_64 rng(42);
  long hits = 0, gets = 0;
  for (long i = 0; i < b_writes; ++i) {
    set("b:k" + std::to_string(i), value);
    if (i % every == 0) {
      hits += get("a:k" + std::to_string(rng() % static_cast<std::uint64_t>(a_items)));
      ++gets;
    }
  }
  printf("A before the flood: %ld of %ld items; A's hit ratio during B's flood: %.4f (%ld of %ld gets)\n", warm,
         a_items, static_cast<double>(hits) / static_cast<double>(gets), hits, gets);
  return 0;
}
