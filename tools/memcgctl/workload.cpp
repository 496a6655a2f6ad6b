#include "workload.hpp"

#include <fmt/format.h>

#include <chrono>
#include <set>
#include <thread>

#include "memcg/fs.hpp"
#include "snapshot.hpp"

namespace memcgctl {
namespace {

constexpr std::size_t kMaxHeld = 24;             // per worker and tenant
constexpr std::uint64_t kStockable = 64 * 1024;  // charges up to this go through the thread stock
constexpr std::uint64_t kLarge = 4 << 20;
constexpr std::uint64_t kSeed = 0x6d656d6367637466ull;  // fixed: the run's shape is reproducible

constexpr const char* kTmpMax = "4M";
constexpr std::size_t kLiveTmp = 3;      // online tmp groups at a time
constexpr std::size_t kMaxOrphans = 16;  // reservations of removed groups kept at a time
constexpr std::uint64_t kBookkeeping = 16 * 1024;
constexpr auto kChurnPeriod = std::chrono::milliseconds(20);
constexpr auto kSamplePeriod = std::chrono::microseconds(200);

bool is_enomem(const std::error_code& ec) { return ec == std::errc::not_enough_memory; }

}  // namespace

// ---------------------------------------------------------------- Problems

void Problems::add(std::string msg) {
  count_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(mu_);
  if (first_.size() < kKeep) first_.push_back(std::move(msg));
}

std::vector<std::string> Problems::first() const {
  std::lock_guard<std::mutex> l(mu_);
  return first_;
}

// ------------------------------------------------------------------ Shared

void Shared::set_phase(int p) {
  phase.store(p, std::memory_order_release);
  phase.notify_all();
}

void Shared::park() {
  parked.fetch_add(1, std::memory_order_release);
  parked.notify_all();
  while (phase.load(std::memory_order_acquire) == kStop) phase.wait(kStop, std::memory_order_acquire);
}

void Shared::wait_parked(int n) {
  for (int v = parked.load(std::memory_order_acquire); v < n; v = parked.load(std::memory_order_acquire))
    parked.wait(v, std::memory_order_acquire);
}

// ------------------------------------------------------------------ Worker

Worker::Worker(int index, std::array<memcg::Group, kTenants> tenants, Shared& shared)
    : index_(index), shared_(shared), rng_(kSeed + 0x1000u * static_cast<unsigned>(index + 1)),
      tenants_(std::move(tenants)) {}

void Worker::run() {
  while (shared_.phase.load(std::memory_order_relaxed) == kRun) step();
  verify("at stop");
  shared_.park();
  release_all();
}

std::uint64_t Worker::random_size() {
  return rng_.below(10) < 7 ? rng_.between(512, kStockable) : rng_.between(kStockable + 1, kLarge);
}

void Worker::step() {
  const int t = static_cast<int>(rng_.below(kTenants));
  memcg::ScopedGroup scope(tenants_[t]);
  const auto& held = held_[t];
  const std::uint64_t op = rng_.below(100);
  if (held.empty() || (op < 40 && held.size() < kMaxHeld))
    make(t);
  else if (op < 60)
    grow(t);
  else if (op < 80)
    shrink(t);
  else
    drop(t);
  counters_[t].ops.fetch_add(1, std::memory_order_relaxed);
}

void Worker::make(int t) {
  const std::uint64_t size = random_size();
  std::error_code ec;
  memcg::Reservation r = memcg::Reservation::try_make(memcg::current_group(), size, ec);
  if (!ec) {
    held_[t].push_back(Held{std::move(r), size});
    bytes_[t] += size;
  } else if (is_enomem(ec)) {
    refused(t);
  } else {
    shared_.api_errors.add(fmt::format("worker {}: Reservation::try_make({}, {}) in /tenants/{}: {}", index_,
                                       "current_group()", size, kTenantNames[t], ec.message()));
  }
}

void Worker::grow(int t) {
  Held& h = held_[t][rng_.below(held_[t].size())];
  const std::uint64_t more = random_size();
  if (h.r.grow(more)) {
    h.bytes += more;
    bytes_[t] += more;
  } else {
    refused(t);
  }
}

void Worker::shrink(int t) {
  Held& h = held_[t][rng_.below(held_[t].size())];
  if (h.bytes == 0) return drop(t);
  const std::uint64_t less = rng_.between(1, h.bytes);
  h.r.shrink(less);
  h.bytes -= less;
  bytes_[t] -= less;
}

void Worker::drop(int t) {
  auto& v = held_[t];
  std::size_t i = rng_.below(v.size());
  bytes_[t] -= v[i].bytes;
  v[i].r.reset();
  v[i] = std::move(v.back());
  v.pop_back();
}

// A refused charge: count it, and give memory back like a tenant under
// pressure would (so the tenant hovers around its limit instead of sitting
// on it).
void Worker::refused(int t) {
  counters_[t].refused.fetch_add(1, std::memory_order_relaxed);
  if (!held_[t].empty()) drop(t);
}

void Worker::verify(const char* when) {
  for (int t = 0; t < kTenants; ++t) {
    std::uint64_t sum = 0;
    for (const Held& h : held_[t]) {
      sum += h.bytes;
      if (!h.r || h.r.size() != h.bytes || !(h.r.group() == tenants_[t]))
        shared_.api_errors.add(fmt::format("worker {} {}: a reservation in /tenants/{} has size {} in group {}, "
                                           "expected {} in /tenants/{}",
                                           index_, when, kTenantNames[t], h.r.size(), h.r.group().path(),
                                           h.bytes, kTenantNames[t]));
    }
    if (sum != bytes_[t])
      shared_.api_errors.add(fmt::format("worker {} {}: record for /tenants/{} says {}, reservations sum to {}",
                                         index_, when, kTenantNames[t], bytes_[t], sum));
  }
}

void Worker::release_all() {
  for (int t = 0; t < kTenants; ++t) {
    for (Held& h : held_[t]) {
      h.r.reset();
      bytes_[t] -= h.bytes;
      if (h.r || h.r.size() != 0)
        shared_.api_errors.add(fmt::format("worker {}: Reservation::reset left size {}", index_, h.r.size()));
    }
    held_[t].clear();
  }
}

// ------------------------------------------------------------------- Churn

Churn::Churn(memcg::Group system, Shared& shared)
    : shared_(shared), system_(std::move(system)), rng_(kSeed ^ 0xc4u) {}

void Churn::run() {
  while (shared_.phase.load(std::memory_order_acquire) == kRun) {
    cycle();
    std::this_thread::sleep_for(kChurnPeriod);
  }
  shared_.park();
  // Release: remove the remaining tmp groups the same way (some reservations
  // outlive the rmdir), then release every reservation of a removed group.
  while (!live_.empty()) retire_oldest();
  while (!orphans_.empty()) release_oldest_orphan();
}

void Churn::cycle() {
  create_one();
  while (live_.size() > kLiveTmp) retire_oldest();
  while (orphans_.size() > kMaxOrphans) release_oldest_orphan();
}

void Churn::create_one() {
  Tmp t;
  t.path = fmt::format("/tenants/tmp-{}", ++seq_);
  std::error_code ec;
  memcg::fs::mkdir(t.path, ec);
  if (!ec) memcg::fs::write(join_path(t.path, "memory.max"), kTmpMax, ec);
  if (!ec) t.group = memcg::Group::open(t.path, ec);
  if (ec) {
    shared_.api_errors.add(fmt::format("churn: setting up {}: {}", t.path, ec.message()));
    if (memcg::Group::open(t.path, ec)) memcg::fs::rmdir(t.path, ec);
    return;
  }
  created.fetch_add(1, std::memory_order_relaxed);

  // Bookkeeping for the tmp tenant is charged to /system (small: the stock path).
  t.bookkeeping.r = memcg::Reservation::try_make(system_, kBookkeeping, ec);
  if (!ec) {
    t.bookkeeping.bytes = kBookkeeping;
    system_bytes_ += kBookkeeping;
  } else if (!is_enomem(ec)) {
    shared_.api_errors.add(fmt::format("churn: bookkeeping reservation in /system: {}", ec.message()));
  }

  memcg::ScopedGroup scope(t.group);
  const std::uint64_t n = rng_.between(2, 6);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t size = rng_.between(8 * 1024, 1536 * 1024);
    ops.fetch_add(1, std::memory_order_relaxed);
    memcg::Reservation r = memcg::Reservation::try_make(memcg::current_group(), size, ec);
    if (!ec) {
      t.res.push_back(Held{std::move(r), size});
      tmp_bytes_ += size;
    } else if (is_enomem(ec)) {
      refused.fetch_add(1, std::memory_order_relaxed);
    } else {
      shared_.api_errors.add(fmt::format("churn: Reservation::try_make({}) in {}: {}", size, t.path, ec.message()));
    }
  }
  live_.push_back(std::move(t));
}

void Churn::retire_oldest() {
  Tmp t = std::move(live_.front());
  live_.pop_front();

  // Drop about half of its reservations now; the rest outlive the rmdir.
  std::vector<Held> keep;
  for (std::size_t i = 0; i < t.res.size(); ++i) {
    if (i == 0 || rng_.below(2)) {
      keep.push_back(std::move(t.res[i]));
    } else {
      tmp_bytes_ -= t.res[i].bytes;
      t.res[i].r.reset();
    }
  }
  t.res.clear();
  system_bytes_ -= t.bookkeeping.bytes;
  t.bookkeeping.r.reset();

  std::error_code ec;
  memcg::fs::rmdir(t.path, ec);
  if (ec) {
    shared_.api_errors.add(fmt::format("churn: rmdir {}: {}", t.path, ec.message()));
    for (Held& h : keep) {
      tmp_bytes_ -= h.bytes;
      h.r.reset();
    }
    return;
  }
  removed.fetch_add(1, std::memory_order_relaxed);
  if (t.group.state() != memcg::GroupState::dying)
    shared_.orphan_errors.add(fmt::format("{} after rmdir while referenced: state {}, expected dying", t.path,
                                          memcg::to_string(t.group.state())));
  if (memcg::Group::open(t.path, ec); !ec)
    shared_.orphan_errors.add(fmt::format("{} still opens after rmdir", t.path));
  t.group = memcg::Group();  // from here only the reservations keep it

  for (Held& h : keep) {
    check_orphan(h, t.path, "after rmdir");
    orphans_made.fetch_add(1, std::memory_order_relaxed);
    orphans_.push_back(Orphan{std::move(h), t.path});
  }
}

void Churn::release_oldest_orphan() {
  Orphan o = std::move(orphans_.front());
  orphans_.pop_front();
  check_orphan(o.h, o.path, "before release");
  tmp_bytes_ -= o.h.bytes;
  o.h.r.reset();
  orphans_released.fetch_add(1, std::memory_order_relaxed);
}

// A reservation whose group was removed must stay valid with its size, name a
// dying group, and refuse to grow (new charges to a removed group fail).
void Churn::check_orphan(Held& h, const std::string& path, const char* when) {
  if (!h.r) {
    shared_.orphan_errors.add(fmt::format("{} {}: reservation became empty", path, when));
    return;
  }
  if (h.r.size() != h.bytes)
    shared_.orphan_errors.add(fmt::format("{} {}: reservation size {}, expected {}", path, when, h.r.size(), h.bytes));
  memcg::Group g = h.r.group();
  if (g.path() != path || g.state() != memcg::GroupState::dying)
    shared_.orphan_errors.add(fmt::format("{} {}: reservation's group is {} ({}), expected {} (dying)", path, when,
                                          g.path(), memcg::to_string(g.state()), path));
  if (h.r.grow(4096)) {
    shared_.orphan_errors.add(fmt::format("{} {}: grow succeeded on a removed group", path, when));
    h.bytes += 4096;
    tmp_bytes_ += 4096;
  }
}

std::vector<Churn::LiveTmp> Churn::live_tmp() const {
  std::vector<LiveTmp> out;
  for (const Tmp& t : live_) {
    std::uint64_t sum = 0;
    for (const Held& h : t.res) sum += h.bytes;
    out.push_back(LiveTmp{t.path, sum});
  }
  return out;
}

std::size_t Churn::dying_with_reservations() const {
  std::set<std::string> paths;
  for (const Orphan& o : orphans_) paths.insert(o.path);
  return paths.size();
}

// ----------------------------------------------------------------- Sampler

void Sampler::run() {
  while (shared_.phase.load(std::memory_order_acquire) == kRun) {
    for (const std::string& p : paths_) {
      std::error_code ec;
      std::uint64_t cur = read_value(join_path(p, "memory.current"), ec);
      std::uint64_t max = ec ? 0 : read_value(join_path(p, "memory.max"), ec);
      if (ec) {
        shared_.api_errors.add(fmt::format("sampler: reading {}: {}", p, ec.message()));
        continue;
      }
      if (cur > max) shared_.limit_errors.add(fmt::format("{}: memory.current {} > memory.max {}", p, cur, max));
      samples_.fetch_add(1, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(kSamplePeriod);
  }
}

}  // namespace memcgctl
