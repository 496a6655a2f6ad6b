// memcg/reservation.hpp - raw charges for memory the caller manages elsewhere.
//
// A Reservation charges bytes to a group (hierarchically, with limits) and
// uncharges them when shrunk or destroyed. It stays valid after its group is
// removed: the group is pinned once while it has live reservations (the
// kmem pin protocol), not once per reservation, and the uncharge that brings
// a removed group's reservations to zero drops that pin.
//
// Concurrency: a Reservation is owned by one thread at a time (move it to
// hand it over); different Reservations may be used concurrently.
#pragma once

#include <cstdint>
#include <system_error>

#include "memcg/charge_flags.hpp"
#include "memcg/group.hpp"

namespace memcg {

class Reservation {
 public:
  Reservation() noexcept = default;
  Reservation(Reservation&& o) noexcept : g_(o.g_), bytes_(o.bytes_) { o.g_ = nullptr; o.bytes_ = 0; }
  Reservation& operator=(Reservation&& o) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  /// Charges `bytes` to `g`. Errors: ENOMEM (a limit refused it), ENOENT
  /// (group removed), EINVAL (null group); the error_code form returns an
  /// empty reservation then. The throwing form throws ChargeRefused
  /// (memcg/charge_error.hpp: which group refused, its limit and usage) for
  /// a refused charge and std::system_error for the others.
  static Reservation make(const Group& g, Bytes bytes);
  static Reservation make(const Group& g, Bytes bytes, std::error_code& ec) noexcept;
  /// The same with per-call charge flags (memcg/charge_flags.hpp).
  static Reservation make(const Group& g, Bytes bytes, ChargeFlags flags);
  static Reservation make(const Group& g, Bytes bytes, ChargeFlags flags, std::error_code& ec) noexcept;

  /// Charges `bytes` more; false (nothing changed) if a limit refused
  /// (ENOMEM, also when the size would pass 2^64-1), the group was removed
  /// (ENOENT) or the reservation is empty (EINVAL). A charge path: it never
  /// throws; the error_code form says which.
  bool grow(Bytes bytes) noexcept;
  bool grow(Bytes bytes, std::error_code& ec) noexcept;
  /// Uncharges min(bytes, size()).
  void shrink(Bytes bytes) noexcept;
  /// Uncharges everything; the reservation becomes empty.
  void reset() noexcept;

  std::uint64_t size() const noexcept { return bytes_; }
  explicit operator bool() const noexcept { return g_ != nullptr; }
  Group group() const;

 private:
  detail::GroupImpl* g_ = nullptr;  // pinned through the group's reservation pin
  std::uint64_t bytes_ = 0;
};

}  // namespace memcg
