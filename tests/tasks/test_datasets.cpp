// Datasets of REFERENCE.md s.1 and s.7: sizes, token layout, and labels
// checked against brute force written independently of tasks/dataset.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "tasks/dataset.h"
#include "tasks/task_checks.h"

namespace grokjit::tasks {
namespace {

TaskConfig task_of(TaskKind kind) {
  TaskConfig task;
  task.kind = kind;
  return task;
}

int32_t token(const Dataset& data, int64_t row, int64_t position) {
  return data.tokens[static_cast<size_t>(row * data.seq_len + position)];
}

// Checks `holds(a, b, label)` on every row of a modular task with p = 97.
template <class Check>
void expect_every_row(TaskKind kind, Check holds) {
  const Dataset data = make_dataset(task_of(kind));
  for (int64_t row = 0; row < data.rows; ++row) {
    const int64_t a = data.a[static_cast<size_t>(row)], b = data.b[static_cast<size_t>(row)];
    const int64_t label = data.labels[static_cast<size_t>(row)];
    ASSERT_TRUE(holds(a, b, label)) << task_kind_name(kind) << " row " << row << ": a=" << a << " b=" << b
                                    << " label=" << label;
  }
}

TEST(Datasets, RowCountsMatchTheReferenceTable) {
  const std::map<TaskKind, int64_t> expected = {
      {TaskKind::Add, 9409}, {TaskKind::Sub, 9409}, {TaskKind::Mul, 9409},   {TaskKind::Div, 9312},
      {TaskKind::Exp, 9409}, {TaskKind::Gcd, 9409}, {TaskKind::Parity, 1024}};
  for (auto [kind, rows] : expected) {
    const Dataset data = make_dataset(task_of(kind));
    EXPECT_EQ(data.rows, rows) << task_kind_name(kind);
    EXPECT_EQ(static_cast<int64_t>(data.labels.size()), rows);
    EXPECT_EQ(static_cast<int64_t>(data.tokens.size()), rows * data.seq_len);
    EXPECT_EQ(task_rows(task_of(kind)), rows);
  }
}

TEST(Datasets, ModularTokensAreAOpBEq) {
  const Dataset data = make_dataset(task_of(TaskKind::Add));
  EXPECT_EQ(data.seq_len, 4);
  EXPECT_EQ(data.vocab, 99);
  EXPECT_EQ(data.classes, 97);
  EXPECT_EQ(data.operands, 97);
  std::set<std::pair<int, int>> pairs;
  for (int64_t row = 0; row < data.rows; ++row) {
    EXPECT_EQ(token(data, row, 0), data.a[static_cast<size_t>(row)]);
    EXPECT_EQ(token(data, row, 1), 97);
    EXPECT_EQ(token(data, row, 2), data.b[static_cast<size_t>(row)]);
    EXPECT_EQ(token(data, row, 3), 98);
    pairs.insert({data.a[static_cast<size_t>(row)], data.b[static_cast<size_t>(row)]});
  }
  EXPECT_EQ(pairs.size(), 9409u);  // every pair exactly once
}

TEST(Datasets, AddSubMulLabels) {
  expect_every_row(TaskKind::Add, [](int64_t a, int64_t b, int64_t y) { return y == (a + b) % 97; });
  expect_every_row(TaskKind::Sub, [](int64_t a, int64_t b, int64_t y) { return y < 97 && (y + b) % 97 == a; });
  expect_every_row(TaskKind::Mul, [](int64_t a, int64_t b, int64_t y) { return y == (a * b) % 97; });
}

TEST(Datasets, DivLabelTimesBIsA) {
  expect_every_row(TaskKind::Div, [](int64_t a, int64_t b, int64_t y) { return b != 0 && y < 97 && (y * b) % 97 == a; });
}

TEST(Datasets, ExpByRepeatedMultiplication) {
  expect_every_row(TaskKind::Exp, [](int64_t a, int64_t b, int64_t y) {
    int64_t power = 1;  // a^0 = 1, including 0^0
    for (int64_t i = 0; i < b; ++i) power = power * a % 97;
    return y == power;
  });
}

TEST(Datasets, GcdByLargestCommonDivisor) {
  expect_every_row(TaskKind::Gcd, [](int64_t a, int64_t b, int64_t y) {
    if (a == 0 && b == 0) return y == 0;
    int64_t largest = 0;
    for (int64_t d = 1; d <= std::max(a, b); ++d) {
      if (a % d == 0 && b % d == 0) largest = d;  // d divides 0 for every d
    }
    return y == largest;
  });
}

TEST(Datasets, GcdIsOneForAboutSixtyPercentOfPairs) {
  const Dataset data = make_dataset(task_of(TaskKind::Gcd));
  const double ones = static_cast<double>(std::count(data.labels.begin(), data.labels.end(), 1)) / data.rows;
  EXPECT_NEAR(ones, 0.597, 0.005);
  EXPECT_DOUBLE_EQ(data.constant_baseline, ones);  // 1 is the most frequent gcd
}

TEST(Datasets, ParityOfTenBits) {
  const Dataset data = make_dataset(task_of(TaskKind::Parity));
  EXPECT_EQ(data.seq_len, 11);
  EXPECT_EQ(data.vocab, 3);
  EXPECT_EQ(data.classes, 2);
  EXPECT_TRUE(data.a.empty());
  for (int64_t row = 0; row < data.rows; ++row) {
    int64_t value = 0;
    for (int64_t t = 0; t < 10; ++t) value = value * 2 + token(data, row, t);  // most significant first
    EXPECT_EQ(value, row);
    EXPECT_EQ(token(data, row, 10), 2);
    EXPECT_EQ(data.labels[static_cast<size_t>(row)], std::popcount(static_cast<uint64_t>(row)) % 2);
  }
  EXPECT_DOUBLE_EQ(data.constant_baseline, 0.5);
}

TEST(Datasets, ConstantBaselineOfAddIsOneOverP) {
  EXPECT_DOUBLE_EQ(make_dataset(task_of(TaskKind::Add)).constant_baseline, 1.0 / 97);
}

TEST(Datasets, DescriptionSaysWhatTheTaskIs) {
  const Dataset data = make_dataset(task_of(TaskKind::Div));
  EXPECT_NE(data.description.find("div"), std::string::npos) << data.description;
  EXPECT_NE(data.description.find("9312 rows"), std::string::npos) << data.description;
  EXPECT_NE(data.description.find("vocab 99"), std::string::npos) << data.description;
}

TEST(Datasets, OtherModuli) {
  TaskConfig task = task_of(TaskKind::Add);
  task.p = 113;
  EXPECT_EQ(make_dataset(task).rows, 113 * 113);
  task.kind = TaskKind::Div;
  EXPECT_EQ(make_dataset(task).rows, 113 * 112);
  task.kind = TaskKind::Parity;
  task.parity_bits = 4;
  EXPECT_EQ(make_dataset(task).rows, 16);
}

void expect_usage_error(const TaskConfig& task, const std::string& fragment) {
  try {
    make_dataset(task);
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Datasets, BadConfigsAreUsageErrorsNamingTheField) {
  TaskConfig task = task_of(TaskKind::Div);
  task.p = 96;
  expect_usage_error(task, "task.p: 96 is not prime");
  task = task_of(TaskKind::Add);
  task.p = 1;
  expect_usage_error(task, "task.p: 1 is out of range");
  task = task_of(TaskKind::GroupProduct);
  expect_usage_error(task, "task.factors");
  task = task_of(TaskKind::Parity);
  task.parity_bits = 3;
  task.train_fraction = 0.1;  // floor(0.8) = 0 training rows
  expect_usage_error(task, "task.train_fraction");
  task = task_of(TaskKind::Add);
  task.train_fraction = 1.0;
  expect_usage_error(task, "task.train_fraction: 1 is out of range");
}

TEST(Export, CsvHasAHeaderAndOneLinePerRow) {
  TaskConfig task = task_of(TaskKind::Add);
  task.p = 5;
  const Dataset data = make_dataset(task);
  const Split split = make_split(task);
  std::ostringstream out;
  write_dataset_csv(out, data, split);
  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "row,split,t0,t1,t2,t3,a,b,label");
  int count = 0, train = 0;
  while (std::getline(lines, line)) {
    ++count;
    train += line.find(",train,") != std::string::npos;
  }
  EXPECT_EQ(count, 25);
  EXPECT_EQ(train, 20);  // floor(0.8 * 25)
  // Row 7 is a = 1, b = 2: (1 + 2) mod 5 = 3.
  EXPECT_NE(out.str().find("\n7,"), std::string::npos);
  EXPECT_NE(out.str().find(",1,5,2,6,1,2,3\n"), std::string::npos);
}

TEST(Export, JsonRoundTripsTheRows) {
  const TaskConfig task = task_of(TaskKind::Parity);
  const Dataset data = make_dataset(task);
  const Split split = make_split(task);
  const nlohmann::json j = dataset_to_json(data, split);
  EXPECT_EQ(j.at("rows"), 1024);
  EXPECT_EQ(j.at("kind"), "parity");
  EXPECT_EQ(j.at("tokens").size(), 1024u);
  EXPECT_EQ(j.at("tokens")[5].get<std::vector<int32_t>>(), (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2}));
  EXPECT_EQ(j.at("train").get<std::vector<int64_t>>(), split.train);
  EXPECT_FALSE(j.contains("a"));
}

}  // namespace
}  // namespace grokjit::tasks
