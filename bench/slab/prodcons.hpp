// The producer/consumer workload of slab_bench: thread 0 allocates, thread
// 1 frees (every free a cross-thread free), through a bounded SPSC ring.
#pragma once

#include "harness/capture_reporter.hpp"

namespace slab_bench {

/// Registers prodcons/<impl> (2 threads, real time) for the available impls.
void register_prodcons(long long fixed_iters);
/// The PRODUCER/CONSUMER table.
void print_prodcons_table(const memcg_bench::CaptureReporter& rep);

}  // namespace slab_bench
