#!/usr/bin/env python3
"""Reference values for tests/report/stats_test.cpp, computed independently
of grokjit with SciPy 1.17.1 and lifelines 0.30.3:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install scipy==1.17.1 lifelines==0.30.3
    /tmp/v/bin/python tests/report/stats_reference.py

The tests do not run this script (they must not need pip packages); its
printed values are hard-coded there, with the line that printed each."""
import numpy as np
import scipy.stats as st
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

r = lambda x: repr(float(x))

A = [153, 120, 180, 99, 210, 145, 160]
B = [102, 88, 130, 95, 110, 101]
print("A quantiles .25 .5 .75:", *[r(np.quantile(A, q)) for q in (0.25, 0.5, 0.75)])  # type 7 = numpy "linear"
print("A mean sd:", r(np.mean(A)), r(np.std(A, ddof=1)))
print("B quantiles .25 .5 .75:", *[r(np.quantile(B, q)) for q in (0.25, 0.5, 0.75)])
w = st.ttest_ind(A, B, equal_var=False)
print("welch A B: t df p", r(w.statistic), r(w.df), r(w.pvalue))
s = st.ttest_ind(A, B, equal_var=True)
print("student A B: t df p", r(s.statistic), r(s.df), r(s.pvalue))
na, nb = len(A), len(B)
sp = np.sqrt(((na - 1) * np.var(A, ddof=1) + (nb - 1) * np.var(B, ddof=1)) / (na + nb - 2))
print("cohen d A B:", r((np.mean(A) - np.mean(B)) / sp))
C = [100, 100, 100]  # zero variance in one group only
w = st.ttest_ind(A, C, equal_var=False)
print("welch A C: t df p", r(w.statistic), r(w.df), r(w.pvalue))

# Censored grokking times (event 1 = grokked, 0 = censored), with ties
# between events, between an event and a censoring, and across groups.
t1, e1 = [5, 8, 8, 12, 15, 15, 20, 20], [1, 1, 0, 1, 1, 1, 0, 0]
t2, e2 = [3, 5, 5, 7, 9, 20, 20], [1, 1, 1, 1, 0, 0, 0]
for name, t, e in (("g1", t1, e1), ("g2", t2, e2)):
    k = KaplanMeierFitter().fit(t, e)
    print("KM", name, {x: r(v) for x, v in k.survival_function_["KM_estimate"].items()}, "median", k.median_survival_time_)
res = logrank_test(t1, t2, e1, e2)
print("logrank g1 g2 (lifelines): chi2 p", r(res.test_statistic), r(res.p_value))
sc = st.logrank(st.CensoredData.right_censored(t1, [not x for x in e1]),
                st.CensoredData.right_censored(t2, [not x for x in e2]))
print("logrank g1 g2 (scipy): z^2 p", r(sc.statistic ** 2), r(sc.pvalue))

# S(t) exactly 0.5 on a plateau: lifelines takes the first time with S <= 0.5.
k = KaplanMeierFitter().fit([1, 2, 3, 4], [1, 1, 1, 1])
print("KM 1..4 median:", k.median_survival_time_)
# One group all censored at the cap 30, the other grokking early.
t3, e3 = [30, 30, 30, 30], [0, 0, 0, 0]
t4, e4 = [10, 12, 12, 30], [1, 1, 1, 0]
k = KaplanMeierFitter().fit(t3, e3)
print("KM all censored median:", k.median_survival_time_)
res = logrank_test(t3, t4, e3, e4)
print("logrank censored vs early (lifelines): chi2 p", r(res.test_statistic), r(res.p_value))

# Larger samples with a small p (the tail of the t distribution), built by the
# same formula in the test: a_i = 100 + (37 i mod 61), b_i = 80 + (53 i mod 47).
a = [100 + (37 * i) % 61 for i in range(60)]
b = [80 + (53 * i) % 47 for i in range(50)]
w = st.ttest_ind(a, b, equal_var=False)
print("welch big: t df p", r(w.statistic), r(w.df), r(w.pvalue))
s = st.ttest_ind(a, b, equal_var=True)
print("student big: t df p", r(s.statistic), r(s.df), r(s.pvalue))

# The paper's t = 5.0175: its two-sided p for a few df, and the normal limit.
for df in (10, 100):
    print("t 5.0175 df", df, "p", r(2 * st.t.sf(5.0175, df)))
print("t 5.0175 normal p", r(2 * st.norm.sf(5.0175)))
