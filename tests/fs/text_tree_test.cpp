#include "memcg/fs.hpp"

#include <gtest/gtest.h>

#include "../test_util.hpp"
#include "charge/stock.hpp"

namespace memcg {
namespace {

std::errc write_err(const std::string& path, std::string_view v) {
  std::error_code ec;
  fs::write(path, v, ec);
  return static_cast<std::errc>(ec.value());
}

TEST(ParseBytes, AcceptsMaxDecimalAndBinarySuffixes) {
  std::uint64_t v = 0;
  EXPECT_TRUE(fs::parse_bytes("max", v));
  EXPECT_EQ(v, unlimited);
  EXPECT_TRUE(fs::parse_bytes("0", v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(fs::parse_bytes("12345", v));
  EXPECT_EQ(v, 12345u);
  EXPECT_TRUE(fs::parse_bytes("4k", v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(fs::parse_bytes("4K", v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(fs::parse_bytes("3m", v));
  EXPECT_EQ(v, 3u << 20);
  EXPECT_TRUE(fs::parse_bytes("2G", v));
  EXPECT_EQ(v, 2ull << 30);
  EXPECT_TRUE(fs::parse_bytes("1t", v));
  EXPECT_EQ(v, 1ull << 40);
  EXPECT_TRUE(fs::parse_bytes("  100\n", v));
  EXPECT_EQ(v, 100u);
  EXPECT_TRUE(fs::parse_bytes("18446744073709551615", v));
  EXPECT_EQ(v, UINT64_MAX);
}

TEST(ParseBytes, RejectsEverythingElseAndLeavesOutputAlone) {
  for (std::string_view bad :
       {"", " ", "-1", "+1", "1.5", "1KB", "1 K", "K", "0x10", "MAX", "max1", "1e3", "abc",
        "18446744073709551616", "99999999999999999999999", "16777216T", "1\n2", "1p"}) {
    std::uint64_t v = 7;
    EXPECT_FALSE(fs::parse_bytes(bad, v)) << "'" << bad << "'";
    EXPECT_EQ(v, 7u);
  }
}

TEST(TextTree, ReadWriteLimits) {
  test::TempGroup t("fs");
  const std::string p = t->path();
  EXPECT_EQ(fs::read(p + "/memory.max"), "max\n");
  fs::write(p + "/memory.max", "64M\n");
  EXPECT_EQ(fs::read(p + "/memory.max"), std::to_string(64u << 20) + "\n");
  EXPECT_EQ(t->max(), 64u << 20);
  fs::write(p + "/memory.high", "1g");
  fs::write(p + "/memory.low", "4096");
  fs::write(p + "/memory.min", "1K");
  EXPECT_EQ(t->high(), 1ull << 30);
  EXPECT_EQ(t->low(), 4096u);
  EXPECT_EQ(t->min(), 1024u);
  fs::write(p + "/memory.max", "max");
  EXPECT_EQ(t->max(), unlimited);
}

TEST(TextTree, BadValuesAreEinvalAndChangeNothing) {
  test::TempGroup t("fsbad");
  const std::string p = t->path();
  fs::write(p + "/memory.max", "1M");
  for (std::string_view bad : {"", "-5", "lots", "1.5G", "0x10", "1M1"})
    EXPECT_EQ(write_err(p + "/memory.max", bad), std::errc::invalid_argument) << bad;
  EXPECT_EQ(t->max(), 1u << 20);
  EXPECT_THROW(fs::write(p + "/memory.max", "nope"), std::system_error);
}

TEST(TextTree, FileErrors) {
  test::TempGroup t("fserr");
  const std::string p = t->path();
  std::error_code ec;
  EXPECT_EQ(write_err(p + "/memory.current", "1"), std::errc::permission_denied);
  EXPECT_EQ(write_err(p + "/memory.stat", "1"), std::errc::permission_denied);
  EXPECT_EQ(write_err(p, "1"), std::errc::is_a_directory);
  EXPECT_EQ(write_err("/no-such/memory.max", "1"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write_err(p + "/memory.bogus", "1"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write_err("memory.max", "1"), std::errc::invalid_argument);
  fs::read(p, ec);
  EXPECT_EQ(ec, std::errc::is_a_directory);
  fs::read(p + "/nothing", ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  fs::list(p + "/memory.max", ec);
  EXPECT_EQ(ec, std::errc::not_a_directory);
  fs::rmdir(p + "/memory.max", ec);
  EXPECT_EQ(ec, std::errc::not_a_directory);
  EXPECT_THROW(fs::read("/no-such/memory.max"), std::system_error);
}

TEST(TextTree, MkdirRmdirList) {
  test::TempGroup t("fsdir");
  const std::string p = t->path();
  fs::mkdir(p + "/b");
  fs::mkdir(p + "/a");
  fs::mkdir(p + "/a/x");
  auto entries = fs::list(p);
  ASSERT_GE(entries.size(), 3u);
  EXPECT_EQ(entries[0], "a/");
  EXPECT_EQ(entries[1], "b/");
  EXPECT_NE(std::find(entries.begin(), entries.end(), "memory.max"), entries.end());
  EXPECT_NE(std::find(entries.begin(), entries.end(), "cgroup.stat"), entries.end());
  std::error_code ec;
  fs::mkdir(p + "/a", ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  fs::mkdir("/", ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  fs::mkdir(p + "/a/", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  fs::mkdir(p + "/nope/x", ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  fs::rmdir(p + "/a", ec);
  EXPECT_EQ(ec, std::errc::device_or_resource_busy);
  EXPECT_EQ(fs::read(p + "/cgroup.stat"), "nr_descendants 3\nnr_dying_descendants 0\n");
  fs::rmdir(p + "/a/x");
  fs::rmdir(p + "/a");
  fs::rmdir(p + "/b");
  barrier();
  EXPECT_EQ(fs::read(p + "/cgroup.stat"), "nr_descendants 0\nnr_dying_descendants 0\n");
  fs::rmdir("/", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
}

TEST(TextTree, CountersEventsStatAndPeak) {
  test::TempGroup t("fsctr");
  const std::string p = t->path();
  fs::write(p + "/memory.max", "2M");
  {
    Reservation r = Reservation::make(*t, 1 << 20);
    EXPECT_EQ(fs::read(p + "/memory.current"), std::to_string(1 << 20) + "\n");
    std::error_code ec;
    Reservation::make(*t, 2 << 20, ec);
    EXPECT_EQ(ec, std::errc::not_enough_memory);
    // 2 MiB is a costly charge: reclaim and retries (18 max events) but no
    // OOM, as the kernel skips the OOM killer above PAGE_ALLOC_COSTLY_ORDER.
    EXPECT_EQ(fs::read(p + "/memory.events"), "low 0\nhigh 0\nmax 18\noom 0\noom_kill 0\n");
    EXPECT_EQ(fs::read(p + "/memory.events.local"), "low 0\nhigh 0\nmax 18\noom 0\noom_kill 0\n");
    std::string stat = fs::read(p + "/memory.stat");
    EXPECT_NE(stat.find("reservations 1048576\n"), std::string::npos) << stat;
    for (const char* key : {"slab ", "slab_reclaimable ", "slab_unreclaimable ", "kmalloc_large ", "stock ", "pgscan ", "pgsteal ", "reclaimed "})
      EXPECT_NE(stat.find(std::string("\n") + key), std::string::npos) << key;
  }
  detail::drain_own_stock();
  EXPECT_EQ(fs::read(p + "/memory.current"), "0\n");
  EXPECT_EQ(fs::read(p + "/memory.peak"), std::to_string(1 << 20) + "\n");
  fs::write(p + "/memory.peak", "reset");  // any write resets
  EXPECT_EQ(fs::read(p + "/memory.peak"), "0\n");
}

TEST(TextTree, RootFilesExist) {
  EXPECT_FALSE(fs::read("/memory.current").empty());
  EXPECT_FALSE(fs::read("/cgroup.stat").empty());
  auto entries = fs::list("/");
  EXPECT_FALSE(entries.empty());
}

}  // namespace
}  // namespace memcg
