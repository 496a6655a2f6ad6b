#include "store.hpp"

#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <new>

#include "memcg/kmalloc.hpp"

namespace tcache {

namespace {

const auto kStart = std::chrono::steady_clock::now();
const std::int64_t kStartUnix = static_cast<std::int64_t>(std::time(nullptr));
constexpr std::int64_t kRelativeMax = 60 * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::size_t Store::hash(std::string_view k) { return std::hash<std::string_view>{}(k); }

std::int64_t Store::now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - kStart).count() + 1;
}

std::int64_t Store::expiry(std::int64_t exptime) {
  if (exptime == 0) return 0;
  if (exptime < 0) return -1;  // already expired
  if (exptime <= kRelativeMax) return now() + exptime;
  const std::int64_t rel = exptime - kStartUnix + 1;
  return rel <= 0 ? -1 : rel;  // a unix time in the past: already expired
}

// The group-aware shrinker: counts and evicts one tenant's items, the
// least recently used first, with a second chance for items read since the
// walk last passed them; expired and flushed items go regardless.
class Store::Evictor final : public memcg::Shrinker {
 public:
  explicit Evictor(Store& s) : s_(s) {}
  std::uint64_t count(const memcg::ShrinkControl& sc) override { return s_.lru_.count(sc.group); }
  std::uint64_t scan(const memcg::ShrinkControl& sc) override {
    std::vector<std::pair<Item*, bool>> victims;  // the item, and whether it was live (an eviction)
    s_.lru_.walk(sc.group, [&](Item& it) {
      Stripe& st = s_.stripe_of(it.hash);
      if (!st.mu.try_lock()) return memcg::LruStatus::skip;  // busy: a store or delete holds it
      const bool live = s_.live(&it);
      if (live && it.accessed.exchange(false, std::memory_order_relaxed)) {
        st.mu.unlock();
        return memcg::LruStatus::rotate;
      }
      s_.unlink_locked(st, &it, /*from_lru=*/false);
      st.mu.unlock();
      victims.emplace_back(&it, live);
      return memcg::LruStatus::removed;  // off the LRU: ours to free
    }, sc.nr_to_scan);
    for (auto [it, live] : victims) {
      if (live) {  // expired and flushed items are not evictions
        it->tenant->st.evictions.fetch_add(1, std::memory_order_relaxed);
        s_.evictions_.fetch_add(1, std::memory_order_relaxed);
      }
      s_.release(it);
    }
    return victims.size();
  }

 private:
  Store& s_;
};

Store::Store(const StoreOptions& o) : opt_(o), stripes_(new Stripe[kStripes]) {
  for (std::size_t i = 0; i < kStripes; ++i) stripes_[i].buckets.assign(1024, nullptr);
  root_ = memcg::Group::root().create(opt_.root_name);
  root_.set_max(opt_.memory_limit);
  evictor_ = std::make_unique<Evictor>(*this);
  shrinker_ = memcg::register_shrinker(*evictor_, /*group_aware=*/true);
  default_ = tenant_of("default");
}

Store::~Store() {
  shrinker_.reset();
  for (std::size_t i = 0; i < kStripes; ++i) {
    Stripe& s = stripes_[i];
    std::vector<Item*> all;
    {
      std::lock_guard<std::mutex> l(s.mu);
      for (Item*& head : s.buckets) {
        while (Item* it = head) {
          head = it->next;
          lru_.del(*it);
          all.push_back(it);
        }
      }
      s.count = 0;
    }
    for (Item* it : all) release(it);
  }
  // The groups may be gone already (memcgctl rmdir through --socket) or
  // hold an administrator's children: never throw from here.
  std::error_code ec;
  for (Tenant* t : order_) t->group.remove(ec);
  root_.remove(ec);
}

Tenant* Store::tenant_of(std::string_view key) {
  const std::size_t d = key.find(opt_.delimiter);
  std::string_view name = d == std::string_view::npos ? std::string_view("default") : key.substr(0, d);
  if (!valid_name(name)) name = "default";
  std::lock_guard<std::mutex> l(tenants_mu_);
  auto it = tenants_.find(std::string(name));
  if (it != tenants_.end()) {
    Tenant* t = it->second.get();
    // A tenant whose group an administrator removed (memcgctl rmdir
    // through --socket) stores into default from then on: its group handle
    // is read without this mutex, so it is never replaced.
    if (t != default_ && t->group.state() != memcg::GroupState::online) return default_;
    return t;
  }
  if (default_ && tenants_.size() >= opt_.max_tenants) return default_;
  auto t = std::make_unique<Tenant>();
  t->name = std::string(name);
  std::error_code ec;
  t->group = root_.create(name, ec);
  if (ec == std::errc::file_exists) t->group = memcg::Group::open(root_.path() + "/" + t->name, ec);  // made ahead (mkdir)
  if (ec) return default_;
  TenantLimits lim{opt_.tenant_max, opt_.tenant_low, opt_.tenant_min};
  if (auto p = opt_.per_tenant.find(t->name); p != opt_.per_tenant.end()) lim = p->second;
  t->group.set_max(lim.max);
  t->group.set_low(lim.low);
  t->group.set_min(lim.min);
  Tenant* raw = t.get();
  tenants_.emplace(raw->name, std::move(t));
  order_.push_back(raw);
  return raw;
}

std::vector<Tenant*> Store::tenants() {
  std::lock_guard<std::mutex> l(tenants_mu_);
  return order_;
}

bool Store::live(const Item* it) {
  const std::int64_t t = now();
  if (it->exptime != 0 && it->exptime <= t) return false;
  const std::int64_t due = flush_at_.load(std::memory_order_relaxed);
  if (due >= 0 && t >= due && it->stime <= due) return false;  // a delayed flush that came due
  return it->cas > flushed_below_.load(std::memory_order_acquire);
}

Item* Store::find_locked(Stripe& s, std::size_t h, std::string_view key) {
  for (Item* it = s.buckets[(h / kStripes) % s.buckets.size()]; it; it = it->next)
    if (it->hash == h && it->key_view() == key) return it;
  return nullptr;
}

void Store::link_locked(Stripe& s, Item* it) {
  it->atime = it->stime = now();
  if (s.count >= 2 * s.buckets.size()) {  // chains average 2: double the stripe's table
    std::vector<Item*> bigger(s.buckets.size() * 2, nullptr);
    for (Item* head : s.buckets) {
      while (Item* x = head) {
        head = x->next;
        Item*& b = bigger[(x->hash / kStripes) % bigger.size()];
        x->next = b;
        b = x;
      }
    }
    s.buckets.swap(bigger);
  }
  Item*& head = s.buckets[(it->hash / kStripes) % s.buckets.size()];
  it->next = head;
  head = it;
  ++s.count;
  lru_.add(*it, it->tenant->group);
  items_.fetch_add(1, std::memory_order_relaxed);
  total_items_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(it->size(), std::memory_order_relaxed);
  it->tenant->st.items.fetch_add(1, std::memory_order_relaxed);
  it->tenant->st.bytes.fetch_add(it->size(), std::memory_order_relaxed);
}

// Off the chain, and off the LRU (from_lru: false inside the shrinker's
// walk, which takes it off itself).
void Store::unlink_locked(Stripe& s, Item* it, bool from_lru) {
  for (Item** p = &s.buckets[(it->hash / kStripes) % s.buckets.size()]; *p; p = &(*p)->next) {
    if (*p == it) {
      *p = it->next;
      break;
    }
  }
  --s.count;
  if (from_lru) lru_.del(*it);
  items_.fetch_sub(1, std::memory_order_relaxed);
  bytes_.fetch_sub(it->size(), std::memory_order_relaxed);
  it->tenant->st.items.fetch_sub(1, std::memory_order_relaxed);
  it->tenant->st.bytes.fetch_sub(it->size(), std::memory_order_relaxed);
}

Item* Store::make(Tenant* t, std::string_view key, std::size_t h, std::uint32_t flags, std::int64_t exptime,
                  std::size_t nbytes) {
  void* mem = memcg::kmalloc(sizeof(Item) + key.size() + nbytes, t->group);
  if (!mem) return nullptr;
  auto* it = new (mem) Item;
  it->tenant = t;
  it->flags = flags;
  it->exptime = exptime;
  it->nbytes = static_cast<std::uint32_t>(nbytes);
  it->nkey = static_cast<std::uint16_t>(key.size());
  it->hash = h;
  std::memcpy(it->key(), key.data(), key.size());
  return it;
}

void Store::release(Item* it) {
  it->~Item();
  memcg::kfree(it);
}

Status Store::store(Cmd mode, std::string_view key, std::uint32_t flags, std::int64_t exptime,
                    std::string_view data, std::uint64_t cas_in, std::uint64_t* cas_out) {
  if (sizeof(Item) + key.size() + data.size() > opt_.item_max) return Status::too_large;
  Tenant* t = tenant_of(key);
  const std::size_t h = hash(key);
  Stripe& s = stripe_of(h);
  const std::int64_t exp = expiry(exptime);
  if (mode == Cmd::append || mode == Cmd::prepend) {
    // The new value is old + data: read the old length, allocate outside
    // the lock, and retry if the item changed meanwhile.
    for (;;) {
      std::size_t old_len;
      std::uint64_t old_cas;
      {
        std::lock_guard<std::mutex> l(s.mu);
        Item* old = find_locked(s, h, key);
        if (!old || !live(old)) return Status::not_stored;
        old_len = old->nbytes;
        old_cas = old->cas;
      }
      if (sizeof(Item) + key.size() + old_len + data.size() > opt_.item_max) return Status::too_large;
      Item* it = make(t, key, h, 0, 0, old_len + data.size());
      if (!it) return Status::no_memory;
      Item* old;
      {
        std::lock_guard<std::mutex> l(s.mu);
        old = find_locked(s, h, key);
        if (!old || old->cas != old_cas || !live(old)) {
          old = nullptr;
        } else {
          it->flags = old->flags;  // append/prepend keep flags and exptime
          it->exptime = old->exptime;
          char* v = it->value();
          if (mode == Cmd::append) {
            std::memcpy(v, old->value(), old_len);
            std::memcpy(v + old_len, data.data(), data.size());
          } else {
            std::memcpy(v, data.data(), data.size());
            std::memcpy(v + data.size(), old->value(), old_len);
          }
          it->cas = cas_.fetch_add(1, std::memory_order_relaxed) + 1;
          if (cas_out) *cas_out = it->cas;
          unlink_locked(s, old);
          link_locked(s, it);
          t->st.stores.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (old) {
        release(old);
        return Status::stored;
      }
      release(it);  // raced with a change: read again
    }
  }
  Item* it = make(t, key, h, flags, exp, data.size());
  if (!it) return Status::no_memory;
  std::memcpy(it->value(), data.data(), data.size());
  Item* old = nullptr;
  Status st = Status::stored;
  {
    std::lock_guard<std::mutex> l(s.mu);
    Item* cur = find_locked(s, h, key);
    if (cur && !live(cur)) {  // expired or flushed: as if absent
      unlink_locked(s, cur);
      old = cur;
      cur = nullptr;
    }
    if ((mode == Cmd::add && cur) || (mode == Cmd::replace && !cur)) {
      st = Status::not_stored;
    } else if (mode == Cmd::cas && !cur) {
      st = Status::not_found;
    } else if (mode == Cmd::cas && cur->cas != cas_in) {
      st = Status::exists;
    } else {
      if (cur) {
        unlink_locked(s, cur);
        old = cur;
      }
      it->cas = cas_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (cas_out) *cas_out = it->cas;
      link_locked(s, it);
      t->st.stores.fetch_add(1, std::memory_order_relaxed);
      it = nullptr;
    }
  }
  if (old) release(old);
  if (it) release(it);
  return st;
}

bool Store::get(std::string_view key, bool with_cas, bool touch, std::int64_t exptime, std::string& out) {
  Tenant* t = tenant_of(key);
  const bool hit = with_item(key, /*bump=*/true, [&](Item& it) {
    if (touch) it.exptime = expiry(exptime);
    out.append("VALUE ").append(key).append(" ").append(std::to_string(it.flags)).append(" ");
    out.append(std::to_string(it.nbytes));
    if (with_cas) out.append(" ").append(std::to_string(it.cas));
    out.append("\r\n").append(it.value(), it.nbytes).append("\r\n");
  });
  (hit ? t->st.hits : t->st.misses).fetch_add(1, std::memory_order_relaxed);
  return hit;
}

Status Store::remove(std::string_view key, std::uint64_t cas_in) {
  const std::size_t h = hash(key);
  Stripe& s = stripe_of(h);
  Item* it;
  bool was_live;
  {
    std::lock_guard<std::mutex> l(s.mu);
    it = find_locked(s, h, key);
    if (!it) return Status::not_found;
    was_live = live(it);
    if (was_live && cas_in != 0 && it->cas != cas_in) return Status::exists;
    unlink_locked(s, it);
  }
  release(it);
  return was_live ? Status::deleted : Status::not_found;
}

Status Store::touch(std::string_view key, std::int64_t exptime) {
  std::string ignored;
  const std::size_t h = hash(key);
  Stripe& s = stripe_of(h);
  std::lock_guard<std::mutex> l(s.mu);
  Item* it = find_locked(s, h, key);
  if (!it || !live(it)) return Status::not_found;
  it->exptime = expiry(exptime);
  return Status::touched;
}

Status Store::delta(std::string_view key, bool incr, std::uint64_t by, std::uint64_t* value,
                    std::uint64_t* cas_out) {
  Tenant* t = tenant_of(key);
  const std::size_t h = hash(key);
  Stripe& s = stripe_of(h);
  for (;;) {
    std::uint64_t v, old_cas;
    {
      std::lock_guard<std::mutex> l(s.mu);
      Item* old = find_locked(s, h, key);
      if (!old || !live(old)) return Status::not_found;
      if (!parse_u64(std::string_view(old->value(), old->nbytes), v)) return Status::non_numeric;
      old_cas = old->cas;
    }
    v = incr ? v + by : (by > v ? 0 : v - by);  // incr wraps at 2^64, decr stops at 0
    const std::string digits = std::to_string(v);
    Item* it = make(t, key, h, 0, 0, digits.size());
    if (!it) return Status::no_memory;
    std::memcpy(it->value(), digits.data(), digits.size());
    Item* old;
    {
      std::lock_guard<std::mutex> l(s.mu);
      old = find_locked(s, h, key);
      if (!old || old->cas != old_cas || !live(old)) {  // changed, or flushed meanwhile: read again
        old = nullptr;
      } else {
        it->flags = old->flags;
        it->exptime = old->exptime;
        it->cas = cas_.fetch_add(1, std::memory_order_relaxed) + 1;
        if (cas_out) *cas_out = it->cas;
        unlink_locked(s, old);
        link_locked(s, it);
      }
    }
    if (old) {
      release(old);
      *value = v;
      return Status::stored;
    }
    release(it);  // raced with a change: read again
  }
}

void Store::flush(std::int64_t delay) {
  const std::int64_t due = delay > 0 ? expiry(delay) : -1;
  if (due <= 0) {  // now (or a unix time already past)
    flush_at_.store(-1, std::memory_order_relaxed);
    flushed_below_.store(cas_.load(std::memory_order_relaxed), std::memory_order_release);
    return;
  }
  flush_at_.store(due, std::memory_order_relaxed);
}

void Store::count_get(std::string_view key, bool hit) {
  Tenant* t = tenant_of(key);
  (hit ? t->st.hits : t->st.misses).fetch_add(1, std::memory_order_relaxed);
}

void Store::reset_stats() {
  for (Tenant* t : tenants()) {
    t->st.hits.store(0, std::memory_order_relaxed);
    t->st.misses.store(0, std::memory_order_relaxed);
    t->st.evictions.store(0, std::memory_order_relaxed);
  }
  evictions_.store(0, std::memory_order_relaxed);
  total_items_.store(items_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace tcache
