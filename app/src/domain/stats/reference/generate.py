"""Reference vectors for intentlab's statistics (app/src/domain/stats), computed independently.

    python -m venv .venv && .venv/bin/pip install gbstats==0.8.0 scipy statsmodels numpy
    .venv/bin/python app/src/domain/stats/reference/generate.py > app/src/domain/stats/reference/vectors.json

Sources of truth:
  * GrowthBook's gbstats (PyPI 0.8.0) for the t-tests, sequential confidence sequences, Bayesian Gaussian
    effects, ratio (delta method) and CUPED statistics -- on the inputs of gbstats' own published unit tests
    (github.com/growthbook/growthbook packages/stats/tests) and on random sufficient statistics;
  * scipy: Welch's t-test on raw synthetic data (ttest_ind(equal_var=False)), ttest_ind_from_stats for
    proportions (gbstats' Welch test with variance p(1-p)), chisquare for sample-ratio mismatch;
  * statsmodels: multipletests (holm, fdr_bh), NormalIndPower for absolute-effect power, combine_effects'
    homogeneity test (Cochran's Q) for effects across segments;
  * GrowthBook's power calculator (packages/shared/src/power/power.ts): a line-by-line port below for
    relative-effect power and MDE, and the values its own tests publish (packages/shared/test/power.test.ts).
"""
import json
import math

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    OneSidedTreatmentGreaterTTest,
    OneSidedTreatmentLesserTTest,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

rng = np.random.default_rng(20261125)


def describe(stat):
    """The statistic as the Rust tests build it."""
    if isinstance(stat, ProportionStatistic):
        return {"kind": "binomial", "n": stat.n, "sum": stat.sum}
    if isinstance(stat, SampleMeanStatistic):
        return {"kind": "mean", "n": stat.n, "sum": stat.sum, "sum_squares": stat.sum_squares}
    if isinstance(stat, RatioStatistic):
        return {
            "kind": "ratio",
            "n": stat.n,
            "numerator": describe(stat.m_statistic),
            "denominator": describe(stat.d_statistic),
            "cross_sum": stat.m_d_sum_of_products,
        }
    if isinstance(stat, RegressionAdjustedStatistic):
        return {
            "kind": "cuped",
            "n": stat.n,
            "post": describe(stat.post_statistic),
            "pre": describe(stat.pre_statistic),
            "cross_sum": stat.post_pre_sum_of_products,
        }
    raise TypeError(stat)


def finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def frequentist_cases(name, a, b):
    cases = []
    for relative in (True, False):
        difference = "relative" if relative else "absolute"
        for alpha in (0.05, 0.1):
            config = FrequentistConfig(alpha=alpha, difference_type=difference)
            for tails, test in (("two", TwoSidedTTest), ("greater", OneSidedTreatmentGreaterTTest),
                                ("less", OneSidedTreatmentLesserTTest)):
                r = test(a, b, config).compute_result()
                ci = [finite(r.ci[0]), finite(r.ci[1])]
                if tails == "less" and r.error_message is None:
                    # gbstats 0.8.0 puts the upper bound at estimate - halfwidth; GrowthBook fixed it to
                    # estimate + halfwidth (one_sided_confidence_interval in later gbstats).
                    ci[1] = 2 * r.expected - r.ci[1]
                cases.append({"name": name, "method": "frequentist", "tails": tails, "relative": relative,
                              "alpha": alpha, "control": describe(a), "treatment": describe(b),
                              "estimate": r.expected, "ci": ci,
                              "p_value": r.p_value, "stddev": r.uplift.stddev, "error": r.error_message})
            for tuning in (5000, 1000):
                config = SequentialConfig(alpha=alpha, difference_type=difference, sequential_tuning_parameter=tuning)
                r = SequentialTwoSidedTTest(a, b, config).compute_result()
                cases.append({"name": name, "method": "sequential", "tuning": tuning, "tails": "two",
                              "relative": relative, "alpha": alpha, "control": describe(a), "treatment": describe(b),
                              "estimate": r.expected, "ci": [finite(r.ci[0]), finite(r.ci[1])],
                              "p_value": r.p_value, "stddev": r.uplift.stddev, "error": r.error_message})
    return cases


def bayesian_cases(name, a, b):
    cases = []
    priors = [None, {"mean": 0.1, "variance": 0.1}, {"mean": 0.0, "variance": 0.3 ** 2}]
    for relative in (True, False):
        difference = "relative" if relative else "absolute"
        for prior in priors:
            for inverse in (False, True):
                gp = GaussianPrior(**prior, proper=True) if prior else GaussianPrior(proper=False)
                config = EffectBayesianConfig(difference_type=difference, inverse=inverse, prior_effect=gp,
                                              prior_type="relative")
                r = EffectBayesianABTest(a, b, config).compute_result()
                cases.append({"name": name, "method": "bayesian", "relative": relative, "alpha": 0.05,
                              "prior": prior, "inverse": inverse, "control": describe(a), "treatment": describe(b),
                              "estimate": r.expected, "ci": [r.ci[0], r.ci[1]], "stddev": r.uplift.stddev,
                              "chance_to_win": r.chance_to_win, "risk": list(r.risk), "error": r.error_message})
    return cases


def random_mean_pair():
    def sample(n, mu, sigma):
        x = rng.lognormal(mu, sigma, n) * (rng.random(n) < 0.3)  # revenue-like: many zeros, long tail
        return SampleMeanStatistic(n=int(n), sum=float(x.sum()), sum_squares=float((x * x).sum()))
    n = int(rng.integers(50, 20000))
    return sample(n, 3.5, 0.8), sample(int(n * rng.uniform(0.9, 1.1)), 3.5 + rng.normal(0, 0.05), 0.8)


def random_binomial_pair():
    n_a, n_b = int(rng.integers(30, 50000)), int(rng.integers(30, 50000))
    p = rng.uniform(0.02, 0.6)
    return (ProportionStatistic(n=n_a, sum=int(rng.binomial(n_a, p))),
            ProportionStatistic(n=n_b, sum=int(rng.binomial(n_b, p * rng.uniform(0.9, 1.15)))))


def random_ratio_stat(n, aov):
    orders = rng.poisson(0.4, n).astype(float)
    revenue = np.array([rng.lognormal(math.log(aov), 0.5, int(k)).sum() for k in orders])
    return RatioStatistic(
        n=n,
        m_statistic=SampleMeanStatistic(n=n, sum=float(revenue.sum()), sum_squares=float((revenue ** 2).sum())),
        d_statistic=SampleMeanStatistic(n=n, sum=float(orders.sum()), sum_squares=float((orders ** 2).sum())),
        m_d_sum_of_products=float((revenue * orders).sum()),
    )


def random_cuped_pair(binomial):
    def stat(n, lift):
        if binomial:
            pre = (rng.random(n) < 0.2).astype(float)
            post = ((rng.random(n) < 0.1 + 0.5 * pre * 0.4) | (rng.random(n) < lift)).astype(float)
            ps = lambda x: ProportionStatistic(n=n, sum=float(x.sum()))
        else:
            pre = rng.gamma(2.0, 20.0, n)
            post = 0.7 * pre + rng.normal(10 + lift * 10, 15, n)
            ps = lambda x: SampleMeanStatistic(n=n, sum=float(x.sum()), sum_squares=float((x * x).sum()))
        return RegressionAdjustedStatistic(n=n, post_statistic=ps(post), pre_statistic=ps(pre),
                                           post_pre_sum_of_products=float((post * pre).sum()), theta=0.0)
    n = int(rng.integers(200, 5000))
    return stat(n, 0.0), stat(int(n * rng.uniform(0.95, 1.05)), 0.05)


comparisons = []
# The inputs of gbstats' published tests.
published_mean = (SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3407),
                  SampleMeanStatistic(sum=2422.7, sum_squares=134698.29, n=3461))
published_seq = (SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=3000),
                 SampleMeanStatistic(sum=2422.7, sum_squares=134698.29, n=3461))
published_binomial = (ProportionStatistic(sum=14, n=28), ProportionStatistic(sum=16, n=30))
published_seq_prop = (ProportionStatistic(sum=1396, n=3000), ProportionStatistic(sum=2422, n=3461))
published_ra = tuple(
    RegressionAdjustedStatistic(n=n, post_statistic=post, pre_statistic=pre, post_pre_sum_of_products=1, theta=0.0)
    for n, post, pre in ((3000, published_seq[0], SampleMeanStatistic(sum=16.87, sum_squares=527.9767, n=3000)),
                         (3461, published_seq[1], SampleMeanStatistic(sum=22.7, sum_squares=1348.29, n=3461))))
published_bayes_binomial = (ProportionStatistic(sum=49, n=100), ProportionStatistic(sum=51, n=100))
published_bayes_mean = (SampleMeanStatistic(sum=100, sum_squares=1002.25, n=10),
                        SampleMeanStatistic(sum=105, sum_squares=1111.5, n=10))
published_bayes_effect = (SampleMeanStatistic(n=100, sum=1000, sum_squares=200000),
                          SampleMeanStatistic(n=100, sum=1100, sum_squares=200005))

for name, pair in (("gbstats mean", published_mean), ("gbstats sequential mean", published_seq),
                   ("gbstats binomial", published_binomial), ("gbstats sequential binomial", published_seq_prop),
                   ("gbstats cuped", published_ra)):
    comparisons += frequentist_cases(name, *pair)
for name, pair in (("gbstats bayes binomial", published_bayes_binomial), ("gbstats bayes mean", published_bayes_mean),
                   ("gbstats bayes effect", published_bayes_effect), ("gbstats mean", published_mean)):
    comparisons += bayesian_cases(name, *pair)
# Degenerate inputs: gbstats answers with its uninformative default and an error message.
comparisons += frequentist_cases("zero variance", SampleMeanStatistic(sum=1396.87, sum_squares=52377.9767, n=2),
                                 published_mean[1])[:1]
comparisons += frequentist_cases("zero baseline", ProportionStatistic(sum=0, n=100), ProportionStatistic(sum=3, n=100))[:1]
for i in range(6):
    comparisons += frequentist_cases(f"random mean {i}", *random_mean_pair())
    comparisons += frequentist_cases(f"random binomial {i}", *random_binomial_pair())
    comparisons += bayesian_cases(f"random mean {i}", *random_mean_pair())
    comparisons += bayesian_cases(f"random binomial {i}", *random_binomial_pair())
for i in range(4):
    n = int(rng.integers(500, 20000))
    pair = (random_ratio_stat(n, 60.0), random_ratio_stat(int(n * rng.uniform(0.95, 1.05)), 62.0))
    comparisons += frequentist_cases(f"random ratio {i}", *pair)
    comparisons += bayesian_cases(f"random ratio {i}", *pair)
    comparisons += frequentist_cases(f"random cuped mean {i}", *random_cuped_pair(False))
    comparisons += frequentist_cases(f"random cuped binomial {i}", *random_cuped_pair(True))

# scipy's Welch t-test on raw data: the absolute lift's p-value and degrees of freedom.
welch = []
for i in range(8):
    n_a, n_b = int(rng.integers(5, 3000)), int(rng.integers(5, 3000))
    a = rng.normal(50, rng.uniform(5, 40), n_a)
    b = rng.normal(50 + rng.normal(0, 3), rng.uniform(5, 40), n_b)
    t, p = stats.ttest_ind(b, a, equal_var=False)
    va, vb = a.var(ddof=1) / n_a, b.var(ddof=1) / n_b
    dof = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    welch.append({"control": {"kind": "mean", "n": n_a, "sum": float(a.sum()), "sum_squares": float((a * a).sum())},
                  "treatment": {"kind": "mean", "n": n_b, "sum": float(b.sum()), "sum_squares": float((b * b).sum())},
                  "t": float(t), "p_value": float(p), "dof": float(dof)})
for i in range(6):
    n_a, n_b = int(rng.integers(50, 50000)), int(rng.integers(50, 50000))
    x_a, x_b = int(rng.binomial(n_a, 0.1)), int(rng.binomial(n_b, 0.11))
    pa, pb = x_a / n_a, x_b / n_b
    t, p = stats.ttest_ind_from_stats(pb, math.sqrt(pb * (1 - pb)), n_b, pa, math.sqrt(pa * (1 - pa)), n_a,
                                      equal_var=False)
    welch.append({"control": {"kind": "binomial", "n": n_a, "sum": x_a},
                  "treatment": {"kind": "binomial", "n": n_b, "sum": x_b}, "t": float(t), "p_value": float(p),
                  "dof": None})

# scipy's Student t at degrees of freedom from a handful to more than any experiment reaches (a request may
# claim a billion units): quantiles for the intervals, tail probabilities for the p-values.
student_t = [{"dof": dof, "p": p, "quantile": float(stats.t.ppf(p, dof)), "x": x, "sf": float(stats.t.sf(x, dof))}
             for dof in (3.0, 30.0, 5e4, 999999.0, 1e6, 3e7, 1e9, 1e13)
             for p, x in ((0.975, 2.0), (0.95, 3.5), (0.995, 0.5))]

srm = []
for observed, weights in (([5000, 5000], [0.5, 0.5]), ([5100, 4900], [0.5, 0.5]), ([5300, 4700], [0.5, 0.5]),
                          ([3000, 3150, 2950], [1, 1, 1]), ([2100, 7900], [0.2, 0.8]),
                          ([2000, 2000, 6100], [0.25, 0.25, 0.5]), ([120, 95], [0.5, 0.5])):
    total = sum(observed)
    expected = [w / sum(weights) * total for w in weights]
    srm.append({"observed": observed, "weights": weights, "p_value": float(stats.chisquare(observed, expected).pvalue)})

adjustments = []
for p in ([0.01, 0.04, 0.03, 0.005], [0.2, 0.001, 0.05, 0.04, 0.5, 0.03], [0.9, 0.8, 0.7],
          list(rng.uniform(0, 0.2, 10))):
    p = [float(x) for x in p]
    adjustments.append({"p_values": p, "holm": list(map(float, multipletests(p, method="holm")[1])),
                        "bh": list(map(float, multipletests(p, method="fdr_bh")[1]))})


# Cochran's Q across segments: statsmodels' meta-analysis homogeneity test.
heterogeneity = []
for k in (2, 3, 5, 8):
    estimates = rng.normal(0.05, 0.04, k)
    stderr = rng.uniform(0.01, 0.05, k)
    test = combine_effects(estimates, stderr ** 2).test_homogeneity()
    heterogeneity.append({"estimates": [[float(e), float(se)] for e, se in zip(estimates, stderr)],
                          "q": float(test.statistic), "p_value": float(test.pvalue)})

# GrowthBook's power calculator (power.ts), ported line by line; relative effects, n = total units.
def gb_variance(var_a, mean_a, n_a, var_b, mean_b, n_b):
    return var_b / (mean_a ** 2 * n_b) + var_a * mean_b ** 2 / (mean_a ** 4 * n_a)


def gb_seq_variance(variance, n, alpha, tuning):
    se = math.sqrt(variance / n)
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    disc = 2 * (n * rho ** 2 + 1) * math.log(math.sqrt(n * rho ** 2 + 1) / alpha) / (n * rho) ** 2
    z_seq = math.sqrt(n) * math.sqrt(disc)
    z_star = stats.norm.ppf(1 - alpha / 2)
    return n * (se * z_seq / z_star) ** 2


def gb_power(mean, variance, effect, n, k, alpha, two_tailed, tuning):
    if tuning:
        v = gb_variance(variance, mean, n / k, variance, mean * (1 + effect), n / k)
        se = math.sqrt(gb_seq_variance(v, 2 * n / k, alpha, tuning))
    else:
        se = math.sqrt(gb_variance(variance, mean, n / k, variance, mean * (1 + effect), n / k))
    z = stats.norm.ppf(1 - alpha / 2) if two_tailed else stats.norm.ppf(1 - alpha)
    power = 1 - stats.norm.cdf(z - effect / se)
    if two_tailed:
        power += stats.norm.cdf(-z - effect / se)
    return power


def gb_mde(mean, variance, power, n, k, alpha, two_tailed, tuning):
    # power.ts always uses the two-sided critical value; a one-tailed plan uses 1 - alpha.
    n_a = n / k
    z = stats.norm.ppf(1 - (alpha / 2 if two_tailed else alpha)) - stats.norm.ppf(1 - power)
    v = gb_seq_variance(variance, 2 * n_a, alpha, tuning) if tuning else variance
    if n_a <= v * z ** 2 / mean ** 2:
        return None
    sigma2 = v / n_a
    a = 1 - z ** 2 * sigma2 / mean ** 2
    b = -2 * mean
    c = mean ** 2 - z ** 2 * sigma2
    return ((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) - mean) / mean


power = []
for mean, variance, effect, n, k, alpha, two_tailed, tuning in (
        (10, 3909.9997749994377, 0.05, 400000, 3, 0.05, True, None),
        (10, 3909.9997749994377, 0.05, 400000, 3, 0.05, True, 5000),
        (0.1, 0.09, 0.05, 9000, 3, 0.05, True, None),
        (0.1, 0.5, 0.3, 27000, 3, 0.05, True, None),
        (0.03, 0.03 * 0.97, 0.1, 200000, 2, 0.05, True, None),
        (0.03, 0.03 * 0.97, 0.1, 200000, 2, 0.05, False, None),
        (0.03, 0.03 * 0.97, 0.1, 200000, 2, 0.1, True, 1000),
        (52.0, 900.0, 0.02, 60000, 4, 0.05, True, 5000)):
    power.append({"mean": mean, "variance": variance, "relative_effect": effect, "total_units": n, "variations": k,
                  "alpha": alpha, "two_tailed": two_tailed, "sequential_tuning_parameter": tuning,
                  "power": gb_power(mean, variance, effect, n, k, alpha, two_tailed, tuning),
                  "mde_at_80": gb_mde(mean, variance, 0.8, n, k, alpha, two_tailed, tuning)})

# Absolute effects: the classical two-sample z-test power, statsmodels' NormalIndPower.
absolute_power = []
for effect, sd, n_per, alpha, alternative in ((0.5, 10, 200, 0.05, "two-sided"), (0.2, 1, 400, 0.05, "two-sided"),
                                               (2.0, 30, 1500, 0.01, "two-sided"), (0.1, 1, 1000, 0.05, "larger")):
    absolute_power.append({"effect": effect, "sd": sd, "units_per_variation": n_per, "alpha": alpha,
                           "two_tailed": alternative == "two-sided",
                           "power": float(NormalIndPower().power(effect / sd, n_per, alpha, ratio=1,
                                                                 alternative=alternative))})

# Values GrowthBook's power.test.ts publishes (rounded to 5 decimals): 4500 units a week, 3 variations,
# alpha 0.05, weeks 1..9; click-through rate 10% with a 5% effect, revenue mean 0.1, variance 0.5, 30% effect.
published_power = {
    "units_per_week": 4500, "variations": 3, "alpha": 0.05,
    "metrics": [{"mean": 0.1, "variance": 0.09, "relative_effect": 0.05},
                {"mean": 0.1, "variance": 0.5, "relative_effect": 0.3}],
    "power": [0.073, 0.17053, 0.0965, 0.29389, 0.1204, 0.41122, 0.14458, 0.51749, 0.16895, 0.61037, 0.19342,
              0.68938, 0.21791, 0.75513, 0.24235, 0.80886, 0.26666, 0.85213],
    "mde": [0.36767, 1.26769, 0.24505, 0.71941, 0.19525, 0.54299, 0.16673, 0.4506, 0.14774, 0.39208, 0.13394,
            0.35099, 0.12336, 0.32018, 0.11491, 0.29603, 0.10796, 0.27647],
    "single": [{"mean": 10, "variance": 3909.9997749994377, "relative_effect": 0.05, "total_units": 400000,
                "variations": 3, "sequential_tuning_parameter": None, "power": 0.52144, "mde": 0.07027},
               {"mean": 10, "variance": 3909.9997749994377, "relative_effect": 0.05, "total_units": 400000,
                "variations": 3, "sequential_tuning_parameter": 5000, "power": 0.20596, "mde": 0.12821}],
}

vectors = {"comparisons": comparisons, "welch": welch, "student_t": student_t, "srm": srm, "adjustments": adjustments, "power": power,
           "heterogeneity": heterogeneity,
           "absolute_power": absolute_power, "published_power": published_power}
# One vector per line: small, and a regenerated file diffs line by line.
print("{")
for i, (key, value) in enumerate(vectors.items()):
    items = value if isinstance(value, list) else [value]
    body = ",\n".join(json.dumps(item, allow_nan=False) for item in items)
    print(f'"{key}": ' + (f"[\n{body}\n]" if isinstance(value, list) else body) + ("," if i < len(vectors) - 1 else ""))
print("}")
