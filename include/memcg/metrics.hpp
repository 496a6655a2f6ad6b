// memcg/metrics.hpp - the group tree as Prometheus metrics (text exposition
// format 0.0.4), and an opt-in /metrics HTTP endpoint on a loopback
// address. Library target memcg::metrics (links prometheus-cpp; kept off
// the core library's link line). docs/metrics.md lists every metric.
#pragma once

#include <string>
#include <system_error>

namespace memcg {

/// Every group under `root` (a text-tree path) as metrics, one sample per
/// group labelled path="/tenants/a": usage, limits (+Inf for max),
/// memory.events as counters, memory.stat, cgroup.stat and
/// memory.pressure. ENOENT (std::system_error) if root is not a group.
std::string metrics_text(const std::string& root = "/");
std::string metrics_text(const std::string& root, std::error_code& ec) noexcept;

/// Serves metrics_text("/") at http://ADDRESS/metrics on prometheus-cpp's
/// Exposer (a civetweb thread; its own exposer_* metrics come with them).
/// `address` is "127.0.0.1:PORT", "localhost:PORT" or "[::1]:PORT" (PORT 0:
/// any free port, see metrics_port()); other hosts are refused (EINVAL),
/// since the endpoint has no authentication. EBUSY if already serving,
/// EADDRNOTAVAIL if it cannot listen there.
void serve_metrics(const std::string& address);
void serve_metrics(const std::string& address, std::error_code& ec) noexcept;
/// The port the endpoint listens on (0 when not serving).
int metrics_port() noexcept;
/// Stops the endpoint (no-op when not serving). Also runs at exit.
void stop_serving_metrics() noexcept;

}  // namespace memcg
