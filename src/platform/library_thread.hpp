// Threads the library runs for itself beside the program's (the control
// socket's server; the worker marks itself apart, platform/worker.hpp): the
// interposer (memcg-run) never accounts their allocations.
#pragma once

namespace memcg::detail {

/// The calling thread is one of the library's own (set once, at its start).
void mark_library_thread() noexcept;
bool on_library_thread() noexcept;

}  // namespace memcg::detail
