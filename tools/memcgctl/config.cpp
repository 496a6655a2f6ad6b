#include "config.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <set>
#include <sstream>

#include "memcg/fs.hpp"
#include "memcg/types.hpp"

namespace memcgctl {

// The embedded default (also documented in docs/memcgctl.md). The numbers are
// chosen so that, in 3-4 s on 2 cores:
//   - gold's working set (20M cache + 2M unreclaimable) stays within its low,
//     so reclaim rooted at /tenants skips it;
//   - silver runs into memory.high (high reclaim) and, after 60% of the run,
//     into a lowered memory.max;
//   - bronze's unreclaimable objects grow until reclaim cannot help, and the
//     OOM handler on /tenants frees them;
//   - /tenants' 64M is below what the tenants and the tmp tenants want, so
//     reclaim at the parent level runs too.
const char* const kDefaultConfig = R"(# memcgctl demo: default configuration
seconds 3.5
workers 2
parent /tenants max=64M
tenant gold   low=32M max=48M ws=20M kmem=2M
tenant silver high=24M max=40M kmem=4M
tenant bronze max=16M
group /system min=1M max=8M
churn every=20ms live=3 max=4M fill=3M linger=8
at 60% /tenants/silver/memory.max 20M
expect oom reclaim protection
)";

bool GroupSpec::has(std::string_view file) const {
  for (const auto& [f, v] : limits)
    if (f == file) return true;
  return false;
}

namespace {

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool parse_seconds(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return false;
  std::string_view unit(end);
  if (unit == "ms") out /= 1000.0;
  else if (!unit.empty() && unit != "s") return false;
  return out >= 0;
}

}  // namespace

bool parse_config(std::string_view text, const std::string& source, DemoConfig& cfg, std::string& err) {
  cfg = DemoConfig{};
  cfg.source = source;
  bool expect_seen = false;
  std::set<std::string> names;
  int lineno = 0;
  std::size_t pos = 0;
  auto fail = [&](const std::string& msg) {
    err = fmt::format("{}:{}: {}", source, lineno, msg);
    return false;
  };
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    std::size_t hash = raw.find('#');
    std::vector<std::string> w = split(raw.substr(0, hash));
    if (w.empty()) continue;
    const std::string& key = w[0];

    // key=value options: limits (min/low/high/max) and the tenant's own knobs.
    auto group_opts = [&](GroupSpec& g, TenantSpec* t, std::size_t from) -> bool {
      for (std::size_t i = from; i < w.size(); ++i) {
        std::size_t eq = w[i].find('=');
        if (eq == std::string::npos) return fail(fmt::format("expected key=value, got '{}'", w[i]));
        std::string k = w[i].substr(0, eq), v = w[i].substr(eq + 1);
        std::uint64_t bytes;
        if (k == "weight" && t) {
          char* end;
          unsigned long n = std::strtoul(v.c_str(), &end, 10);
          if (*end || n == 0 || n > 100) return fail(fmt::format("weight must be 1..100, got '{}'", v));
          t->weight = static_cast<unsigned>(n);
          continue;
        }
        if (!memcg::fs::parse_bytes(v, bytes)) return fail(fmt::format("{}: bad size '{}'", k, v));
        if (k == "min" || k == "low" || k == "high" || k == "max")
          g.limits.emplace_back("memory." + k, v);
        else if (k == "ws" && t)
          t->ws = bytes;
        else if (k == "kmem" && t)
          t->kmem = bytes;
        else
          return fail(fmt::format("unknown option '{}'", k));
      }
      return true;
    };
    auto need = [&](std::size_t n) {
      if (w.size() < n) return fail(fmt::format("'{}' needs {} argument(s)", key, n - 1));
      return true;
    };

    if (key == "seconds") {
      if (!need(2) || w.size() != 2) return fail("usage: seconds N");
      if (!parse_seconds(w[1], cfg.seconds) || cfg.seconds < 0.01 || cfg.seconds > 86400)
        return fail(fmt::format("bad duration '{}'", w[1]));
    } else if (key == "workers") {
      char* end;
      long n = w.size() == 2 ? std::strtol(w[1].c_str(), &end, 10) : 0;
      if (w.size() != 2 || *end || n < 1 || n > 256) return fail("usage: workers N (1..256)");
      cfg.workers = static_cast<int>(n);
    } else if (key == "parent") {
      if (!need(2)) return false;
      if (w[1].size() < 2 || w[1][0] != '/' || w[1].back() == '/')
        return fail(fmt::format("parent must be an absolute group path, got '{}'", w[1]));
      if (!cfg.tenants.empty()) return fail("'parent' must come before the tenants");
      cfg.parent = GroupSpec{w[1], {}};
      if (!group_opts(cfg.parent, nullptr, 2)) return false;
    } else if (key == "tenant") {
      if (!need(2)) return false;
      if (w[1].find('/') != std::string::npos || w[1].rfind("tmp-", 0) == 0)
        return fail(fmt::format("bad tenant name '{}' (no '/', not tmp-*)", w[1]));
      if (!names.insert(w[1]).second) return fail(fmt::format("tenant '{}' defined twice", w[1]));
      if (cfg.tenants.size() >= 8) return fail("at most 8 tenants");
      TenantSpec t;
      t.name = w[1];
      t.group.path = cfg.parent.path + "/" + w[1];
      if (!group_opts(t.group, &t, 2)) return false;
      cfg.tenants.push_back(std::move(t));
    } else if (key == "group") {
      if (!need(2)) return false;
      if (w[1].size() < 2 || w[1][0] != '/') return fail(fmt::format("bad group path '{}'", w[1]));
      GroupSpec g{w[1], {}};
      if (!group_opts(g, nullptr, 2)) return false;
      cfg.extra.push_back(std::move(g));
    } else if (key == "churn") {
      for (std::size_t i = 1; i < w.size(); ++i) {
        std::size_t eq = w[i].find('=');
        std::string k = w[i].substr(0, eq), v = eq == std::string::npos ? "" : w[i].substr(eq + 1);
        double sec;
        std::uint64_t bytes;
        if (k == "every" && parse_seconds(v, sec) && sec >= 0.001 && sec <= 10)
          cfg.churn_every_ms = static_cast<unsigned>(sec * 1000 + 0.5);
        else if (k == "live" && !v.empty() && v.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(v) <= 64)
          cfg.churn_live = static_cast<unsigned>(std::stoul(v));
        else if (k == "max" && memcg::fs::parse_bytes(v, bytes))
          cfg.churn_max = v;
        else if (k == "linger" && !v.empty() && v.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoul(v) <= 10000)
          cfg.churn_linger = static_cast<unsigned>(std::stoul(v));
        else if (k == "fill" && memcg::fs::parse_bytes(v, bytes) && bytes != memcg::unlimited)
          cfg.churn_fill = bytes;
        else
          return fail(fmt::format("bad churn option '{}' (every=DURATION live=N max=SIZE fill=SIZE linger=N)", w[i]));
      }
    } else if (key == "at") {
      if (w.size() != 4) return fail("usage: at SECONDS PATH VALUE");
      TimedWrite tw;
      if (w[1].size() > 1 && w[1].back() == '%') {
        char* end;
        tw.fraction = std::strtod(w[1].c_str(), &end) / 100.0;
        if (*end != '%' || tw.fraction < 0 || tw.fraction > 1) return fail(fmt::format("bad time '{}'", w[1]));
      } else if (!parse_seconds(w[1], tw.at)) {
        return fail(fmt::format("bad time '{}' (seconds, 250ms, or a percentage of the run)", w[1]));
      }
      tw.path = w[2];
      tw.value = w[3];
      tw.line = lineno;
      cfg.timeline.push_back(std::move(tw));
    } else if (key == "expect") {
      expect_seen = true;
      cfg.expect_oom = cfg.expect_reclaim = cfg.expect_protection = false;
      for (std::size_t i = 1; i < w.size(); ++i) {
        if (w[i] == "oom") cfg.expect_oom = true;
        else if (w[i] == "reclaim") cfg.expect_reclaim = true;
        else if (w[i] == "protection") cfg.expect_protection = true;
        else if (w[i] != "none") return fail(fmt::format("unknown expectation '{}' (oom, reclaim, protection, none)", w[i]));
      }
    } else {
      return fail(fmt::format("unknown key '{}'", key));
    }
  }
  lineno = 0;
  if (cfg.tenants.empty()) return fail("no tenant defined");
  if (!expect_seen) cfg.expect_oom = cfg.expect_reclaim = cfg.expect_protection = false;
  return true;
}

}  // namespace memcgctl
