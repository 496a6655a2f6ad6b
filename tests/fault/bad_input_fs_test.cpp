// Bad inputs: the text tree (memcg::fs) (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- memcg::fs ------------------------------------------------------------------

// The four limit files: garbage, negative, overflow, empty, wrong suffixes.
TEST(BadInput, FsWriteValues) {
  test::TempGroup t("bi");
  const std::string huge(1 << 20, '9');
  for (const char* file : {"memory.max", "memory.high", "memory.low", "memory.min"}) {
    const std::string f = t->path() + "/" + file;
    fs::write(f, "1M");
    for (const std::string& bad : std::vector<std::string>{"", " ", "\n", "-1", "-0", "+1", "1.5G", "0x10", "1KB", "1Ki", "1kk", "1P", "1E", "MAX", "Max", "max\x01",
          "18446744073709551616", "17179869184G", "16777216T", "99999999999999999999", "1 M", "k", "1\x01",
          "\xff\xfe", "max max", "1 2", std::string("1\0", 2)}) {
      std::error_code ec;
      fs::write(f, bad, ec);
      EXPECT_EQ(ec, errc::invalid_argument) << file << " '" << bad << "'";
      EXPECT_EQ(fs::read(f), "1048576\n") << file;
    }
    std::error_code ec;
    fs::write(f, huge, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << file;
    expect_system_error([&] { fs::write(f, "junk"); }, errc::invalid_argument, file);
    EXPECT_EQ(fs::read(f), "1048576\n") << file;
    // Accepted forms: suffixes in either case, white space around, the
    // largest values (2^64 - 1 is the "max" sentinel itself).
    struct Ok {
      const char* in;
      const char* out;
    };
    for (const Ok& ok : {Ok{"1k", "1024\n"}, Ok{"1K", "1024\n"}, Ok{"2m", "2097152\n"}, Ok{"2M", "2097152\n"},
                         Ok{"1g", "1073741824\n"}, Ok{"1G", "1073741824\n"}, Ok{"1t", "1099511627776\n"},
                         Ok{"1T", "1099511627776\n"}, Ok{" \t3M\n", "3145728\n"}, Ok{"0", "0\n"},
                         Ok{"00000000000000000001", "1\n"}, Ok{"16777215T", "18446742974197923840\n"},
                         Ok{"18446744073709551614", "18446744073709551614\n"}, Ok{"18446744073709551615", "max\n"},
                         Ok{"max\n", "max\n"}}) {
      fs::write(f, ok.in, ec);
      EXPECT_FALSE(ec) << file << " '" << ok.in << "': " << ec.message();
      EXPECT_EQ(fs::read(f), ok.out) << file << " '" << ok.in << "'";
    }
    fs::write(f, std::string(file) == "memory.low" || std::string(file) == "memory.min" ? "0" : "max");
  }
  std::uint64_t v = 7;
  EXPECT_FALSE(fs::parse_bytes("1.0", v));
  EXPECT_FALSE(fs::parse_bytes("", v));
  EXPECT_FALSE(fs::parse_bytes("-1", v));
  EXPECT_FALSE(fs::parse_bytes("18446744073709551616", v));
  EXPECT_FALSE(fs::parse_bytes("17179869184G", v));
  EXPECT_EQ(v, 7u);
}

// memory.reclaim (write-only): a byte count, suffixes allowed, "max" not.
TEST(BadInput, FsReclaimFile) {
  test::TempGroup t("bi");
  const std::string f = t->path() + "/memory.reclaim";
  for (const std::string& bad : std::vector<std::string>{"", " ", "max", "max\n", "-1", "+1", "junk", "1.5M", "0x10", "1KB", "1 M",
                                "18446744073709551615", "18446744073709551616", "17179869184G",
                                "99999999999999999999", std::string(1 << 20, '9')}) {
    std::error_code ec;
    fs::write(f, bad, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << "'" << bad.substr(0, 32) << "'";
  }
  expect_system_error([&] { fs::write(f, "junk"); }, errc::invalid_argument, "throwing form");
  std::error_code ec;
  fs::read(f, ec);
  EXPECT_EQ(ec, errc::permission_denied);
  expect_system_error([&] { fs::read(f); }, errc::permission_denied, "read memory.reclaim");
  fs::write(f, "0", ec);  // nothing asked: done
  EXPECT_FALSE(ec);
  // Valid but more than the (empty) group holds, up to the largest value
  // below the sentinel: EAGAIN, as Group::reclaim.
  for (const char* big : {"4096", "1T", "16777215T", "18446744073709551614"}) {
    fs::write(f, big, ec);
    EXPECT_EQ(ec, errc::resource_unavailable_try_again) << big;
  }
  EXPECT_EQ(t->current(), 0u);
}

// memory.peak: any write (the kernel's peak_write ignores the value) resets
// the peak to the current usage; reads as decimal bytes.
TEST(BadInput, FsPeakFile) {
  test::TempGroup t("bi");
  const std::string f = t->path() + "/memory.peak";
  auto r = Reservation::make(*t, 256 << 10);
  for (const std::string& any : std::vector<std::string>{"junk", "", "-1", "max", "0", "18446744073709551616", std::string("\xff\0", 2)}) {
    {
      auto spike = Reservation::make(*t, 1 << 20);
    }
    EXPECT_GE(t->peak(), (1u << 20) + (256u << 10));
    std::error_code ec;
    fs::write(f, any, ec);
    EXPECT_FALSE(ec) << "'" << any << "': " << ec.message();
    EXPECT_EQ(t->peak(), t->current()) << "'" << any << "'";
    EXPECT_EQ(fs::read(f), std::to_string(t->current()) + "\n");
  }
}

// Files without a writer: EACCES and nothing changes; the list of files is
// checked whole, so that a file added later needs a row here.
TEST(BadInput, FsReadOnlyFiles) {
  test::TempGroup t("bi");
  const std::string p = t->path();
  std::vector<std::string> files;
  for (auto& e : fs::list(p))
    if (e.back() != '/') files.push_back(e);
  EXPECT_EQ(files, (std::vector<std::string>{"cgroup.kill", "cgroup.max.depth", "cgroup.max.descendants", "cgroup.stat",
                                              "memory.current", "memory.events", "memory.events.local",
                                              "memory.high", "memory.kmem.slabinfo", "memory.low", "memory.max",
                                              "memory.min", "memory.oom.group", "memory.peak", "memory.pressure",
                                              "memory.reclaim",
                                              "memory.stat"}));
  for (const char* file : {"cgroup.stat", "memory.current", "memory.events", "memory.events.local",
                           "memory.kmem.slabinfo", "memory.pressure", "memory.stat"}) {
    const std::string f = p + "/" + file;
    const std::string before = fs::read(f);
    for (const char* value : {"0", "", "max", "junk"}) {
      std::error_code ec;
      fs::write(f, value, ec);
      EXPECT_EQ(ec, errc::permission_denied) << file << " '" << value << "'";
    }
    expect_system_error([&] { fs::write(f, "0"); }, errc::permission_denied, file);
    EXPECT_EQ(fs::read(f), before) << file;
  }
}

// cgroup.max.depth / cgroup.max.descendants take "max" or a decimal count:
// suffixes, signs, garbage and overflow are EINVAL and change nothing; a
// removed group's are ENOENT.
TEST(BadInput, FsHierarchyLimits) {
  test::TempGroup t("bihl");
  const std::string p = t->path();
  for (const char* file : {"cgroup.max.depth", "cgroup.max.descendants"}) {
    const std::string f = p + "/" + file;
    EXPECT_EQ(fs::read(f), "max\n") << file;
    for (const char* bad : {"", " ", "-1", "+1", "1K", "1.5", "0x10", "MAX", "maxx", "18446744073709551616", "k",
                            "1 2", "\n\n"}) {
      std::error_code ec;
      fs::write(f, bad, ec);
      EXPECT_EQ(ec, errc::invalid_argument) << file << " '" << bad << "'";
      EXPECT_EQ(fs::read(f), "max\n") << file << " after '" << bad << "'";
    }
    fs::write(f, " 3\n");
    EXPECT_EQ(fs::read(f), "3\n") << file;
    fs::write(f, "max\n");
    EXPECT_EQ(fs::read(f), "max\n") << file;
  }
  Group g = t->create("gone");
  g.remove();
  std::error_code ec;
  g.set_max_depth(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  g.set_max_descendants(1, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  expect_system_error([&] { g.set_max_depth(1); }, errc::no_such_file_or_directory, "set_max_depth");
  Group null;
  null.set_max_descendants(1, ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  EXPECT_EQ(null.max_depth(), 0u);
}

// The throwing forms name the path in what().
TEST(BadInput, FsErrorsNameThePath) {
  for (auto op : {+[] { fs::read("/no/such/group/memory.current"); }, +[] { fs::write("/no/such/group/memory.max", "1"); },
                  +[] { fs::mkdir("/no/such/group/x"); }, +[] { fs::rmdir("/no/such/group"); },
                  +[] { fs::list("/no/such/group"); }}) {
    try {
      op();
      ADD_FAILURE() << "no throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), errc::no_such_file_or_directory);
      EXPECT_NE(std::string(e.what()).find("/no/such/group"), std::string::npos) << e.what();
    }
  }
}

TEST(BadInput, FsPaths) {
  test::TempGroup t("bi");
  const std::string p = t->path();
  std::error_code ec;
  auto expect = [&](auto&& op, std::errc want, const std::string& what) {
    ec.clear();
    op();
    EXPECT_EQ(ec, want) << what << ": " << ec.message();
  };
  expect([&] { fs::read(p + "/memory.nope", ec); }, errc::no_such_file_or_directory, "read unknown file");
  expect([&] { fs::read(p + "/nochild/memory.max", ec); }, errc::no_such_file_or_directory, "read missing group");
  expect([&] { fs::read(p, ec); }, errc::is_a_directory, "read a group");
  expect([&] { fs::read("relative", ec); }, errc::invalid_argument, "relative path");
  expect([&] { fs::read(p + "//memory.max", ec); }, errc::invalid_argument, "double slash");
  expect([&] { fs::read(p + "/", ec); }, errc::invalid_argument, "trailing slash");
  expect([&] { fs::write(p + "/memory.current", "1", ec); }, errc::permission_denied, "write read-only");
  expect([&] { fs::write(p + "/memory.stat", "1", ec); }, errc::permission_denied, "write memory.stat");
  expect([&] { fs::write(p, "1", ec); }, errc::is_a_directory, "write a group");
  expect([&] { fs::list(p + "/memory.max", ec); }, errc::not_a_directory, "list a file");
  expect([&] { fs::rmdir(p + "/memory.max", ec); }, errc::not_a_directory, "rmdir a file");
  expect([&] { fs::rmdir("/", ec); }, errc::invalid_argument, "rmdir /");
  expect([&] { fs::mkdir("/", ec); }, errc::file_exists, "mkdir /");
  expect([&] { fs::mkdir(p, ec); }, errc::file_exists, "mkdir existing");
  expect([&] { fs::mkdir(p + "/memory.x", ec); }, errc::invalid_argument, "mkdir reserved name");
  expect([&] { fs::mkdir(p + "/a/b", ec); }, errc::no_such_file_or_directory, "mkdir under missing parent");
  expect([&] { fs::list("", ec); }, errc::invalid_argument, "list empty path");
  expect([&] { fs::list("relative", ec); }, errc::invalid_argument, "list relative path");
  expect([&] { fs::list(p.substr(1), ec); }, errc::invalid_argument, "list relative path of a group");
  expect([&] { fs::list("//", ec); }, errc::invalid_argument, "list //");
  expect([&] { fs::list(p + "//", ec); }, errc::invalid_argument, "list double slash");
  expect([&] { fs::list(p + "/", ec); }, errc::invalid_argument, "list trailing slash");
  expect([&] { fs::read("", ec); }, errc::invalid_argument, "read empty path");
  expect([&] { fs::read("/", ec); }, errc::is_a_directory, "read /");
  expect([&] { fs::write("", "1", ec); }, errc::invalid_argument, "write empty path");
  expect([&] { fs::mkdir("", ec); }, errc::invalid_argument, "mkdir empty path");
  expect([&] { fs::mkdir(p + "/", ec); }, errc::invalid_argument, "mkdir trailing slash");
  expect([&] { fs::rmdir("", ec); }, errc::invalid_argument, "rmdir empty path");
  expect([&] { fs::list("/memory.max", ec); }, errc::not_a_directory, "list a root file");
  expect_system_error([&] { fs::read(p + "/memory.nope"); }, errc::no_such_file_or_directory, "throwing read");
  expect_system_error([&] { fs::list("relative"); }, errc::invalid_argument, "throwing list");
}

TEST(BadInput, FsRemovedGroup) {
  test::TempGroup t("bi");
  Group g = child_with_limits(*t);
  const std::string p = g.path();
  g.remove();
  std::error_code ec;
  fs::read(p + "/memory.current", ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  for (const char* file : {"memory.max", "memory.high", "memory.low", "memory.min", "memory.peak", "memory.reclaim"}) {
    fs::write(p + "/" + file, "1M", ec);
    EXPECT_EQ(ec, errc::no_such_file_or_directory) << file;
  }
  fs::rmdir(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::list(p, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  fs::mkdir(p + "/c", ec);  // under the removed group
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
  EXPECT_EQ(g.nr_descendants(), 0u);
  for (auto& e : fs::list(t->path())) EXPECT_NE(e, "g/");
  // max and high unchanged; removal itself zeroed min and low (the
  // kernel's css_offline: a removed group claims no protection)
  EXPECT_EQ(g.max(), 8u << 20);
  EXPECT_EQ(g.high(), 4u << 20);
  EXPECT_EQ(g.low(), 0u);
  EXPECT_EQ(g.min(), 0u);
}

}  // namespace
}  // namespace memcg
