// Error helpers for the std::filesystem-style API: every fallible call has an
// error_code overload (noexcept) and a throwing overload built on it.
#pragma once

#include <system_error>

namespace memcg::detail {

inline std::error_code make_err(std::errc e) noexcept { return std::make_error_code(e); }

[[noreturn]] void throw_error(const std::error_code& ec, const char* what);

inline void throw_if(const std::error_code& ec, const char* what) {
  if (ec) throw_error(ec, what);
}

}  // namespace memcg::detail
