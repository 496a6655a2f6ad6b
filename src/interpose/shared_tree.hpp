// The memcg-run process tree's shared counters (docs/memcg-run.md,
// "Process trees"): one POSIX shared memory segment that memcg-run creates
// and every process of the command's tree maps, by name ($MEMCG_RUN_SHM).
//
// It holds the tree's limits and usage and one slot per process. A process
// charges the tree only when its local /run counter charges (stock refills,
// large blocks), never on the allocation fast path.
//
// Every field is written under `lock`, a process-shared robust mutex, so a
// process killed while holding it leaves a lock the next holder recovers
// (EOWNERDEAD): it recomputes `usage` from the slots, the only figure a
// half-done update can leave wrong (a slot's usage is written before the
// tree's). Readers outside the lock (memcg-run's report) see each field
// whole (naturally aligned 64-bit words) but not necessarily together.
//
// Slot lifecycle:  kFree -> kLive (attach) -> kExited (clean exit: the
//                  process gave its charges back) | kExeced (the same pid
//                  attached again after exec) | kGone (memcg-run found the
//                  pid dead: _exit, a signal; it gave the charges back)
// A finished slot is reused when no free one is left; its figures are then
// folded into `folded_*`.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace memcg::interpose::tree {

inline constexpr std::uint32_t kMagic = 0x6d636774;  // "mcgt"
inline constexpr std::uint32_t kVersion = 2;
inline constexpr std::uint32_t kSlots = 1024;
inline constexpr std::uint64_t kUnlimited = UINT64_MAX;

enum SlotState : std::uint32_t { kFree = 0, kLive, kExited, kExeced, kGone };

struct Slot {
  std::uint32_t state;
  std::int32_t pid;
  std::int32_t ppid;
  std::uint32_t seq;         // attach order, for the report
  std::uint64_t start_time;  // /proc/<pid>/stat field 22: tells a reused pid apart
  char comm[16];
  std::uint64_t usage;    // bytes this process has charged to the tree now
  std::uint64_t peak;     // its high-water mark
  std::uint64_t rss_peak;  // its VmHWM, sampled by memcg-run and written at exit (bytes)
  std::uint64_t events[5];  // its /run's low, high, max, oom, oom_kill events
};

struct Segment {
  std::uint32_t magic;
  std::uint32_t version;
  pthread_mutex_t lock;
  std::uint64_t max;   // --max of the tree (kUnlimited: none)
  std::uint64_t high;  // --high of the tree
  std::uint64_t usage;
  std::uint64_t peak;
  std::uint64_t failcnt;  // charges the tree refused
  std::uint32_t next_seq;
  std::uint32_t unattached;  // processes that found no slot (not counted)
  std::uint64_t folded_count, folded_peak;  // finished slots reused: how many, their highest peak
  std::uint64_t folded_events[5];           // and their events
  std::uint64_t rss_peak;  // the highest sum of the live processes' VmRSS memcg-run sampled (bytes)
  // Slots [0, slots_used) have been taken (written under the lock, read
  // with acquire outside it); the rest were never touched, so their pages
  // of the segment are never materialized in anyone's resident set.
  std::uint32_t slots_used;
  Slot slots[kSlots];
};

/// The slots taken so far (a prefix of s->slots).
inline std::uint32_t slots_used(const Segment* s) { return __atomic_load_n(&s->slots_used, __ATOMIC_ACQUIRE); }

/// Creates and maps a new segment named `name` ("/memcg-run-..."); nullptr
/// with errno on failure.
Segment* create(const std::string& name, std::uint64_t max, std::uint64_t high);
/// Maps an existing segment; nullptr on failure (absent, wrong version).
Segment* open(const char* name);

/// The calling process's /proc start time (0 if unreadable).
std::uint64_t self_start_time();
/// True if pid is alive with this start time (not a zombie, not reused),
/// or if start_time is 0 (unknown: never taken for dead).
bool alive(pid_t pid, std::uint64_t start_time);

/// A process's claim on a slot: the slot and its attach number, so that a
/// late call on a slot finished and reused since does nothing.
struct Ref {
  int slot = -1;
  std::uint32_t seq = 0;
  explicit operator bool() const noexcept { return slot >= 0; }
};

/// Claims a slot for the calling process (its pid, ppid, comm, start
/// time). A live slot of the same pid and start time
/// (this process before an exec) is finished as kExeced first. No slot
/// (every one live): an empty Ref, and the process is counted unattached.
Ref attach(Segment* s);
/// Ends r's slot as `how`, giving its charges back to the tree.
void finish(Segment* s, Ref r, SlotState how);
/// Finishes as kGone every live slot whose process is dead; returns how many.
int sweep(Segment* s);
/// Samples the resident sets of the live processes (/proc/<pid>/status):
/// raises each slot's rss_peak to its VmHWM and the tree's rss_peak to the
/// sum of their VmRSS. memcg-run calls it as it sweeps.
void sample_resident(Segment* s);
/// The calling process's VmHWM in bytes (0 if unreadable).
std::uint64_t self_rss_peak();
/// Raises r's rss_peak to `bytes` (a process at exit).
void record_rss_peak(Segment* s, Ref r, std::uint64_t bytes);

/// Charges `bytes` to r's slot and the tree (`force`: even past max); false
/// (nothing charged, failcnt bumped) if the tree's usage would pass max.
/// *tree_usage: the tree's usage after the charge.
/// A finished slot charges nothing and refuses nothing.
bool charge(Segment* s, Ref r, std::uint64_t bytes, bool force, std::uint64_t* tree_usage);
/// Uncharges `bytes` from r's slot and the tree (never below zero).
void uncharge(Segment* s, Ref r, std::uint64_t bytes);
/// Counts one event of r's /run (index in memcg::Events' order).
void count_event(Segment* s, Ref r, int event);

/// The lock, recovering the tree's usage if its holder died.
class Locked {
 public:
  explicit Locked(Segment* s);
  ~Locked();
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  Segment* s_;
};

}  // namespace memcg::interpose::tree
