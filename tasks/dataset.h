// Datasets of shared/REFERENCE.md s.1 (modular arithmetic, parity) and s.7
// (finite groups for the 2-layer network), their seeded split, the per-epoch
// order of training rows, and export for inspection.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tasks/config.h"

namespace grokjit::tasks {

// Every row of a task, in a fixed order (operand a major, then b; parity by
// the number's value). Row i: tokens[i*seq_len .. (i+1)*seq_len), labels[i].
struct Dataset {
  TaskKind kind = TaskKind::Add;
  int64_t rows = 0;
  int64_t seq_len = 0;
  int64_t vocab = 0;    // token ids are in [0, vocab)
  int64_t classes = 0;  // labels are in [0, classes)
  std::vector<int32_t> tokens;
  std::vector<int32_t> labels;
  // Binary-operation tasks (all but parity): the operands of each row, in
  // [0, operands). The 2-layer network's input is one-hot(a) ++ one-hot(b).
  // Empty for parity.
  int64_t operands = 0;
  std::vector<int32_t> a, b;
  std::string description;   // one line for logs and summaries
  double constant_baseline = 0;  // share of the most frequent label over all rows
};

Dataset make_dataset(const TaskConfig& task);

struct Split {
  std::vector<int64_t> train, val;  // row indices, in permutation order
};

// A seeded random permutation of 0 .. rows-1; the first
// floor(train_fraction * rows) rows train, the rest validate.
Split make_split(int64_t rows, double train_fraction, uint64_t seed);
// The split a TaskConfig asks for (its fraction resolved, its split_seed).
Split make_split(const TaskConfig& task);

// The order in which `train_rows` are visited in epoch `epoch` (as the loop
// counts it: REFERENCE.md counts epochs from 1): a permutation drawn from
// (seed, epoch) alone, so a resumed run sees the same order.
std::vector<int64_t> epoch_order(const std::vector<int64_t>& train_rows, uint64_t seed, int64_t epoch);

// Share of `rows` whose label is the most frequent label among them (the
// accuracy of always guessing that label); 0 for no rows.
double majority_label_share(const Dataset& data, const std::vector<int64_t>& rows);

// The Cayley table of a group task: product[a * order + b] = a . b.
struct GroupTable {
  int64_t order = 0;
  int32_t identity = 0;
  std::vector<int32_t> product;
  int32_t operator()(int64_t x, int64_t y) const { return product[static_cast<size_t>(x * order + y)]; }
};

// Z_p (kind cyclic); Z_m1 x ... x Z_mk (kind product), element = mixed-radix
// integer with the first factor most significant; S_n (kind symmetric),
// element = lexicographic rank of the permutation written as the sequence
// (s(0), ..., s(n-1)), and a . b = the composition "b first, then a":
// (a . b)(i) = a(b(i)). Throws for a non-group kind.
GroupTable make_group_table(const TaskConfig& task);

// The permutation of {0..n-1} with lexicographic rank `rank` (0 = identity).
std::vector<int> permutation_of_rank(int n, int64_t rank);

// One line per row: row,split,t0..t{seq_len-1}[,a,b],label (split is
// "train" or "val"); rows in index order.
void write_dataset_csv(std::ostream& out, const Dataset& data, const Split& split);
// {"description","kind","rows","seq_len","vocab","classes","operands",
//  "constant_baseline","train":[...],"val":[...],"tokens":[[...],...],
//  "labels":[...], "a":[...], "b":[...]}
nlohmann::json dataset_to_json(const Dataset& data, const Split& split);

}  // namespace grokjit::tasks
