// The shape of the public API: the error convention of memcg/types.hpp (every
// operation with a throwing form has an error_code form with the same name,
// noexcept, reporting the same code), Bytes (byte counts that cannot be
// negative; what must not compile is checked by api.PublicApiRejectsAtCompileTime),
// and GroupState (only what a handle can see).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "memcg/memcg.hpp"
#include "../test_util.hpp"

namespace memcg {
namespace {

using std::errc;

// ---- compile-time shape ----

// Bytes: unsigned integers convert without cost; floating point and bool do
// not convert at all. (Signed integers convert only as constants, checked
// when the call is compiled: see tests/api/compile_checks.cpp.)
static_assert(std::is_nothrow_convertible_v<std::uint64_t, Bytes>);
static_assert(std::is_nothrow_convertible_v<std::size_t, Bytes>);
static_assert(std::is_nothrow_convertible_v<unsigned, Bytes>);
static_assert(!std::is_constructible_v<Bytes, double>);
static_assert(!std::is_constructible_v<Bytes, float>);
static_assert(!std::is_constructible_v<Bytes, bool>);
static_assert(std::is_trivially_copyable_v<Bytes> && sizeof(Bytes) == sizeof(std::uint64_t));
static_assert(Bytes(64 << 20).value() == 64u << 20);
static_assert(Bytes(unlimited).value() == UINT64_MAX);

// Every error_code form is noexcept; every throwing form is not.
struct Obj {
  ListLruHook hook;
};
using Lru = ListLru<Obj, &Obj::hook>;
#define EC std::declval<std::error_code&>()
#define G std::declval<Group&>()
#define MEMCG_EC_PAIR(call_ec, call)    \
  static_assert(noexcept(call_ec), #call_ec); \
  static_assert(!noexcept(call), #call)
MEMCG_EC_PAIR(G.create("x", EC), G.create("x"));
MEMCG_EC_PAIR(Group::open("/", EC), Group::open("/"));
MEMCG_EC_PAIR(G.remove(EC), G.remove());
MEMCG_EC_PAIR(G.set_max(1u, EC), G.set_max(1u));
MEMCG_EC_PAIR(G.set_high(1u, EC), G.set_high(1u));
MEMCG_EC_PAIR(G.set_low(1u, EC), G.set_low(1u));
MEMCG_EC_PAIR(G.set_min(1u, EC), G.set_min(1u));
MEMCG_EC_PAIR(G.reclaim(1u, EC), G.reclaim(1u));
MEMCG_EC_PAIR(G.set_oom_handler(OomHandler(), EC), G.set_oom_handler(OomHandler()));
MEMCG_EC_PAIR(Cache::create("x", 8, EC), Cache::create("x", 8));
MEMCG_EC_PAIR(Cache::create("x", 8, CacheOptions{}, EC), Cache::create("x", 8, CacheOptions{}));
MEMCG_EC_PAIR(std::declval<Cache&>().destroy(EC), std::declval<Cache&>().destroy());
MEMCG_EC_PAIR(Reservation::make(G, 1u, EC), Reservation::make(G, 1u));
MEMCG_EC_PAIR(fs::read("/", EC), fs::read("/"));
MEMCG_EC_PAIR(fs::write("/", "", EC), fs::write("/", ""));
MEMCG_EC_PAIR(fs::mkdir("/", EC), fs::mkdir("/"));
MEMCG_EC_PAIR(fs::rmdir("/", EC), fs::rmdir("/"));
MEMCG_EC_PAIR(fs::list("/", EC), fs::list("/"));
// Charge and allocation paths never throw, in either form.
static_assert(noexcept(std::declval<Reservation&>().grow(1u)) && noexcept(std::declval<Reservation&>().grow(1u, EC)) &&
              noexcept(std::declval<Reservation&>().shrink(1u)));
static_assert(noexcept(std::declval<Lru&>().add(std::declval<Obj&>(), G)) &&
              noexcept(std::declval<Lru&>().add(std::declval<Obj&>(), G, EC)));
static_assert(noexcept(std::declval<Cache&>().alloc()) && noexcept(std::declval<Cache&>().alloc(G)) &&
              noexcept(kmalloc(1)) && noexcept(kmalloc(1, G)));
#undef MEMCG_EC_PAIR
#undef G
#undef EC

// ---- runtime: both forms report the same code ----

template <class T>
struct Pair {
  std::function<T(std::error_code&)> with_ec;
  std::function<T()> throwing;
};

// Runs both forms: the error_code form sets `want` (from a stale value) and
// the throwing form throws std::system_error with it.
template <class T>
void expect_same_error(const char* what, errc want, const Pair<T>& p) {
  std::error_code ec = std::make_error_code(errc::interrupted);  // stale: must be overwritten
  (void)p.with_ec(ec);
  EXPECT_EQ(ec, want) << what << " (error_code form): " << ec.message();
  try {
    (void)p.throwing();
    ADD_FAILURE() << what << " (throwing form): no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), want) << what << " (throwing form): " << e.what();
  }
}

TEST(PublicApi, ErrorCodeFormsReportWhatThrowingFormsThrow) {
  test::TempGroup t("api");
  Group removed = t->create("removed");
  removed.remove();
  Group null;
  const OomHandler handler = [](const OomContext&) { return false; };

  expect_same_error<Group>("create on a removed group", errc::no_such_file_or_directory,
                           {[&](auto& ec) { return removed.create("x", ec); }, [&] { return removed.create("x"); }});
  expect_same_error<Group>("create with a bad name", errc::invalid_argument,
                           {[&](auto& ec) { return t->create("a/b", ec); }, [&] { return t->create("a/b"); }});
  expect_same_error<Group>("open of a missing group", errc::no_such_file_or_directory,
                           {[&](auto& ec) { return Group::open("/no-such-api-group", ec); },
                            [&] { return Group::open("/no-such-api-group"); }});
  expect_same_error<int>("remove of the root", errc::invalid_argument,
                         {[&](auto& ec) { Group::root().remove(ec); return 0; },
                          [&] { Group::root().remove(); return 0; }});
  expect_same_error<int>("set_max on a removed group", errc::no_such_file_or_directory,
                         {[&](auto& ec) { removed.set_max(4096, ec); return 0; },
                          [&] { removed.set_max(4096); return 0; }});
  expect_same_error<std::uint64_t>("reclaim on the null handle", errc::invalid_argument,
                                   {[&](auto& ec) { return null.reclaim(4096, ec); },
                                    [&] { return null.reclaim(4096); }});
  expect_same_error<int>("set_oom_handler on a removed group", errc::no_such_file_or_directory,
                         {[&](auto& ec) { removed.set_oom_handler(handler, ec); return 0; },
                          [&] { removed.set_oom_handler(handler); return 0; }});
  expect_same_error<int>("set_oom_handler on the null handle", errc::invalid_argument,
                         {[&](auto& ec) { null.set_oom_handler(handler, ec); return 0; },
                          [&] { null.set_oom_handler(handler); return 0; }});
  expect_same_error<Cache>("Cache::create of size 0", errc::invalid_argument,
                           {[&](auto& ec) { return Cache::create("api-zero", 0, ec); },
                            [&] { return Cache::create("api-zero", 0); }});
  expect_same_error<int>("Cache::destroy of the null cache", errc::invalid_argument,
                         {[&](auto& ec) { Cache().destroy(ec); return 0; }, [&] { Cache().destroy(); return 0; }});
  expect_same_error<bool>("Reservation::make on a removed group", errc::no_such_file_or_directory,
                          {[&](auto& ec) { return bool(Reservation::make(removed, 4096, ec)); },
                           [&] { return bool(Reservation::make(removed, 4096)); }});
  expect_same_error<std::string>("fs::read of a missing file", errc::no_such_file_or_directory,
                                 {[&](auto& ec) { return fs::read("/memory.nope", ec); },
                                  [&] { return fs::read("/memory.nope"); }});
  expect_same_error<int>("fs::write of a negative limit", errc::invalid_argument,
                         {[&](auto& ec) { fs::write(t->path() + "/memory.max", "-1", ec); return 0; },
                          [&] { fs::write(t->path() + "/memory.max", "-1"); return 0; }});
  expect_same_error<std::size_t>("fs::list of a file", errc::not_a_directory,
                                 {[&](auto& ec) { return fs::list("/memory.stat", ec).size(); },
                                  [&] { return fs::list("/memory.stat").size(); }});

  // Success clears a stale code, in every error_code form used above.
  std::error_code ec = std::make_error_code(errc::interrupted);
  Group ok = t->create("ok", ec);
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  ok.set_max(1 << 20, ec);
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  ok.set_oom_handler(handler, ec);
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  ok.set_oom_handler(nullptr, ec);
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  Reservation r = Reservation::make(ok, 4096, ec);
  EXPECT_TRUE(r && !ec);
  ec = std::make_error_code(errc::interrupted);
  EXPECT_FALSE(fs::read(ok.path() + "/memory.max", ec).empty());
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  EXPECT_FALSE(fs::list(ok.path(), ec).empty());
  EXPECT_FALSE(ec);
  ec = std::make_error_code(errc::interrupted);
  Cache c = Cache::create("api-ok", 24, ec);
  EXPECT_TRUE(c && !ec);
  ec = std::make_error_code(errc::interrupted);
  c.destroy(ec);
  EXPECT_FALSE(ec);
  r.reset();
  ok.remove();
}

// Reservation::grow: a charge path (never throws) whose error_code form
// tells the three reasons apart; a failed grow changes nothing.
TEST(PublicApi, ReservationGrowSaysWhy) {
  test::TempGroup t("api");
  std::error_code ec = std::make_error_code(errc::interrupted);
  Reservation empty;
  EXPECT_FALSE(empty.grow(4096, ec));
  EXPECT_EQ(ec, errc::invalid_argument);

  t.get().set_max(64 << 10);
  Reservation r = Reservation::make(*t, 4096);
  ec = std::make_error_code(errc::interrupted);
  EXPECT_TRUE(r.grow(4096, ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(r.size(), 8192u);
  EXPECT_FALSE(r.grow(1 << 20, ec));  // over memory.max
  EXPECT_EQ(ec, errc::not_enough_memory);
  EXPECT_FALSE(r.grow(UINT64_MAX, ec));  // the size would pass 2^64-1
  EXPECT_EQ(ec, errc::not_enough_memory);
  EXPECT_EQ(r.size(), 8192u);

  Group g = *t;
  t.get().remove();
  EXPECT_FALSE(r.grow(4096, ec));
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(r.size(), 8192u);
  EXPECT_EQ(g.current(), 8192u);
  r.reset();
  EXPECT_EQ(g.current(), 0u);
}

// Limits in Bytes: constants and unsigned values go through unchanged;
// `unlimited` is "max"; a negative value never reaches a limit (it does not
// compile, and the text tree refuses it with EINVAL, changing nothing).
TEST(PublicApi, LimitsTakeBytesAndRefuseNegativeText) {
  test::TempGroup t("api");
  Group& g = t.get();
  g.set_max(64 << 20);
  EXPECT_EQ(g.max(), 64u << 20);
  const std::size_t z = 3u << 20;
  g.set_high(z);
  EXPECT_EQ(g.high(), z);
  g.set_low(Bytes(1 << 20));
  EXPECT_EQ(g.low(), 1u << 20);
  g.set_min(0);
  EXPECT_EQ(g.min(), 0u);
  g.set_high(unlimited);
  EXPECT_EQ(fs::read(g.path() + "/memory.high"), "max\n");

  for (const char* file : {"memory.max", "memory.high", "memory.low", "memory.min", "memory.reclaim"}) {
    const std::string path = g.path() + "/" + file;
    const std::string before = std::string(file) == "memory.reclaim" ? "" : fs::read(path);
    for (const char* v : {"-1", "-2", " -1", "-1\n", "-4096", "-1K", "-0", "-max"}) {
      std::error_code ec;
      fs::write(path, v, ec);
      EXPECT_EQ(ec, errc::invalid_argument) << file << " <- \"" << v << "\"";
      if (!before.empty()) {
        EXPECT_EQ(fs::read(path), before) << file << " <- \"" << v << "\"";
      }
    }
  }
  EXPECT_EQ(g.max(), 64u << 20);
  EXPECT_EQ(g.high(), unlimited);
  EXPECT_EQ(g.low(), 1u << 20);
  EXPECT_EQ(g.min(), 0u);
}

// GroupState is what a handle can see: online, then dying for as long as
// any handle (or reservation) keeps the group; none for the null handle.
TEST(PublicApi, GroupStateIsWhatAHandleSees) {
  test::TempGroup t("api");
  Group g = t->create("g");
  EXPECT_EQ(g.state(), GroupState::online);
  Reservation r = Reservation::make(g, 4096);
  g.remove();
  EXPECT_EQ(g.state(), GroupState::dying);
  barrier();  // nothing is released while a handle holds it
  EXPECT_EQ(g.state(), GroupState::dying);
  Group copy = r.group();
  g = Group();
  EXPECT_EQ(copy.state(), GroupState::dying);
  EXPECT_EQ(g.state(), GroupState::none);
  EXPECT_STREQ(to_string(GroupState::none), "none");
  r.reset();
  copy = Group();
  barrier();
}

}  // namespace
}  // namespace memcg
