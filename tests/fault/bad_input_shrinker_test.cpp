// Bad inputs: shrinkers (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

struct ResShrinker : Shrinker {
  explicit ResShrinker(Group grp, int n) : g(std::move(grp)) {
    for (int i = 0; i < n; ++i) objs.push_back(Reservation::make(g, 4096));
  }
  std::uint64_t count(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(mu);
    if (!(sc.group == g)) return 0;
    ++counts;
    return count_override ? count_override : objs.size();
  }
  std::uint64_t scan(const ShrinkControl& sc) override {
    std::lock_guard<std::mutex> l(mu);
    if (!(sc.group == g)) return kShrinkStop;
    ++scans;
    if (stop_scan) return kShrinkStop;
    const std::size_t n = std::min<std::size_t>(sc.nr_to_scan, objs.size());
    objs.resize(objs.size() - n);  // uncharges n * 4 KiB
    return n * overreport;
  }
  unsigned seeks() const override { return seeks_; }
  std::size_t left() {
    std::lock_guard<std::mutex> l(mu);
    return objs.size();
  }

  Group g;
  std::mutex mu;
  std::vector<Reservation> objs;
  std::uint64_t counts = 0, scans = 0;
  std::uint64_t count_override = 0;  // count() returns this if set
  std::uint64_t overreport = 1;      // scan() returns freed * this
  bool stop_scan = false;            // scan() frees nothing, returns kShrinkStop
  unsigned seeks_ = 2;
};

// The same shrinker registered twice: called once per registration; each
// registration unregisters on its own.
TEST(BadInput, ShrinkerRegisteredTwice) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 0);
  s.count_override = 1;
  s.stop_scan = true;
  ShrinkerRegistration r1 = register_shrinker(s);
  ShrinkerRegistration r2 = register_shrinker(s);
  EXPECT_TRUE(r1);
  EXPECT_TRUE(r2);
  std::error_code ec;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  const std::uint64_t both = s.counts;
  EXPECT_GE(both, 2u);
  EXPECT_EQ(both % 2, 0u);  // every visit calls it once per registration
  r1.reset();
  s.counts = 0;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_GE(s.counts, 1u);
  r2.reset();
  s.counts = 0;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(s.counts, 0u);  // both gone
}

// seeks() == 0 is taken as 1 (no division by zero); reclaim works.
TEST(BadInput, ShrinkerSeeksZero) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 64);
  s.seeks_ = 0;
  quiesce_thread();
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  const std::uint64_t got = t->reclaim(64 << 10, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GE(got, 64u << 10);
  EXPECT_EQ(got, (64 - s.left()) * 4096);
  EXPECT_GT(s.scans, 0u);
}

// scan() claiming more than it was asked to free, or more than it freed:
// reclaim counts the bytes really uncharged, not the claim.
TEST(BadInput, ShrinkerScanOverreports) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 64);
  s.overreport = 1000;
  quiesce_thread();
  const std::uint64_t before = t->current();
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  const std::uint64_t got = t->reclaim(32 << 10, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, (64 - s.left()) * 4096);
  EXPECT_EQ(t->current(), before - got);
  EXPECT_EQ(t->stat().reclaimed, got);
  EXPECT_EQ(t->stat().pgsteal, 64 - s.left()) << "pgsteal counts objects, as pgscan does";
  EXPECT_GE(t->stat().pgscan, t->stat().pgsteal);
  // asked for more than there is: everything, then EAGAIN
  const std::uint64_t rest = t->reclaim(1 << 30, ec);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_EQ(s.left(), 0u);
  EXPECT_EQ(got + rest, 64u * 4096);
}

// count() returning garbage: kShrinkStop is "nothing"; a count far above
// what the shrinker holds costs bounded work (its scans free nothing) and
// reclaim reports the truth.
TEST(BadInput, ShrinkerCountGarbage) {
  test::TempGroup t("bi");
  ResShrinker s(*t, 0);
  ShrinkerRegistration r = register_shrinker(s);
  std::error_code ec;
  s.count_override = kShrinkStop;  // taken as 0: never scanned
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.counts, 0u);
  EXPECT_EQ(s.scans, 0u);
  s.count_override = kShrinkStop - 1;  // huge, with a scan that says stop
  s.stop_scan = true;
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.scans, 0u);
  s.scans = 0;
  s.stop_scan = false;
  s.count_override = 1 << 16;  // 65536 claimed, none there: every scan frees 0
  EXPECT_EQ(t->reclaim(4096, ec), 0u);
  EXPECT_EQ(ec, errc::resource_unavailable_try_again);
  EXPECT_GT(s.scans, 0u);
  // at most 2 * count objects per visit, kShrinkBatch per scan, 13
  // priorities, 17 attempts, twice (the low-reclaim retry)
  EXPECT_LE(s.scans, 2u * 17 * 13 * (2 * (1u << 16) / kShrinkBatch + 1));
  EXPECT_EQ(t->current(), 0u);
}

struct NopShrinker : Shrinker {
  std::uint64_t count(const ShrinkControl&) override { return 0; }
  std::uint64_t scan(const ShrinkControl&) override { return kShrinkStop; }
};

TEST(BadInput, ShrinkerResetTwiceAndStop) {
  NopShrinker s;
  ShrinkerRegistration r = register_shrinker(s);
  EXPECT_TRUE(r);
  r.reset();
  r.reset();
  EXPECT_FALSE(r);
  ShrinkerRegistration empty;
  empty.reset();
}

}  // namespace
}  // namespace memcg
