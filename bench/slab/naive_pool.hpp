// The naive peer of slab_bench: one mutex and one free list of fixed-size
// blocks per size, shared by every thread; blocks carved from 64 KiB chunks
// of malloc, kept until exit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace slab_bench {

class NaivePool {
 public:
  explicit NaivePool(std::size_t size) : size_((std::max(size, sizeof(void*)) + 15) & ~std::size_t{15}) {}
  NaivePool(const NaivePool&) = delete;
  NaivePool& operator=(const NaivePool&) = delete;
  ~NaivePool() {
    for (char* c : chunks_) std::free(c);
  }

  void* alloc() {
    std::lock_guard<std::mutex> l(mu_);
    if (!head_ && !refill_locked()) return nullptr;
    Block* b = head_;
    head_ = b->next;
    return b;
  }
  void free(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> l(mu_);
    auto* b = static_cast<Block*>(p);
    b->next = head_;
    head_ = b;
  }

 private:
  struct Block {
    Block* next;
  };
  static constexpr std::size_t kChunk = 64 * 1024;
  bool refill_locked() {
    char* c = static_cast<char*>(std::malloc(kChunk));
    if (!c) return false;
    chunks_.push_back(c);  // kept until exit
    for (std::size_t off = 0; off + size_ <= kChunk; off += size_) {
      auto* b = reinterpret_cast<Block*>(c + off);
      b->next = head_;
      head_ = b;
    }
    return true;
  }
  const std::size_t size_;
  std::mutex mu_;
  Block* head_ = nullptr;
  std::vector<char*> chunks_;
};

}  // namespace slab_bench
