// The demo's threads, on the public API only:
//
//   Worker   enters a tenant with ScopedGroup and makes / grows / shrinks /
//            drops Reservations there, keeping its own record of the bytes it
//            holds per tenant; refused charges are counted per tenant.
//   Churn    creates short-lived /tenants/tmp-<n> groups, charges them,
//            removes them while some reservations are still alive, checks
//            those stay valid, and releases them later.
//   Sampler  reads memory.current and memory.max of the fixed-limit groups
//            and records any sample with current > max.
//
// Phases (Shared::phase): run -> stop (workers and churn park, holding their
// reservations, so the demo can compare the counters with their records) ->
// release (they release everything and exit; thread exit drains their
// stocks). The sampler just exits at stop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "memcg/group.hpp"
#include "memcg/reservation.hpp"

namespace memcgctl {

inline constexpr int kTenants = 3;
inline constexpr std::array<const char*, kTenants> kTenantNames{"gold", "silver", "bronze"};

enum Phase : int { kRun = 0, kStop = 1, kRelease = 2 };

/// First few messages of a kind of problem, and how many there were.
class Problems {
 public:
  void add(std::string msg);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  std::vector<std::string> first() const;

 private:
  static constexpr std::size_t kKeep = 8;
  mutable std::mutex mu_;
  std::vector<std::string> first_;
  std::atomic<std::uint64_t> count_{0};
};

struct Shared {
  std::atomic<int> phase{kRun};
  std::atomic<int> parked{0};  ///< workers + churn waiting in kStop
  Problems api_errors;         ///< an API call failed in a way it must not
  Problems orphan_errors;      ///< a reservation misbehaved after its group's rmdir
  Problems limit_errors;       ///< the sampler saw memory.current > memory.max

  void set_phase(int p);
  /// Workers/churn: announce the park, then block until the phase leaves kStop.
  void park();
  /// The demo: blocks until `n` threads have parked.
  void wait_parked(int n);
};

/// Small deterministic PRNG (splitmix64): same seed, same run shape.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }

 private:
  std::uint64_t s_;
};

/// A reservation and our own record of its size (kept apart from size()).
struct Held {
  memcg::Reservation r;
  std::uint64_t bytes = 0;
};

struct alignas(64) TenantCounters {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> refused{0};
};

class Worker {
 public:
  Worker(int index, std::array<memcg::Group, kTenants> tenants, Shared& shared);
  void run();  ///< thread body

  const TenantCounters& counters(int t) const { return counters_[t]; }
  // Valid while parked (after Shared::wait_parked) and after the thread ended.
  std::uint64_t held_bytes(int t) const { return bytes_[t]; }
  std::size_t reservations(int t) const { return held_[t].size(); }

 private:
  void step();
  void make(int t);
  void grow(int t);
  void shrink(int t);
  void drop(int t);
  void refused(int t);
  std::uint64_t random_size();
  void verify(const char* when);
  void release_all();

  const int index_;
  Shared& shared_;
  Rng rng_;
  std::array<memcg::Group, kTenants> tenants_;
  std::array<std::vector<Held>, kTenants> held_;
  std::array<std::uint64_t, kTenants> bytes_{};  // the record: bytes held per tenant
  std::array<TenantCounters, kTenants> counters_;
};

class Churn {
 public:
  Churn(memcg::Group system, Shared& shared);
  void run();  ///< thread body

  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> removed{0};
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> refused{0};          ///< charges refused in tmp groups
  std::atomic<std::uint64_t> orphans_made{0};     ///< reservations kept across an rmdir
  std::atomic<std::uint64_t> orphans_released{0};

  // Valid while parked and after the thread ended.
  struct LiveTmp {
    std::string path;
    std::uint64_t bytes;
  };
  std::vector<LiveTmp> live_tmp() const;           ///< online tmp groups and their records
  std::uint64_t tmp_bytes() const { return tmp_bytes_; }        ///< in tmp groups, removed ones included
  std::uint64_t system_bytes() const { return system_bytes_; }  ///< bookkeeping charged to /system
  std::size_t dying_with_reservations() const;  ///< removed tmp groups still holding reservations

 private:
  struct Tmp {
    std::string path;
    memcg::Group group;
    std::vector<Held> res;
    Held bookkeeping;  // charged to /system for as long as the tmp group lives
  };
  struct Orphan {
    Held h;
    std::string path;  // of its removed group
  };
  void cycle();
  void create_one();
  void retire_oldest();
  void release_oldest_orphan();
  void check_orphan(Held& h, const std::string& path, const char* when);

  Shared& shared_;
  memcg::Group system_;
  Rng rng_;
  std::uint64_t seq_ = 0;
  std::deque<Tmp> live_;
  std::deque<Orphan> orphans_;
  std::uint64_t tmp_bytes_ = 0;
  std::uint64_t system_bytes_ = 0;
};

class Sampler {
 public:
  Sampler(std::vector<std::string> paths, Shared& shared) : paths_(std::move(paths)), shared_(shared) {}
  void run();  ///< thread body; returns when the phase leaves kRun
  std::uint64_t samples() const { return samples_.load(std::memory_order_relaxed); }

 private:
  std::vector<std::string> paths_;
  Shared& shared_;
  std::atomic<std::uint64_t> samples_{0};
};

}  // namespace memcgctl
