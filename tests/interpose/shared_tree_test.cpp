// The process-tree segment (src/interpose/shared_tree.hpp) on its own:
// limits, slot lifecycle, dead processes found by the sweep, and a
// lock whose holder died.
#include "interpose/shared_tree.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace memcg::interpose::tree {
namespace {

class SharedTree : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/memcg-tree-test-" + std::to_string(getpid());
    shm_unlink(name_.c_str());
    s_ = create(name_, 1000, 800);
    ASSERT_NE(s_, nullptr);
  }
  void TearDown() override {
    munmap(s_, sizeof(Segment));
    shm_unlink(name_.c_str());
  }
  std::string name_;
  Segment* s_ = nullptr;
};

TEST_F(SharedTree, ChargesStopAtTheTreeMaxAndCountTheRefusal) {
  const Ref r = attach(s_);
  ASSERT_TRUE(r);
  std::uint64_t u = 0;
  EXPECT_TRUE(charge(s_, r, 600, false, &u));
  EXPECT_EQ(u, 600u);
  EXPECT_FALSE(charge(s_, r, 401, false, &u));
  EXPECT_EQ(s_->failcnt, 1u);
  EXPECT_EQ(s_->usage, 600u);
  EXPECT_TRUE(charge(s_, r, 400, false, &u));
  EXPECT_TRUE(charge(s_, r, 50, true, &u));  // forced: past max
  EXPECT_EQ(s_->usage, 1050u);
  EXPECT_EQ(s_->peak, 1050u);
  uncharge(s_, r, 1050);
  EXPECT_EQ(s_->usage, 0u);
  EXPECT_EQ(s_->slots[r.slot].peak, 1050u);
}

TEST_F(SharedTree, AFinishedSlotGivesItsChargesBackAndIgnoresLateCalls) {
  const Ref r = attach(s_);
  std::uint64_t u = 0;
  ASSERT_TRUE(charge(s_, r, 300, false, &u));
  finish(s_, r, kExited);
  EXPECT_EQ(s_->usage, 0u);
  EXPECT_EQ(s_->slots[r.slot].state, kExited);
  EXPECT_TRUE(charge(s_, r, 5000, false, &u));  // a charge racing with exit: counted nowhere, refused never
  uncharge(s_, r, 10);
  count_event(s_, r, 2);
  EXPECT_EQ(s_->usage, 0u);
  EXPECT_EQ(s_->slots[r.slot].events[2], 0u);
}

TEST_F(SharedTree, AttachingAgainFromTheSameProcessEndsTheOldImageAsExeced) {
  const Ref a = attach(s_);
  std::uint64_t u = 0;
  ASSERT_TRUE(charge(s_, a, 200, false, &u));
  const Ref b = attach(s_);
  ASSERT_TRUE(b);
  EXPECT_NE(a.slot, b.slot);
  EXPECT_EQ(s_->slots[a.slot].state, kExeced);
  EXPECT_EQ(s_->usage, 0u);
}

TEST_F(SharedTree, FinishedSlotsAreReusedAndFoldedWhenNoneIsFree) {
  for (std::uint32_t i = 0; i < kSlots + 3; ++i) {
    const Ref r = attach(s_);
    ASSERT_TRUE(r) << i;
    std::uint64_t u = 0;
    ASSERT_TRUE(charge(s_, r, i % 7, false, &u));
    count_event(s_, r, 2);
    finish(s_, r, kExited);
  }
  EXPECT_EQ(s_->folded_count, 3u);
  EXPECT_EQ(s_->unattached, 0u);
  std::uint64_t events = s_->folded_events[2];
  for (const Slot& sl : s_->slots) events += sl.events[2];
  EXPECT_EQ(events, kSlots + 3);  // no event lost to folding
}

// Slots are taken in order, and the pages of slots never taken stay out of
// every process's resident set: attach, sweep and the RSS sampler read only
// the taken prefix.
TEST_F(SharedTree, SlotsNeverTakenAreNeverTouched) {
  const Ref a = attach(s_);
  const Ref b = attach(s_);  // the same process again: `a` ends as execed
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.slot, 0);
  EXPECT_EQ(b.slot, 1);
  EXPECT_EQ(slots_used(s_), 2u);
  EXPECT_EQ(sweep(s_), 0);
  sample_resident(s_);
  const long page = sysconf(_SC_PAGESIZE);
  const std::size_t pages = (sizeof(Segment) + page - 1) / page;
  std::vector<unsigned char> in(pages);
  ASSERT_EQ(mincore(s_, sizeof(Segment), in.data()), 0);
  const auto first_untouched =
      (reinterpret_cast<std::uintptr_t>(&s_->slots[2]) - reinterpret_cast<std::uintptr_t>(s_) + page - 1) / page;
  std::size_t resident = 0;
  for (std::size_t p = first_untouched; p < pages; ++p) resident += in[p] & 1;
  EXPECT_EQ(resident, 0u) << "of " << pages - first_untouched << " pages holding untaken slots";
}

// A child attaches, charges and dies without finishing its slot (as after
// _exit or SIGKILL): the sweep finds it dead, reaped or a zombie.
TEST_F(SharedTree, TheSweepGivesBackTheChargesOfDeadProcesses) {
  for (bool reap : {true, false}) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const Ref r = attach(s_);
      std::uint64_t u = 0;
      _exit(r && charge(s_, r, 700, false, &u) ? 0 : 1);
    }
    if (reap) {
      int st = 0;
      ASSERT_EQ(waitpid(pid, &st, 0), pid);
      ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    } else {
      siginfo_t si{};
      ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT), 0);  // dead, not reaped
    }
    EXPECT_EQ(s_->usage, 700u);
    EXPECT_EQ(sweep(s_), 1) << (reap ? "reaped" : "zombie");
    EXPECT_EQ(s_->usage, 0u);
    if (!reap) waitpid(pid, nullptr, 0);
  }
  // A live process is left alone.
  const Ref me = attach(s_);
  std::uint64_t u = 0;
  ASSERT_TRUE(charge(s_, me, 10, false, &u));
  EXPECT_EQ(sweep(s_), 0);
  EXPECT_EQ(s_->usage, 10u);
}

// A process killed while holding the lock, between its slot's update and
// the tree's: the next holder recomputes the tree's usage from the slots.
TEST_F(SharedTree, ALockWhoseHolderDiedIsRecoveredWithTheUsageRecomputed) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const Ref r = attach(s_);
    std::uint64_t u = 0;
    if (!r || !charge(s_, r, 100, false, &u)) _exit(1);
    pthread_mutex_lock(&s_->lock);
    s_->slots[r.slot].usage += 50;  // half an update: the tree's usage is not written
    _exit(0);                       // dies holding the lock
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  {
    Locked l(s_);  // EOWNERDEAD: recovered
    EXPECT_EQ(s_->usage, 150u);
  }
  EXPECT_EQ(sweep(s_), 1);
  EXPECT_EQ(s_->usage, 0u);
  Locked again(s_);  // consistent again: an ordinary lock
}


// The main thread exits alone (as with pthread_exit) while another thread runs: the leader
// is a zombie, the process is alive, and its slot is kept.
TEST_F(SharedTree, AProcessWhoseMainThreadExitedIsNotTakenForDead) {
#if defined(MEMCG_TSAN)
  GTEST_SKIP() << "TSan cannot start threads in a fork child";
#endif
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const Ref r = attach(s_);
    std::uint64_t u = 0;
    if (!r || !charge(s_, r, 100, false, &u)) _exit(1);
    static int fd;
    fd = go[0];
    pthread_t t;
    pthread_create(&t, nullptr, [](void*) -> void* {
      char c;
      while (read(fd, &c, 1) < 0) {
      }
      _exit(0);
    }, nullptr);
    syscall(SYS_exit, 0);  // this thread only (pthread_exit would unwind through gtest)
  }
  close(go[0]);
  // Wait until the leader is a zombie.
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  bool zombie = false;
  for (int i = 0; i < 2000 && !zombie; ++i) {
    if (FILE* f = fopen(path, "r")) {
      char buf[512] = {};
      if (fgets(buf, sizeof buf, f)) {
        const char* p = strrchr(buf, ')');
        zombie = p && p[2] == 'Z';
      }
      fclose(f);
    }
    if (!zombie) usleep(1000);
  }
  ASSERT_TRUE(zombie);
  EXPECT_EQ(sweep(s_), 0);
  EXPECT_EQ(s_->usage, 100u);
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_EQ(sweep(s_), 1);
  EXPECT_EQ(s_->usage, 0u);
}

}  // namespace
}  // namespace memcg::interpose::tree
