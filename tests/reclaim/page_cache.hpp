// A test "page cache": objects that hold a Reservation each, kept on a
// ListLru per group, freed by a group-aware shrinker oldest first. It is
// what a database's buffer cache would look like on top of memcg.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "memcg/memcg.hpp"

namespace memcg::test {

class PageCache : public Shrinker {
 public:
  struct Page {
    ListLruHook hook;
    Reservation res;
  };

  explicit PageCache(std::uint64_t page_bytes, bool register_now = true) : page_bytes_(page_bytes) {
    if (register_now) reg_ = register_shrinker(*this, true);
  }
  ~PageCache() override {
    reg_.reset();
    std::lock_guard<std::mutex> l(m_);
    for (Page* p : all_) {
      lru_.del(*p);
      delete p;
    }
  }

  /// Charges one page to g; false if a limit refused it or the page could
  /// not be put on the LRU (out of metadata memory: the page is dropped, as
  /// a cache that cannot track a page must not keep it charged).
  bool add(const Group& g) {
    std::error_code ec;
    auto r = Reservation::make(g, page_bytes_, ec);
    if (!r) return false;
    auto* p = new Page;
    p->res = std::move(r);
    std::lock_guard<std::mutex> l(m_);  // a shrinker cannot free it before it is in all_
    if (!lru_.add(*p, g, ec)) {
      lru_add_failures_++;
      delete p;
      return false;
    }
    all_.insert(p);
    return true;
  }
  std::uint64_t lru_add_failures() const { return lru_add_failures_.load(); }
  std::uint64_t pages(const Group& g) const { return lru_.count(g); }
  std::uint64_t pages_all() const { return lru_.count_all(); }
  /// Calls f(const Reservation&) for every page (under the page-set lock).
  template <class F>
  void for_each_page(F f) {
    std::lock_guard<std::mutex> l(m_);
    for (const Page* p : all_) f(p->res);
  }
  std::uint64_t page_bytes() const { return page_bytes_; }

  std::uint64_t count(const ShrinkControl& sc) override {
    counts_++;
    return lru_.count(sc.group);
  }
  std::uint64_t scan(const ShrinkControl& sc) override {
    scans_++;
    std::vector<Page*> dispose;
    lru_.walk(
        sc.group,
        [&](Page& p) {
          dispose.push_back(&p);
          return LruStatus::removed;
        },
        sc.nr_to_scan);
    {
      std::lock_guard<std::mutex> l(m_);
      for (Page* p : dispose) all_.erase(p);
    }
    for (Page* p : dispose) delete p;  // uncharges its reservation
    return dispose.size();
  }

  std::uint64_t counts() const { return counts_.load(); }
  std::uint64_t scans() const { return scans_.load(); }
  ShrinkerRegistration& registration() { return reg_; }

 private:
  const std::uint64_t page_bytes_;
  ListLru<Page, &Page::hook> lru_;
  std::mutex m_;
  std::set<Page*> all_;
  std::atomic<std::uint64_t> counts_{0}, scans_{0}, lru_add_failures_{0};
  ShrinkerRegistration reg_;
};

}  // namespace memcg::test
