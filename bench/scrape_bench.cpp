// scrape_bench: what serving the tree costs the program. A tree of 1,000
// groups is served on a control socket (memcg::serve); another process
// scrapes the whole tree (`tree /`, every file of every group) 10 times a
// second, while this process runs slab_bench's alloc+free loop (a shared
// Cache of 64 B objects, inside a ScopedGroup, 16 objects kept live). Phases
// with and without the scraper alternate (the order flips every round, so
// that drift falls on both sides); each round's ratio is with/without, and
// the report prints their median: the slowdown (target: under 2%).
//
//   scrape_bench [--groups N] [--rate PER_S] [--rounds R] [--phase-ms MS] [--smoke]
//
// Prints numbers only; the exit status never depends on them.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "memcg/cache.hpp"
#include "memcg/group.hpp"
#include "memcg/serve.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int groups = 1000;
  double rate = 10;
  int rounds = 7;
  int phase_ms = 1000;
};

// Shared with the scraper process (MAP_SHARED).
struct Shared {
  std::atomic<int> mode{0};  // 0 idle, 1 scrape, 2 exit
  std::atomic<std::uint64_t> scrapes{0}, bytes{0}, ns{0}, errors{0};
};

[[noreturn]] void scraper(const std::string& sock, Shared* sh, double rate) {
  std::error_code ec;
  memcg::ControlClient c = memcg::ControlClient::connect(sock, ec);
  if (ec) std::_Exit(3);
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto next = Clock::now();
  for (;;) {
    const int m = sh->mode.load();
    if (m == 2) std::_Exit(0);
    if (m == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      next = Clock::now();
      continue;
    }
    const auto t0 = Clock::now();
    const memcg::ControlReply r = c.request("tree /");
    const auto t1 = Clock::now();
    if (!r.ok) sh->errors.fetch_add(1);
    sh->scrapes.fetch_add(1);
    sh->bytes.fetch_add(r.payload.size());
    sh->ns.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    next += period;
    std::this_thread::sleep_until(next);
  }
}

// alloc+free for `ms`; ns per iteration.
double alloc_free_phase(memcg::Cache& cache, int ms) {
  void* live[16];
  for (void*& p : live) p = cache.alloc();
  std::uint64_t n = 0;
  char v = 0;
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  const auto t0 = Clock::now();
  while (Clock::now() < end) {
    for (int i = 0; i < 4096; ++i) {
      void* p = cache.alloc();
      *static_cast<char*>(p) = ++v;
      asm volatile("" : : "r"(p) : "memory");
      memcg::Cache::free(p);
    }
    n += 4096;
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(n);
  for (void* p : live) memcg::Cache::free(p);
  return ns;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (arg("--groups")) o.groups = std::atoi(argv[++i]);
    else if (arg("--rate")) o.rate = std::atof(argv[++i]);
    else if (arg("--rounds")) o.rounds = std::atoi(argv[++i]);
    else if (arg("--phase-ms")) o.phase_ms = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--smoke") == 0) o.groups = 100, o.rounds = 1, o.phase_ms = 200;
    else {
      std::fprintf(stderr, "usage: scrape_bench [--groups N] [--rate PER_S] [--rounds R] [--phase-ms MS] [--smoke]\n");
      return 2;
    }
  }
  if (o.groups < 1 || o.rate <= 0 || o.rounds < 1 || o.phase_ms < 10) return 2;

  // The tree: /scrape/t<i>/q<j>, 32 queries per tenant.
  memcg::Group top = memcg::Group::root().create("scrape");
  std::vector<memcg::Group> groups;
  for (int i = 0; static_cast<int>(groups.size()) < o.groups; ++i) {
    memcg::Group t = top.create("t" + std::to_string(i));
    t.set_max(std::uint64_t{1} << 30);
    groups.push_back(t);
    for (int j = 0; j < 31 && static_cast<int>(groups.size()) < o.groups; ++j) {
      groups.push_back(t.create("q" + std::to_string(j)));
      groups.back().set_high(std::uint64_t{256} << 20);
    }
  }
  const std::string sock = "/tmp/memcg-scrape-bench-" + std::to_string(::getpid()) + ".sock";
  ::unlink(sock.c_str());
  memcg::serve(sock);

  auto* sh = static_cast<Shared*>(::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sh == MAP_FAILED) return 1;
  new (sh) Shared;
  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) scraper(sock, sh, o.rate);

  memcg::Cache cache = memcg::Cache::create("scrape-bench", 64);
  std::vector<double> off, on, ratio;
  std::uint64_t scrapes = 0, bytes = 0, ns = 0;
  {
    memcg::ScopedGroup sg(groups.back());
    alloc_free_phase(cache, o.phase_ms / 4);  // warm-up
    for (int r = 0; r < o.rounds; ++r) {
      double t[2];
      for (int k = 0; k < 2; ++k) {
        const int scraping = (r % 2 == 0) ? k : 1 - k;
        const std::uint64_t s0 = sh->scrapes.load(), b0 = sh->bytes.load(), n0 = sh->ns.load();
        sh->mode.store(scraping ? 1 : 0);
        t[scraping] = alloc_free_phase(cache, o.phase_ms);
        sh->mode.store(0);
        if (scraping) {
          scrapes += sh->scrapes.load() - s0;
          bytes += sh->bytes.load() - b0;
          ns += sh->ns.load() - n0;
        }
      }
      off.push_back(t[0]);
      on.push_back(t[1]);
      ratio.push_back(t[1] / t[0]);
    }
  }
  sh->mode.store(2);
  int status = 0;
  ::waitpid(child, &status, 0);
  memcg::stop_serving();

  const double scraped_s = static_cast<double>(o.rounds) * o.phase_ms / 1000.0;
  std::printf("scrape_bench: %zu groups served on a control socket; another process scrapes `tree /` at %.0f/s\n",
              groups.size() + 1, o.rate);
  std::printf("  scrapes %llu in %.1f s (%.1f/s), %.0f KiB and %.2f ms per scrape (round trip), errors %llu\n",
              static_cast<unsigned long long>(scrapes), scraped_s, static_cast<double>(scrapes) / scraped_s,
              scrapes ? static_cast<double>(bytes) / static_cast<double>(scrapes) / 1024.0 : 0.0,
              scrapes ? static_cast<double>(ns) / static_cast<double>(scrapes) / 1e6 : 0.0,
              static_cast<unsigned long long>(sh->errors.load()));
  std::printf("  alloc+free (shared Cache, 64 B, 1 thread), medians of %d rounds of %d ms per phase:\n", o.rounds,
              o.phase_ms);
  std::printf("    without scraping %.3f ns/op, with scraping %.3f ns/op\n", median(off), median(on));
  std::printf("    slowdown (median of the rounds' with/without ratios): %+.2f%%   target: under 2%%\n",
              (median(ratio) - 1) * 100);
  std::printf("    rounds' ratios:");
  for (double x : ratio) std::printf(" %.3f", x);
  std::printf("\n");
  for (auto it = groups.rbegin(); it != groups.rend(); ++it) it->remove();
  top.remove();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
