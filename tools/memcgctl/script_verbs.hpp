// The verbs of `memcgctl script` (docs/memcgctl-script.md): one table row
// per verb with its usage, arity, checks and handler. Parsing (validate),
// running (run_verb) and the help text (script_verbs_help, memcgctl.hpp)
// all read the table, so a verb is added in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "memcg/reservation.hpp"

namespace memcgctl {

using Words = std::vector<std::string>;

/// One statement of a script, as parsed.
struct Line {
  int no = 0;
  std::string text;  // as written, trimmed
  Words words;
  std::string rest_after_contains;  // expect PATH contains TEXT: TEXT verbatim
};

/// What running a verb did.
struct Result {
  std::error_code ec;   // the verb failed with this (expect-error compares it)
  std::string failure;  // a failure that is not an errno (expect mismatch, bad name...)
  nlohmann::json out = nlohmann::json::object();  // for --json
  std::string text;     // printed in text mode (cat, ls, wait, echo)
};

struct Spawned;  // a background workload (spawn NAME ...), script_verbs.cpp

/// What the workload verbs remember by name for the rest of the script:
/// allocations, reservations and background workloads. cleanup() (also run
/// by the destructor) stops and joins the workloads, then frees everything.
class ScriptState {
 public:
  ScriptState();
  ~ScriptState();
  ScriptState(const ScriptState&) = delete;
  ScriptState& operator=(const ScriptState&) = delete;
  void cleanup();

  std::map<std::string, std::vector<void*>> allocs;
  std::map<std::string, memcg::Reservation> reservations;
  std::map<std::string, std::unique_ptr<Spawned>> spawns;
  std::uint64_t seed = 0x5eed;  // the spawned threads' random streams
};

/// A row of the verb table.
struct Verb {
  static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();
  const char* name;
  const char* usage;      // e.g. "alloc NAME GROUP SIZE [COUNT]": "usage: <usage>" on a bad arity
  const char* summary;    // one line for `memcgctl script --help`
  bool arity_checked;     // false: check() checks the word count itself
  std::size_t min_args, max_args;  // words after the verb (when arity_checked)
  bool can_fail;          // may be the verb of an expect-error
  bool nestable;          // may appear inside expect-error (the assertions may not)
  std::string (*check)(const Verb&, const Words&);  // the arguments beyond their count; "" = fine; may be null
  Result (*run)(ScriptState&, const Words&, const Line&);
};

/// The table, in the order of docs/memcgctl-script.md.
const std::vector<Verb>& script_verbs();
/// The row for a verb name; nullptr if there is none.
const Verb* find_verb(std::string_view name);

/// Checks a statement's words (words[0] is the verb; nested: inside
/// expect-error). Empty string: fine; otherwise the parse error.
std::string validate(const Words& w, bool nested);
/// Runs a validated statement.
Result run_verb(ScriptState& s, const Words& w, const Line& line);

std::string trim(std::string_view s);

}  // namespace memcgctl
