// Statistics for comparing grokking times: descriptive summaries, two-sample
// t-tests, Cohen's d, and, because a run that never groks is right-censored
// at the epoch cap rather than missing, the Kaplan-Meier estimator and the
// log-rank test. Distributions (Student's t, chi-square) come from Boost.Math
// (see docs/report.md for why). Tested against SciPy and lifelines values in
// tests/report/stats_test.cpp.
//
// Conventions: an undefined statistic (too few values, zero variance) is NaN,
// and the results that can be undefined carry `why` saying why.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace grokjit::runtime::stats {

double mean(std::span<const double> x);      // NaN when empty
double variance(std::span<const double> x);  // sample variance (n - 1); NaN when n < 2
double stddev(std::span<const double> x);    // sqrt(variance)
// The q-quantile (0 <= q <= 1) by R's default definition, type 7 (also
// NumPy's "linear"): h = (n - 1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])
// on the sorted values. NaN when empty.
double quantile(std::span<const double> x, double q);
double median(std::span<const double> x);

struct Summary {
  size_t n = 0;
  double mean, sd, min, q1, median, q3, max;  // NaN where undefined
  double iqr() const { return q3 - q1; }
};
Summary summarize(std::span<const double> x);

// A two-sample t-test of mean(a) - mean(b), two-sided.
struct TTest {
  double t, df, p;         // NaN when undefined
  double mean_a, mean_b;
  std::string why;         // "" when defined
  bool defined() const { return why.empty(); }
};
// Welch's test: unequal variances, Welch-Satterthwaite degrees of freedom.
TTest welch_t_test(std::span<const double> a, std::span<const double> b);
// Student's test: pooled variance, df = n_a + n_b - 2.
TTest student_t_test(std::span<const double> a, std::span<const double> b);
// Cohen's d = (mean(a) - mean(b)) / pooled SD; NaN when n_a + n_b < 3 or
// the pooled SD is zero.
double cohens_d(std::span<const double> a, std::span<const double> b);

// The two-sided p-value of a t statistic with `df` degrees of freedom
// (df = infinity: the normal distribution).
double t_two_sided_p(double t, double df);

// A right-censored time: `event` = grokked at `time`; otherwise the run was
// still un-grokked when it stopped at `time` (the cap).
struct Observation {
  double time;
  bool event;
};

// The Kaplan-Meier estimate of S(t) = P(not grokked by t). A censoring at
// the same time as an event counts as still at risk at that time.
struct KaplanMeier {
  struct Step {
    double time;        // a distinct event time
    size_t at_risk;     // runs with time >= this
    size_t events;      // runs that grokked at this time
    double survival;    // S(time), after this step
  };
  std::vector<Step> steps;
  size_t n = 0, events = 0, censored = 0;
  // The first event time at which S(t) <= 0.5 (the lifelines and R survival
  // convention, without R's midpoint rule for an S exactly 0.5 on a
  // plateau); nullopt when S stays above 0.5 ("not reached": more than half
  // the runs never grokked within their caps).
  std::optional<double> median;
  double survival_at(double t) const;  // S(t), a right-continuous step function
};
KaplanMeier kaplan_meier(std::span<const Observation> obs);

// The log-rank (Mantel-Cox) test of equal grokking-time distributions in
// two groups, with the hypergeometric variance (handles ties); chi-square with
// one degree of freedom.
struct LogRank {
  double chi2, p;                  // NaN when undefined
  double observed_a, expected_a;   // events in a, and expected under H0
  double observed_b, expected_b;
  std::string why;                 // "" when defined
  bool defined() const { return why.empty(); }
};
LogRank log_rank(std::span<const Observation> a, std::span<const Observation> b);

// The exact two-sided sign test for paired outcomes: of the untied pairs,
// `wins_a` went A's way and `wins_b` B's; under H0 each way has probability
// 1/2, so p = min(1, 2 P(X <= min(wins_a, wins_b))), X ~ Binomial(wins_a +
// wins_b, 1/2). Ties do not count. NaN (with why) when no pair is untied.
struct SignTest {
  size_t wins_a = 0, wins_b = 0, ties = 0;
  double p;
  std::string why;  // "" when defined
  bool defined() const { return why.empty(); }
};
SignTest sign_test(size_t wins_a, size_t wins_b, size_t ties);

}  // namespace grokjit::runtime::stats
