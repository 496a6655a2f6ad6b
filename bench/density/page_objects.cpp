#include "density/page_objects.hpp"

#include <cstdio>
#include <cstring>
#include <exception>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"

namespace density_bench {

PageObjectsResult run_page_objects() {
  PageObjectsResult r;
  const std::uint64_t n = kPageBytes / kPageObject;
  try {
    memcg::Cache cache = memcg::Cache::create("density-4096", kPageObject);
    memcg::Group g = memcg::Group::root().create("density_pages");
    std::vector<void*> objs(n, nullptr);
    const std::uint64_t rss0 = rss_bytes();
    {
      memcg::ScopedGroup scope(g);
      for (std::uint64_t i = 0; i < n; ++i) {
        void* p = cache.alloc();
        if (!p) {
          std::fprintf(stderr, "density_bench (c): Cache::alloc failed after %llu objects\n",
                       static_cast<unsigned long long>(i));
          r.error = true;
          break;
        }
        std::memset(p, 0x3c, kPageObject);
        objs[i] = p;
        ++r.objects;
      }
    }
    const std::uint64_t rss1 = rss_bytes();
    r.rss_delta = rss1 > rss0 ? rss1 - rss0 : 0;
    r.current = g.current();
    r.slab = g.stat().slab();
    for (void* p : objs) memcg::Cache::free(p);
    cache.destroy();
    g.remove();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "density_bench (c): %s\n", e.what());
    r.error = true;
  }
  return r;
}

void print_page_objects(const PageObjectsResult& r, std::vector<TargetRow>* targets) {
  std::printf("\n(c) PAGE-SIZED OBJECTS  %llu MiB of %zu-byte memcg::Cache objects (default CacheOptions) in one group\n",
              static_cast<unsigned long long>(kPageBytes >> 20), kPageObject);
  if (r.error) {
    std::printf("    FAILED (see stderr)\n");
    return;
  }
  const double live = double(r.objects) * kPageObject;
  std::printf("    objects                 %llu (%s live)\n", static_cast<unsigned long long>(r.objects),
              human(live).c_str());
  std::printf("    memory.current          %llu (%s, %.2f%% over the live bytes)\n",
              static_cast<unsigned long long>(r.current), human(double(r.current)).c_str(),
              100.0 * (double(r.current) - live) / live);
  std::printf("    memory.stat slab        %s\n", human(double(r.slab)).c_str());
  std::printf("    process RSS growth      %s\n", human(double(r.rss_delta)).c_str());
  if (!targets) return;
  targets->push_back({"(c) memory.current for 150 MiB of 4096-B Cache objects", "<= 153 MiB", human(double(r.current)),
                      "160 MiB", r.current <= kPageTarget});
}

}  // namespace density_bench
