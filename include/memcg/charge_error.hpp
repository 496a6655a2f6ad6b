// memcg/charge_error.hpp - the exception a refused charge throws.
//
// The throwing charging APIs (Reservation::make(g, n), Allocator::allocate,
// MemoryResource::allocate) throw ChargeRefused when a limit refused the
// charge: it derives from std::bad_alloc (code that catches that keeps
// working) and says which group refused, its limit, its usage at that
// moment and the size asked for. Other failures keep their exceptions
// (std::system_error with ENOENT for a removed group, plain std::bad_alloc
// when the process itself is out of memory).
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <string>

namespace memcg {

class ChargeRefused : public std::bad_alloc {
 public:
  /// `group`: path of the group whose limit refused; `limit`: that limit
  /// (memory.max, or memory.high for ChargeFlags::fail_at_high).
  ChargeRefused(std::string group, std::uint64_t limit, std::uint64_t usage, std::uint64_t requested);
  const char* what() const noexcept override;
  const std::string& group() const noexcept;
  std::uint64_t limit() const noexcept;
  std::uint64_t usage() const noexcept;      ///< the group's memory.current at the refusal
  std::uint64_t requested() const noexcept;  ///< bytes the refused call asked for

 private:
  struct Info;
  std::shared_ptr<const Info> info_;  // shared: copying an exception never throws
};

}  // namespace memcg
