#include "memcg/reservation.hpp"

#include "charge/charge.hpp"
#include "charge/pin.hpp"
#include "core/access.hpp"
#include "core/errors.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"

namespace memcg {

using detail::GroupImpl;

namespace {
void stat_add(GroupImpl* g, std::uint64_t b) { g->stats.reservations.fetch_add(b, std::memory_order_relaxed); }
void stat_sub(GroupImpl* g, std::uint64_t b) { g->stats.reservations.fetch_sub(b, std::memory_order_relaxed); }
}  // namespace

Reservation Reservation::make(const Group& g, Bytes bytes, std::error_code& ec) noexcept {
  GroupImpl* p = detail::Access::impl(g);
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

Reservation Reservation::make(const Group& g, Bytes bytes) {
  std::error_code ec;
  detail::clear_refusal();
  Reservation r = make(g, bytes, ec);
  if (ec == std::errc::not_enough_memory) detail::throw_refused(bytes);  // ChargeRefused: who, limit, usage
  detail::throw_if(ec, "memcg::Reservation::make");
  return r;
}

Reservation Reservation::make(const Group& g, Bytes bytes, ChargeFlags flags, std::error_code& ec) noexcept {
  ScopedChargeFlags scope(flags);
  return make(g, bytes, ec);
}

Reservation Reservation::make(const Group& g, Bytes bytes, ChargeFlags flags) {
  ScopedChargeFlags scope(flags);
  return make(g, bytes);
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

bool Reservation::grow(Bytes bytes, std::error_code& ec) noexcept {
  if (!g_) {
    ec = detail::make_err(std::errc::invalid_argument);
    return false;
  }
  if (!g_->is_online()) {
    ec = detail::make_err(std::errc::no_such_file_or_directory);
    return false;
  }
  if (bytes > UINT64_MAX - bytes_ || !detail::try_charge_memcg(g_, bytes)) {
    ec = detail::make_err(std::errc::not_enough_memory);
    return false;
  }
  stat_add(g_, bytes);
  bytes_ += bytes;
  ec.clear();
  return true;
}

bool Reservation::grow(Bytes bytes) noexcept {
  std::error_code ec;
  return grow(bytes, ec);
}

void Reservation::shrink(Bytes amount) noexcept {
  if (!g_) return;
  std::uint64_t bytes = amount;
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
  return detail::Access::adopt(g_);
}

}  // namespace memcg
