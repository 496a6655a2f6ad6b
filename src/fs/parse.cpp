// Limit values of the text tree: "max", or decimal bytes with an optional
// binary suffix K/M/G/T (either case). White space around the value (as
// `echo` adds a newline) is allowed; nothing else is.
#include <cstdint>
#include <string>
#include <string_view>

#include "memcg/fs.hpp"
#include "memcg/types.hpp"

namespace memcg::fs {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace

bool parse_bytes(std::string_view text, std::uint64_t& out) noexcept {
  std::string_view s = trim(text);
  if (s == "max") {
    out = unlimited;
    return true;
  }
  if (s.empty()) return false;
  unsigned shift = 0;
  switch (s.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: break;
  }
  if (shift) s.remove_suffix(1);
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;  // overflow
    v = v * 10 + d;
  }
  if (shift && v > (UINT64_MAX >> shift)) return false;  // overflow after scaling
  out = v << shift;
  return true;
}

bool parse_count(std::string_view text, std::uint64_t& out) noexcept {
  std::string_view s = trim(text);
  if (s.empty() || s.back() < '0' || s.back() > '9') return s == "max" ? (out = unlimited, true) : false;
  return parse_bytes(s, out);  // digits only now: no suffix to scale
}

std::string format_limit(std::uint64_t bytes) {
  return bytes == unlimited ? std::string("max") : std::to_string(bytes);
}

}  // namespace memcg::fs
