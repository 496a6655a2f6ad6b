// The tree as Prometheus metric families, built from the control socket's
// `tree` JSON (serve/protocol.hpp): the same text for this process's tree
// (metrics_text), the HTTP endpoint and another process's snapshot
// (memcgctl metrics --attach).
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace memcg::detail::metrics {

/// The families of every group of a `tree` snapshot (docs/metrics.md).
/// std::invalid_argument if the JSON is not a tree snapshot.
std::vector<prometheus::MetricFamily> families_from_tree(const std::string& tree_json);
/// The text exposition format (0.0.4).
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

}  // namespace memcg::detail::metrics
