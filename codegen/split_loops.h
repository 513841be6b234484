// Index-set splitting: a serial loop whose body compares its variable with
// constants (the boundaries of a pad, a concat or a slice, as in RoPE's
// rotate-half: `i < 64 ? -x[i + 64] : x[i - 64]`) becomes one loop per
// interval between the boundaries. In each piece the compares, the selects
// they drive and the min/max clamps of the indices fold away (the kernel IR
// simplifies with the variable's range), so the loads are contiguous and
// the CPU loop vectorizes with plain vector loads instead of scalar
// inserts. A loop that spans several rows of the padded axis (`i mod 32 <
// 16`) first becomes a nest over rows, i = row * 32 + j, whose inner loop
// over j is then split. The float operations and their order are
// unchanged; only which a * b + c LLVM contracts into one FMA may change
// (the unsplit loop's selects stand between some products and their sums),
// so results can differ in the last bit.
//
// Only for the CPU: the CUDA emitter maps a kernel's single inner loop onto
// threads, which two loops would undo, and a GPU thread pays little for a
// select.
#pragma once

#include "codegen/kernel_ir.h"

namespace grokjit::codegen {

// Splits every straight-line loop (Let and Store statements only) of `k` at
// the points where a compare, min or max of its variable against a constant
// changes value, into at most kMaxLoopPieces loops (through a nest where the
// variable enters as v mod m). Call before finalize().
void split_loops_at_boundaries(Kernel& k);

constexpr int kMaxLoopPieces = 4;

}  // namespace grokjit::codegen
