// density_threads_prog: the allocation program density_bench (d) runs under
// plain memcg-run and under memcg-run --per-thread. Plain malloc/free, in
// the manner of mimalloc-bench's mstress: objects outlive the thread that
// allocated them.
//
//   density_threads_prog [THREADS [ROUNDS [OPS]]]     (default 64 4 40000)
//
// ROUNDS times: start THREADS threads, join them. Each thread keeps a live
// set of kSlots objects; OPS times it picks a slot, retires the object there
// (freed, or with probability 1/8 handed to the global list) and allocates a
// new one of a random size (70% 8..255 B, 25% 256 B..4 KiB, 4.5% 4..16 KiB,
// 0.5% 16..128 KiB) and writes it whole. At its end a thread hands a quarter
// of its live set to the global list and frees the rest. The global list is
// a ring of THREADS * kRingPerThread objects shared by all threads: pushing
// into a full ring frees the oldest entry, so most objects are freed by a
// thread other than their allocator, and the ring's objects outlive their
// threads into the next round. The ring is freed after the last round.
//
// Prints one checksum line (so the writes cannot be optimised away); exit 0.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kSlots = 512;          // live objects per thread
constexpr int kRingPerThread = 256;  // global ring capacity per thread

struct Obj {
  unsigned char* p = nullptr;
  std::size_t n = 0;
};

// Objects handed between threads. Pushing into a full ring evicts (frees)
// the oldest object; guarded by mu.
struct Ring {
  std::mutex mu;
  std::vector<Obj> slots;
  std::size_t head = 0;  // next slot to write (the oldest once full)
  std::size_t used = 0;

  void push(Obj o) {
    Obj evicted;
    {
      std::lock_guard<std::mutex> l(mu);
      if (used == slots.size()) evicted = slots[head];
      else ++used;
      slots[head] = o;
      head = (head + 1) % slots.size();
    }
    std::free(evicted.p);
  }
};

Ring g_ring;
std::uint64_t g_checksum[1024];  // per thread index, summed at the end

std::uint64_t next(std::uint64_t& s) {  // xorshift64*
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

std::size_t pick_size(std::uint64_t u) {
  const std::uint64_t cls = u % 1000, r = u >> 16;
  if (cls < 700) return 8 + r % 248;
  if (cls < 950) return 256 + r % 3841;
  if (cls < 995) return 4097 + r % 12288;
  return 16385 + r % 114688;
}

void worker(int index, int ops, std::uint64_t seed) {
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  std::vector<Obj> live(kSlots);
  std::uint64_t sum = 0;
  for (int i = 0; i < ops; ++i) {
    const std::uint64_t u = next(s);
    Obj& slot = live[u % kSlots];
    if (slot.p) {
      sum += slot.p[slot.n - 1];
      if ((u >> 8) % 8 == 0) g_ring.push(slot);
      else std::free(slot.p);
    }
    const std::size_t n = pick_size(next(s));
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    if (!p) {
      std::fprintf(stderr, "density_threads_prog: malloc(%zu) failed\n", n);
      std::exit(1);
    }
    std::memset(p, static_cast<int>(u & 0xff), n);
    slot = {p, n};
  }
  for (int i = 0; i < kSlots; ++i) {
    if (!live[i].p) continue;
    sum += live[i].p[0];
    if (i % 4 == 0) g_ring.push(live[i]);
    else std::free(live[i].p);
  }
  g_checksum[index % 1024] += sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 64;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 4;
  const int ops = argc > 3 ? std::atoi(argv[3]) : 40000;
  if (threads < 1 || threads > 1024 || rounds < 1 || ops < 0) {
    std::fprintf(stderr, "usage: density_threads_prog [THREADS(1..1024) [ROUNDS [OPS]]]\n");
    return 2;
  }
  g_ring.slots.resize(static_cast<std::size_t>(threads) * kRingPerThread);
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::thread> ts;
    ts.reserve(threads);
    for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t, ops, static_cast<std::uint64_t>(r) * 1024 + t + 1);
    for (std::thread& t : ts) t.join();
  }
  std::uint64_t total = 0;
  for (std::uint64_t c : g_checksum) total += c;
  for (Obj& o : g_ring.slots) std::free(o.p);
  std::printf("checksum %llu\n", static_cast<unsigned long long>(total));
  return 0;
}
