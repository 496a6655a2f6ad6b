#include "reclaim/reclaim_iter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "../test_util.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"

namespace memcg {
namespace {

using detail::GroupImpl;
using detail::ReclaimCookie;
using detail::reclaim_iter;

std::vector<std::string> full_walk(GroupImpl* root) {
  std::vector<std::string> out;
  for (GroupImpl* g = reclaim_iter(root, nullptr, nullptr); g; g = reclaim_iter(root, g, nullptr))
    out.push_back(g->name.empty() ? "/" : g->name);
  return out;
}

TEST(ReclaimIter, PreOrderFromTheRootSkippingRemovedGroups) {
  test::TempGroup t("it");
  Group a = t->create("a"), a1 = a.create("a1"), a2 = a.create("a2"), b = t->create("b"), b1 = b.create("b1");
  EXPECT_EQ(full_walk(t->impl()), (std::vector<std::string>{t->name(), "a", "a1", "a2", "b", "b1"}));
  a2.remove();
  EXPECT_EQ(full_walk(t->impl()), (std::vector<std::string>{t->name(), "a", "a1", "b", "b1"}));
  for (Group* g : {&a1, &b1}) g->remove();
  a.remove();
  b.remove();
}

TEST(ReclaimIter, SharedCursorContinuesWhereTheLastPassStopped) {
  test::TempGroup t("itshared");
  std::vector<Group> kids;
  for (int i = 0; i < 5; ++i) kids.push_back(t->create("k" + std::to_string(i)));
  GroupImpl* root = t->impl();
  // Reclaimer 1 visits root, k0, k1 and breaks.
  ReclaimCookie c1;
  GroupImpl* g = reclaim_iter(root, nullptr, &c1);
  EXPECT_EQ(g, root);
  g = reclaim_iter(root, g, &c1);
  EXPECT_EQ(g->name, "k0");
  g = reclaim_iter(root, g, &c1);
  EXPECT_EQ(g->name, "k1");
  detail::reclaim_iter_break(root, g);
  // Reclaimer 2 continues with k2.
  ReclaimCookie c2;
  g = reclaim_iter(root, nullptr, &c2);
  EXPECT_EQ(g->name, "k2");
  // Reclaimer 2 finishes the round.
  std::vector<std::string> rest;
  while ((g = reclaim_iter(root, g, &c2))) rest.push_back(g->name);
  EXPECT_EQ(rest, (std::vector<std::string>{"k3", "k4"}));
  // Reclaimer 1's round is over: its cookie's generation is stale.
  EXPECT_EQ(reclaim_iter(root, nullptr, &c1), nullptr);
  // A new round starts at the root again.
  ReclaimCookie c3;
  g = reclaim_iter(root, nullptr, &c3);
  EXPECT_EQ(g, root);
  detail::reclaim_iter_break(root, g);
  for (auto& k : kids) k.remove();
}

TEST(ReclaimIter, RemovalMovesOnlyTheCursorAtTheDyingGroupToItsPredecessor) {
  test::TempGroup t("itinv");
  std::vector<Group> kids;
  for (int i = 0; i < 5; ++i) kids.push_back(t->create("k" + std::to_string(i)));
  GroupImpl* root = t->impl();
  ReclaimCookie c;
  GroupImpl* g = reclaim_iter(root, nullptr, &c);  // root
  g = reclaim_iter(root, g, &c);                   // k0
  g = reclaim_iter(root, g, &c);                   // k1
  g = reclaim_iter(root, g, &c);                   // k2
  ASSERT_EQ(g->name, "k2");
  detail::reclaim_iter_break(root, g);
  // Removing a group the cursor is not at changes nothing.
  kids[4].remove();
  EXPECT_EQ(root->reclaim_position.load(), kids[2].impl());
  // Removing the group at the cursor moves it to k1, not to the root.
  kids[2].remove();
  EXPECT_EQ(root->reclaim_position.load(), kids[1].impl());
  ReclaimCookie c2;
  g = reclaim_iter(root, nullptr, &c2);
  EXPECT_EQ(g->name, "k3") << "the walk continues after the removed group";
  detail::reclaim_iter_break(root, g);
  for (int i : {0, 1, 3}) kids[i].remove();
}

}  // namespace
}  // namespace memcg
