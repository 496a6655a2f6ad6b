// Reservations and the kmem pin protocol: one reference for all of a
// group's reservations, dropped by the last uncharge after removal.
#include "memcg/reservation.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "../test_util.hpp"
#include "memcg/memcg.hpp"
#include "charge/stock.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"

namespace memcg {
namespace {

constexpr std::uint64_t kBig = 1 << 20;  // above the stock batch: charged exactly

std::uint64_t refs(const Group& g) { return detail::Access::impl(g)->ref.load() & detail::GroupImpl::kCountMask; }

TEST(Reservation, ChargesAndUnchargesHierarchically) {
  test::TempGroup t("res");
  Group a = t->create("a");
  {
    Reservation r = Reservation::make(a, kBig);
    EXPECT_EQ(r.size(), kBig);
    EXPECT_EQ(a.current(), kBig);
    EXPECT_EQ(t->current(), kBig);
    EXPECT_EQ(t->stat().reservations, kBig);
    EXPECT_TRUE(r.grow(kBig));
    EXPECT_EQ(t->current(), 2 * kBig);
    r.shrink(kBig / 2);
    EXPECT_EQ(r.size(), kBig + kBig / 2);
    EXPECT_EQ(a.stat().reservations, kBig + kBig / 2);
    EXPECT_EQ(r.group(), a);
  }
  detail::drain_own_stock();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(t->stat().reservations, 0u);
  a.remove();
}

TEST(Reservation, LimitRefusesAndNothingChanges) {
  test::TempGroup t("reslim");
  t.get().set_max(kBig);
  std::error_code ec;
  Reservation r = Reservation::make(*t, kBig + 1, ec);
  EXPECT_FALSE(r);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  EXPECT_EQ(t->current(), 0u);
  Reservation ok = Reservation::make(*t, kBig);
  EXPECT_FALSE(ok.grow(1));
  EXPECT_EQ(ok.size(), kBig);
  // A refused charge throws ChargeRefused (a std::bad_alloc) naming the
  // group, its limit, its usage and the request.
  try {
    Reservation::make(*t, 1);
    ADD_FAILURE() << "a refused charge did not throw";
  } catch (const ChargeRefused& e) {
    EXPECT_EQ(e.group(), t->path());
    EXPECT_EQ(e.limit(), kBig);
    EXPECT_EQ(e.usage(), kBig);
    EXPECT_EQ(e.requested(), 1u);
    EXPECT_NE(std::string(e.what()).find(t->path()), std::string::npos) << e.what();
  }
  EXPECT_THROW(Reservation::make(*t, 1), std::bad_alloc);
  EXPECT_EQ(Reservation::make(Group(), 1, ec).size(), 0u);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_THROW(Reservation::make(Group(), 1), std::system_error) << "not a limit: EINVAL as before";
}

// The refusing group is the ancestor whose limit failed, not the group
// charged; Allocator and MemoryResource throw the same.
TEST(Reservation, ChargeRefusedNamesTheAncestorWhoseLimitFailed) {
  test::TempGroup t("resanc");
  t.get().set_max(kBig);
  Group child = t->create("child");
  Reservation held = Reservation::make(child, kBig);
  try {
    Reservation::make(child, 4096);
    ADD_FAILURE() << "no throw";
  } catch (const ChargeRefused& e) {
    EXPECT_EQ(e.group(), t->path()) << e.what();
    EXPECT_EQ(e.requested(), 4096u);
  }
  Allocator<char> a(child);
  try {
    (void)a.allocate(100);
    ADD_FAILURE() << "no throw";
  } catch (const ChargeRefused& e) {
    EXPECT_EQ(e.group(), t->path()) << e.what();
    EXPECT_EQ(e.limit(), kBig);
  }
  MemoryResource mr(child);
  EXPECT_THROW((void)mr.allocate(100), ChargeRefused);
  held.reset();
  child.remove();
}

TEST(Reservation, RemovedGroupRefusesNewReservations) {
  test::TempGroup t("resdead");
  Group a = t->create("a");
  a.remove();
  std::error_code ec;
  EXPECT_FALSE(Reservation::make(a, 10, ec));
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

TEST(Reservation, PinsTheGroupOnceNotPerReservation) {
  test::TempGroup t("respin");
  Group a = t->create("a");
  const std::uint64_t before = refs(a);  // base + our handle
  std::vector<Reservation> rs;
  for (int i = 0; i < 10; ++i) rs.push_back(Reservation::make(a, kBig / 8));
  EXPECT_EQ(refs(a), before + 1);
  for (int i = 0; i < 10; ++i) rs[i].grow(1);
  detail::drain_own_stock();  // the stock slot holds a reference of its own
  EXPECT_EQ(refs(a), before + 1);
  rs.clear();
  EXPECT_EQ(refs(a), before + 1) << "alive groups keep the pin";
  a.remove();
}

TEST(Reservation, OutlivesRemovalAndTheLastUnchargeFreesTheGroup) {
  const auto base = test::settled_groups();
  test::TempGroup t("resout");
  Reservation r;
  {
    Group a = t->create("a");
    r = Reservation::make(a, kBig);
    a.remove();
  }
  // a is removed and unreferenced but pinned by the reservation.
  EXPECT_EQ(test::settled_groups(), base + 2);
  EXPECT_EQ(t->nr_dying_descendants(), 1u);
  EXPECT_EQ(t->current(), kBig);
  EXPECT_FALSE(r.grow(1)) << "no growth after removal";
  r.shrink(kBig / 2);  // partial uncharge: still pinned
  EXPECT_EQ(test::settled_groups(), base + 2);
  r.reset();
  EXPECT_EQ(t->current(), 0u);
  EXPECT_EQ(test::settled_groups(), base + 1);
  EXPECT_EQ(t->nr_dying_descendants(), 0u);
}

TEST(Reservation, EmptyReservationStillPins) {
  const auto base = test::settled_groups();
  test::TempGroup t("reszero");
  Reservation r;
  {
    Group a = t->create("a");
    r = Reservation::make(a, 0);
    a.remove();
  }
  EXPECT_EQ(test::settled_groups(), base + 2);
  EXPECT_TRUE(r.group());  // valid: the pin keeps it
  r = Reservation();
  EXPECT_EQ(test::settled_groups(), base + 1);
}

// The race between remove() and the last uncharge (kmem pin protocol):
// neither a leaked group (the pin never dropped) nor a double put (the
// reference count would underflow, which MEMCG_CHECK turns into an abort).
TEST(Reservation, RemoveRacesLastUnchargeWithoutLeakOrDoublePut) {
  const auto base = test::settled_groups();
  test::TempGroup t("resrace");
  constexpr int kRounds = 400;
  for (int i = 0; i < kRounds; ++i) {
    Group a = t->create("r" + std::to_string(i));
    Reservation r = Reservation::make(a, std::uint64_t(4096 + i));
    std::atomic<int> go{0};
    std::thread remover([&] {
      go++;
      while (go < 2) {}
      a.remove();
    });
    go++;
    while (go < 2) {}
    r.reset();
    remover.join();
  }
  detail::drain_own_stock();
  EXPECT_EQ(test::settled_groups(), base + 1);
  EXPECT_EQ(t->nr_dying_descendants(), 0u);
  EXPECT_EQ(t->current(), 0u);
}

// And the race between remove() and a new reservation (pin vs mark_dead).
TEST(Reservation, RemoveRacesNewReservation) {
  const auto base = test::settled_groups();
  test::TempGroup t("resrace2");
  int made = 0;
  for (int i = 0; i < 400; ++i) {
    Group a = t->create("r" + std::to_string(i));
    std::atomic<int> go{0};
    std::thread remover([&] {
      go++;
      while (go < 2) {}
      a.remove();
    });
    go++;
    while (go < 2) {}
    std::error_code ec;
    Reservation r = Reservation::make(a, 100, ec);
    if (r) made++;
    else EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    remover.join();
  }
  detail::drain_own_stock();
  EXPECT_EQ(test::settled_groups(), base + 1) << made << " reservations won the race";
  EXPECT_EQ(t->current(), 0u);
}

TEST(ScopedGroup, NestsAndRestores) {
  test::TempGroup t("scoped");
  Group a = t->create("a");
  EXPECT_EQ(current_group(), Group::root());
  {
    ScopedGroup s1(*t);
    EXPECT_EQ(current_group(), *t);
    {
      ScopedGroup s2(a);
      EXPECT_EQ(current_group(), a);
      std::thread([&] { EXPECT_EQ(current_group(), Group::root()); }).join();  // per thread
    }
    EXPECT_EQ(current_group(), *t);
  }
  EXPECT_EQ(current_group(), Group::root());
  a.remove();
}

}  // namespace
}  // namespace memcg
