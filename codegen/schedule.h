// The scheduler: partitions a graph into fusion groups (one kernel each).
//
// 1. Ownership. Reductions, matmuls, scatter-adds, graph results (outputs,
//    update values) and, with fusion on, elementwise nodes that several
//    consumers read and that are expensive to recompute (a transcendental
//    or a long chain) are *owned*: some group computes them. So are costly
//    matmul operands (else re-packed per tile) and permuted gather tables
//    (else read strided per gathered element), and vertical fusion leaves
//    them stored. Every other non-input node is inlined into each group that
//    reads it (recomputed).
//    With fusion off, every op but inputs, constants, iota and movement (views)
//    is owned, one group each.
// 2. Vertical fusion (fusion on). For each consumer group, in node order, try
//    to merge each producer group into it (nearest first): legal when the
//    merged group lowers to one loop nest (lower.h) and no third group sits
//    on a path between them. This puts softmax, RMSNorm and cross-entropy
//    (forward and backward) in one row kernel each, and elementwise
//    epilogues into matmuls.
// 2b. Recomputation (fusion on, TargetInfo::recompute). Cheap elementwise
//    values other kernels read (silu(g) and the sigmoid(g) of silu') are
//    inlined into their readers instead, where that stores and loads fewer
//    bytes (loading g instead of both): arithmetic instead of traffic.
// 3. Horizontal fusion (fusion on). Independent elementwise groups of the
//    same shape that compute parameter/state updates merge into one kernel
//    (optimizer updates of many tensors in few launches).
// Every decision is logged: GROKJIT_DEBUG=1 lists each kernel's ops,
// GROKJIT_DEBUG=2 also every rejected fusion with its reason.
#pragma once

#include <string>
#include <vector>

#include "codegen/lower.h"
#include "ir/graph.h"

namespace grokjit::codegen {

struct ScheduleOptions {
  bool fusion = true;
  TargetInfo target;
};

struct Schedule {
  std::vector<std::vector<ir::NodeId>> groups;  // members of each group, ascending; empty = merged away
  std::vector<int> owner;                       // per node: group, or -1 (inlined or leaf)
  std::vector<std::string> rejected;            // "not fused A into B: reason"
  std::vector<std::string> fused;               // "fused A into B"
};

// Nodes each owned node reads from other owners, through inlined nodes
// (inputs and dense constants are not listed).
std::vector<std::vector<ir::NodeId>> owned_dependencies(const ir::Graph& g, const std::vector<bool>& owned);

// Owned nodes a graph result (output or update value) is.
std::vector<bool> result_nodes(const ir::Graph& g);

Schedule schedule_graph(const ir::Graph& g, const ScheduleOptions& options);

}  // namespace grokjit::codegen
