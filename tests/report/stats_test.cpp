// runtime/stats against values computed independently with SciPy 1.17.1 and
// lifelines 0.30.3 by tests/report/stats_reference.py:
//   python3 -m venv /tmp/v && /tmp/v/bin/pip install scipy==1.17.1 lifelines==0.30.3
//   /tmp/v/bin/python tests/report/stats_reference.py
// Each expected number below is copied from the line of that script's output
// named in the comment next to it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ir/error.h"
#include "runtime/stats.h"

namespace st = grokjit::runtime::stats;

namespace {

const std::vector<double> kA = {153, 120, 180, 99, 210, 145, 160};
const std::vector<double> kB = {102, 88, 130, 95, 110, 101};

// Relative closeness (the references print 16-17 significant digits).
void expect_close(double got, double want, double rel = 1e-10) {
  EXPECT_NEAR(got, want, rel * std::fabs(want)) << "got " << got << ", want " << want;
}

std::vector<st::Observation> observations(const std::vector<double>& t, const std::vector<int>& e) {
  std::vector<st::Observation> out;
  for (size_t i = 0; i < t.size(); ++i) out.push_back({t[i], e[i] != 0});
  return out;
}

}  // namespace

TEST(Stats, DescriptiveMatchNumpy) {
  // "A quantiles .25 .5 .75: 132.5 153.0 170.0", "A mean sd: 152.42857142857142 36.7280870853953"
  st::Summary s = st::summarize(kA);
  EXPECT_EQ(s.n, 7u);
  expect_close(s.q1, 132.5);
  expect_close(s.median, 153.0);
  expect_close(s.q3, 170.0);
  expect_close(s.mean, 152.42857142857142);
  expect_close(s.sd, 36.7280870853953);
  EXPECT_EQ(s.min, 99);
  EXPECT_EQ(s.max, 210);
  // "B quantiles .25 .5 .75: 96.5 101.5 108.0" (even n: interpolated median)
  expect_close(st::quantile(kB, 0.25), 96.5);
  expect_close(st::median(kB), 101.5);
  expect_close(st::quantile(kB, 0.75), 108.0);
  expect_close(st::summarize(kB).iqr(), 11.5);
}

TEST(Stats, DescriptiveEdgeCases) {
  std::vector<double> none, one = {42};
  EXPECT_TRUE(std::isnan(st::mean(none)));
  EXPECT_TRUE(std::isnan(st::median(none)));
  EXPECT_TRUE(std::isnan(st::variance(one)));
  EXPECT_EQ(st::median(one), 42);
  EXPECT_EQ(st::quantile(one, 0.75), 42);
  st::Summary s = st::summarize(one);
  EXPECT_EQ(s.q1, 42);
  EXPECT_EQ(s.iqr(), 0);
  EXPECT_TRUE(std::isnan(s.sd));
  EXPECT_THROW(st::quantile(kA, 1.5), grokjit::Error);
}

// Exact binomial tails, computed independently with Python's fractions:
// p = min(1, 2 sum_{i <= k} C(n, i) / 2^n).
TEST(Stats, SignTestMatchesExactBinomialTails) {
  struct Case {
    size_t a, b;
    double p;
  };
  for (const Case& c : {Case{1, 9, 11.0 / 512}, Case{9, 1, 11.0 / 512}, Case{0, 6, 1.0 / 32}, Case{2, 3, 1.0},
                        Case{17, 3, 1351.0 / 524288}, Case{7, 33, 23242039.0 / 549755813888.0}, Case{50, 50, 1.0}}) {
    SCOPED_TRACE(std::to_string(c.a) + " vs " + std::to_string(c.b));
    st::SignTest t = st::sign_test(c.a, c.b, 4);
    ASSERT_TRUE(t.defined()) << t.why;
    expect_close(t.p, c.p);
    EXPECT_EQ(t.ties, 4u);
  }
  st::SignTest none = st::sign_test(0, 0, 3);
  EXPECT_FALSE(none.defined());
  EXPECT_TRUE(std::isnan(none.p));
}

TEST(Stats, WelchMatchesScipy) {
  // "welch A B: t df p 3.184589569721551 8.078489625850906 0.01274560273435028"
  st::TTest w = st::welch_t_test(kA, kB);
  ASSERT_TRUE(w.defined()) << w.why;
  expect_close(w.t, 3.184589569721551);
  expect_close(w.df, 8.078489625850906);
  expect_close(w.p, 0.01274560273435028);
  // Swapping the groups flips the sign only.
  st::TTest r = st::welch_t_test(kB, kA);
  expect_close(r.t, -3.184589569721551);
  expect_close(r.p, 0.01274560273435028);
}

TEST(Stats, StudentMatchesScipy) {
  // "student A B: t df p 2.996546951764455 11.0 0.012154624093623468"
  st::TTest s = st::student_t_test(kA, kB);
  ASSERT_TRUE(s.defined()) << s.why;
  expect_close(s.t, 2.996546951764455);
  EXPECT_EQ(s.df, 11.0);
  expect_close(s.p, 0.012154624093623468);
}

TEST(Stats, SmallPValuesMatchScipy) {
  std::vector<double> a, b;
  for (int i = 0; i < 60; ++i) a.push_back(100 + (37 * i) % 61);
  for (int i = 0; i < 50; ++i) b.push_back(80 + (53 * i) % 47);
  // "welch big: t df p 9.259173196412796 107.56260189791305 2.3242287403815607e-15"
  st::TTest w = st::welch_t_test(a, b);
  expect_close(w.t, 9.259173196412796);
  expect_close(w.df, 107.56260189791305);
  expect_close(w.p, 2.3242287403815607e-15, 1e-8);
  // "student big: t df p 9.054578631526939 108.0 6.541079449903568e-15"
  st::TTest s = st::student_t_test(a, b);
  expect_close(s.t, 9.054578631526939);
  expect_close(s.p, 6.541079449903568e-15, 1e-8);
}

TEST(Stats, CohensDMatchesFormulaInScipyScript) {
  // "cohen d A B: 1.6671248221019483"
  expect_close(st::cohens_d(kA, kB), 1.6671248221019483);
  expect_close(st::cohens_d(kB, kA), -1.6671248221019483);
}

TEST(Stats, TTestEdgeCases) {
  // One group with zero variance: still defined (the other carries the spread).
  // "welch A C: t df p 3.776754320797304 6.0 0.009215374064346776"
  std::vector<double> c = {100, 100, 100};
  st::TTest w = st::welch_t_test(kA, c);
  ASSERT_TRUE(w.defined()) << w.why;
  expect_close(w.t, 3.776754320797304);
  expect_close(w.df, 6.0);
  expect_close(w.p, 0.009215374064346776);

  // n < 2 in a group: undefined, with the counts in the reason.
  std::vector<double> one = {5};
  st::TTest u = st::welch_t_test(kA, one);
  EXPECT_FALSE(u.defined());
  EXPECT_TRUE(std::isnan(u.t));
  EXPECT_TRUE(std::isnan(u.p));
  EXPECT_NE(u.why.find("have 7 and 1"), std::string::npos) << u.why;
  EXPECT_EQ(u.mean_b, 5);
  EXPECT_FALSE(st::student_t_test(one, kA).defined());

  // Zero variance in both groups: no t, whether or not the means differ.
  std::vector<double> d = {7, 7, 7};
  for (const auto& tt : {st::welch_t_test(c, d), st::student_t_test(c, d), st::welch_t_test(c, c)}) {
    EXPECT_FALSE(tt.defined());
    EXPECT_NE(tt.why.find("zero variance"), std::string::npos);
    EXPECT_TRUE(std::isnan(tt.p));
  }
  EXPECT_TRUE(std::isnan(st::cohens_d(c, d)));
  std::vector<double> none;
  EXPECT_TRUE(std::isnan(st::cohens_d(kA, none)));
  EXPECT_TRUE(std::isnan(st::cohens_d(one, one)));
}

TEST(Stats, KaplanMeierMatchesLifelines) {
  // "KM g1 {0.0: '1.0', 5.0: '0.875...', 8.0: '0.75...', 12.0: '0.6...', 15.0: '0.3...', 20.0: '0.3...'} median 15.0"
  auto g1 = observations({5, 8, 8, 12, 15, 15, 20, 20}, {1, 1, 0, 1, 1, 1, 0, 0});
  st::KaplanMeier km = st::kaplan_meier(g1);
  EXPECT_EQ(km.n, 8u);
  EXPECT_EQ(km.events, 5u);
  EXPECT_EQ(km.censored, 3u);
  ASSERT_EQ(km.steps.size(), 4u);  // event times 5, 8, 12, 15 (20 has censorings only)
  const double want_t[] = {5, 8, 12, 15}, want_s[] = {0.8750000000000001, 0.7500000000000001, 0.6000000000000001,
                                                      0.30000000000000004};
  const size_t want_risk[] = {8, 7, 5, 4};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(km.steps[i].time, want_t[i]);
    EXPECT_EQ(km.steps[i].at_risk, want_risk[i]);
    expect_close(km.steps[i].survival, want_s[i], 1e-12);
  }
  EXPECT_EQ(km.steps[1].events, 1u);  // the tied censoring at 8 is at risk, not an event
  ASSERT_TRUE(km.median);
  EXPECT_EQ(*km.median, 15.0);
  EXPECT_EQ(km.survival_at(4.9), 1.0);
  expect_close(km.survival_at(8), 0.75, 1e-12);
  expect_close(km.survival_at(14.5), 0.6, 1e-12);
  expect_close(km.survival_at(100), 0.3, 1e-12);

  // "KM g2 {..., 3.0: '0.857...', 5.0: '0.571...', 7.0: '0.428...', ...} median 7.0"
  st::KaplanMeier km2 = st::kaplan_meier(observations({3, 5, 5, 7, 9, 20, 20}, {1, 1, 1, 1, 0, 0, 0}));
  ASSERT_EQ(km2.steps.size(), 3u);
  expect_close(km2.steps[0].survival, 0.8571428571428572, 1e-12);
  expect_close(km2.steps[1].survival, 0.5714285714285714, 1e-12);
  expect_close(km2.steps[2].survival, 0.42857142857142866, 1e-12);
  EXPECT_EQ(km2.median, 7.0);
}

TEST(Stats, KaplanMeierEdgeCases) {
  // "KM 1..4 median: 2.0": S = 0.5 exactly at 2 counts as the median.
  EXPECT_EQ(st::kaplan_meier(observations({1, 2, 3, 4}, {1, 1, 1, 1})).median, 2.0);
  // "KM all censored median: inf": not reached; no steps; S = 1 throughout.
  st::KaplanMeier all = st::kaplan_meier(observations({30, 30, 30, 30}, {0, 0, 0, 0}));
  EXPECT_FALSE(all.median);
  EXPECT_TRUE(all.steps.empty());
  EXPECT_EQ(all.censored, 4u);
  EXPECT_EQ(all.survival_at(30), 1.0);
  // Empty input.
  st::KaplanMeier none = st::kaplan_meier({});
  EXPECT_EQ(none.n, 0u);
  EXPECT_FALSE(none.median);
  // Order of the input does not matter.
  auto shuffled = observations({20, 15, 8, 5, 20, 12, 8, 15}, {0, 1, 0, 1, 0, 1, 1, 1});
  EXPECT_EQ(st::kaplan_meier(shuffled).median, 15.0);
}

TEST(Stats, LogRankMatchesLifelinesAndScipy) {
  auto g1 = observations({5, 8, 8, 12, 15, 15, 20, 20}, {1, 1, 0, 1, 1, 1, 0, 0});
  auto g2 = observations({3, 5, 5, 7, 9, 20, 20}, {1, 1, 1, 1, 0, 0, 0});
  // "logrank g1 g2 (lifelines): chi2 p 0.2131447930933668 0.6443136346173683"
  // (SciPy's st.logrank agrees: z^2 0.21314479309336612, p 0.644313634617369)
  st::LogRank lr = st::log_rank(g1, g2);
  ASSERT_TRUE(lr.defined()) << lr.why;
  expect_close(lr.chi2, 0.2131447930933668);
  expect_close(lr.p, 0.6443136346173683);
  EXPECT_EQ(lr.observed_a, 5);
  EXPECT_EQ(lr.observed_b, 4);
  expect_close(lr.expected_a + lr.expected_b, 9, 1e-12);
  // Symmetric in the groups.
  expect_close(st::log_rank(g2, g1).chi2, 0.2131447930933668);
}

TEST(Stats, LogRankEdgeCases) {
  auto censored = observations({30, 30, 30, 30}, {0, 0, 0, 0});
  auto early = observations({10, 12, 12, 30}, {1, 1, 1, 0});
  // "logrank censored vs early (lifelines): chi2 p 4.10077519379845 0.04286355640006399"
  st::LogRank lr = st::log_rank(censored, early);
  ASSERT_TRUE(lr.defined()) << lr.why;
  expect_close(lr.chi2, 4.10077519379845);
  expect_close(lr.p, 0.04286355640006399);
  // Nobody grokked: undefined.
  st::LogRank none = st::log_rank(censored, censored);
  EXPECT_FALSE(none.defined());
  EXPECT_NE(none.why.find("no run grokked"), std::string::npos);
  EXPECT_TRUE(std::isnan(none.p));
  EXPECT_FALSE(st::log_rank(censored, {}).defined());
}

TEST(Stats, TwoSidedPOfThePapersT) {
  // "t 5.0175 df 10 p 0.0005236623129079989", "t 5.0175 df 100 p 2.27851530267784e-06",
  // "t 5.0175 normal p 5.23482015871521e-07"
  expect_close(st::t_two_sided_p(5.0175, 10), 0.0005236623129079989);
  expect_close(st::t_two_sided_p(-5.0175, 100), 2.27851530267784e-06);
  expect_close(st::t_two_sided_p(5.0175, std::numeric_limits<double>::infinity()), 5.23482015871521e-07, 1e-9);
  EXPECT_TRUE(std::isnan(st::t_two_sided_p(1, 0)));
}
