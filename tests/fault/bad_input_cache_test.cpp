// Bad inputs: Cache and TypedCache (rows of docs/bad-inputs.md; the rule and the
// shared helpers are in bad_input_test_util.hpp).
#include "bad_input_test_util.hpp"

namespace memcg {
namespace {

using namespace bad_input;
using std::errc;

// ---- Cache --------------------------------------------------------------------

TEST(BadInput, CacheCreate) {
  struct Case {
    std::string name;
    std::size_t size;
    std::size_t align;
  };
  for (const Case& c : std::vector<Case>{{"", 8, 8},
                                         {"x", 0, 8},
                                         {"x", Cache::kMaxObjectSize + 1, 8},
                                         {"x", SIZE_MAX, 8},
                                         {"x", 8, 0},
                                         {"x", 8, 3},
                                         {"x", 8, 8192},
                                         {std::string(65, 'n'), 8, 8},
                                         {"a b", 8, 8},
                                         {"a\x01", 8, 8}}) {
    std::error_code ec;
    CacheOptions o;
    o.align = c.align;
    Cache k = Cache::create(c.name, c.size, o, ec);
    EXPECT_EQ(ec, errc::invalid_argument) << c.name << " " << c.size << " " << c.align;
    EXPECT_FALSE(k);
  }
  EXPECT_THROW(Cache::create("", 8), std::system_error);
}

TEST(BadInput, CacheAllocRemovedAndLimitedGroup) {
  test::TempGroup t("bi");
  CacheOptions iso;
  iso.isolate = true;
  Cache c = Cache::create("bi-cache", 64, iso);
  Cache shared = Cache::create("bi-shared", 64);
  Group mid = t->create("mid");
  Group g = mid.create("g");
  g.remove();
  mid.remove();
  EXPECT_EQ(t->current(), 0u);
  void* p = c.alloc(g);  // a removed group charges its nearest online ancestor (t, past the removed mid)
  ASSERT_NE(p, nullptr);
  EXPECT_GE(t->current(), 64u << 10);  // one slab
  EXPECT_EQ(g.current(), 0u);
  EXPECT_EQ(mid.current(), 0u);
  EXPECT_GE(t->stat().slab_unreclaimable, 64u << 10);
  EXPECT_NE(c.slabinfo(*t).find("bi-cache"), std::string::npos);
  EXPECT_EQ(count_lines(c.slabinfo(g)), 2u);  // the header only
  Cache::free(p);
  quiesce_thread();
  const std::uint64_t before = t->current();
  void* q = shared.alloc(g);  // per-object charging: the same ancestor, in bytes
  ASSERT_NE(q, nullptr);
  quiesce_thread();
  EXPECT_EQ(t->current(), before + 64 + sizeof(void*));
  EXPECT_EQ(g.current(), 0u);
  Cache::free(q);
  quiesce_thread();
  EXPECT_EQ(t->current(), before);
  shared.destroy();
  EXPECT_EQ(c.alloc(Group()), nullptr);  // the null group
  Group l = t->create("l");
  l.set_max(0);
  EXPECT_EQ(c.alloc(l), nullptr);
  Cache::free(nullptr);  // no-op
  l.remove();
  quiesce_thread();
  c.shrink();
  c.destroy();
}

// The null Cache handle, and a handle after destroy (destroy nulls it).
TEST(BadInput, CacheNullAndDestroyedHandle) {
  const std::string header = slabinfo(Group());  // the header alone
  EXPECT_EQ(count_lines(header), 2u);
  EXPECT_EQ(header.rfind("slabinfo - version: 2.1\n", 0), 0u);
  Cache n;
  Cache c = Cache::create("bi-twice", 64);
  void* p = c.alloc(Group::root());
  ASSERT_NE(p, nullptr);
  Cache::free(p);
  quiesce_thread();
  c.destroy();
  for (Cache* k : {&n, &c}) {
    EXPECT_FALSE(*k);
    EXPECT_EQ(k->alloc(), nullptr);
    EXPECT_EQ(k->alloc(Group::root()), nullptr);
    k->shrink();  // no-op
    std::error_code ec;
    k->destroy(ec);  // destroy twice, or of nothing
    EXPECT_EQ(ec, errc::invalid_argument);
    expect_system_error([&] { k->destroy(); }, errc::invalid_argument, "destroy");
    EXPECT_EQ(k->slabinfo(Group::root()), header);
    EXPECT_EQ(k->name(), "");
    EXPECT_EQ(k->object_size(), 0u);
  }
  TypedCache<std::uint64_t> tn;  // default-constructed: a null cache
  EXPECT_EQ(tn.make(1), nullptr);
  EXPECT_EQ(tn.make_in(Group::root(), 1), nullptr);
  TypedCache<std::uint64_t>::destroy(nullptr);  // no-op
}

// Cache::slabinfo(g) and memcg::slabinfo(g): null and removed groups.
TEST(BadInput, CacheSlabinfoNullAndRemovedGroup) {
  test::TempGroup t("bi");
  const std::string header = slabinfo(Group());
  CacheOptions iso;
  iso.isolate = true;
  Cache c = Cache::create("bi-info", 64, iso);
  Group g = t->create("g");
  void* p = c.alloc(g);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(count_lines(c.slabinfo(g)), 3u);  // header + g's child cache
  EXPECT_NE(slabinfo(g).find("bi-info"), std::string::npos);
  EXPECT_EQ(c.slabinfo(Group()), header);
  EXPECT_EQ(slabinfo(Group()), header);
  g.remove();  // its child cache (a live object) moves to t
  EXPECT_EQ(c.slabinfo(g), header);
  EXPECT_EQ(slabinfo(g), header);
  EXPECT_NE(c.slabinfo(*t).find("bi-info"), std::string::npos);
  Cache::free(p);
  quiesce_thread();
  c.destroy();
}

// TypedCache::make/make_in when T's constructor throws: the object goes
// back, nothing stays charged, the exception reaches the caller.
struct ThrowingCtor {
  explicit ThrowingCtor(bool fail) {
    if (fail) throw std::runtime_error("ctor");
  }
  char pad[48] = {};
};

TEST(BadInput, TypedCacheConstructorThrows) {
  test::TempGroup t("bi");
  Group g = t->create("g");
  TypedCache<ThrowingCtor> tc("bi-typed");
  EXPECT_THROW(tc.make_in(g, true), std::runtime_error);
  {
    ScopedGroup s(g);
    EXPECT_THROW(tc.make(true), std::runtime_error);
  }
  ThrowingCtor* ok = tc.make_in(g, false);  // the cache still works
  ASSERT_NE(ok, nullptr);
  TypedCache<ThrowingCtor>::destroy(ok);
  quiesce_thread();
  std::error_code ec;
  tc.cache().destroy(ec);  // no live object: nothing leaked
  EXPECT_FALSE(ec) << ec.message();
  quiesce_thread();
  EXPECT_EQ(g.current(), 0u);
  EXPECT_EQ(g.stat().slab(), 0u);
  g.remove();
}

TEST(BadInput, CacheDestroyWithLiveObjects) {
  test::TempGroup t("bi");
  Cache c = Cache::create("bi-live", 64);
  void* p = c.alloc(*t);
  std::error_code ec;
  c.destroy(ec);
  EXPECT_EQ(ec, errc::device_or_resource_busy);
  Cache::free(p);
  quiesce_thread();
  c.destroy(ec);
  EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace memcg
