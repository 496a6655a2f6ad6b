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

  /// Charges `bytes` to `g`. On failure returns an empty reservation with
  /// ec = ENOMEM (a limit refused it), ENOENT (group removed) or EINVAL
  /// (null group).
  static Reservation try_make(const Group& g, std::uint64_t bytes, std::error_code& ec) noexcept;
  /// Throwing form: std::system_error with the codes above.
  static Reservation make(const Group& g, std::uint64_t bytes);

  /// Charges `bytes` more; false (nothing changed) if a limit refused or the
  /// group was removed.
  bool grow(std::uint64_t bytes) noexcept;
  /// Uncharges min(bytes, size()).
  void shrink(std::uint64_t bytes) noexcept;
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
