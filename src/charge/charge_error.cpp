// ChargeRefused and the calling thread's last refused charge.
#include "memcg/charge_error.hpp"

#include <fmt/format.h>

#include "charge/charge.hpp"
#include "core/access.hpp"
#include "core/group_impl.hpp"
#include "core/refcount.hpp"
#include "core/runtime.hpp"
#include "memcg/group.hpp"
#include "platform/rcu.hpp"

namespace memcg {

struct ChargeRefused::Info {
  std::string group;
  std::uint64_t limit, usage, requested;
  std::string what;
};

ChargeRefused::ChargeRefused(std::string group, std::uint64_t limit, std::uint64_t usage, std::uint64_t requested) {
  auto info = std::make_shared<Info>();
  info->what = fmt::format("memcg: a charge of {} bytes was refused by {} (limit {}, usage {})", requested,
                           group.empty() ? std::string("a group") : group, limit, usage);
  info->group = std::move(group);
  info->limit = limit;
  info->usage = usage;
  info->requested = requested;
  info_ = std::move(info);
}

const char* ChargeRefused::what() const noexcept { return info_->what.c_str(); }
const std::string& ChargeRefused::group() const noexcept { return info_->group; }
std::uint64_t ChargeRefused::limit() const noexcept { return info_->limit; }
std::uint64_t ChargeRefused::usage() const noexcept { return info_->usage; }
std::uint64_t ChargeRefused::requested() const noexcept { return info_->requested; }

namespace detail {

namespace {
// The last refusal of this thread: no reference and no allocation on the
// charge path; the group is named (by id, checked against the pointer) only
// when an exception is built.
struct Refusal {
  const GroupImpl* group = nullptr;
  std::uint32_t id = 0;
  std::uint64_t limit = 0, usage = 0;
};
constinit thread_local Refusal tls_refusal;
}  // namespace

void note_refusal(GroupImpl* over, std::uint64_t limit) noexcept {
  tls_refusal = Refusal{over, over->id, limit, over->counter.usage()};
}

void clear_refusal() noexcept { tls_refusal = Refusal{}; }

[[noreturn]] void throw_refused(std::uint64_t requested) {
  const Refusal r = tls_refusal;
  if (!r.group) throw std::bad_alloc();  // not a limit: the process is out of memory
  std::string path;
  GroupImpl* g = nullptr;
  {
    rcu::ReadGuard rg;
    GroupImpl* x = runtime().ids.lookup(r.id);
    if (x == r.group && group_tryget(x)) g = x;
  }
  if (g) path = Access::adopt(g).path();  // the handle drops the reference
  throw ChargeRefused(std::move(path), r.limit, r.usage, requested);
}

}  // namespace detail
}  // namespace memcg
