// Prometheus exposition (include/memcg/metrics.hpp, docs/metrics.md),
// checked by the real parser: python3-prometheus-client's
// text_string_to_metric_families, run by tests/metrics/parse_metrics.py.
#include "memcg/metrics.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "memcg/fs.hpp"
#include "memcg/group.hpp"
#include "memcg/reservation.hpp"

#ifndef MEMCG_PARSE_METRICS
#error "MEMCG_PARSE_METRICS: the path of tests/metrics/parse_metrics.py"
#endif

namespace memcg {
namespace {

struct Sample {
  std::string family, type;
  double value = 0;
};
// key: SAMPLE{labels}
struct Parsed {
  int exit = -1;
  std::size_t families = 0;
  std::map<std::string, Sample> samples;
};

Parsed run_parser(const std::string& args) {
  Parsed p;
  const std::string cmd = std::string("/usr/bin/python3 ") + MEMCG_PARSE_METRICS + " " + args;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return p;
  char line[4096];
  while (std::fgets(line, sizeof line, f)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (l.rfind("families ", 0) == 0) {
      p.families = std::stoul(l.substr(9));
      continue;
    }
    std::istringstream in(l);
    std::string fam, type, name, labels, value;
    std::getline(in, fam, '\t');
    std::getline(in, type, '\t');
    std::getline(in, name, '\t');
    std::getline(in, labels, '\t');
    std::getline(in, value, '\t');
    const double v = value == "inf" ? INFINITY : std::stod(value);
    p.samples[name + "{" + labels + "}"] = Sample{fam, type, v};
  }
  const int st = ::pclose(f);
  p.exit = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return p;
}

Parsed parse_text(const std::string& text) {
  const std::string file = "/tmp/memcg-metrics-test-" + std::to_string(::getpid()) + ".txt";
  std::ofstream(file) << text;
  Parsed p = run_parser(file);
  std::remove(file.c_str());
  return p;
}

#define SKIP_WITHOUT_PARSER(p)                                                                     \
  if ((p).exit == 3) GTEST_SKIP() << "python3-prometheus-client is not installed (scripts/deps.sh)"

TEST(Metrics, TheRealParserReadsTheTreeWithItsValues) {
  Group top = Group::root().create("mtA");
  Group kid = top.create("kid");
  kid.set_max(64 << 20);
  Reservation r = Reservation::make(kid, 1 << 20);
  const std::string text = metrics_text("/mtA");
  const Parsed p = parse_text(text);
  SKIP_WITHOUT_PARSER(p);
  ASSERT_EQ(p.exit, 0) << text.substr(0, 2000);
  EXPECT_GE(p.families, 10u);
  auto at = [&](const std::string& key) {
    const auto it = p.samples.find(key);
    EXPECT_NE(it, p.samples.end()) << key << " missing";
    return it == p.samples.end() ? Sample{} : it->second;
  };
  const Sample cur = at("memcg_memory_current_bytes{path=/mtA/kid}");
  EXPECT_EQ(cur.type, "gauge");
  EXPECT_EQ(cur.value, static_cast<double>(kid.current()));
  EXPECT_GE(cur.value, 1 << 20);
  EXPECT_EQ(at("memcg_memory_max_bytes{path=/mtA/kid}").value, 64 << 20);
  EXPECT_TRUE(std::isinf(at("memcg_memory_max_bytes{path=/mtA}").value)) << "max is +Inf";
  const Sample ev = at("memcg_memory_events_total{event=max,path=/mtA/kid}");
  EXPECT_EQ(ev.type, "counter");
  EXPECT_EQ(ev.family, "memcg_memory_events") << "a counter's family drops _total";
  EXPECT_EQ(ev.value, static_cast<double>(kid.events().max));
  EXPECT_EQ(at("memcg_memory_stat_reservations_bytes{path=/mtA/kid}").value, 1 << 20);
  EXPECT_EQ(at("memcg_cgroup_descendants{path=/mtA}").value, 1);
  EXPECT_EQ(at("memcg_memory_pressure_stalled_seconds_total{kind=some,path=/mtA}").type, "counter");
  for (const auto& [key, s] : p.samples)
    EXPECT_TRUE(key.find("path=/mtA") != std::string::npos) << key << ": a sample outside the root asked for";
  r.reset();
  kid.remove();
  top.remove();
}

TEST(Metrics, ARootThatIsNoGroupIsEnoent) {
  std::error_code ec;
  EXPECT_TRUE(metrics_text("/no-such-group", ec).empty());
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_THROW(metrics_text("/no-such-group"), std::system_error);
}

TEST(Metrics, TheHttpEndpointServesTheSameMetricsOnLoopbackOnly) {
  std::error_code ec;
  serve_metrics("0.0.0.0:0", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument) << "an endpoint without authentication is loopback only";
  serve_metrics("example.com:9100", ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_EQ(metrics_port(), 0);
  Group g = Group::root().create("mtHttp");
  g.set_high(32 << 20);
  struct Cleanup {
    Group& g;
    ~Cleanup() {
      stop_serving_metrics();
      g.remove();
    }
  } cleanup{g};
  serve_metrics("127.0.0.1:0");
  const int port = metrics_port();
  ASSERT_GT(port, 0);
  serve_metrics("127.0.0.1:0", ec);
  EXPECT_EQ(ec, std::errc::device_or_resource_busy);
  const Parsed p = run_parser("--url http://127.0.0.1:" + std::to_string(port) + "/metrics");
  SKIP_WITHOUT_PARSER(p);
  ASSERT_EQ(p.exit, 0);
  const auto it = p.samples.find("memcg_memory_high_bytes{path=/mtHttp}");
  ASSERT_NE(it, p.samples.end());
  EXPECT_EQ(it->second.value, 32 << 20);
  EXPECT_NE(p.samples.find("memcg_memory_current_bytes{path=/}"), p.samples.end());
  stop_serving_metrics();
  EXPECT_EQ(metrics_port(), 0);
}

}  // namespace
}  // namespace memcg
