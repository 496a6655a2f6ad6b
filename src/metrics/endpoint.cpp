// metrics_text() and the /metrics HTTP endpoint (prometheus-cpp's Exposer:
// civetweb threads that call the collectable below on every scrape).
//
// LIFECYCLE: serve_metrics() creates the Exposer (g_m held) and registers
// one collectable; stop_serving_metrics() destroys it, which stops its
// threads after any scrape in progress. The exposer's threads only read the
// text tree.
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include "memcg/metrics.hpp"
#include "metrics/exposition.hpp"
#include "serve/protocol.hpp"

namespace memcg {

namespace {

class TreeCollectable : public prometheus::Collectable {
 public:
  // On civetweb's threads: an exception must not escape into them.
  std::vector<prometheus::MetricFamily> Collect() const override {
    try {
      std::error_code ec;
      const std::string tree = detail::serve::tree_json("/", ec);
      if (ec) return {};
      return detail::metrics::families_from_tree(tree);
    } catch (...) {
      return {};
    }
  }
};

struct Endpoint {
  std::shared_ptr<TreeCollectable> collectable = std::make_shared<TreeCollectable>();
  std::unique_ptr<prometheus::Exposer> exposer;
  pid_t pid = ::getpid();  // a fork child must not stop (join) its parent's civetweb threads
};

std::mutex g_m;
Endpoint* g_endpoint = nullptr;  // g_m

// "HOST:PORT" with a loopback HOST.
bool loopback(const std::string& address) {
  for (const char* host : {"127.0.0.1:", "localhost:", "[::1]:"}) {
    const std::string h(host);
    if (address.size() > h.size() && address.compare(0, h.size(), h) == 0 &&
        address.find_first_not_of("0123456789", h.size()) == std::string::npos)
      return true;
  }
  return false;
}

void stop_at_exit() { stop_serving_metrics(); }

}  // namespace

std::string metrics_text(const std::string& root, std::error_code& ec) noexcept {
  try {
    const std::string tree = detail::serve::tree_json(root, ec);
    if (ec) return {};
    return detail::metrics::serialize(detail::metrics::families_from_tree(tree));
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {
    ec = std::make_error_code(std::errc::io_error);
  }
  return {};
}

std::string metrics_text(const std::string& root) {
  std::error_code ec;
  std::string text = metrics_text(root, ec);
  if (ec) throw std::system_error(ec, "memcg::metrics_text " + root);
  return text;
}

void serve_metrics(const std::string& address, std::error_code& ec) noexcept {
  ec.clear();
  bool ok_address = false;
  try {
    ok_address = loopback(address);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  if (!ok_address) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return;
  }
  std::lock_guard<std::mutex> l(g_m);
  if (g_endpoint) {
    ec = std::make_error_code(std::errc::device_or_resource_busy);
    return;
  }
  try {
    auto e = std::make_unique<Endpoint>();
    e->exposer = std::make_unique<prometheus::Exposer>(address, 1);
    e->exposer->RegisterCollectable(e->collectable);
    g_endpoint = e.release();
    static const bool registered = (std::atexit(stop_at_exit), true);
    (void)registered;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (const std::exception&) {  // civetweb could not listen there (taken, or a bad port)
    ec = std::make_error_code(std::errc::address_not_available);
  }
}

void serve_metrics(const std::string& address) {
  std::error_code ec;
  serve_metrics(address, ec);
  if (ec) throw std::system_error(ec, "memcg::serve_metrics " + address);
}

int metrics_port() noexcept {
  std::lock_guard<std::mutex> l(g_m);
  if (!g_endpoint || g_endpoint->pid != ::getpid()) return 0;
  try {
    const std::vector<int> ports = g_endpoint->exposer->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  } catch (...) {
    return 0;
  }
}

void stop_serving_metrics() noexcept {
  std::lock_guard<std::mutex> l(g_m);
  Endpoint* e = g_endpoint;
  g_endpoint = nullptr;
  if (e && e->pid != ::getpid()) return;  // a fork child: the threads are the parent's; leak it
  delete e;
}

}  // namespace memcg
