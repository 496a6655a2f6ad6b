// The operations of ops_fuzzer (ops.cpp, reads.cpp), the checks after every
// operation (checks.cpp) and the charge predictions they share. Each
// operation reads its operands from the input, runs, and checks what it
// returned against the model; after_op then checks every counter.
#pragma once

#include <cstddef>

#include "ops/input.hpp"
#include "ops/model.hpp"

namespace ops_fuzz {

/// Every group's counters, events and stats against the model and against
/// what they were before the operation (see ops_fuzzer.cpp, CHECKED).
void after_op(Model& m, const OpCtx& ctx);

// ---- charge predictions ----------------------------------------------------
struct Prediction {
  bool must_succeed = true;
  bool must_fail = false;
};

/// What a charge of `bytes` to group c (online) must do, from the counters
/// read just before. exact: the charge is exactly `bytes` (reservations,
/// large kmallocs, a shared object's chunk), and must fail if the model's
/// live usage leaves no room, unless c's stocks hold `stocked` bytes (a
/// shared object needs only its charge from the object slot); otherwise
/// (an isolated cache: maybe no charge, at most one slab) only must_succeed.
// shared: a shared slab object, which may also come from a charged round
// (excused like a stocked charge).
Prediction predict(const Model& m, const Sums& s, int c, u64 bytes, bool exact, u64 stocked = ~u64{0},
                   bool shared = false);
// Bytes of charged rounds (thread_mags.hpp CHARGED ROUNDS) that charge
// group c itself, in every thread's magazines (one drain round).
u64 own_charged_rounds(const Model& m, int c);


void checkpoint(Model& m);
void do_free(Model& m, std::size_t idx);
OpCtx alloc_op(Model& m, Input& in, bool from_current);
OpCtx write_op(Model& m, Input& in);
OpCtx reservation_make(Model& m, Input& in);
OpCtx reservation_change(Model& m, Input& in);
void check_short_reclaim(const Model& m, int i);
OpCtx reclaim_op(Model& m, Input& in);
OpCtx fs_reclaim_op(Model& m, Input& in);
void read_op(Model& m, Input& in);
void shrink_op(Model& m);
/// End of input: everything freed, groups removed, no reference left.
void finish_input(Model& m, u64 root_before);

}  // namespace ops_fuzz
