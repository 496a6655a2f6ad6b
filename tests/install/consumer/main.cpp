// A downstream program built against an installed memcg (tests/install).
// Exercises the public API only: groups, limits, reservations, the text tree.
#include <memcg/memcg.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

std::uint64_t read_bytes(const std::string& path) {
  std::uint64_t v = 0;
  const std::string text = memcg::fs::read(path);
  if (!memcg::fs::parse_bytes(text, v)) {
    std::fprintf(stderr, "consumer: %s: unparsable \"%s\"\n", path.c_str(), text.c_str());
    ++failures;
  }
  return v;
}

}  // namespace

int main() try {
  constexpr std::uint64_t kMax = 8u << 20;      // 8 MiB
  constexpr std::uint64_t kReserve = 1u << 20;  // 1 MiB: above the stock batch, charged exactly

  memcg::Group g = memcg::Group::root().create("consumer");
  check(g.online(), "new group is online");
  check(g.path() == "/consumer", "group path");
  g.set_max(kMax);
  check(g.max() == kMax, "Group::max after set_max");
  check(read_bytes("/consumer/memory.max") == kMax, "memory.max reads back");
  {
    memcg::Reservation r = memcg::Reservation::make(g, kReserve);
    check(r.size() == kReserve, "reservation size");
    const std::uint64_t current = read_bytes("/consumer/memory.current");
    if (current != kReserve)
      std::fprintf(stderr, "consumer: memory.current = %llu, reserved %llu\n",
                   static_cast<unsigned long long>(current), static_cast<unsigned long long>(kReserve));
    check(current == kReserve, "memory.current equals the reservation");

    std::error_code ec;
    memcg::Reservation over = memcg::Reservation::make(g, kMax, ec);  // kReserve + kMax > kMax
    check(!over && ec == std::errc::not_enough_memory, "memory.max refuses an over-limit reservation");
  }
  check(read_bytes("/consumer/memory.current") == 0, "memory.current is 0 after the reservation ends");
  g.remove();
  check(!g.online(), "group is dying after remove()");
  std::error_code ec;
  memcg::Group::open("/consumer", ec);
  check(ec == std::errc::no_such_file_or_directory, "removed group can no longer be opened");
  g = memcg::Group();
  memcg::barrier();

  if (failures != 0) {
    std::fprintf(stderr, "consumer: %d check(s) failed\n", failures);
    return 1;
  }
  std::puts("consumer ok");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer: exception: %s\n", e.what());
  return 1;
}
