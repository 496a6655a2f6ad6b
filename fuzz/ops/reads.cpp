// read_op: fs::read of every control file, compared with the model and the
// API.
#include <string>
#include <system_error>
#include <vector>

#include "ops/lockstep.hpp"
#include "ops/ops.hpp"
#include "ops/ref_parse.hpp"

namespace ops_fuzz {

void read_op(Model& m, Input& in) {
  const int i = m.pick(in);
  const std::string f = kReadFiles[in.byte() % (sizeof(kReadFiles) / sizeof(kReadFiles[0]))];
  const std::string p = m.path(i) + "/" + f;
  std::error_code ec;
  const std::string s = fs::read(p, ec);
  if (f == "x") {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of a missing group: %s", ec.message().c_str());
    return;
  }
  if (!m.online(i)) {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of removed group: %s", ec.message().c_str());
    return;
  }
  if (f == "memory.nope" || f == "cgroup.procs") {
    FZ_CHECK(ec == std::errc::no_such_file_or_directory, "read of an unknown file: %s", ec.message().c_str());
    return;
  }
  if (f == "memory.reclaim" || f == "cgroup.kill") {
    FZ_CHECK(ec == std::errc::permission_denied, "read of write-only %s: %s", f.c_str(), ec.message().c_str());
    return;
  }
  FZ_CHECK(!ec && !s.empty() && s.back() == '\n', "read %s: %s", p.c_str(), ec.message().c_str());
  ++g_stats.file_reads;
  const Group& g = m.group(i);
  const Limits lim = m.lim(i);
  if (f == "memory.current") {
    FZ_CHECK(s == std::to_string(g.current()) + "\n", "%s reads '%s', current %llu", p.c_str(), s.c_str(),
             U(g.current()));
  } else if (f == "memory.peak") {
    FZ_CHECK(s == std::to_string(g.peak()) + "\n" && g.peak() >= g.current(), "%s reads '%s', peak %llu", p.c_str(),
             s.c_str(), U(g.peak()));
  } else if (f == "memory.min" || f == "memory.low" || f == "memory.high" || f == "memory.max") {
    const u64 want = f == "memory.min" ? lim.min : f == "memory.low" ? lim.low : f == "memory.high" ? lim.high : lim.max;
    FZ_CHECK(s == ref_limit_text(want), "%s reads '%s', model %llu", p.c_str(), s.c_str(), U(want));
  } else if (f == "memory.events" || f == "memory.events.local") {
    const Events e = f == "memory.events" ? g.events() : g.events_local();
    const std::string want = "low " + std::to_string(e.low) + "\nhigh " + std::to_string(e.high) + "\nmax " +
                             std::to_string(e.max) + "\noom " + std::to_string(e.oom) + "\noom_kill " +
                             std::to_string(e.oom_kill) + "\n";
    FZ_CHECK(s == want, "%s reads '%s', want '%s'", p.c_str(), s.c_str(), want.c_str());
  } else if (f == "memory.stat") {
    const Sums sm = m.sums();
    const auto res = field(s, "reservations"), large = field(s, "kmalloc_large"), sr = field(s, "slab_reclaimable"),
               su = field(s, "slab_unreclaimable"), slab = field(s, "slab"), stock = field(s, "stock");
    FZ_CHECK(res && large && sr && su && slab && stock && field(s, "stock_drains") && field(s, "pgscan") &&
                 field(s, "pgsteal") && field(s, "reclaimed"),
             "%s: malformed '%s'", p.c_str(), s.c_str());
    // Charged rounds (thread_mags.hpp CHARGED ROUNDS) are slab objects of the group.
    const detail::ChargedRoundsSum rounds = detail::charged_rounds_in_subtree(detail::Access::impl(g));
    const u64 shared_u = sm.shared[i + 1] - sm.shared_r[i + 1] + rounds.bytes[0];
    FZ_CHECK(*res == sm.res[i + 1] && *large == sm.large[i + 1] && *slab == *sr + *su &&
                 *sr == sm.shared_r[i + 1] + rounds.bytes[1] &&
                 *su >= shared_u && (*su - shared_u) % kSlab == 0 && *su - shared_u >= sm.iso_lb[i + 1] &&
                 *res + *large + *slab + *stock == g.current(),
             "%s reads '%s'; model reservations %llu large %llu slab_reclaimable %llu (+ charged rounds %llu), "
             "slab_unreclaimable %llu (with charged rounds) + whole isolated slabs >= %llu, current %llu",
             p.c_str(), s.c_str(), U(sm.res[i + 1]), U(sm.large[i + 1]), U(sm.shared_r[i + 1]), U(rounds.bytes[1]),
             U(shared_u), U(sm.iso_lb[i + 1]), U(g.current()));
  } else if (f == "memory.oom.group") {
    FZ_CHECK(s == "0\n", "%s reads '%s' (never set)", p.c_str(), s.c_str());
  } else if (f == "memory.pressure") {
    const std::size_t nl = s.find('\n');
    FZ_CHECK(s.rfind("some avg10=", 0) == 0 && nl != std::string::npos &&
                 s.compare(nl + 1, 11, "full avg10=") == 0 && s.find("total=") != std::string::npos,
             "%s reads '%s'", p.c_str(), s.c_str());
  } else if (f == "cgroup.max.depth" || f == "cgroup.max.descendants") {
    // The fuzzer never writes them: the default everywhere.
    FZ_CHECK(s == "max\n", "%s reads '%s', want 'max'", p.c_str(), s.c_str());
  } else if (f == "cgroup.stat") {
    u64 desc = 0, dying = 0;
    for (int j = 0; j < m.n(); ++j) {
      if (j == i || !m.is_desc(j, i)) continue;
      if (m.nodes[j].online) ++desc; else ++dying;
    }
    const std::string want =
        "nr_descendants " + std::to_string(desc) + "\nnr_dying_descendants " + std::to_string(dying) + "\n";
    FZ_CHECK(s == want, "%s reads '%s', want '%s'", p.c_str(), s.c_str(), want.c_str());
  } else if (f == "memory.kmem.slabinfo") {
    // Header (2 lines), then one line per child cache charging this group.
    std::size_t pos = 0;
    for (int h = 0; h < 2; ++h) {
      pos = s.find('\n', pos);
      FZ_CHECK(pos != std::string::npos, "%s: no header", p.c_str());
      ++pos;
    }
    FZ_CHECK(s.rfind("slabinfo - version: 2.1\n", 0) == 0, "%s: header '%s'", p.c_str(), s.c_str());
    u64 slab_bytes = 0;
    std::vector<std::pair<std::string, u64>> inuse;  // by cache name
    while (pos < s.size()) {
      const std::size_t eol = s.find('\n', pos);
      const std::string line = s.substr(pos, eol - pos);
      pos = eol + 1;
      char name[80];
      unsigned long long active, num, objsize, perslab, pages, lim_, batch, shared, aslabs, nslabs, avail;
      const int got = std::sscanf(line.c_str(),
                                  "%79s %llu %llu %llu %llu %llu : tunables %llu %llu %llu : slabdata %llu %llu %llu",
                                  name, &active, &num, &objsize, &perslab, &pages, &lim_, &batch, &shared, &aslabs,
                                  &nslabs, &avail);
      FZ_CHECK(got == 12, "%s: malformed line '%s'", p.c_str(), line.c_str());
      FZ_CHECK(num == nslabs * perslab && perslab * objsize <= kSlab && pages * 4096 == kSlab && aslabs <= nslabs &&
                   active <= num,
               "%s: inconsistent line '%s'", p.c_str(), line.c_str());
      slab_bytes += nslabs * kSlab;
      auto it = std::find_if(inuse.begin(), inuse.end(), [&](auto& e) { return e.first == name; });
      if (it == inuse.end()) inuse.emplace_back(name, active); else it->second += active;
    }
    // Only the isolated cache has per-group lines; they hold the group's
    // own slab bytes beyond its shared objects' (memory.stat minus its
    // children's, minus the model's shared objects charged here).
    for (auto& e : inuse)
      FZ_CHECK(e.first == kCacheNames[kIsolatedKind], "%s: a shared cache listed per group: %s", p.c_str(),
               e.first.c_str());
    // Charged rounds are shared objects too (thread_mags.hpp CHARGED ROUNDS).
    auto rounds_under = [](const Group& x) {
      const detail::ChargedRoundsSum r = detail::charged_rounds_in_subtree(detail::Access::impl(x));
      return r.bytes[0] + r.bytes[1];
    };
    u64 own = g.stat().slab() - rounds_under(g);
    for (auto& n : m.nodes)
      if (n.parent == i) own -= n.g.stat().slab() - rounds_under(n.g);
    for (auto& o : m.objs)
      if (shared_kind(o.kind) && m.nearest_online(o.charged) == i) own -= o.charge;
    FZ_CHECK(slab_bytes == own, "%s: slabinfo counts %llu slab bytes, memory.stat says %llu of its own isolated",
             p.c_str(), U(slab_bytes), U(own));
    // Live isolated objects whose cache now charges this group are in use.
    std::vector<std::pair<std::string, u64>> want;
    for (auto& o : m.objs) {
      if (o.kind != kIsolatedKind || m.nearest_online(o.charged) != i) continue;
      const std::string name = kCacheNames[o.kind];
      auto it = std::find_if(want.begin(), want.end(), [&](auto& e) { return e.first == name; });
      if (it == want.end()) want.emplace_back(name, 1); else ++it->second;
    }
    for (auto& w : want) {
      auto it = std::find_if(inuse.begin(), inuse.end(), [&](auto& e) { return e.first == w.first; });
      FZ_CHECK(it != inuse.end() && it->second >= w.second, "%s: %s in use %llu, model has %llu live", p.c_str(),
               w.first.c_str(), U(it == inuse.end() ? 0 : it->second), U(w.second));
    }
  }
}


}  // namespace ops_fuzz
