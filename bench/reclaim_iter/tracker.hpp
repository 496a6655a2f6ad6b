// Tracker: what one phase of reclaim_iter_bench measures (coverage rounds,
// the iterator's shared rounds, per-group gaps), fed by the reclaimers'
// visits and the churn thread's registrations.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/group_impl.hpp"
#include "harness/report.hpp"
#include "reclaim_iter/phase.hpp"

namespace reclaim_iter_bench {

using memcg::detail::GroupImpl;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Tracker: every group of the phase's tree, keyed by id. Ids are recycled only
// after a group is freed, and a visited group is referenced (so not freed), so
// slot[g->id] names g if it names anyone; the stored pointer tells a group the
// churn thread has not registered yet (created a moment ago: its visit is not
// counted) from the registered one. The churn thread unregisters a leaf before
// calling remove(), so a visit of a dying group is not counted either. One
// mutex for all of it: a visit costs ~1.5 us of work, the lock ~50 ns.

struct Slot {
  GroupImpl* g = nullptr;
  bool alive = false;
  bool whole_phase = false;      // registered before the phase started
  std::uint64_t born_cov = 0;    // coverage epoch at registration
  std::uint64_t visited_cov = 0; // last coverage epoch it was visited in
  std::uint64_t born_gen = 0;    // shared-round epoch at registration
  std::uint64_t visited_gen = 0; // last shared-round epoch it was visited in
  std::int64_t since_ns = 0;     // start of gap accounting
  std::int64_t last_ns = -1;     // last visit
  std::int64_t max_gap_ns = 0;
  std::uint64_t visits = 0;
  std::uint64_t serial = 0;      // unique per registration
};

class Tracker {
 public:
  void add(GroupImpl* g) {
    std::lock_guard<std::mutex> l(mu_);
    if (g->id >= slots_.size()) slots_.resize(std::max<std::size_t>(g->id + 1, slots_.size() * 2));
    Slot& s = slots_[g->id];
    if (s.alive) {
      std::fprintf(stderr, "reclaim_iter_bench: id %u registered twice\n", g->id);
      std::abort();
    }
    s = Slot{};
    s.g = g;
    s.alive = true;
    s.whole_phase = !started_;
    s.born_cov = cov_epoch_;
    s.born_gen = gen_epoch_;
    s.since_ns = started_ ? now_ns() : 0;
    s.serial = ++serials_;
    if (!root_) root_ = g;
    ++alive_;
  }

  void remove(GroupImpl* g) {
    std::lock_guard<std::mutex> l(mu_);
    Slot& s = slots_.at(g->id);
    if (!s.alive || s.g != g) {
      std::fprintf(stderr, "reclaim_iter_bench: removing an unregistered group (id %u)\n", g->id);
      std::abort();
    }
    const std::int64_t t = now_ns();
    close_gaps(s, t);
    s.alive = false;
    s.whole_phase = false;
    --alive_;
    if (s.born_cov < cov_epoch_) {  // it was required by the coverage round
      --cov_need_;
      if (s.visited_cov == cov_epoch_) --cov_covered_;
      maybe_complete_cov(t);
    }
    if (s.born_gen < gen_epoch_) {
      --gen_need_;
      if (s.visited_gen == gen_epoch_) --gen_covered_;
    }
  }

  void start(std::uint32_t generation) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    phase_start_ = t;
    started_ = true;
    for (Slot& s : slots_)
      if (s.alive) s.since_ns = t;
    open_cov(t);
    open_gen(generation, t);
  }

  // g was handed out by reclaim_iter in generation lo..hi: the root's
  // generation read right before and right after the call.
  void visit(GroupImpl* g, std::uint32_t lo, std::uint32_t hi) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    // A visit in a newer generation: the round before it ended (its ender
    // may not have reported it yet).
    while (static_cast<std::int32_t>(hi - open_gen_) > 0) close_gen();
    Slot* s = g->id < slots_.size() ? &slots_[g->id] : nullptr;
    if (s && s->g == g && !pending_.empty()) clear_pending(s->serial, lo, hi);
    if (!s || !s->alive || s->g != g) {
      ++uncounted_;
      return;
    }
    ++visits_;
    ++s->visits;
    s->max_gap_ns = std::max(s->max_gap_ns, t - (s->last_ns >= 0 ? s->last_ns : s->since_ns));
    s->last_ns = t;
    if (s->born_cov < cov_epoch_ && s->visited_cov != cov_epoch_) {
      s->visited_cov = cov_epoch_;
      ++cov_covered_;
      maybe_complete_cov(t);
    }
    if (hi == open_gen_ && s->born_gen < gen_epoch_ && s->visited_gen != gen_epoch_) {
      s->visited_gen = gen_epoch_;
      ++gen_covered_;
    }
  }

  // A reclaimer's loop ended (reclaim_iter returned nullptr) in generation gen.
  void round_end(std::uint32_t gen) {
    std::lock_guard<std::mutex> l(mu_);
    if (gen == open_gen_) close_gen();
  }

  void finish(PhaseResult* r) {
    std::lock_guard<std::mutex> l(mu_);
    const std::int64_t t = now_ns();
    for (Slot& s : slots_) {
      if (!s.alive) continue;
      close_gaps(s, t);
      if (!s.whole_phase) continue;
      ++r->whole_phase_groups;
      if (s.visits == 0) ++r->starved;
    }
    r->seconds = static_cast<double>(t - phase_start_) / 1e9;
    r->full_rounds = cov_rounds_;
    r->shared_started = gen_started_;
    r->shared_completed = gen_completed_;
    std::uint64_t root_serial = 0;
    for (const Slot& sl : slots_)
      if (sl.g == root_) root_serial = sl.serial;
    for (const Pending& pd : pending_) {
      if (pd.missed.empty()) continue;
      // A 2-reclaimer artefact misses exactly the root: B, still in the old
      // generation, reads the reset cursor between A's cursor reset and A's
      // generation bump (two steps in reclaim_iter, as in the kernel), takes
      // the root under the old generation, and the new round starts after
      // it. The root was visited, by a straggler of the round before.
      if (pd.missed.size() == 1 && pd.missed[0] == root_serial) {
        ++r->root_only;
        continue;
      }
      ++r->premature;
      r->premature_missing += pd.missed.size();
      r->premature_max = std::max<std::uint64_t>(r->premature_max, pd.missed.size());
    }
    r->late_visits = late_cleared_;
    r->longest_shared_ms = static_cast<double>(std::max(gen_longest_ns_, t - gen_open_ns_)) / 1e6;
    r->open_round_ms = static_cast<double>(t - gen_open_ns_) / 1e6;
    r->visits = visits_;
    r->uncounted_visits = uncounted_;
    r->groups_seen = gaps_.size();
    if (!gaps_.empty()) {
      r->max_gap_ms = static_cast<double>(*std::max_element(gaps_.begin(), gaps_.end())) / 1e6;
      r->median_gap_ms = static_cast<double>(memcg_bench::quantile(gaps_, 1, 2)) / 1e6;
      r->p90_gap_ms = static_cast<double>(memcg_bench::quantile(gaps_, 9, 10)) / 1e6;
    }
    if (!round_ns_.empty()) r->median_round_ms = static_cast<double>(memcg_bench::quantile(round_ns_, 1, 2)) / 1e6;
  }

 private:
  // Gap accounting ends for s at t (removal or phase end); starved groups
  // (never visited) get their whole lifetime in the phase.
  void close_gaps(Slot& s, std::int64_t t) {
    if (!started_) return;
    s.max_gap_ns = std::max(s.max_gap_ns, t - (s.last_ns >= 0 ? s.last_ns : s.since_ns));
    gaps_.push_back(s.max_gap_ns);
  }

  void clear_pending(std::uint64_t serial, std::uint32_t lo, std::uint32_t hi) {
    for (Pending& pd : pending_) {
      if (static_cast<std::int32_t>(pd.gen - lo) < 0 || static_cast<std::int32_t>(hi - pd.gen) < 0) continue;
      auto it = std::find(pd.missed.begin(), pd.missed.end(), serial);
      if (it == pd.missed.end()) continue;
      pd.missed.erase(it);
      ++late_cleared_;
    }
  }

  void open_cov(std::int64_t t) {
    ++cov_epoch_;
    cov_need_ = alive_;
    cov_covered_ = 0;
    cov_start_ = t;
  }
  void maybe_complete_cov(std::int64_t t) {
    if (cov_covered_ < cov_need_) return;
    ++cov_rounds_;
    round_ns_.push_back(t - cov_start_);
    open_cov(t);
  }

  void open_gen(std::uint32_t gen, std::int64_t t) {
    open_gen_ = gen;
    gen_open_ns_ = t;
    ++gen_epoch_;
    ++gen_started_;
    gen_need_ = alive_;
    gen_covered_ = 0;
  }
  void close_gen() {
    const std::int64_t t = now_ns();
    ++gen_completed_;
    gen_longest_ns_ = std::max(gen_longest_ns_, t - gen_open_ns_);
    if (gen_covered_ < gen_need_) {
      // Not final yet: a reclaimer may have been handed a group in this
      // round and not recorded the visit yet (preempted, or waiting for this
      // mutex, between reclaim_iter and visit()). Its late visit clears the
      // group from the list; whatever is left at the phase end was skipped.
      Pending pd;
      pd.gen = open_gen_;
      for (const Slot& sl : slots_)
        if (sl.alive && sl.born_gen < gen_epoch_ && sl.visited_gen != gen_epoch_) pd.missed.push_back(sl.serial);
      pending_.push_back(std::move(pd));
    }
    open_gen(open_gen_ + 1, t);
  }

  std::mutex mu_;
  std::vector<Slot> slots_;
  bool started_ = false;
  std::int64_t phase_start_ = 0;
  std::uint64_t alive_ = 0;
  std::uint64_t visits_ = 0, uncounted_ = 0;
  std::vector<std::int64_t> gaps_;  // per group: longest gap (closed at removal / phase end)
  // coverage rounds
  std::uint64_t cov_epoch_ = 0, cov_need_ = 0, cov_covered_ = 0, cov_rounds_ = 0;
  std::int64_t cov_start_ = 0;
  std::vector<std::int64_t> round_ns_;
  // shared rounds (the iterator's generations)
  std::uint32_t open_gen_ = 0;
  std::int64_t gen_open_ns_ = 0, gen_longest_ns_ = 0;
  std::uint64_t gen_epoch_ = 0, gen_need_ = 0, gen_covered_ = 0;
  std::uint64_t gen_started_ = 0, gen_completed_ = 0;
  GroupImpl* root_ = nullptr;  // the first group registered: the reclaim root
  std::uint64_t serials_ = 0;
  // Completed rounds that had not seen every required group when they ended.
  struct Pending {
    std::uint32_t gen = 0;
    std::vector<std::uint64_t> missed;  // slot serials
  };
  std::vector<Pending> pending_;
  std::uint64_t late_cleared_ = 0;  // groups cleared from a pending list by a late visit
};

}  // namespace reclaim_iter_bench
