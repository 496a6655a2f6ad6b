#include "ops/ref_parse.hpp"

#include <string>

namespace ops_fuzz {

bool ref_parse(const std::string& text, u64& out) {
  std::size_t b = 0, e = text.size();
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (b < e && sp(text[b])) ++b;
  while (e > b && sp(text[e - 1])) --e;
  std::string s = text.substr(b, e - b);
  if (s == "max") {
    out = unlimited;
    return true;
  }
  unsigned shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
    }
    if (shift) s.pop_back();
  }
  if (s.empty()) return false;
  unsigned __int128 v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > UINT64_MAX) return false;
  }
  v <<= shift;
  if (v > UINT64_MAX) return false;
  out = static_cast<u64>(v);
  return true;
}

std::string ref_limit_text(u64 v) { return v == unlimited ? "max\n" : std::to_string(v) + "\n"; }

// "key value\n" lines -> value of key (nullopt if absent or malformed).
std::optional<u64> field(const std::string& text, const std::string& key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) return std::nullopt;
    if (text.compare(pos, key.size() + 1, key + " ") == 0) {
      u64 v = 0;
      std::size_t i = pos + key.size() + 1;
      if (i == eol) return std::nullopt;
      for (; i < eol; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        v = v * 10 + static_cast<u64>(text[i] - '0');
      }
      return v;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

}  // namespace ops_fuzz
