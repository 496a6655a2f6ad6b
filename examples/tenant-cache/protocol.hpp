// memcached's text protocol: one command line parsed into a Request
// (docs/tenant-cache.md). Pure functions, no I/O: the server feeds lines and
// data blocks, the tests feed strings.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tcache {

enum class Cmd {
  get, gets, gat, gats,                        // retrieval (gat/gats: with a new exptime)
  set, add, replace, append, prepend, cas,     // storage: a data block follows
  ms,                                          // meta set: a data block follows too
  del, incr, decr, touch,
  flush_all, stats, version, verbosity, quit,
  mg, md, ma, mn,                              // the other meta commands (meta.hpp)
};

/// Limits of the protocol (memcached's).
inline constexpr std::size_t kMaxKey = 250;
inline constexpr std::size_t kMaxLine = 2048;  // a longer command line is refused (get lines excepted)

struct Request {
  Cmd cmd = Cmd::get;
  std::vector<std::string_view> keys;  // retrieval: every key; the others: keys[0]
  std::uint32_t flags = 0;
  std::int64_t exptime = 0;     // storage, touch, gat
  std::uint32_t bytes = 0;      // storage: length of the data block (without its \r\n)
  std::uint64_t cas_unique = 0; // cas
  std::uint64_t delta = 0;      // incr/decr
  std::int64_t delay = 0;       // flush_all
  std::uint32_t level = 0;      // verbosity
  std::string_view args;        // stats
  std::vector<std::string_view> mflags;  // meta commands: the flag tokens ("v", "T30", "Oabc")
  bool noreply = false;
};

enum class ParseError {
  none,
  unknown,      // "ERROR": no such command
  bad_format,   // "CLIENT_ERROR bad command line format"
  key_too_long, // "CLIENT_ERROR bad command line format" too (memcached's answer)
  bad_delta,    // "CLIENT_ERROR invalid numeric delta argument"
};

/// Parses a command line (without its line end). Views in `out` point into
/// `line`.
ParseError parse(std::string_view line, Request& out);

/// True for the storage commands (a data block of out.bytes + 2 follows).
inline bool is_storage(Cmd c) { return c >= Cmd::set && c <= Cmd::ms; }

/// Parses an unsigned decimal of at most 20 digits that fits in 64 bits
/// (incr/decr values, numbers of a command line).
bool parse_u64(std::string_view s, std::uint64_t& out);
bool parse_i64(std::string_view s, std::int64_t& out);

}  // namespace tcache
