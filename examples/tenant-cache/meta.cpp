#include "meta.hpp"

#include <cstdint>
#include <string>

namespace tcache {

namespace {

// The flags of one meta request: which letters were given, their tokens,
// and the order to echo the return flags in.
struct Flags {
  std::string_view token[128];
  bool has[128] = {};
  std::string order;  // letters in request order
  bool bad = false;

  Flags(const std::vector<std::string_view>& f, std::string_view allowed) {
    for (std::string_view t : f) {
      const auto c = static_cast<unsigned char>(t[0]);
      if (c >= 128 || allowed.find(static_cast<char>(c)) == std::string_view::npos) {
        bad = true;
        return;
      }
      has[c] = true;
      token[c] = t.substr(1);
      order.push_back(static_cast<char>(c));
    }
  }
  bool operator[](char c) const { return has[static_cast<unsigned char>(c)]; }
  std::string_view tok(char c) const { return token[static_cast<unsigned char>(c)]; }
};

// The return flags asked for (those with a value to echo), in request order.
struct ItemView {
  std::uint64_t cas = 0;
  std::uint32_t flags = 0;
  std::int64_t ttl = -1;
  std::uint32_t size = 0;
  int hit_before = 0;
  std::int64_t idle = 0;
};

std::string ret_flags(const Flags& f, std::string_view key, const ItemView* v) {
  std::string out;
  for (char c : f.order) {
    std::string piece;
    switch (c) {
      case 'k': piece = "k" + std::string(key) + (f['b'] ? " b" : ""); break;  // memcached marks a base64 key
      case 'O': piece = "O" + std::string(f.tok('O')); break;
      case 'c': if (v) piece = "c" + std::to_string(v->cas); break;
      case 'f': if (v) piece = "f" + std::to_string(v->flags); break;
      case 't': if (v) piece = "t" + std::to_string(v->ttl); break;
      case 's': if (v) piece = "s" + std::to_string(v->size); break;
      case 'h': if (v) piece = "h" + std::to_string(v->hit_before); break;
      case 'l': if (v) piece = "l" + std::to_string(v->idle); break;
      default: break;
    }
    if (!piece.empty()) out += " " + piece;
  }
  return out;
}

ItemView view_of(const Item& it) {
  ItemView v;
  v.cas = it.cas;
  v.flags = it.flags;
  v.ttl = it.exptime == 0 ? -1 : it.exptime - Store::now();
  if (it.exptime != 0 && v.ttl < 0) v.ttl = 0;
  v.size = it.nbytes;
  v.hit_before = it.fetched ? 1 : 0;
  v.idle = Store::now() - it.atime;
  return v;
}

// Standard base64 (RFC 4648, with padding) of a key given with the b flag;
// false if it is not valid base64 or decodes to nothing.
bool base64_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.empty() || in.size() % 4 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad || (v[j] = val(c)) < 0) return false;
    }
    const unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                       (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return !out.empty() && out.size() <= kMaxKey;
}

bool num_u64(std::string_view s, std::uint64_t& out) { return parse_u64(s, out); }
bool num_i64(std::string_view s, std::int64_t& out) { return parse_i64(s, out); }

const char* kBadFlag = "CLIENT_ERROR invalid flag\r\n";
const char* kBadKey = "CLIENT_ERROR error decoding key\r\n";

// The key the store sees: r.keys[0], base64-decoded with the b flag (the k
// flag returns it as the client sent it). False if it does not decode.
bool store_key(const Flags& f, const Request& r, std::string& decoded, std::string_view& key) {
  key = r.keys[0];
  if (!f['b']) return true;
  if (!base64_decode(key, decoded)) return false;
  key = decoded;
  return true;
}
const char* kBadToken = "CLIENT_ERROR bad command line format\r\n";  // memcached's reply to a bad token

// A meta request's flags (letters from `allowed`) and the key the store
// sees; `ok` false once the error line is in `out`.
struct Meta {
  Flags f;
  std::string decoded;
  std::string_view key;
  bool ok = true;
  Meta(const Request& r, std::string_view allowed, std::string& out) : f(r.mflags, allowed) {
    if (f.bad) {
      out += kBadFlag;
      ok = false;
    } else if (!store_key(f, r, decoded, key)) {
      out += kBadKey;
      ok = false;
    }
  }
};

void mg(Store& store, const Request& r, std::string& out) {
  const Meta m(r, "bvsfcthlkOquT", out);
  if (!m.ok) return;
  const Flags& f = m.f;
  const std::string_view key = m.key;
  std::int64_t ttl = 0;
  if (f['T'] && !num_i64(f.tok('T'), ttl)) {
    out += kBadToken;
    return;
  }
  ItemView v;
  std::string value;
  const bool hit = store.with_item(key, !f['u'], [&](Item& it) {
    if (f['T']) it.exptime = Store::expiry(ttl);
    v = view_of(it);
    if (f['v']) value.assign(it.value(), it.nbytes);
  });
  store.count_get(key, hit);
  if (!hit) {
    if (!f['q']) out += "EN\r\n";
    return;
  }
  const std::string rf = ret_flags(f, r.keys[0], &v);
  if (f['v'])
    out += "VA " + std::to_string(value.size()) + rf + "\r\n" + value + "\r\n";
  else
    out += "HD" + rf + "\r\n";
}

void ms(Store& store, const Request& r, std::string_view data, std::string& out) {
  const Meta m(r, "bFTCMckOq", out);
  if (!m.ok) return;
  const Flags& f = m.f;
  const std::string_view key = m.key;
  std::uint64_t flags = 0, cas = 0;
  std::int64_t ttl = 0;
  if ((f['F'] && (!num_u64(f.tok('F'), flags) || flags > UINT32_MAX)) || (f['T'] && !num_i64(f.tok('T'), ttl)) ||
      (f['C'] && !num_u64(f.tok('C'), cas))) {
    out += kBadToken;
    return;
  }
  Cmd mode = Cmd::set;
  if (f['M']) {
    const std::string_view m = f.tok('M');
    if (m.size() != 1) {
      out += kBadToken;
      return;
    }
    switch (m[0]) {
      case 'S': case 's': mode = Cmd::set; break;
      case 'E': case 'e': mode = Cmd::add; break;
      case 'A': case 'a': mode = Cmd::append; break;
      case 'P': case 'p': mode = Cmd::prepend; break;
      case 'R': case 'r': mode = Cmd::replace; break;
      default: out += kBadToken; return;
    }
  }
  if (f['C']) {
    if (mode != Cmd::set) {
      out += kBadFlag;  // compare-and-swap with set mode only
      return;
    }
    mode = Cmd::cas;
  }
  std::uint64_t new_cas = 0;
  const Status st = store.store(mode, key, static_cast<std::uint32_t>(flags), ttl, data, cas, &new_cas);
  if (st == Status::too_large) {
    out += "SERVER_ERROR object too large for cache\r\n";
    return;
  }
  if (st == Status::no_memory) {
    out += "SERVER_ERROR out of memory storing object\r\n";
    return;
  }
  ItemView v;  // only c has a value here: the cas this store gave the item
  v.cas = new_cas;
  const ItemView* vp = st == Status::stored ? &v : nullptr;
  const std::string rf = ret_flags(f, r.keys[0], vp);
  switch (st) {
    case Status::stored: if (!f['q']) out += "HD" + rf + "\r\n"; break;
    case Status::not_stored: out += "NS" + rf + "\r\n"; break;
    case Status::exists: out += "EX" + rf + "\r\n"; break;
    default: out += "NF" + rf + "\r\n"; break;
  }
}

void md(Store& store, const Request& r, std::string& out) {
  const Meta m(r, "bCkOq", out);
  if (!m.ok) return;
  const Flags& f = m.f;
  const std::string_view key = m.key;
  std::uint64_t cas = 0;
  if (f['C'] && !num_u64(f.tok('C'), cas)) {
    out += kBadToken;
    return;
  }
  const Status st = store.remove(key, cas);
  const std::string rf = ret_flags(f, r.keys[0], nullptr);
  if (st == Status::deleted) {
    if (!f['q']) out += "HD" + rf + "\r\n";
  } else if (st == Status::exists) {
    out += "EX" + rf + "\r\n";
  } else if (!f['q']) {
    out += "NF" + rf + "\r\n";
  }
}

void ma(Store& store, const Request& r, std::string& out) {
  const Meta m(r, "bDMNJTvtckOq", out);
  if (!m.ok) return;
  const Flags& f = m.f;
  const std::string_view key = m.key;
  std::uint64_t delta = 1, initial = 0;
  std::int64_t vivify = 0, ttl = 0;
  if ((f['D'] && !num_u64(f.tok('D'), delta)) || (f['J'] && !num_u64(f.tok('J'), initial)) ||
      (f['N'] && !num_i64(f.tok('N'), vivify)) || (f['T'] && !num_i64(f.tok('T'), ttl))) {
    out += kBadToken;
    return;
  }
  bool incr = true;
  if (f['M']) {
    const std::string_view m = f.tok('M');
    if (m == "I" || m == "i" || m == "+") incr = true;
    else if (m == "D" || m == "d" || m == "-") incr = false;
    else {
      out += kBadToken;
      return;
    }
  }
  std::uint64_t value = 0;
  std::uint64_t new_cas = 0;
  Status st = store.delta(key, incr, delta, &value, &new_cas);
  if (st == Status::not_found && f['N']) {  // create it with the initial value (no delta applied)
    const std::string init = std::to_string(initial);
    st = store.store(Cmd::add, key, 0, vivify, init, 0, &new_cas);
    if (st == Status::stored) value = initial;
    else if (st == Status::not_stored) st = store.delta(key, incr, delta, &value, &new_cas);  // raced with a creator
  }
  if (st == Status::non_numeric) {
    out += "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    return;
  }
  if (st == Status::no_memory) {
    out += "SERVER_ERROR out of memory\r\n";
    return;
  }
  if (st != Status::stored) {
    if (!f['q']) out += "NF" + ret_flags(f, r.keys[0], nullptr) + "\r\n";
    return;
  }
  ItemView v;
  store.with_item(key, false, [&](Item& it) {
    if (f['T']) it.exptime = Store::expiry(ttl);
    v = view_of(it);
  });
  v.cas = new_cas;  // this operation's, not a later writer's
  const std::string rf = ret_flags(f, r.keys[0], &v);
  if (f['v']) {
    const std::string digits = std::to_string(value);
    out += "VA " + std::to_string(digits.size()) + rf + "\r\n" + digits + "\r\n";
  } else if (!f['q']) {
    out += "HD" + rf + "\r\n";
  }
}

}  // namespace

void meta_command(Store& store, const Request& r, std::string_view data, std::string& out) {
  switch (r.cmd) {
    case Cmd::mg: return mg(store, r, out);
    case Cmd::ms: return ms(store, r, data, out);
    case Cmd::md: return md(store, r, out);
    case Cmd::ma: return ma(store, r, out);
    case Cmd::mn: out += "MN\r\n"; return;
    default: out += "ERROR\r\n"; return;
  }
}

}  // namespace tcache
