// Bad inputs: Reservation (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- Reservation --------------------------------------------------------------

TEST(BadInput, ReservationNullAndRemovedGroup) {
  std::error_code ec;
  auto r = Reservation::try_make(Group(), 10, ec);
  EXPECT_EQ(ec, errc::invalid_argument);
  EXPECT_FALSE(r);
  EXPECT_THROW(Reservation::make(Group(), 10), std::system_error);
  test::TempGroup t("bi");
  Group g = t->create("g");
  g.remove();
  r = Reservation::try_make(g, 10, ec);
  EXPECT_EQ(ec, errc::no_such_file_or_directory);
}

TEST(BadInput, ReservationOverflow) {
  test::TempGroup t("bi");
  std::error_code ec;
  // Bigger than anything: ENOMEM (the root's usage would overflow), no change.
  auto r = Reservation::try_make(*t, UINT64_MAX, ec);
  EXPECT_EQ(ec, errc::not_enough_memory);
  EXPECT_EQ(t->current(), 0u);
  auto r2 = Reservation::make(*t, 4096);
  EXPECT_FALSE(r2.grow(UINT64_MAX));
  EXPECT_FALSE(r2.grow(UINT64_MAX - 4096));
  EXPECT_EQ(r2.size(), 4096u);
  r2.shrink(UINT64_MAX);  // more than it holds: everything
  EXPECT_EQ(r2.size(), 0u);
  r2.shrink(1);
  r2.reset();
  r2.reset();
  Reservation empty;
  EXPECT_FALSE(empty.grow(1));  // an empty (moved-from / default) reservation
  empty.shrink(1);
  empty.reset();
  quiesce_thread();
  EXPECT_EQ(t->current(), 0u);
}

TEST(BadInput, ReservationGrowAfterRemove) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  auto r = Reservation::make(g, 100);
  g.remove();
  EXPECT_FALSE(r.grow(1));
  EXPECT_EQ(r.size(), 100u);
  r.shrink(50);
  EXPECT_EQ(r.size(), 50u);
}

}  // namespace
}  // namespace memcg
