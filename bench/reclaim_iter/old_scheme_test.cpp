// OldScheme, the benchmark's copy of the replaced invalidation: a death
// anywhere, even outside the walked subtree, restarts the cursor from the
// root; without a death the walk is the library's.
#include "reclaim_iter/old_scheme.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/group_impl.hpp"
#include "memcg/group.hpp"

namespace {

using memcg::Group;
using memcg::detail::GroupImpl;
using memcg::detail::ReclaimCookie;
using reclaim_iter_bench::OldScheme;

TEST(OldScheme, RestartsFromTheRootOnAnyDeath) {
  Group t = Group::root().create("itold");
  std::vector<Group> kids;
  for (int i = 0; i < 4; ++i) kids.push_back(t.create(std::string(1, 'k') + std::to_string(i)));
  Group elsewhere = Group::root().create("itold-elsewhere");
  GroupImpl* root = t.impl();
  OldScheme old;
  ReclaimCookie c;
  GroupImpl* g = old.next(root, nullptr, &c);
  EXPECT_EQ(g, root);
  g = old.next(root, g, &c);
  g = old.next(root, g, &c);
  ASSERT_EQ(g->name, "k1");
  elsewhere.remove();  // a death anywhere, not even in this subtree
  old.count_death();
  g = old.next(root, g, &c);
  EXPECT_EQ(g, root) << "the old scheme restarts from the root";
  g = old.next(root, g, &c);
  EXPECT_EQ(g->name, "k0");
  memcg::detail::reclaim_iter_break(root, g);
  for (auto& k : kids) k.remove();
  t.remove();
}

TEST(OldScheme, WithoutDeathsWalksLikeTheLibrary) {
  Group t = Group::root().create("itold2");
  std::vector<Group> kids;
  for (int i = 0; i < 3; ++i) kids.push_back(t.create(std::string(1, 'k') + std::to_string(i)));
  GroupImpl* root = t.impl();
  OldScheme old;
  ReclaimCookie c;
  std::vector<std::string> seen;
  for (GroupImpl* g = old.next(root, nullptr, &c); g; g = old.next(root, g, &c))
    seen.push_back(g == root ? "/" : g->name);
  EXPECT_EQ(seen, (std::vector<std::string>{"/", "k0", "k1", "k2"}));
  for (auto& k : kids) k.remove();
  t.remove();
}

// Deferred group frees finish before the process exits (LeakSanitizer).
class QuiesceAtExit : public ::testing::Environment {
 public:
  void TearDown() override { memcg::barrier(); }
};
const auto* const kQuiesce = ::testing::AddGlobalTestEnvironment(new QuiesceAtExit);

}  // namespace
