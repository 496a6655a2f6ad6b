// Uses of the public API that must not compile, one per CASE, and CASE 0:
// the valid uses next to them, which must compile (so that a failure of the
// others cannot come from a broken include or flag). Driven by
// check_compile.sh (ctest api.PublicApiRejectsAtCompileTime), which also
// checks that each failure is the expected diagnostic.
#include <memcg/memcg.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>

void uses(memcg::Group& g, memcg::Reservation& r, std::error_code& ec, int n, std::size_t z, std::uint64_t u) {
  (void)g; (void)r; (void)ec; (void)n; (void)z; (void)u;
#if CASE == 0
  g.set_max(64 << 20);             // a non-negative signed constant
  g.set_high(memcg::unlimited);
  g.set_low(z);
  g.set_min(0);
  g.set_max(1024L * 1024, ec);
  g.set_max(std::uint64_t(n));     // a signed variable, converted explicitly
  (void)g.reclaim(u);
  r = memcg::Reservation::make(g, 4096, ec);
  (void)r.grow(4096u);
  r.shrink(u);
  constexpr memcg::Bytes b = 1 << 30;
  static_assert(b.value() == (1u << 30));
#elif CASE == 1
  g.set_max(-1);                   // was "unlimited"
#elif CASE == 2
  g.set_high(-2);                  // was 2^64-2
#elif CASE == 3
  g.set_low(-1, ec);
#elif CASE == 4
  g.set_min(n);                    // a signed variable
#elif CASE == 5
  g.set_max(1.5e9);                // floating point
#elif CASE == 6
  r = memcg::Reservation::make(g, -4096);
#elif CASE == 7
  (void)r.grow(-1);
#elif CASE == 8
  (void)g.reclaim(-1, ec);
#elif CASE == 9
  (void)g.impl();                  // internals are not API
#elif CASE == 10
  (void)memcg::Group::adopt(nullptr);
#elif CASE == 11
  memcg::OomHandler h = [](const memcg::OomContext& c) { return bool(c.killed_); };
#elif CASE == 12
  memcg::ListLruHook hook;
  (void)hook.next_;
#elif CASE == 13
  (void)memcg::runtime_stats();    // process-wide figures: src/testing_stats.hpp
#elif CASE == 14
  (void)memcg::Reservation::try_make(g, 1, ec);  // one name per operation: make
#endif
}
