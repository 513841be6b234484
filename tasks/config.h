// What a task is: which dataset, its size and split. Parsed from the spec's
// "task" object (runtime/spec.h); defaults follow shared/REFERENCE.md s.1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grokjit::tasks {

// Modular tasks tokenise as [a, OP, b, EQ]; parity as 10 bits then EQ; group
// tasks feed the 2-layer network (one-hot operands, no tokens).
enum class TaskKind { Add, Sub, Mul, Div, Exp, Gcd, Parity, GroupCyclic, GroupProduct, GroupSymmetric };

struct TaskConfig {
  TaskKind kind = TaskKind::Add;
  int64_t p = 97;                 // modulus (modular tasks); the order M of GroupCyclic
  int64_t parity_bits = 10;       // parity
  std::vector<int64_t> factors;   // GroupProduct: Z_m1 x Z_m2 x ... (m1 most significant); GroupCyclic: Z_p, factors unused
  int64_t symmetric_n = 4;        // GroupSymmetric: S_n (n! elements)
  double train_fraction = -1;     // < 0: the task's default (REFERENCE.md table)
  uint64_t split_seed = 0;        // seed of the split permutation
};

// Names (as in spec JSON) and per-task defaults, in one table so that the
// spec parser and the dataset generator cannot disagree. Group tasks have no
// row in REFERENCE.md s.1: 0.5 is our choice (OPEN; p* = 2.7482 ln M / M is
// about 0.13 for M = 97, so 0.5 is well above the critical fraction).
struct TaskKindInfo {
  TaskKind kind;
  const char* name;
  double default_train_fraction;
  bool binary_operation;  // rows are all pairs (a, b) of operands; false: parity
};

inline constexpr TaskKindInfo kTaskKinds[] = {
    {TaskKind::Add, "add", 0.8, true},
    {TaskKind::Sub, "sub", 0.5, true},
    {TaskKind::Mul, "mul", 0.5, true},
    {TaskKind::Div, "div", 0.8, true},
    {TaskKind::Exp, "exp", 0.7, true},
    {TaskKind::Gcd, "gcd", 0.5, true},
    {TaskKind::Parity, "parity", 0.5, false},
    {TaskKind::GroupCyclic, "cyclic", 0.5, true},
    {TaskKind::GroupProduct, "product", 0.5, true},
    {TaskKind::GroupSymmetric, "symmetric", 0.5, true},
};

constexpr const TaskKindInfo& task_kind_info(TaskKind kind) {
  for (const TaskKindInfo& info : kTaskKinds) {
    if (info.kind == kind) return info;
  }
  return kTaskKinds[0];  // unreachable: every enumerator has a row
}

constexpr const char* task_kind_name(TaskKind kind) { return task_kind_info(kind).name; }
constexpr double default_train_fraction(TaskKind kind) { return task_kind_info(kind).default_train_fraction; }

// The fraction a run uses: the configured one, or the task's default when < 0.
constexpr double resolved_train_fraction(const TaskConfig& task) {
  return task.train_fraction < 0 ? default_train_fraction(task.kind) : task.train_fraction;
}

}  // namespace grokjit::tasks
