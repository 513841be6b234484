#include "runtime/stats.h"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>

#include "ir/error.h"

namespace grokjit::runtime::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> sorted(std::span<const double> x) {
  std::vector<double> v(x.begin(), x.end());
  std::sort(v.begin(), v.end());
  return v;
}

// Type-7 quantile of already sorted values.
double quantile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return kNaN;
  double h = (static_cast<double>(v.size()) - 1) * q;
  size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= v.size()) return v.back();
  return v[lo] + (h - static_cast<double>(lo)) * (v[lo + 1] - v[lo]);
}

// What welch_t_test and student_t_test share: the means, and whether the
// groups are big enough.
TTest t_test_prelude(std::span<const double> a, std::span<const double> b) {
  TTest r{kNaN, kNaN, kNaN, mean(a), mean(b), ""};
  if (a.size() < 2 || b.size() < 2)
    r.why = "needs at least 2 values per group (have " + std::to_string(a.size()) + " and " +
            std::to_string(b.size()) + ")";
  return r;
}

// Sets t and p from the standard error, or says why not.
void finish_t_test(TTest& r, double se) {
  if (!(se > 0)) {
    r.df = kNaN;
    r.why = "both groups have zero variance";
    return;
  }
  r.t = (r.mean_a - r.mean_b) / se;
  r.p = t_two_sided_p(r.t, r.df);
}

}  // namespace

double t_two_sided_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(df))
    return 2 * boost::math::cdf(boost::math::complement(boost::math::normal(), std::fabs(t)));
  return 2 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::fabs(t)));
}

double mean(std::span<const double> x) {
  if (x.empty()) return kNaN;
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double variance(std::span<const double> x) {
  if (x.size() < 2) return kNaN;
  double m = mean(x), ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return ss / static_cast<double>(x.size() - 1);
}

double stddev(std::span<const double> x) { return std::sqrt(variance(x)); }

double quantile(std::span<const double> x, double q) {
  if (!(q >= 0 && q <= 1)) throw Error("quantile: q must be in [0, 1], got " + std::to_string(q), ExitCode::Failure);
  return quantile_sorted(sorted(x), q);
}

double median(std::span<const double> x) { return quantile(x, 0.5); }

Summary summarize(std::span<const double> x) {
  std::vector<double> v = sorted(x);
  Summary s;
  s.n = v.size();
  s.mean = mean(v);
  s.sd = stddev(v);
  s.min = v.empty() ? kNaN : v.front();
  s.max = v.empty() ? kNaN : v.back();
  s.q1 = quantile_sorted(v, 0.25);
  s.median = quantile_sorted(v, 0.5);
  s.q3 = quantile_sorted(v, 0.75);
  return s;
}

TTest welch_t_test(std::span<const double> a, std::span<const double> b) {
  TTest r = t_test_prelude(a, b);
  if (!r.defined()) return r;
  double sa = variance(a) / static_cast<double>(a.size());
  double sb = variance(b) / static_cast<double>(b.size());
  // Welch-Satterthwaite degrees of freedom.
  r.df = (sa + sb) * (sa + sb) /
         (sa * sa / static_cast<double>(a.size() - 1) + sb * sb / static_cast<double>(b.size() - 1));
  finish_t_test(r, std::sqrt(sa + sb));
  return r;
}

TTest student_t_test(std::span<const double> a, std::span<const double> b) {
  TTest r = t_test_prelude(a, b);
  if (!r.defined()) return r;
  double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  double pooled = ((na - 1) * variance(a) + (nb - 1) * variance(b)) / (na + nb - 2);
  r.df = na + nb - 2;
  finish_t_test(r, std::sqrt(pooled * (1 / na + 1 / nb)));
  return r;
}

double cohens_d(std::span<const double> a, std::span<const double> b) {
  double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  if (a.empty() || b.empty() || na + nb < 3) return kNaN;
  // A group of one contributes no spread (its variance term is 0, weight 0).
  double va = a.size() > 1 ? variance(a) : 0, vb = b.size() > 1 ? variance(b) : 0;
  double sd = std::sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2));
  if (!(sd > 0)) return kNaN;
  return (mean(a) - mean(b)) / sd;
}

double KaplanMeier::survival_at(double t) const {
  double s = 1;
  for (const Step& step : steps) {
    if (step.time > t) break;
    s = step.survival;
  }
  return s;
}

KaplanMeier kaplan_meier(std::span<const Observation> obs) {
  std::vector<Observation> v(obs.begin(), obs.end());
  std::sort(v.begin(), v.end(), [](const Observation& x, const Observation& y) { return x.time < y.time; });
  KaplanMeier km;
  km.n = v.size();
  double s = 1;
  size_t i = 0;
  while (i < v.size()) {
    size_t at_risk = v.size() - i, events = 0, j = i;
    for (; j < v.size() && v[j].time == v[i].time; ++j) events += v[j].event ? 1 : 0;
    if (events > 0) {
      s *= 1 - static_cast<double>(events) / static_cast<double>(at_risk);
      km.steps.push_back({v[i].time, at_risk, events, s});
      if (!km.median && s <= 0.5) km.median = v[i].time;
    }
    km.events += events;
    i = j;
  }
  km.censored = km.n - km.events;
  return km;
}

LogRank log_rank(std::span<const Observation> a, std::span<const Observation> b) {
  LogRank r{kNaN, kNaN, 0, 0, 0, 0, ""};
  if (a.empty() || b.empty()) {
    r.why = "a group is empty";
    return r;
  }
  // Every distinct event time of either group, in order.
  std::vector<double> times;
  for (auto group : {a, b})
    for (const Observation& o : group)
      if (o.event) times.push_back(o.time);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());

  auto count = [](std::span<const Observation> g, double t, size_t& at_risk, size_t& events) {
    at_risk = events = 0;
    for (const Observation& o : g) {
      if (o.time >= t) ++at_risk;
      if (o.time == t && o.event) ++events;
    }
  };
  double var = 0;
  for (double t : times) {
    size_t na, da, nb, db;
    count(a, t, na, da);
    count(b, t, nb, db);
    double n = static_cast<double>(na + nb), d = static_cast<double>(da + db);
    double ea = d * static_cast<double>(na) / n;
    r.observed_a += static_cast<double>(da);
    r.expected_a += ea;
    r.observed_b += static_cast<double>(db);
    r.expected_b += d - ea;
    if (n > 1) var += d * (static_cast<double>(na) / n) * (static_cast<double>(nb) / n) * (n - d) / (n - 1);
  }
  if (times.empty()) {
    r.why = "no run grokked in either group";
    return r;
  }
  if (!(var > 0)) {
    r.why = "zero variance (the groups never share a time at risk)";
    return r;
  }
  double diff = r.observed_a - r.expected_a;
  r.chi2 = diff * diff / var;
  r.p = boost::math::cdf(boost::math::complement(boost::math::chi_squared(1), r.chi2));
  return r;
}

SignTest sign_test(size_t wins_a, size_t wins_b, size_t ties) {
  SignTest r{wins_a, wins_b, ties, kNaN, ""};
  const size_t n = wins_a + wins_b;
  if (n == 0) {
    r.why = "no untied pair";
    return r;
  }
  const boost::math::binomial_distribution<double> b(static_cast<double>(n), 0.5);
  r.p = std::min(1.0, 2 * boost::math::cdf(b, static_cast<double>(std::min(wins_a, wins_b))));
  return r;
}

}  // namespace grokjit::runtime::stats
