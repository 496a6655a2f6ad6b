// The control socket's protocol (docs/control-socket.md): one request line
// in, one reply out, executed against the text tree (memcg::fs). No I/O
// here: the server (server.cpp) frames lines and writes replies.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace memcg::detail::serve {

/// The reply to one request line (its '\n' removed; one trailing '\r' is
/// ignored): "ok N\n" + N bytes, or "err ENAME message\n".
std::string execute(std::string_view line);

/// "ok N\n" + payload.
std::string ok_reply(std::string_view payload);
/// "err ENAME message\n" (newlines in the message become spaces).
std::string err_reply(const std::error_code& ec, std::string_view message);

/// The errno's symbolic name ("ENOENT"); "E<number>" for one not listed.
std::string errno_name(int e);
/// The reverse: the errno of a name errno_name() gives; 0 if unknown.
int errno_value(std::string_view name);

/// The subtree at `path` as JSON: {"path", "files": {name: contents},
/// "children": [...]}; files whose read fails are left out.
std::string tree_json(const std::string& path, std::error_code& ec);

}  // namespace memcg::detail::serve
