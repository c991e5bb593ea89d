//! Sufficient statistics of one variation for one metric, and what the tests need from them: the number of
//! units, the mean and the variance of one unit's value. Definitions follow GrowthBook's gbstats
//! (`gbstats/models/statistics.py`) so that results agree with it number for number.

use serde::{Deserialize, Serialize};

/// Count, sum and sum of squares of a per-unit value. For a yes/no value (converted or not) the sum of squares
/// is the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Moments {
    pub n: f64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Moments {
    pub fn new(n: f64, sum: f64, sum_squares: f64) -> Self {
        Self { n, sum, sum_squares }
    }

    /// Moments of a yes/no value: `converted` of `n` units said yes.
    pub fn proportion(n: f64, converted: f64) -> Self {
        Self { n, sum: converted, sum_squares: converted }
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0.0 {
            0.0
        } else {
            self.sum / self.n
        }
    }

    /// The unbiased sample variance (n − 1 in the denominator), 0 below two units.
    pub fn sample_variance(&self) -> f64 {
        if self.n <= 1.0 {
            0.0
        } else {
            (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1.0)
        }
    }
}

/// Whether a value is yes/no (variance p(1 − p), as gbstats' `ProportionStatistic`) or any number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Binomial,
    Continuous,
}

/// A value's moments together with how to read its variance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Variable {
    pub scale: Scale,
    pub moments: Moments,
}

impl Variable {
    pub fn binomial(n: f64, converted: f64) -> Self {
        Self { scale: Scale::Binomial, moments: Moments::proportion(n, converted) }
    }

    pub fn continuous(n: f64, sum: f64, sum_squares: f64) -> Self {
        Self { scale: Scale::Continuous, moments: Moments::new(n, sum, sum_squares) }
    }

    pub fn n(&self) -> f64 {
        self.moments.n
    }

    pub fn mean(&self) -> f64 {
        self.moments.mean()
    }

    pub fn variance(&self) -> f64 {
        match self.scale {
            Scale::Binomial => {
                let p = self.mean();
                p * (1.0 - p)
            }
            Scale::Continuous => self.moments.sample_variance(),
        }
    }
}

/// What one variation contributes to the comparison of one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Statistic {
    /// A per-unit value: a conversion (binomial) or a mean.
    Single(Variable),
    /// Numerator / denominator summed over units (e.g. revenue / orders = AOV), read with the delta method.
    /// `cross_sum` is Σ numerator × denominator over units.
    Ratio { numerator: Moments, denominator: Moments, cross_sum: f64 },
    /// A per-unit value with its pre-exposure covariate (CUPED); `cross_sum` is Σ post × pre.
    Adjusted { post: Variable, pre: Variable, cross_sum: f64 },
}

/// What the tests read from a statistic (after any CUPED adjustment).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: f64,
    /// The mean the effect is measured on (CUPED-adjusted when a covariate is used).
    pub mean: f64,
    /// The observed mean, which relative effects are expressed against.
    pub unadjusted_mean: f64,
    pub variance: f64,
}

impl Statistic {
    pub fn n(&self) -> f64 {
        match self {
            Statistic::Single(v) => v.n(),
            Statistic::Ratio { numerator, .. } => numerator.n,
            Statistic::Adjusted { post, .. } => post.n(),
        }
    }

    /// The observed value per unit: the rate, the mean, or the ratio of sums.
    pub fn value(&self) -> f64 {
        match self {
            Statistic::Single(v) => v.mean(),
            Statistic::Ratio { numerator, denominator, .. } => {
                if denominator.sum == 0.0 {
                    0.0
                } else {
                    numerator.sum / denominator.sum
                }
            }
            Statistic::Adjusted { post, .. } => post.mean(),
        }
    }

    /// The summary without covariate adjustment.
    pub fn summary(&self) -> Summary {
        let (mean, variance) = match self {
            Statistic::Single(v) => (v.mean(), v.variance()),
            Statistic::Ratio { numerator, denominator, cross_sum } => {
                (self.value(), ratio_variance(numerator, denominator, *cross_sum))
            }
            Statistic::Adjusted { post, .. } => (post.mean(), post.variance()),
        };
        Summary { n: self.n(), mean, unadjusted_mean: mean, variance }
    }
}

/// Delta-method variance of numerator-mean / denominator-mean for one unit (gbstats' `RatioStatistic`).
fn ratio_variance(numerator: &Moments, denominator: &Moments, cross_sum: f64) -> f64 {
    let n = numerator.n;
    let (m, d) = (numerator.mean(), denominator.mean());
    if d == 0.0 || n <= 1.0 {
        return 0.0;
    }
    let covariance = (cross_sum - numerator.sum * denominator.sum / n) / (n - 1.0);
    numerator.sample_variance() / d.powi(2) - 2.0 * covariance * m / d.powi(3)
        + m.powi(2) * denominator.sample_variance() / d.powi(4)
}

fn covariance(post: &Variable, pre: &Variable, cross_sum: f64) -> f64 {
    let n = post.n();
    if n <= 1.0 {
        0.0
    } else {
        (cross_sum - post.moments.sum * pre.moments.sum / n) / (n - 1.0)
    }
}

/// CUPED's θ: the regression coefficient of the metric on its pre-exposure covariate, pooled over both
/// variations (gbstats' `compute_theta`). 0 when either pooled variance is 0.
pub fn cuped_theta(control: &Statistic, treatment: &Statistic) -> Option<f64> {
    let (
        Statistic::Adjusted { post: post_a, pre: pre_a, cross_sum: cross_a },
        Statistic::Adjusted { post: post_b, pre: pre_b, cross_sum: cross_b },
    ) = (control, treatment)
    else {
        return None;
    };
    let pool = |a: &Variable, b: &Variable| Variable {
        scale: a.scale,
        moments: Moments::new(
            a.n() + b.n(),
            a.moments.sum + b.moments.sum,
            a.moments.sum_squares + b.moments.sum_squares,
        ),
    };
    let (post, pre) = (pool(post_a, post_b), pool(pre_a, pre_b));
    if pre.variance() == 0.0 || post.variance() == 0.0 {
        return Some(0.0);
    }
    Some(covariance(&post, &pre, cross_a + cross_b) / pre.variance())
}

/// The summaries both variations are compared on: CUPED-adjusted with a shared θ when both carry a
/// covariate (and θ ≠ 0), otherwise as observed.
pub fn summaries(control: &Statistic, treatment: &Statistic) -> (Summary, Summary, Option<f64>) {
    match cuped_theta(control, treatment) {
        Some(theta) if theta != 0.0 => (adjusted(control, theta), adjusted(treatment, theta), Some(theta)),
        _ => (control.summary(), treatment.summary(), None),
    }
}

fn adjusted(statistic: &Statistic, theta: f64) -> Summary {
    let Statistic::Adjusted { post, pre, cross_sum } = statistic else {
        return statistic.summary();
    };
    let n = post.n();
    let variance = if n <= 1.0 {
        0.0
    } else {
        post.variance() + theta.powi(2) * pre.variance() - 2.0 * theta * covariance(post, pre, *cross_sum)
    };
    Summary { n, mean: post.mean() - theta * pre.mean(), unadjusted_mean: post.mean(), variance }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_variance_is_the_unbiased_one() {
        // 1, 2, 3, 4: mean 2.5, unbiased variance 5/3.
        let m = Moments::new(4.0, 10.0, 30.0);
        assert!((m.sample_variance() - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(Moments::new(1.0, 3.0, 9.0).sample_variance(), 0.0);
        assert_eq!(Moments::default().mean(), 0.0);
    }

    #[test]
    fn a_binomial_variance_is_p_times_one_minus_p() {
        let v = Variable::binomial(200.0, 50.0);
        assert_eq!(v.mean(), 0.25);
        assert!((v.variance() - 0.1875).abs() < 1e-15);
    }

    #[test]
    fn a_covariate_that_explains_nothing_changes_nothing() {
        // The covariate is constant, so θ = 0 and the comparison uses the observed values.
        let stat = |n: f64, sum: f64, ss: f64| Statistic::Adjusted {
            post: Variable::continuous(n, sum, ss),
            pre: Variable::continuous(n, n, n),
            cross_sum: sum,
        };
        let (a, b) = (stat(100.0, 500.0, 3000.0), stat(100.0, 550.0, 3400.0));
        let (sa, sb, theta) = summaries(&a, &b);
        assert_eq!(theta, None);
        assert_eq!(sa, a.summary());
        assert_eq!(sb.mean, 5.5);
    }
}
