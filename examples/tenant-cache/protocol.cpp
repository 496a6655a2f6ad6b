#include "protocol.hpp"

#include <array>
#include <utility>

namespace tcache {

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool parse_i64(std::string_view s, std::int64_t& out) {
  const bool neg = !s.empty() && s[0] == '-';
  std::uint64_t v;
  if (!parse_u64(neg ? s.substr(1) : s, v) || v > static_cast<std::uint64_t>(INT64_MAX)) return false;
  out = neg ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  return true;
}

namespace {

// The next space-separated token at or after `i` (runs of spaces count
// once); empty at the end of the line.
std::string_view next_token(std::string_view line, std::size_t& i) {
  while (i < line.size() && line[i] == ' ') ++i;
  const std::size_t start = i;
  while (i < line.size() && line[i] != ' ') ++i;
  return line.substr(start, i - start);
}

// Splits on spaces, at most N tokens (the rest of the line from `rest`);
// false if there are more.
template <std::size_t N>
bool tokens(std::string_view line, std::array<std::string_view, N>& t, std::size_t& n) {
  n = 0;
  std::size_t i = 0;
  for (;;) {
    const std::string_view tok = next_token(line, i);
    if (tok.empty()) return true;
    if (n == N) return false;
    t[n++] = tok;
  }
}

bool u32(std::string_view s, std::uint32_t& out) {
  std::uint64_t v;
  if (!parse_u64(s, v) || v > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// An optional trailing "noreply" among the tokens [from, n).
bool noreply_tail(const std::string_view* t, std::size_t from, std::size_t n, bool& noreply) {
  if (n == from) return true;
  if (n == from + 1 && t[from] == "noreply") {
    noreply = true;
    return true;
  }
  return false;
}

}  // namespace

ParseError parse(std::string_view line, Request& r) {
  r = Request{};
  auto key_ok = [](std::string_view k) { return k.size() <= kMaxKey; };
  std::size_t pos = 0;
  const std::string_view c = next_token(line, pos);
  if (c.empty()) return ParseError::unknown;
  // Retrieval lines hold any number of keys: read them one by one.
  if (c == "get" || c == "gets" || c == "gat" || c == "gats") {
    r.cmd = c == "get" ? Cmd::get : c == "gets" ? Cmd::gets : c == "gat" ? Cmd::gat : Cmd::gats;
    if (r.cmd == Cmd::gat || r.cmd == Cmd::gats) {
      const std::string_view e = next_token(line, pos);
      if (e.empty() || !parse_i64(e, r.exptime)) return ParseError::bad_format;
    }
    for (std::string_view k = next_token(line, pos); !k.empty(); k = next_token(line, pos)) {
      if (!key_ok(k)) return ParseError::key_too_long;
      r.keys.push_back(k);
    }
    return r.keys.empty() ? ParseError::unknown : ParseError::none;  // memcached: "get" alone is ERROR
  }
  if (line.size() > kMaxLine) return ParseError::bad_format;  // only get lines may be longer
  std::array<std::string_view, 24> t;  // every other command has fewer tokens (meta flags: 24 at most)
  std::size_t n;
  if (!tokens(line, t, n)) return ParseError::bad_format;

  static constexpr std::pair<std::string_view, Cmd> kStorage[] = {
      {"set", Cmd::set},         {"add", Cmd::add},         {"replace", Cmd::replace},
      {"append", Cmd::append},   {"prepend", Cmd::prepend}, {"cas", Cmd::cas}};
  for (const auto& [name, cmd] : kStorage) {
    if (c != name) continue;
    r.cmd = cmd;
    const std::size_t need = cmd == Cmd::cas ? 6 : 5;  // cmd key flags exptime bytes [cas]
    if (n < need || !key_ok(t[1]) || !u32(t[2], r.flags) || !parse_i64(t[3], r.exptime) || !u32(t[4], r.bytes))
      return n >= 2 && !key_ok(t[1]) ? ParseError::key_too_long : ParseError::bad_format;
    if (cmd == Cmd::cas && !parse_u64(t[5], r.cas_unique)) return ParseError::bad_format;
    if (!noreply_tail(t.data(), need, n, r.noreply)) return ParseError::bad_format;
    r.keys.push_back(t[1]);
    return ParseError::none;
  }

  if (c == "delete") {
    r.cmd = Cmd::del;
    if (n < 2 || !key_ok(t[1])) return n >= 2 ? ParseError::key_too_long : ParseError::bad_format;
    r.keys.push_back(t[1]);
    std::size_t from = 2;
    if (n > 2 && t[2] == "0") from = 3;  // the old "delete key 0" form
    if (!noreply_tail(t.data(), from, n, r.noreply)) return ParseError::bad_format;
    return ParseError::none;
  }
  if (c == "incr" || c == "decr") {
    r.cmd = c == "incr" ? Cmd::incr : Cmd::decr;
    if (n < 3 || !key_ok(t[1])) return n >= 2 && !key_ok(t[1]) ? ParseError::key_too_long : ParseError::bad_format;
    if (!parse_u64(t[2], r.delta)) return ParseError::bad_delta;
    if (!noreply_tail(t.data(), 3, n, r.noreply)) return ParseError::bad_format;
    r.keys.push_back(t[1]);
    return ParseError::none;
  }
  if (c == "touch") {
    r.cmd = Cmd::touch;
    if (n < 3 || !key_ok(t[1]) || !parse_i64(t[2], r.exptime)) return ParseError::bad_format;
    if (!noreply_tail(t.data(), 3, n, r.noreply)) return ParseError::bad_format;
    r.keys.push_back(t[1]);
    return ParseError::none;
  }
  if (c == "flush_all") {
    r.cmd = Cmd::flush_all;
    std::size_t from = 1;
    if (n > 1 && t[1] != "noreply") {
      if (!parse_i64(t[1], r.delay) || r.delay < 0) return ParseError::bad_format;
      from = 2;
    }
    if (!noreply_tail(t.data(), from, n, r.noreply)) return ParseError::bad_format;
    return ParseError::none;
  }
  if (c == "stats") {
    r.cmd = Cmd::stats;
    if (n > 1) r.args = t[1];
    return ParseError::none;
  }
  if (c == "version") {  // memcached ignores what follows
    r.cmd = Cmd::version;
    return ParseError::none;
  }
  if (c == "verbosity") {  // as memcached: "verbosity [level] [noreply]", a level that does not parse is ignored
    r.cmd = Cmd::verbosity;
    if (n < 2 || n > 3) return ParseError::unknown;
    r.noreply = t[n - 1] == "noreply";
    if (n == 3 && !r.noreply) return ParseError::unknown;
    u32(t[1], r.level);
    return ParseError::none;
  }
  if (c == "mn") {
    r.cmd = Cmd::mn;
    return ParseError::none;
  }
  static constexpr std::pair<std::string_view, Cmd> kMeta[] = {
      {"mg", Cmd::mg}, {"ms", Cmd::ms}, {"md", Cmd::md}, {"ma", Cmd::ma}};
  for (const auto& [name, cmd] : kMeta) {
    if (c != name) continue;
    r.cmd = cmd;
    if (n < 2) return ParseError::bad_format;
    if (!key_ok(t[1])) return ParseError::key_too_long;
    r.keys.push_back(t[1]);
    std::size_t from = 2;
    if (cmd == Cmd::ms) {  // ms <key> <datalen> <flags>*
      if (n < 3 || !u32(t[2], r.bytes)) return ParseError::bad_format;
      from = 3;
    }
    for (std::size_t i = from; i < n; ++i) {
      if (t[i].empty() || !((t[i][0] >= 'a' && t[i][0] <= 'z') || (t[i][0] >= 'A' && t[i][0] <= 'Z')))
        return ParseError::bad_format;
      r.mflags.push_back(t[i]);
      if (t[i] == "q") r.noreply = true;
    }
    return ParseError::none;
  }
  if (c == "quit") {
    r.cmd = Cmd::quit;
    return ParseError::none;
  }
  return ParseError::unknown;
}

}  // namespace tcache
