// What makes a TaskConfig valid, and the sizes it implies. Header-only so
// that the spec parser (runtime/spec.cpp) and the dataset generator share one
// definition without a link dependency.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "tasks/config.h"

namespace grokjit::tasks {

// Caps keep a dataset (rows x tokens) to tens of MB.
inline constexpr int64_t kMaxModulus = 2048;      // p, and the order of any group
inline constexpr int64_t kMaxParityBits = 20;
inline constexpr int64_t kMaxSymmetricN = 6;      // 6! = 720 elements, 518,400 rows

struct TaskConfigProblem {
  std::string field;    // the TaskConfig member (= the key under /task in a spec)
  std::string message;  // what is wrong and what is allowed
};

constexpr bool is_prime(int64_t n) {
  if (n < 2) return false;
  for (int64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

constexpr bool is_group_task(TaskKind kind) {
  return kind == TaskKind::GroupCyclic || kind == TaskKind::GroupProduct || kind == TaskKind::GroupSymmetric;
}

// The number of operand values: p, the group order, or 0 for parity.
// Assumes the config has no problem (find_task_config_problem).
inline int64_t operand_count(const TaskConfig& task) {
  switch (task.kind) {
    case TaskKind::Parity:
      return 0;
    case TaskKind::GroupProduct: {
      int64_t order = 1;
      for (int64_t m : task.factors) order *= m;
      return order;
    }
    case TaskKind::GroupSymmetric: {
      int64_t order = 1;
      for (int64_t k = 2; k <= task.symmetric_n; ++k) order *= k;
      return order;
    }
    default:
      return task.p;
  }
}

// Rows of the full dataset: all pairs of operands (b != 0 for div), or all
// 2^bits numbers for parity.
inline int64_t task_rows(const TaskConfig& task) {
  if (task.kind == TaskKind::Parity) return int64_t{1} << task.parity_bits;
  const int64_t n = operand_count(task);
  return task.kind == TaskKind::Div ? n * (n - 1) : n * n;
}

// Training rows of the split: floor(fraction * rows), as Python's int() does
// in the reference code.
inline int64_t train_rows(int64_t rows, double train_fraction) {
  return static_cast<int64_t>(std::floor(train_fraction * static_cast<double>(rows)));
}

namespace detail {
// Shortest text that reads back as the same double (0.8, not 0.800000).
inline std::string shortest(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

inline std::optional<TaskConfigProblem> check_range(const char* field, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return std::nullopt;
  return TaskConfigProblem{field, std::to_string(value) + " is out of range; allowed: " + std::to_string(lo) +
                                      " .. " + std::to_string(hi)};
}
}  // namespace detail

// The first problem of `task`, or nullopt when a dataset can be built and
// split into non-empty training and validation sets.
inline std::optional<TaskConfigProblem> find_task_config_problem(const TaskConfig& task) {
  using detail::check_range;
  using detail::shortest;
  std::optional<TaskConfigProblem> problem;
  switch (task.kind) {
    case TaskKind::Parity:
      problem = check_range("parity_bits", task.parity_bits, 1, kMaxParityBits);
      break;
    case TaskKind::GroupProduct:
      if (task.factors.empty()) {
        return TaskConfigProblem{"factors", "kind 'product' needs the orders of its cyclic factors, e.g. [4, 6]"};
      }
      for (int64_t m : task.factors) {
        if ((problem = check_range("factors", m, 2, kMaxModulus))) return problem;
      }
      if (operand_count(task) > kMaxModulus) {
        return TaskConfigProblem{"factors", "the group order " + std::to_string(operand_count(task)) +
                                                " is too large; allowed: at most " + std::to_string(kMaxModulus)};
      }
      break;
    case TaskKind::GroupSymmetric:
      problem = check_range("symmetric_n", task.symmetric_n, 2, kMaxSymmetricN);
      break;
    case TaskKind::Div:
      if ((problem = check_range("p", task.p, 2, kMaxModulus))) return problem;
      if (!is_prime(task.p)) {
        return TaskConfigProblem{"p", std::to_string(task.p) +
                                          " is not prime; div needs a prime p (b^(p-2) is the inverse of b only then)"};
      }
      break;
    default:  // add, sub, mul, exp, gcd, cyclic
      problem = check_range("p", task.p, 2, kMaxModulus);
      break;
  }
  if (problem) return problem;

  if (task.train_fraction >= 0 && !(task.train_fraction > 0 && task.train_fraction < 1)) {
    return TaskConfigProblem{"train_fraction", shortest(task.train_fraction) +
                                                   " is out of range; allowed: -1 (the task's default) or in (0, 1)"};
  }
  const int64_t rows = task_rows(task);
  const int64_t train = train_rows(rows, resolved_train_fraction(task));
  if (train < 1 || train >= rows) {
    return TaskConfigProblem{"train_fraction", "a fraction of " + shortest(resolved_train_fraction(task)) +
                                                   " of " + std::to_string(rows) + " rows leaves " +
                                                   std::to_string(train) + " training and " +
                                                   std::to_string(rows - train) +
                                                   " validation rows; both must be at least 1"};
  }
  return std::nullopt;
}

}  // namespace grokjit::tasks
