#include "density/small_group.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "memcg/group.hpp"
#include "memcg/kmalloc.hpp"

namespace density_bench {
namespace {

// A guard against a limit that never bites (a bug, reported as an error):
// 1 MiB holds at most 65,536 objects of 16 B.
constexpr std::uint64_t kMaxObjects = 1u << 17;

std::vector<std::size_t> geometric_sizes() {
  std::vector<std::size_t> v;
  for (int i = 0; i < kSmallSizes; ++i)
    v.push_back(static_cast<std::size_t>(std::llround(16.0 * std::pow(256.0, i / double(kSmallSizes - 1)))));
  return v;
}

}  // namespace

SmallGroupResult run_small_group() {
  SmallGroupResult r;
  r.sizes = geometric_sizes();
  try {
    memcg::Group g = memcg::Group::root().create("density_small");
    g.set_max(kSmallMax);
    std::vector<void*> objs;
    objs.reserve(kMaxObjects);
    {
      memcg::ScopedGroup scope(g);
      for (std::uint64_t i = 0; i < kMaxObjects; ++i) {
        const std::size_t n = r.sizes[i % r.sizes.size()];
        void* p = memcg::kmalloc(n);
        if (!p) {
          r.failed_size = n;
          break;
        }
        std::memset(p, 0xa5, n);
        objs.push_back(p);
        r.requested += n;
        r.usable += memcg::ksize(p);
      }
    }
    r.objects = objs.size();
    if (r.failed_size == 0) {
      std::fprintf(stderr, "density_bench (a): %llu objects fit under memory.max = 1M\n",
                   static_cast<unsigned long long>(r.objects));
      r.error = true;
    }
    r.current_at_enomem = g.current();
    r.slab_at_enomem = g.stat().slab();
    r.events_max = g.events().max;
    r.events_oom = g.events().oom;
    for (void* p : objs) memcg::kfree(p);
    r.current_after_free = g.current();
    g.remove();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "density_bench (a): %s\n", e.what());
    r.error = true;
  }
  return r;
}

void print_small_group(const SmallGroupResult& r, std::vector<TargetRow>* targets) {
  std::printf("\n(a) SMALL GROUP  memory.max = 1M; kmalloc round-robin over %d sizes, one thread in a ScopedGroup,\n"
              "    until the first nullptr (ENOMEM)\n    sizes:",
              kSmallSizes);
  for (std::size_t s : r.sizes) std::printf(" %zu", s);
  std::printf("\n");
  if (r.error) {
    std::printf("    FAILED (see stderr)\n");
    return;
  }
  std::printf("    objects before ENOMEM      %llu  (the failing request: %zu B)\n",
              static_cast<unsigned long long>(r.objects), r.failed_size);
  std::printf("    live bytes, requested      %llu  (%s)\n", static_cast<unsigned long long>(r.requested),
              human(double(r.requested)).c_str());
  std::printf("    live bytes, usable (ksize) %llu  (%s)\n", static_cast<unsigned long long>(r.usable),
              human(double(r.usable)).c_str());
  std::printf("    memory.current at ENOMEM   %llu  (%s; memory.stat slab %s)\n",
              static_cast<unsigned long long>(r.current_at_enomem), human(double(r.current_at_enomem)).c_str(),
              human(double(r.slab_at_enomem)).c_str());
  std::printf("    memory.events              max %llu, oom %llu\n", static_cast<unsigned long long>(r.events_max),
              static_cast<unsigned long long>(r.events_oom));
  std::printf("    memory.current, all freed  %llu  (%s; before the group's removal)\n",
              static_cast<unsigned long long>(r.current_after_free), human(double(r.current_after_free)).c_str());
  if (!targets) return;
  char quoted[96];
  std::snprintf(quoted, sizeof quoted, "%s, %llu objects", human(double(r.requested)).c_str(),
                static_cast<unsigned long long>(r.objects));
  targets->push_back({"(a) live bytes in a 1M group before ENOMEM, requested", ">= 0.90 MiB", quoted,
                      "3 KB, 17 objects", double(r.requested) >= kSmallTarget});
  targets->push_back({"(a) the same, usable (ksize)", ">= 0.90 MiB", human(double(r.usable)), "-",
                      double(r.usable) >= kSmallTarget});
}

}  // namespace density_bench
