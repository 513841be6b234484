// Group tasks (REFERENCE.md s.7): the Cayley tables satisfy the group axioms
// and agree with compositions computed here from scratch.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "ir/error.h"
#include "tasks/dataset.h"

namespace grokjit::tasks {
namespace {

TaskConfig symmetric(int64_t n) {
  TaskConfig task;
  task.kind = TaskKind::GroupSymmetric;
  task.symmetric_n = n;
  return task;
}

TaskConfig product(std::vector<int64_t> factors) {
  TaskConfig task;
  task.kind = TaskKind::GroupProduct;
  task.factors = std::move(factors);
  return task;
}

TaskConfig cyclic(int64_t m) {
  TaskConfig task;
  task.kind = TaskKind::GroupCyclic;
  task.p = m;
  return task;
}

void expect_group_axioms(const GroupTable& g) {
  const int64_t n = g.order;
  for (int64_t x = 0; x < n; ++x) {
    EXPECT_EQ(g(g.identity, x), x);
    EXPECT_EQ(g(x, g.identity), x);
    int inverses = 0;
    for (int64_t y = 0; y < n; ++y) {
      ASSERT_GE(g(x, y), 0);
      ASSERT_LT(g(x, y), n);
      if (g(x, y) == g.identity) {
        ++inverses;
        EXPECT_EQ(g(y, x), g.identity) << "a left inverse is a right inverse";
      }
    }
    EXPECT_EQ(inverses, 1) << "element " << x << " has exactly one inverse";
  }
  for (int64_t x = 0; x < n; ++x)
    for (int64_t y = 0; y < n; ++y)
      for (int64_t z = 0; z < n; ++z) ASSERT_EQ(g(g(x, y), z), g(x, g(y, z))) << x << " " << y << " " << z;
}

bool is_abelian(const GroupTable& g) {
  for (int64_t x = 0; x < g.order; ++x)
    for (int64_t y = 0; y < g.order; ++y)
      if (g(x, y) != g(y, x)) return false;
  return true;
}

TEST(Groups, SymmetricGroupAxioms) {
  for (int64_t n : {2, 3, 4}) {
    const GroupTable g = make_group_table(symmetric(n));
    int64_t factorial = 1;
    for (int64_t k = 2; k <= n; ++k) factorial *= k;
    EXPECT_EQ(g.order, factorial);
    expect_group_axioms(g);
    EXPECT_EQ(is_abelian(g), n < 3) << "S_n is non-abelian for n >= 3";
  }
}

TEST(Groups, PermutationRanksAreLexicographic) {
  std::vector<int> perm = {0, 1, 2, 3};
  int64_t rank = 0;
  do EXPECT_EQ(permutation_of_rank(4, rank++), perm);
  while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_EQ(rank, 24);
}

TEST(Groups, SymmetricCompositionAppliesTheRightOperandFirst) {
  const GroupTable g = make_group_table(symmetric(4));
  for (int64_t x = 0; x < g.order; ++x) {
    for (int64_t y = 0; y < g.order; ++y) {
      const std::vector<int> a = permutation_of_rank(4, x), b = permutation_of_rank(4, y);
      std::vector<int> a_after_b(4);
      for (int i = 0; i < 4; ++i) a_after_b[i] = a[b[i]];
      ASSERT_EQ(permutation_of_rank(4, g(x, y)), a_after_b);
    }
  }
}

TEST(Groups, SymmetricDatasetUsesTheTable) {
  const Dataset data = make_dataset(symmetric(3));
  const GroupTable g = make_group_table(symmetric(3));
  EXPECT_EQ(data.rows, 36);
  EXPECT_EQ(data.classes, 6);
  EXPECT_EQ(data.vocab, 8);
  for (int64_t row = 0; row < data.rows; ++row) {
    EXPECT_EQ(data.labels[row], g(data.a[row], data.b[row]));
  }
  // (0 1) then (1 2): s = (1 0 2) rank 2, t = (0 2 1) rank 1; s(t(i)) = (1 2 0) rank 3.
  EXPECT_EQ(g(2, 1), 3);
}

TEST(Groups, ProductGroupIsComponentwiseAddition) {
  const std::vector<int64_t> factors = {2, 3, 4};
  const GroupTable g = make_group_table(product(factors));
  EXPECT_EQ(g.order, 24);
  expect_group_axioms(g);
  EXPECT_TRUE(is_abelian(g));
  for (int64_t x = 0; x < 24; ++x) {
    for (int64_t y = 0; y < 24; ++y) {
      // x = (x0, x1, x2) with x = x0 * 12 + x1 * 4 + x2.
      const int64_t z0 = (x / 12 + y / 12) % 2, z1 = (x / 4 % 3 + y / 4 % 3) % 3, z2 = (x % 4 + y % 4) % 4;
      ASSERT_EQ(g(x, y), z0 * 12 + z1 * 4 + z2);
    }
  }
}

TEST(Groups, ProductOfTwoTwosIsNotCyclic) {
  const GroupTable g = make_group_table(product({2, 2}));
  for (int64_t x = 0; x < 4; ++x) EXPECT_EQ(g(x, x), g.identity);  // Klein four: every element has order <= 2
}

TEST(Groups, CyclicGroupIsAdditionModM) {
  const Dataset data = make_dataset(cyclic(23));
  EXPECT_EQ(data.rows, 529);
  EXPECT_EQ(data.operands, 23);
  EXPECT_EQ(data.classes, 23);
  for (int64_t row = 0; row < data.rows; ++row) EXPECT_EQ(data.labels[row], (data.a[row] + data.b[row]) % 23);
  expect_group_axioms(make_group_table(cyclic(12)));
}

TEST(Groups, NonGroupKindIsRejected) {
  TaskConfig task;
  EXPECT_THROW(make_group_table(task), Error);
}

}  // namespace
}  // namespace grokjit::tasks
