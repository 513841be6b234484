#include "tasks/dataset.h"

#include <algorithm>
#include <numeric>
#include <ostream>

#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "tasks/rng.h"
#include "tasks/task_checks.h"

namespace grokjit::tasks {
namespace {

void require_valid(const TaskConfig& task) {
  if (auto problem = find_task_config_problem(task)) {
    throw Error("task." + problem->field + ": " + problem->message, ExitCode::Usage);
  }
}

// base^exponent mod p by repeated squaring; exponent 0 gives 1 (so 0^0 = 1).
int64_t mod_pow(int64_t base, int64_t exponent, int64_t p) {
  int64_t result = 1 % p;
  base %= p;
  while (exponent > 0) {
    if (exponent & 1) result = result * base % p;
    base = base * base % p;
    exponent >>= 1;
  }
  return result;
}

// Labels of the modular tasks; a, b in [0, p). p <= kMaxModulus keeps the
// products far from overflow.
int64_t modular_label(TaskKind kind, int64_t a, int64_t b, int64_t p) {
  switch (kind) {
    case TaskKind::Add: return (a + b) % p;
    case TaskKind::Sub: return ((a - b) % p + p) % p;
    case TaskKind::Mul: return a * b % p;
    case TaskKind::Div: return a * mod_pow(b, p - 2, p) % p;  // Fermat: b^(p-2) = b^-1 for prime p
    case TaskKind::Exp: return mod_pow(a, b, p);
    case TaskKind::Gcd: return std::gcd(a, b);                  // gcd(a, 0) = a, gcd(0, 0) = 0
    default: throw Error("modular_label: not a modular task", ExitCode::Failure);
  }
}

std::string modular_formula(TaskKind kind, int64_t p) {
  const std::string mod = " mod " + std::to_string(p);
  switch (kind) {
    case TaskKind::Add: return "(a + b)" + mod;
    case TaskKind::Sub: return "(a - b)" + mod;
    case TaskKind::Mul: return "(a * b)" + mod;
    case TaskKind::Div: return "(a * b^(p-2))" + mod + ", b != 0";
    case TaskKind::Exp: return "a^b" + mod + ", 0^0 = 1";
    case TaskKind::Gcd: return "gcd(a, b), a, b < " + std::to_string(p);
    default: return "?";
  }
}

// Share of `rows` carrying the most frequent label among them.
double most_frequent_share(const std::vector<int32_t>& labels, const std::vector<int64_t>& rows, int64_t classes) {
  if (rows.empty()) return 0.0;
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (int64_t row : rows) ++counts[static_cast<size_t>(labels[static_cast<size_t>(row)])];
  return static_cast<double>(*std::max_element(counts.begin(), counts.end())) / static_cast<double>(rows.size());
}

// Rows [a, OP, b, EQ] for all operand pairs (a major), OP = n, EQ = n + 1.
template <class LabelOf>
Dataset binary_operation_dataset(TaskKind kind, int64_t n, int64_t classes, bool skip_zero_b, LabelOf label_of) {
  Dataset data;
  data.kind = kind;
  data.seq_len = 4;
  data.vocab = n + 2;
  data.classes = classes;
  data.operands = n;
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      if (skip_zero_b && b == 0) continue;
      for (int64_t token : {a, n, b, n + 1}) data.tokens.push_back(static_cast<int32_t>(token));
      data.labels.push_back(static_cast<int32_t>(label_of(a, b)));
      data.a.push_back(static_cast<int32_t>(a));
      data.b.push_back(static_cast<int32_t>(b));
    }
  }
  data.rows = static_cast<int64_t>(data.labels.size());
  return data;
}

// The bits of each number, most significant first, then EQ = 2.
Dataset parity_dataset(int64_t bits) {
  Dataset data;
  data.kind = TaskKind::Parity;
  data.rows = int64_t{1} << bits;
  data.seq_len = bits + 1;
  data.vocab = 3;
  data.classes = 2;
  for (int64_t x = 0; x < data.rows; ++x) {
    int ones = 0;
    for (int64_t bit = bits - 1; bit >= 0; --bit) {
      const int value = static_cast<int>((x >> bit) & 1);
      ones += value;
      data.tokens.push_back(value);
    }
    data.tokens.push_back(2);
    data.labels.push_back(ones % 2);
  }
  return data;
}

// Lexicographic rank of a permutation (its Lehmer code read as a factorial-
// base number).
int64_t rank_of_permutation(const std::vector<int>& perm) {
  const int n = static_cast<int>(perm.size());
  int64_t rank = 0;
  for (int i = 0; i < n; ++i) {
    int smaller_later = 0;
    for (int j = i + 1; j < n; ++j) smaller_later += perm[j] < perm[i];
    rank = rank * (n - i) + smaller_later;
  }
  return rank;
}

GroupTable table_from(int64_t order, auto multiply) {
  GroupTable table;
  table.order = order;
  table.identity = 0;  // 0 in Z_m, (0, ..., 0) in a product, the identity permutation (rank 0) in S_n
  table.product.resize(static_cast<size_t>(order * order));
  for (int64_t x = 0; x < order; ++x) {
    for (int64_t y = 0; y < order; ++y) table.product[static_cast<size_t>(x * order + y)] = static_cast<int32_t>(multiply(x, y));
  }
  return table;
}

// Z_m1 x ... x Z_mk; Z_p is the product with the one factor p.
GroupTable product_of_cyclic_groups(const std::vector<int64_t>& factors) {
  int64_t order = 1;
  for (int64_t m : factors) order *= m;
  return table_from(order, [&](int64_t x, int64_t y) {
    // Add digit by digit, least significant (last factor) first.
    int64_t sum = 0, place = 1;
    for (size_t k = factors.size(); k-- > 0;) {
      const int64_t m = factors[k];
      sum += ((x % m + y % m) % m) * place;
      x /= m;
      y /= m;
      place *= m;
    }
    return sum;
  });
}

GroupTable symmetric_group(int n) {
  std::vector<std::vector<int>> elements;
  std::vector<int> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  do elements.push_back(perm);  // lexicographic order: index = rank
  while (std::next_permutation(perm.begin(), perm.end()));
  std::vector<int> composed(static_cast<size_t>(n));
  return table_from(static_cast<int64_t>(elements.size()), [&](int64_t x, int64_t y) {
    const auto& a = elements[static_cast<size_t>(x)];
    const auto& b = elements[static_cast<size_t>(y)];
    for (int i = 0; i < n; ++i) composed[static_cast<size_t>(i)] = a[static_cast<size_t>(b[static_cast<size_t>(i)])];
    return rank_of_permutation(composed);
  });
}

std::string join_factors(const std::vector<int64_t>& factors) {
  std::string text;
  for (int64_t m : factors) text += (text.empty() ? "Z_" : " x Z_") + std::to_string(m);
  return text;
}

std::string group_formula(const TaskConfig& task) {
  switch (task.kind) {
    case TaskKind::GroupCyclic: return "Z_" + std::to_string(task.p) + " addition";
    case TaskKind::GroupProduct: return join_factors(task.factors) + " addition (mixed radix, first factor most significant)";
    default: return "S_" + std::to_string(task.symmetric_n) + " composition (a.b)(i) = a(b(i)), elements by lexicographic rank";
  }
}

std::string describe(const Dataset& data, const std::string& formula) {
  std::string tokens;
  if (data.kind == TaskKind::Parity) {
    tokens = "[" + std::to_string(data.seq_len - 1) + " bits, most significant first, EQ=2]";
  } else {
    tokens = "[a, OP=" + std::to_string(data.operands) + ", b, EQ=" + std::to_string(data.operands + 1) + "]";
  }
  return std::string(task_kind_name(data.kind)) + ": " + formula + "; " + std::to_string(data.rows) + " rows; tokens " +
         tokens + ", vocab " + std::to_string(data.vocab) + "; " + std::to_string(data.classes) + " classes";
}

}  // namespace

GroupTable make_group_table(const TaskConfig& task) {
  require_valid(task);
  switch (task.kind) {
    case TaskKind::GroupCyclic: return product_of_cyclic_groups({task.p});
    case TaskKind::GroupProduct: return product_of_cyclic_groups(task.factors);
    case TaskKind::GroupSymmetric: return symmetric_group(static_cast<int>(task.symmetric_n));
    default:
      throw Error(std::string("make_group_table: task '") + task_kind_name(task.kind) + "' is not a group task",
                  ExitCode::Failure);
  }
}

std::vector<int> permutation_of_rank(int n, int64_t rank) {
  // Peel off factorial-base digits, most significant first.
  std::vector<int> unused(static_cast<size_t>(n));
  std::iota(unused.begin(), unused.end(), 0);
  int64_t factorial = 1;
  for (int k = 2; k < n; ++k) factorial *= k;
  std::vector<int> perm;
  for (int i = n - 1; i >= 0; --i) {
    const int64_t digit = i > 0 ? rank / factorial : 0;
    if (i > 0) {
      rank %= factorial;
      factorial /= i;
    }
    perm.push_back(unused[static_cast<size_t>(digit)]);
    unused.erase(unused.begin() + digit);
  }
  return perm;
}

Dataset make_dataset(const TaskConfig& task) {
  require_valid(task);
  Dataset data;
  std::string formula;
  if (task.kind == TaskKind::Parity) {
    data = parity_dataset(task.parity_bits);
    formula = "parity of a " + std::to_string(task.parity_bits) + "-bit number";
  } else if (is_group_task(task.kind)) {
    const GroupTable group = make_group_table(task);
    data = binary_operation_dataset(task.kind, group.order, group.order, false,
                                    [&](int64_t a, int64_t b) { return group(a, b); });
    formula = group_formula(task);
  } else {
    data = binary_operation_dataset(task.kind, task.p, task.p, task.kind == TaskKind::Div,
                                    [&](int64_t a, int64_t b) { return modular_label(task.kind, a, b, task.p); });
    formula = modular_formula(task.kind, task.p);
  }
  data.description = describe(data, formula);
  std::vector<int64_t> all_rows(static_cast<size_t>(data.rows));
  std::iota(all_rows.begin(), all_rows.end(), int64_t{0});
  data.constant_baseline = most_frequent_share(data.labels, all_rows, data.classes);
  return data;
}

Split make_split(int64_t rows, double train_fraction, uint64_t seed) {
  const int64_t train = train_rows(rows, train_fraction);
  if (rows < 2 || train < 1 || train >= rows) {
    throw Error("split: a train fraction of " + detail::shortest(train_fraction) + " of " + std::to_string(rows) +
                    " rows leaves " + std::to_string(train) + " training rows; allowed: 1 .. rows - 1",
                ExitCode::Usage);
  }
  SplitMix64 rng(derive_seed(seed, RngStream::Split));
  std::vector<int64_t> order = random_permutation(rows, rng);
  Split split;
  split.train.assign(order.begin(), order.begin() + train);
  split.val.assign(order.begin() + train, order.end());
  return split;
}

Split make_split(const TaskConfig& task) {
  require_valid(task);
  return make_split(task_rows(task), resolved_train_fraction(task), task.split_seed);
}

std::vector<int64_t> epoch_order(const std::vector<int64_t>& train_rows, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order = train_rows;
  SplitMix64 rng(derive_seed(seed, RngStream::Shuffle, static_cast<uint64_t>(epoch)));
  shuffle_in_place(std::span<int64_t>(order), rng);
  return order;
}

double majority_label_share(const Dataset& data, const std::vector<int64_t>& rows) {
  return most_frequent_share(data.labels, rows, data.classes);
}

namespace {
// "train" or "val" for every row index.
std::vector<const char*> split_names(const Dataset& data, const Split& split) {
  std::vector<const char*> names(static_cast<size_t>(data.rows), "none");
  for (int64_t row : split.train) names[static_cast<size_t>(row)] = "train";
  for (int64_t row : split.val) names[static_cast<size_t>(row)] = "val";
  return names;
}

bool has_operands(const Dataset& data) { return !data.a.empty(); }
}  // namespace

void write_dataset_csv(std::ostream& out, const Dataset& data, const Split& split) {
  out << "row,split";
  for (int64_t t = 0; t < data.seq_len; ++t) out << ",t" << t;
  if (has_operands(data)) out << ",a,b";
  out << ",label\n";
  const auto names = split_names(data, split);
  for (int64_t row = 0; row < data.rows; ++row) {
    const size_t r = static_cast<size_t>(row);
    out << row << ',' << names[r];
    for (int64_t t = 0; t < data.seq_len; ++t) out << ',' << data.tokens[static_cast<size_t>(row * data.seq_len + t)];
    if (has_operands(data)) out << ',' << data.a[r] << ',' << data.b[r];
    out << ',' << data.labels[r] << '\n';
  }
}

nlohmann::json dataset_to_json(const Dataset& data, const Split& split) {
  nlohmann::json tokens = nlohmann::json::array();
  for (int64_t row = 0; row < data.rows; ++row) {
    const auto first = data.tokens.begin() + row * data.seq_len;
    tokens.push_back(std::vector<int32_t>(first, first + data.seq_len));
  }
  nlohmann::json out = {
      {"description", data.description},
      {"kind", task_kind_name(data.kind)},
      {"rows", data.rows},
      {"seq_len", data.seq_len},
      {"vocab", data.vocab},
      {"classes", data.classes},
      {"operands", data.operands},
      {"constant_baseline", data.constant_baseline},
      {"train", split.train},
      {"val", split.val},
      {"tokens", std::move(tokens)},
      {"labels", data.labels},
  };
  if (has_operands(data)) {
    out["a"] = data.a;
    out["b"] = data.b;
  }
  return out;
}

}  // namespace grokjit::tasks
