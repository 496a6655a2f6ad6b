// memcached 1.6's meta commands (its protocol.txt, "Meta Commands") on a
// Store: mg, ms, md, ma, mn. Flags are single letters, some with a token
// ("T30"); return flags come back in the order they were asked for.
//
//   mg <key> <flags>*  get: v value, s size, f client flags, c cas, t TTL
//                      left (-1: none), h hit before (0/1), l seconds since
//                      last access, k key, O opaque, q no EN on a miss,
//                      u no LRU bump, T<ttl> touch
//   ms <key> <datalen> <flags>* + data   set: F<flags>, T<ttl>, C<cas>
//                      (compare, mode S only), M<mode> (S set, E add,
//                      A append, P prepend, R replace), c, k, O, q (no HD)
//   md <key> <flags>*  delete: C<cas>, k, O, q (no HD, no NF)
//   ma <key> <flags>*  arithmetic: D<delta> (default 1), M<mode> (I or +
//                      incr, D or - decr), N<ttl> create on a miss with
//                      J<initial> (default 0), T<ttl>, v, t, c, k, O, q
//   mn                 "MN": the end of a pipeline
//
// b (any command): the key is base64 (RFC 4648); k returns it as sent.
// Not supported (CLIENT_ERROR invalid flag): E (explicit
// cas), I (invalidate), R and N on mg, x on md.
#pragma once

#include <string>
#include <string_view>

#include "protocol.hpp"
#include "store.hpp"

namespace tcache {

/// Executes a meta command (data: ms's value) and appends its reply.
void meta_command(Store& store, const Request& r, std::string_view data, std::string& out);

}  // namespace tcache
