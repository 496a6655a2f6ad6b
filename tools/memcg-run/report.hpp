// memcg-run's report of a process tree, read from the shared segment after
// the command ended (docs/memcg-run.md, "Report").
#pragma once

#include <sys/types.h>

#include <string>

#include "interpose/shared_tree.hpp"

namespace memcg::run {

/// The report of the tree in `s` (command pid `pid`): text or JSON. Reads
/// the segment under its lock.
std::string tree_report(memcg::interpose::tree::Segment* s, pid_t pid, bool json);

}  // namespace memcg::run
