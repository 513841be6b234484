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
  int64_t p = 97;                 // modulus (modular tasks)
  int64_t parity_bits = 10;       // parity
  std::vector<int64_t> factors;   // GroupProduct: Z_m1 x Z_m2 x ...; GroupCyclic uses {M}
  int64_t symmetric_n = 4;        // GroupSymmetric: S_n (n! elements)
  double train_fraction = -1;     // < 0: the task's default (REFERENCE.md table)
  uint64_t split_seed = 0;        // seed of the split permutation
};

}  // namespace grokjit::tasks
