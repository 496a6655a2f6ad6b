#include "workload.hpp"

#include <fmt/format.h>

#include <chrono>
#include <new>
#include <thread>

#include "memcg/fs.hpp"
#include "memcg/kmalloc.hpp"
#include "snapshot.hpp"

namespace memcgctl {
namespace {

constexpr std::uint64_t kSeed = 0x6d656d6367637466ull;  // fixed: the run's shape is reproducible
constexpr auto kSamplePeriod = std::chrono::microseconds(200);

bool is_enomem(const std::error_code& ec) { return ec == std::errc::not_enough_memory; }

std::uint64_t page_size(Rng& rng) { return 4096 * rng.between(1, 4); }  // 4K..16K
// Unreclaimable objects: 60% small (slab, kmalloc-<size>), 40% bigger
// (9K..32K: slab classes to 16K, medium blocks above; small enough for the
// OOM path, which skips charges above 32K).
std::size_t kmem_size(Rng& rng) {
  return rng.below(10) < 6 ? rng.between(64, 4096) : rng.between(9 * 1024, 32 * 1024);
}

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

// -------------------------------------------------------------- EntryCache

EntryCache::EntryCache(std::size_t slots)
    : nslots_(slots), slots_(std::make_unique<SlotStats[]>(slots)) {
  memcg::CacheOptions o;
  o.reclaimable = true;
  o.align = alignof(Entry);
  cache_ = memcg::Cache::create("memcgctl-entry", sizeof(Entry), o);
}

EntryCache::~EntryCache() { reg_.reset(); }

void EntryCache::register_now() { reg_ = memcg::register_shrinker(*this, /*group_aware=*/true); }

EntryCache::Result EntryCache::insert(const memcg::Group& g, std::uint32_t slot, std::uint64_t bytes,
                                      std::error_code& ec) {
  ec.clear();
  void* mem = cache_.alloc(g);
  if (!mem) return Result::refused;  // a limit (or no memory)
  memcg::Reservation page = memcg::Reservation::make(g, bytes, ec);
  if (!page) {
    memcg::Cache::free(mem);
    return is_enomem(ec) ? Result::refused : Result::error;
  }
  auto* e = new (mem) Entry;
  e->page = std::move(page);
  e->bytes = bytes;
  e->slot = slot;
  slots_[slot].held.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  // From here the entry belongs to the list: whoever takes it off frees it.
  if (!lru_.add(*e, g, ec)) {  // out of metadata memory: an untracked entry would never be reclaimed
    e->page.reset();
    e->~Entry();
    memcg::Cache::free(e);
    slots_[slot].held.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    return Result::error;
  }
  slots_[slot].inserted.fetch_add(1, std::memory_order_relaxed);
  return Result::ok;
}

void EntryCache::dispose(std::vector<Entry*>& v, bool reclaimed) {
  for (Entry* e : v) {
    SlotStats& s = slots_[e->slot];
    const std::uint64_t bytes = e->bytes;
    e->page.reset();  // uncharges the page (the group it was charged to, even if removed)
    e->~Entry();
    memcg::Cache::free(e);
    s.held.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    if (reclaimed) {
      s.reclaimed.fetch_add(1, std::memory_order_relaxed);
      s.reclaimed_bytes.fetch_add(bytes, std::memory_order_relaxed);
    } else {
      s.evicted.fetch_add(1, std::memory_order_relaxed);
    }
  }
  v.clear();
}

std::uint64_t EntryCache::evict(const memcg::Group& g, std::uint64_t n) {
  std::vector<Entry*> out;
  lru_.walk(
      g,
      [&](Entry& e) {
        out.push_back(&e);
        return memcg::LruStatus::removed;
      },
      n);
  const std::uint64_t k = out.size();
  dispose(out, false);
  return k;
}

void EntryCache::touch(const memcg::Group& g, std::uint64_t n) {
  lru_.walk(g, [](Entry&) { return memcg::LruStatus::rotate; }, n);
}

std::uint64_t EntryCache::count(const memcg::ShrinkControl& sc) { return lru_.count(sc.group); }

std::uint64_t EntryCache::scan(const memcg::ShrinkControl& sc) {
  scans_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Entry*> out;
  out.reserve(sc.nr_to_scan);
  lru_.walk(
      sc.group,
      [&](Entry& e) {
        out.push_back(&e);
        return memcg::LruStatus::removed;
      },
      sc.nr_to_scan);
  const std::uint64_t k = out.size();
  dispose(out, true);
  return k;
}

// -------------------------------------------------------------------- Pool

void Pool::add(void* p, std::size_t size) {
  std::lock_guard<std::mutex> l(mu_);
  objs_.push_back(Obj{p, size});
  bytes_.fetch_add(size, std::memory_order_relaxed);
}

bool Pool::free_one(Rng& rng) {
  Obj o;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (objs_.empty()) return false;
    std::size_t i = rng.below(objs_.size());
    o = objs_[i];
    objs_[i] = objs_.back();
    objs_.pop_back();
    bytes_.fetch_sub(o.size, std::memory_order_relaxed);
  }
  memcg::kfree(o.p);
  return true;
}

std::uint64_t Pool::free_all() {
  std::vector<Obj> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    all.swap(objs_);
    bytes_.store(0, std::memory_order_relaxed);
  }
  std::uint64_t bytes = 0;
  for (const Obj& o : all) {
    bytes += o.size;
    memcg::kfree(o.p);
  }
  return bytes;
}

// --------------------------------------------------------------------- OOM

memcg::OomHandler make_oom_handler(std::vector<std::unique_ptr<Tenant>>& tenants, OomStats& stats) {
  return [&tenants, &stats](const memcg::OomContext& ctx) -> bool {
    stats.calls.fetch_add(1, std::memory_order_relaxed);
    // The victim is the heaviest descendant of the group over its limit; its
    // tenant is the one whose group is the victim or an ancestor of it.
    for (auto& t : tenants) {
      bool match = false;
      for (memcg::Group g = *ctx.victim; g; g = g.parent())
        if (g == t->group) {
          match = true;
          break;
        }
      if (!match) continue;
      const std::uint64_t bytes = t->pool.free_all();
      if (bytes == 0) return false;
      stats.kills.fetch_add(1, std::memory_order_relaxed);
      stats.freed_bytes.fetch_add(bytes, std::memory_order_relaxed);
      if (stats.victims.count() < 4)
        stats.victims.add(fmt::format("{} over {}: freed {} B of {}", ctx.group->path(),
                                      ctx.group->max() == memcg::unlimited ? std::string("max")
                                                                           : std::to_string(ctx.group->max()),
                                      bytes, t->group.path()));
      return true;
    }
    return false;
  };
}

// ------------------------------------------------------------------ Worker

Worker::Worker(int index, std::vector<std::unique_ptr<Tenant>>& tenants, EntryCache& cache, Shared& shared)
    : index_(index), tenants_(tenants), cache_(cache), shared_(shared),
      rng_(kSeed + 0x1000u * static_cast<unsigned>(index + 1)) {
  for (auto& t : tenants_) total_weight_ += t->spec.weight;
}

void Worker::run() {
  while (shared_.phase.load(std::memory_order_relaxed) == kRun) step();
  shared_.park();
}

Tenant& Worker::pick() {
  std::uint64_t r = rng_.below(total_weight_);
  for (auto& t : tenants_) {
    if (r < t->spec.weight) return *t;
    r -= t->spec.weight;
  }
  return *tenants_.back();
}

void Worker::step() {
  Tenant& t = pick();
  memcg::ScopedGroup scope(t.group);
  const std::uint64_t op = rng_.below(100);
  bool refused = false;
  if (op < 45) {
    // Cache insert; above the working set the tenant evicts its oldest first.
    if (static_cast<std::uint64_t>(cache_.slot(t.slot).held.load(std::memory_order_relaxed)) > t.spec.ws)
      cache_.evict(t.group, 8);
    std::error_code ec;
    auto r = cache_.insert(memcg::current_group(), t.slot, page_size(rng_), ec);
    if (r == EntryCache::Result::refused)
      refused = true;
    else if (r == EntryCache::Result::error)
      shared_.api_errors.add(fmt::format("worker {}: cache insert in {}: {}", index_, t.group.path(), ec.message()));
  } else if (op < 65) {
    cache_.touch(t.group, 2);
  } else if (op < 90) {
    if (t.pool.bytes() >= t.spec.kmem) {
      t.pool.free_one(rng_);
    } else {
      const std::size_t size = kmem_size(rng_);
      void* p = memcg::kmalloc(size);  // charged to current_group(): the tenant
      if (p)
        t.pool.add(p, size);
      else
        refused = true;
    }
  } else {
    t.pool.free_one(rng_);
  }
  t.counters.ops.fetch_add(1, std::memory_order_relaxed);
  if (refused) t.counters.refused.fetch_add(1, std::memory_order_relaxed);
}

// ------------------------------------------------------------------- Churn

Churn::Churn(const DemoConfig& cfg, memcg::Group parent, EntryCache& cache, std::uint32_t slot, Shared& shared)
    : cfg_(cfg), parent_(std::move(parent)), cache_(cache), slot_(slot), shared_(shared), rng_(kSeed ^ 0xc4u) {}

void Churn::run() {
  const auto period = std::chrono::milliseconds(cfg_.churn_every_ms);
  while (shared_.phase.load(std::memory_order_acquire) == kRun) {
    cycle();
    std::this_thread::sleep_for(period);
  }
  shared_.park();
  // Release: remove the remaining tmp groups the same way (their entries
  // outlive the rmdir on the parent's list; the demo frees them). Free the
  // large leftovers, keep the small ones for the demo's lifecycle check.
  while (!live_.empty()) retire_oldest();
  for (Leftover& l : leftovers_) {
    memcg::kfree(l.large);
    l.large = nullptr;
    small_kept_.insert(small_kept_.end(), l.small.begin(), l.small.end());
    l.small.clear();
  }
  leftovers_.clear();
}

void Churn::free_leftover(Leftover& l) {
  memcg::kfree(l.large);
  for (void* p : l.small) memcg::kfree(p);
  l.large = nullptr;
  l.small.clear();
}

std::size_t Churn::small_leftovers() const { return small_kept_.size(); }

void Churn::free_small_leftovers() {
  for (void* p : small_kept_) memcg::kfree(p);
  small_kept_.clear();
}

void Churn::cycle() {
  ++cycles_;
  while (!leftovers_.empty() && leftovers_.front().removed_at + cfg_.churn_linger <= cycles_) {
    free_leftover(leftovers_.front());
    leftovers_.pop_front();
  }
  create_one();
  while (live_.size() > cfg_.churn_live) retire_oldest();
  // The parent's own list holds the entries of removed groups: free a few
  // of the oldest each cycle (reclaim at the parent frees them too).
  evicted_from_parent.fetch_add(cache_.evict(parent_, 16), std::memory_order_relaxed);
}

void Churn::create_one() {
  Tmp t;
  t.path = join_path(parent_.path(), fmt::format("tmp-{}", ++seq_));
  std::error_code ec;
  memcg::fs::mkdir(t.path, ec);
  if (!ec) memcg::fs::write(join_path(t.path, "memory.max"), cfg_.churn_max, ec);
  if (!ec) t.group = memcg::Group::open(t.path, ec);
  if (ec) {
    shared_.api_errors.add(fmt::format("churn: setting up {}: {}", t.path, ec.message()));
    if (memcg::Group::open(t.path, ec)) memcg::fs::rmdir(t.path, ec);
    return;
  }
  created.fetch_add(1, std::memory_order_relaxed);
  // Unreclaimable leftovers that will outlive the rmdir.
  t.left.large = memcg::kmalloc(24 * 1024, t.group);  // above kMaxSmallSize: a medium block, pinning the group
  for (int i = 0; i < 4; ++i)
    if (void* p = memcg::kmalloc(256, t.group)) t.left.small.push_back(p);
  std::uint64_t filled = 0;
  int refusals = 0;
  while (filled < cfg_.churn_fill && refusals < 3) {
    const std::uint64_t bytes = 4096 * rng_.between(4, 16);  // 16K..64K
    auto r = cache_.insert(t.group, slot_, bytes, ec);
    if (r == EntryCache::Result::ok) {
      filled += bytes;
    } else if (r == EntryCache::Result::refused) {
      ++refusals;
      refused.fetch_add(1, std::memory_order_relaxed);
    } else {
      shared_.api_errors.add(fmt::format("churn: cache insert in {}: {}", t.path, ec.message()));
      break;
    }
  }
  live_.push_back(std::move(t));
}

void Churn::retire_oldest() {
  Tmp t = std::move(live_.front());
  live_.pop_front();
  // Free about half of its entries now; the rest outlive the rmdir.
  cache_.evict(t.group, cache_.on_list(t.group) / 2);
  const std::uint64_t kept = cache_.on_list(t.group);
  std::error_code ec;
  memcg::fs::rmdir(t.path, ec);
  if (ec) {
    shared_.api_errors.add(fmt::format("churn: rmdir {}: {}", t.path, ec.message()));
    cache_.evict(t.group, UINT64_MAX);
    free_leftover(t.left);
    return;
  }
  if (t.left.large || !t.left.small.empty()) {
    leftovers_made.fetch_add(1, std::memory_order_relaxed);
    t.left.removed_at = cycles_;
    leftovers_.push_back(std::move(t.left));
  }
  removed.fetch_add(1, std::memory_order_relaxed);
  kept_past_rmdir.fetch_add(kept, std::memory_order_relaxed);
  if (t.group.state() != memcg::GroupState::dying)
    shared_.api_errors.add(fmt::format("{} after rmdir while referenced: state {}, expected dying", t.path,
                                       memcg::to_string(t.group.state())));
  if (memcg::Group::open(t.path, ec); !ec)
    shared_.api_errors.add(fmt::format("{} still opens after rmdir", t.path));
  if (cache_.on_list(t.group) != 0)
    shared_.api_errors.add(fmt::format("{}: {} entries still on its own list after rmdir (expected on the parent's)",
                                       t.path, cache_.on_list(t.group)));
}

std::vector<std::string> Churn::live_paths() const {
  std::vector<std::string> out;
  for (const Tmp& t : live_) out.push_back(t.path);
  return out;
}

// ----------------------------------------------------------------- Sampler

void Sampler::run() {
  const std::string dying_file = join_path(parent_, "cgroup.stat");
  for (std::uint64_t n = 0; shared_.phase.load(std::memory_order_acquire) == kRun; ++n) {
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
    if (n % 8 == 0) {
      std::error_code ec;
      std::uint64_t d = read_key(dying_file, "nr_dying_descendants", ec);
      if (!ec && d > dying_peak_.load(std::memory_order_relaxed)) dying_peak_.store(d, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(kSamplePeriod);
  }
}

}  // namespace memcgctl
