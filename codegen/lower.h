// Lowering: one fusion group of graph nodes -> one kernel IR Kernel.
//
// A group owns some nodes (reductions, matmuls, scatter-adds, and
// elementwise/movement nodes that are materialized); every other non-input
// node it reads is inlined: its value at an index is an expression of its
// inputs' values at remapped indices. Movement ops are index remaps, so a
// permute or broadcast never copies. Nodes owned by other groups, inputs and
// dense constants are loads from their buffers.
//
// The group's members decide the loop nest:
// - a ScatterAdd -> "S": parallel over column blocks, serial over indices
// - a MatMul     -> "MM"/"BMM": parallel over output tiles, a Gemm statement
//                   with the fused prologue (operand expressions) and
//                   epilogue (stored members of the matmul's shape)
// - reductions   -> "R": parallel over rows; per row, reductions in node
//                   order (each a Reduce statement), then row-level stores,
//                   then one loop over the row storing full-shape members.
//                   Reductions over leading axes (column sums) instead run
//                   over blocks of adjacent columns with per-column
//                   accumulators in a buffer, rows outermost (contiguous reads)
// - otherwise    -> "E": parallel over rows of the flattened shape, a serial
//                   inner loop over the trailing dims
// A member can only be used at its own iteration point (a reduction at the
// current row, a matmul at the current (m, n)); anything else fails with a
// reason, which the scheduler reports as a rejected fusion.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "ir/graph.h"

namespace grokjit::codegen {

// Backend tuning that shapes the kernel IR (not its meaning).
struct TargetInfo {
  int vector_bytes = 32;  // native SIMD width (32 = AVX2, 64 = AVX-512)
  int gemm_mr = 6;        // register tile rows of the matmul microkernel
  int gemm_nr = 16;       // register tile columns
  // Matmul output tiles wanted per kernel so that every thread has work: a
  // few per thread. More tiles than that only shrink them, and small tiles
  // re-read more of the operands. The tiling never changes results (each
  // output element sums its K in the same order), only speed.
  int gemm_parallel_tiles = 8;
  // Threads that claim those tiles (the CPU's; 1 for CUDA). With more than
  // one, a kernel lasts as long as its busiest thread: of 2048 rows in 11
  // tiles of 192, one of 2 threads computes 1088; in 12 tiles of 174, 1044.
  int threads = 1;
  // Recompute cheap elementwise values in the kernels that read them instead
  // of storing them (schedule.h): a trade of arithmetic for memory traffic.
  bool recompute = false;
  // Split loops at the boundaries of pads and concats (split_loops.h): for
  // the CPU, where it lets them vectorize; not for CUDA, which maps a
  // kernel's one inner loop onto threads.
  bool split_loops = false;
  // Lower tiny matmuls (is_small_matmul: the attention's 4 x 4 scores over 4
  // positions, and its 4 x 128 products with K = 4) as plain loops, for m,
  // for n, a Reduce over k, instead of a Gemm tile: for the CPU, whose 6 x 16
  // register tile would be mostly padding around packed operands. CUDA keeps
  // its tiles.
  bool small_matmuls_as_loops = false;
};

struct LoweringFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How the group sees the rest of the program.
struct LowerContext {
  const ir::Graph* graph = nullptr;
  const std::vector<int>* owner = nullptr;  // per node: owning group, -1 = inline or leaf
  // Program buffer a node is read from (inputs, dense constants, nodes owned
  // by other groups).
  std::function<int(ir::NodeId)> source;
  // Program buffers a member is stored to; empty = not stored (internal).
  std::function<std::vector<int>(ir::NodeId)> destinations;
  // A temporary program buffer holding a member's values during the kernel
  // (the column accumulators of a reduction that is not stored).
  std::function<int(ir::NodeId)> scratch;
  // A name for people of a program buffer.
  std::function<std::string(int)> buffer_name;
  TargetInfo target;
};

struct LoweredKernel {
  Kernel kernel;
  std::vector<int> args;  // program buffer of each kernel buffer
};

// Builds the kernel for the members (node ids, ascending) of group `group`.
// Throws LoweringFailure with a reason when they do not fit one loop nest.
LoweredKernel lower_group(const LowerContext& ctx, const std::vector<ir::NodeId>& members, int group);

// The output tile (rows x columns) of one parallel iteration of a matmul.
void choose_gemm_tiles(const TargetInfo& target, int64_t batch, int64_t M, int64_t N, int64_t K, int64_t* tile_m,
                       int64_t* tile_n);

// A batched matmul (16 or more) with at most 8 rows and at most 8 columns,
// or at most 1024 columns and a K of at most 8: the parallel loop runs over
// the batch alone.
bool is_small_matmul(int64_t batch, int64_t M, int64_t N, int64_t K);

// Into how many chunks of K a matmul's sum is split (split_k.h; 1 = not
// split): a function of the shape and the target only, never of the thread
// count, so that results are the same for any thread count.
int64_t choose_k_split(const TargetInfo& target, int64_t batch, int64_t M, int64_t N, int64_t K);

// True for ops that never need a kernel of their own when fused: elementwise,
// movement, gather, iota, fill constants, random.
bool is_inlinable(const ir::Node& n);
bool is_dense_constant(const ir::Node& n);

}  // namespace grokjit::codegen
