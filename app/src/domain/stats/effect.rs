//! The effect of a treatment against control on one metric: frequentist (Welch's t-test), sequential
//! (always-valid confidence sequences) and Bayesian (Gaussian effect with an optional informative prior).
//! Formulas follow GrowthBook's gbstats (`frequentist/tests.py`, `bayesian/tests.py`) so the numbers agree
//! with it; see the reference vectors in `reference/`.

use super::statistic::{summaries, Statistic, Summary};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

/// Which way the effect is read: as a difference of means, or relative to control's (observed) mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    Absolute,
    Relative,
}

/// The alternative hypothesis of a fixed-horizon test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tails {
    #[default]
    Two,
    /// Treatment is greater than control.
    Greater,
    /// Treatment is less than control.
    Less,
}

/// A proper Gaussian prior on the relative lift (gbstats' `GaussianPrior` with `prior_type="relative"`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Prior {
    pub mean: f64,
    pub variance: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Frequentist {
        tails: Tails,
    },
    /// Confidence sequences of Waudby-Smith et al.; `tuning` is gbstats' `sequential_tuning_parameter` N*.
    Sequential {
        tuning: f64,
    },
    Bayesian {
        prior: Option<Prior>,
    },
}

/// Why an effect cannot be estimated from the data (gbstats answers these with an uninformative default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotEstimable {
    #[error("a variation has no units yet")]
    NoUnits,
    #[error("control's value is zero, so a lift relative to it is undefined")]
    BaselineZero,
    #[error("a variation's values do not vary yet (zero variance)")]
    ZeroVariance,
    /// Student's t needs the sample variance of each variation, which takes two units or more.
    #[error("a variation needs at least two units for a t-test or a confidence sequence")]
    TooFewUnits,
    /// Sums so large (or so close to cancelling) that the arithmetic overflows or loses every digit.
    #[error("the statistics are too large to compute with (a sum or sum of squares overflows)")]
    NotFinite,
}

/// One estimated effect. The interval is open on one side for a one-sided test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Effect {
    pub estimate: f64,
    pub stddev: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Frequentist and sequential only.
    pub p_value: Option<f64>,
    /// Bayesian only: the probability that treatment beats control (lower is better for inverse metrics).
    pub chance_to_win: Option<f64>,
    /// Bayesian only: expected loss `[of keeping control, of shipping treatment]`, in the effect's units.
    pub risk: Option<[f64; 2]>,
}

/// The effect of `treatment` against `control`. `inverse` marks metrics where lower is better (it flips the
/// chance to win and the risk). CUPED applies when both statistics carry a covariate.
pub fn effect(
    control: &Statistic,
    treatment: &Statistic,
    difference: Difference,
    method: Method,
    alpha: f64,
    inverse: bool,
) -> Result<Effect, NotEstimable> {
    let (a, b, _) = summaries(control, treatment);
    let relative = difference == Difference::Relative;
    if ![a.n, a.mean, a.unadjusted_mean, a.variance, b.n, b.mean, b.unadjusted_mean, b.variance]
        .iter()
        .all(|x| x.is_finite())
    {
        return Err(NotEstimable::NotFinite);
    }
    let effect = match method {
        Method::Bayesian { prior } => {
            if relative && (a.mean == 0.0 || a.unadjusted_mean == 0.0) {
                return Err(NotEstimable::BaselineZero);
            }
            if a.n == 0.0 || b.n == 0.0 {
                return Err(NotEstimable::NoUnits);
            }
            check_variance(&a, &b)?;
            bayesian(&a, &b, relative, prior, alpha, inverse)?
        }
        Method::Frequentist { tails } => {
            check_sample(&a, &b)?;
            t_test(&a, &b, relative, alpha, tails)?
        }
        Method::Sequential { tuning } => {
            check_sample(&a, &b)?;
            sequential(&a, &b, relative, alpha, tuning)
        }
    };
    // Whatever the inputs, an answer is numbers or a reason, never NaN: infinite interval ends are the open
    // side of a one-sided test.
    if [effect.estimate, effect.stddev].iter().any(|x| !x.is_finite()) || effect.p_value.is_some_and(f64::is_nan) {
        return Err(NotEstimable::NotFinite);
    }
    Ok(effect)
}

/// What the frequentist and sequential tests need of both variations: a baseline, two units, some variance.
fn check_sample(a: &Summary, b: &Summary) -> Result<(), NotEstimable> {
    if a.mean == 0.0 || a.unadjusted_mean == 0.0 {
        return Err(NotEstimable::BaselineZero);
    }
    if a.n < 2.0 || b.n < 2.0 {
        return Err(NotEstimable::TooFewUnits);
    }
    check_variance(a, b)
}

fn check_variance(a: &Summary, b: &Summary) -> Result<(), NotEstimable> {
    if a.variance <= 0.0 || b.variance <= 0.0 {
        Err(NotEstimable::ZeroVariance)
    } else {
        Ok(())
    }
}

/// Difference of means, relative to control's observed mean when `relative`.
fn point_estimate(a: &Summary, b: &Summary, relative: bool) -> f64 {
    if relative {
        (b.mean - a.mean) / a.unadjusted_mean
    } else {
        b.mean - a.mean
    }
}

/// Variance of the point estimate; the delta method for the relative lift.
pub(crate) fn variance_of_difference(
    var_a: f64,
    mean_a: f64,
    n_a: f64,
    var_b: f64,
    mean_b: f64,
    n_b: f64,
    relative: bool,
) -> f64 {
    if relative {
        var_b / (mean_a.powi(2) * n_b) + var_a * mean_b.powi(2) / (mean_a.powi(4) * n_a)
    } else {
        var_b / n_b + var_a / n_a
    }
}

fn estimate_variance(a: &Summary, b: &Summary, relative: bool) -> f64 {
    variance_of_difference(a.variance, a.unadjusted_mean, a.n, b.variance, b.unadjusted_mean, b.n, relative)
}

/// Welch–Satterthwaite degrees of freedom.
fn welch_dof(a: &Summary, b: &Summary) -> f64 {
    let (va, vb) = (a.variance / a.n, b.variance / b.n);
    (va + vb).powi(2) / (va.powi(2) / (a.n - 1.0) + vb.powi(2) / (b.n - 1.0))
}

/// Student's t with the accuracy the tests need at any sample size. statrs inverts the incomplete beta
/// function, which loses digits at the tens of thousands of degrees of freedom experiments have (Newton steps on
/// its accurate CDF restore them) and stops converging near 1e8 — a request claiming a billion units would hang
/// the thread; its CDF drifts by 1e-6 at 1e9. Far out, the expansions around the standard normal (Abramowitz &
/// Stegun 26.7.5 for the quantile, the first Edgeworth term for the tail) are exact to double precision.
pub(super) struct StudentT {
    dof: f64,
    t: StudentsT,
}

impl StudentT {
    /// Where the terms dropped from the expansions fall below 1e-12 of what they approximate.
    const EXPANSION_FROM: f64 = 1e7;

    pub(super) fn new(dof: f64) -> Option<Self> {
        StudentsT::new(0.0, 1.0, dof).ok().map(|t| Self { dof, t })
    }

    fn cdf(&self, x: f64) -> f64 {
        if self.dof >= Self::EXPANSION_FROM { self.sf(-x) } else { self.t.cdf(x) }
    }

    pub(super) fn sf(&self, x: f64) -> f64 {
        if self.dof < Self::EXPANSION_FROM {
            return self.t.sf(x);
        }
        let normal = Normal::standard();
        normal.sf(x) + normal.pdf(x) * (x.powi(3) + x) / (4.0 * self.dof)
    }

    pub(super) fn quantile(&self, p: f64) -> f64 {
        if self.dof >= Self::EXPANSION_FROM {
            let (z, v) = (Normal::standard().inverse_cdf(p), self.dof);
            let (z3, z5) = (z.powi(3), z.powi(5));
            return z + (z3 + z) / (4.0 * v) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v);
        }
        let mut x = self.t.inverse_cdf(p);
        for _ in 0..3 {
            let density = self.t.pdf(x);
            if density <= 0.0 || !density.is_finite() {
                break;
            }
            x -= (self.t.cdf(x) - p) / density;
        }
        x
    }
}

fn t_test(a: &Summary, b: &Summary, relative: bool, alpha: f64, tails: Tails) -> Result<Effect, NotEstimable> {
    let estimate = point_estimate(a, b, relative);
    let stddev = estimate_variance(a, b, relative).sqrt();
    // A baseline so close to zero that its powers underflow makes the delta method's variance NaN or infinite;
    // statrs panics on a NaN statistic, so no such value reaches it.
    if !(estimate.is_finite() && stddev.is_finite() && stddev > 0.0) {
        return Err(NotEstimable::NotFinite);
    }
    // Two units and some variance on each side make the degrees of freedom positive; only overflow is left.
    let t = StudentT::new(welch_dof(a, b)).ok_or(NotEstimable::NotFinite)?;
    let statistic = estimate / stddev;
    let (p_value, ci_low, ci_high) = match tails {
        Tails::Two => {
            let width = t.quantile(1.0 - alpha / 2.0) * stddev;
            (2.0 * t.sf(statistic.abs()), estimate - width, estimate + width)
        }
        Tails::Greater => {
            let width = t.quantile(1.0 - alpha) * stddev;
            (t.sf(statistic), estimate - width, f64::INFINITY)
        }
        Tails::Less => {
            let width = t.quantile(1.0 - alpha) * stddev;
            (t.cdf(statistic), f64::NEG_INFINITY, estimate + width)
        }
    };
    Ok(Effect { estimate, stddev, ci_low, ci_high, p_value: Some(p_value), chance_to_win: None, risk: None })
}

/// ρ of the normal-mixture confidence sequence tuned to be tightest at `tuning` units (eq. 161 of
/// Waudby-Smith et al. 2023, arXiv:2103.06476v7).
pub(crate) fn sequential_rho(alpha: f64, tuning: f64) -> f64 {
    ((-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning).sqrt()
}

/// The half-width multiplier of the confidence sequence at `n` units (eq. 9), per unit standard deviation.
pub(crate) fn sequential_discriminant(n: f64, rho: f64, alpha: f64) -> f64 {
    let nr2 = n * rho.powi(2);
    2.0 * (nr2 + 1.0) * ((nr2 + 1.0).sqrt() / alpha).ln() / (n * rho).powi(2)
}

fn sequential(a: &Summary, b: &Summary, relative: bool, alpha: f64, tuning: f64) -> Effect {
    let estimate = point_estimate(a, b, relative);
    let variance = estimate_variance(a, b, relative);
    let n = a.n + b.n;
    let rho = sequential_rho(alpha, tuning);
    let width = (variance * n).sqrt() * sequential_discriminant(n, rho, alpha).sqrt();
    // The always-valid p-value is the reciprocal of the mixture e-value (eq. 155), capped at 1.
    let st2 = estimate.powi(2) * n / variance;
    let tr2p1 = n * rho.powi(2) + 1.0;
    let e_value = (rho.powi(2) * st2 / (2.0 * tr2p1)).exp() / tr2p1.sqrt();
    Effect {
        estimate,
        stddev: variance.sqrt(),
        ci_low: estimate - width,
        ci_high: estimate + width,
        p_value: Some((1.0 / e_value).min(1.0)),
        chance_to_win: None,
        risk: None,
    }
}

fn bayesian(
    a: &Summary,
    b: &Summary,
    relative: bool,
    prior: Option<Prior>,
    alpha: f64,
    inverse: bool,
) -> Result<Effect, NotEstimable> {
    let data_variance = estimate_variance(a, b, relative);
    let data_mean = point_estimate(a, b, relative);
    // The prior is on the relative lift; on the absolute scale it is scaled by control's mean.
    let prior = prior.map(|p| {
        if relative {
            p
        } else {
            Prior { mean: p.mean * a.unadjusted_mean.abs(), variance: p.variance * a.unadjusted_mean.powi(2) }
        }
    });
    let (mean, precision) = match prior {
        Some(p) => {
            let precision = 1.0 / data_variance + 1.0 / p.variance;
            ((data_mean / data_variance + p.mean / p.variance) / precision, precision)
        }
        None => (data_mean, 1.0 / data_variance),
    };
    let stddev = (1.0 / precision).sqrt();
    let posterior = Normal::new(mean, stddev).map_err(|_| NotEstimable::NotFinite)?;
    let beats_control = posterior.sf(0.0);
    let [keep_control, ship_treatment] = risk(mean, stddev);
    Ok(Effect {
        estimate: mean,
        stddev,
        ci_low: posterior.inverse_cdf(alpha / 2.0),
        ci_high: posterior.inverse_cdf(1.0 - alpha / 2.0),
        p_value: None,
        chance_to_win: Some(if inverse { 1.0 - beats_control } else { beats_control }),
        risk: Some(if inverse { [ship_treatment, keep_control] } else { [keep_control, ship_treatment] }),
    })
}

/// Expected loss of each decision under a Normal(μ, σ) effect: keeping control forgoes E[max(X, 0)], shipping
/// treatment risks E[max(−X, 0)]. Closed forms of gbstats' truncated-normal computation.
fn risk(mu: f64, sigma: f64) -> [f64; 2] {
    let standard = Normal::standard();
    let z = mu / sigma;
    let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let keep_control = mu * standard.cdf(z) + sigma * density;
    let ship_treatment = sigma * density - mu * standard.cdf(-z);
    [keep_control.max(0.0), ship_treatment.max(0.0)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::statistic::Variable;

    fn mean(n: f64, sum: f64, ss: f64) -> Statistic {
        Statistic::Single(Variable::continuous(n, sum, ss))
    }

    #[test]
    fn identical_variations_show_no_effect() {
        let a = mean(1000.0, 5000.0, 40000.0);
        for difference in [Difference::Absolute, Difference::Relative] {
            let e = effect(&a, &a, difference, Method::Frequentist { tails: Tails::Two }, 0.05, false).unwrap();
            assert_eq!(e.estimate, 0.0);
            assert!((e.ci_low + e.ci_high).abs() < 1e-12, "the interval is symmetric around 0");
            assert!((e.p_value.unwrap() - 1.0).abs() < 1e-12);
            let b = effect(&a, &a, difference, Method::Bayesian { prior: None }, 0.05, false).unwrap();
            assert!((b.chance_to_win.unwrap() - 0.5).abs() < 1e-12);
            assert!((b.risk.unwrap()[0] - b.risk.unwrap()[1]).abs() < 1e-12);
        }
    }

    #[test]
    fn intervals_shrink_as_units_grow() {
        let mut last_width = f64::INFINITY;
        for scale in [1.0, 4.0, 16.0, 64.0] {
            let a = mean(100.0 * scale, 500.0 * scale, 4000.0 * scale);
            let b = mean(100.0 * scale, 550.0 * scale, 4600.0 * scale);
            for method in [Method::Frequentist { tails: Tails::Two }, Method::Sequential { tuning: 5000.0 }] {
                let e = effect(&a, &b, Difference::Relative, method, 0.05, false).unwrap();
                assert!((e.estimate - 0.1).abs() < 1e-12, "the point estimate does not depend on n");
                if matches!(method, Method::Frequentist { .. }) {
                    assert!(e.ci_high - e.ci_low < last_width);
                    last_width = e.ci_high - e.ci_low;
                }
            }
        }
    }

    #[test]
    fn a_sequential_interval_is_wider_than_the_fixed_horizon_one() {
        let (a, b) = (mean(5000.0, 25000.0, 200000.0), mean(5000.0, 26000.0, 215000.0));
        let fixed = effect(&a, &b, Difference::Relative, Method::Frequentist { tails: Tails::Two }, 0.05, false);
        let sequential = effect(&a, &b, Difference::Relative, Method::Sequential { tuning: 5000.0 }, 0.05, false);
        let (fixed, sequential) = (fixed.unwrap(), sequential.unwrap());
        assert!(sequential.ci_high - sequential.ci_low > fixed.ci_high - fixed.ci_low);
        assert!(sequential.p_value.unwrap() > fixed.p_value.unwrap());
    }

    #[test]
    fn degenerate_data_is_named_not_estimated() {
        let zero = Statistic::Single(Variable::binomial(100.0, 0.0));
        let some = Statistic::Single(Variable::binomial(100.0, 3.0));
        let t = Method::Frequentist { tails: Tails::Two };
        assert_eq!(effect(&zero, &some, Difference::Relative, t, 0.05, false), Err(NotEstimable::BaselineZero));
        let empty = Statistic::Single(Variable::binomial(0.0, 0.0));
        let bayes = Method::Bayesian { prior: None };
        assert_eq!(effect(&some, &empty, Difference::Absolute, bayes, 0.05, false), Err(NotEstimable::NoUnits));
        let all = Statistic::Single(Variable::binomial(100.0, 100.0));
        assert_eq!(effect(&some, &all, Difference::Absolute, t, 0.05, false), Err(NotEstimable::ZeroVariance));
    }

    #[test]
    fn degenerate_but_well_formed_statistics_are_reasons_not_panics() {
        let binomial = |n, sum| Statistic::Single(Variable::binomial(n, sum));
        let frequentist = Method::Frequentist { tails: Tails::Two };
        let sequential = Method::Sequential { tuning: 5000.0 };
        let bayesian = Method::Bayesian { prior: None };
        // One unit each: no sample variance, so no degrees of freedom.
        for method in [frequentist, sequential] {
            let e = effect(&binomial(1.0, 0.5), &binomial(1.0, 0.5), Difference::Relative, method, 0.05, false);
            assert_eq!(e, Err(NotEstimable::TooFewUnits), "{method:?}");
        }
        // Sums of squares at the edge of what f64 holds: an answer in numbers (however wide) or a reason.
        let huge = mean(10.0, 5.0, 1e308);
        for method in [frequentist, sequential, bayesian] {
            for (a, b) in [(&huge, &huge), (&huge, &mean(10.0, 6.0, 40.0)), (&mean(10.0, 6.0, 40.0), &huge)] {
                match effect(a, b, Difference::Relative, method, 0.05, false) {
                    Ok(e) => {
                        assert!(e.estimate.is_finite() && e.stddev.is_finite(), "{method:?}: {e:?}");
                        assert!(e.p_value.is_none_or(|p| (0.0..=1.0).contains(&p)), "{method:?}: {e:?}");
                    }
                    Err(reason) => assert!(matches!(reason, NotEstimable::NotFinite), "{method:?}: {reason:?}"),
                }
            }
        }
        // Past it: the sum of squares is infinite.
        let infinite = mean(10.0, 5.0, f64::MAX * 2.0);
        for method in [frequentist, sequential, bayesian] {
            let e = effect(&infinite, &mean(10.0, 6.0, 40.0), Difference::Absolute, method, 0.05, false);
            assert_eq!(e, Err(NotEstimable::NotFinite), "{method:?}");
        }
    }

    /// Found by the fuzz suite (tests/fuzz): a baseline of 5e-309 underflows in the delta method, and statrs
    /// panicked on the NaN statistic.
    #[test]
    fn a_subnormal_baseline_is_not_estimable_rather_than_a_panic() {
        let control = mean(2.0, 1e-308, 1.0);
        let treatment = mean(2.0, 1e-308, 9007199254740992.0);
        let e = effect(&control, &treatment, Difference::Relative, Method::Frequentist { tails: Tails::Two }, 0.05, false);
        assert_eq!(e, Err(NotEstimable::NotFinite));
    }
}
