#include "platform/os_map.hpp"

namespace memcg::detail {

constinit thread_local int tls_os_map_depth __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace memcg::detail
