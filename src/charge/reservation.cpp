#include "memcg/reservation.hpp"

#include "charge/charge.hpp"
#include "charge/pin.hpp"
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"

namespace memcg {

using detail::GroupImpl;

namespace {
void stat_add(GroupImpl* g, std::uint64_t b) { g->stats.reservations.fetch_add(b, std::memory_order_relaxed); }
void stat_sub(GroupImpl* g, std::uint64_t b) { g->stats.reservations.fetch_sub(b, std::memory_order_relaxed); }
}  // namespace

Reservation Reservation::try_make(const Group& g, std::uint64_t bytes, std::error_code& ec) noexcept {
  GroupImpl* p = g.impl();
  if (!p) {
    ec = detail::make_err(std::errc::invalid_argument);
    return {};
  }
  if (!detail::pin_group(p, ec)) return {};
  if (!detail::try_charge_memcg(p, bytes)) {
    detail::unpin_group(p);
    ec = detail::make_err(std::errc::not_enough_memory);
    return {};
  }
  stat_add(p, bytes);
  ec.clear();
  Reservation r;
  r.g_ = p;
  r.bytes_ = bytes;
  return r;
}

Reservation Reservation::make(const Group& g, std::uint64_t bytes) {
  std::error_code ec;
  Reservation r = try_make(g, bytes, ec);
  detail::throw_if(ec, "memcg::Reservation::make");
  return r;
}

Reservation& Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    reset();
    g_ = o.g_;
    bytes_ = o.bytes_;
    o.g_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Reservation::~Reservation() { reset(); }

bool Reservation::grow(std::uint64_t bytes) noexcept {
  if (!g_ || !g_->is_online()) return false;
  if (bytes > UINT64_MAX - bytes_) return false;
  if (!detail::try_charge_memcg(g_, bytes)) return false;
  stat_add(g_, bytes);
  bytes_ += bytes;
  return true;
}

void Reservation::shrink(std::uint64_t bytes) noexcept {
  if (!g_) return;
  if (bytes > bytes_) bytes = bytes_;
  detail::uncharge_memcg(g_, bytes);
  stat_sub(g_, bytes);
  bytes_ -= bytes;
}

void Reservation::reset() noexcept {
  if (!g_) return;
  shrink(bytes_);
  GroupImpl* g = g_;
  g_ = nullptr;
  detail::unpin_group(g);  // may drop the last reference: g is not touched after
}

Group Reservation::group() const {
  if (!g_) return {};
  detail::group_get(g_);  // safe: the pin keeps g_ alive while we exist
  return Group::adopt(g_);
}

}  // namespace memcg
