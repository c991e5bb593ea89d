//! The statistics engine: pure functions over sufficient statistics, no I/O. Distributions come from statrs.
//!
//! - [`statistic`]: per-variation sufficient statistics (binomial, mean, ratio with the delta method, CUPED);
//! - [`effect`]: Welch's t-test, sequential confidence sequences, Bayesian Gaussian effects;
//! - [`srm`], [`adjust`], [`power`]: sample-ratio mismatch, multiple-testing corrections, planning;
//! - this module: a comparison with both lifts in the shape the API and the pages show.
//!
//! Every formula is checked against GrowthBook's gbstats, scipy and statsmodels (`reference/`).

pub mod adjust;
pub mod calculator;
pub mod effect;
pub mod metrics;
pub mod power;
pub mod results;
pub mod srm;
pub mod statistic;

#[cfg(test)]
mod reference_tests;

pub use adjust::{adjust, Correction};
pub use effect::{effect, Difference, Effect, Method, NotEstimable, Prior, Tails};
pub use statistic::{Moments, Scale, Statistic, Variable};

use serde::{Deserialize, Serialize};

pub const DEFAULT_SEQUENTIAL_TUNING: f64 = 5000.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    #[default]
    Frequentist,
    Sequential,
    Bayesian,
}

/// How results are read; every field has the default a demanding analyst would pick.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AnalysisSettings {
    pub method: MethodName,
    pub alpha: f64,
    pub tails: Tails,
    pub sequential_tuning_parameter: f64,
    /// A proper prior on the relative lift for the Bayesian method; flat when absent.
    pub prior: Option<Prior>,
    pub correction: Correction,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            method: MethodName::Frequentist,
            alpha: 0.05,
            tails: Tails::Two,
            sequential_tuning_parameter: DEFAULT_SEQUENTIAL_TUNING,
            prior: None,
            correction: Correction::None,
        }
    }
}

impl AnalysisSettings {
    pub fn method(&self) -> Method {
        match self.method {
            MethodName::Frequentist => Method::Frequentist { tails: self.tails },
            MethodName::Sequential => Method::Sequential { tuning: self.sequential_tuning_parameter },
            MethodName::Bayesian => Method::Bayesian { prior: self.prior },
        }
    }

    /// The first setting out of range, described for the person who chose it.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(format!("alpha must be between 0 and 0.5 (exclusive), got {}", self.alpha));
        }
        if !(self.sequential_tuning_parameter.is_finite() && self.sequential_tuning_parameter > 0.0) {
            return Err("sequential_tuning_parameter must be a positive number of units".into());
        }
        if let Some(prior) = self.prior {
            if !(prior.mean.is_finite() && prior.variance.is_finite() && prior.variance > 0.0) {
                return Err("prior needs a finite mean and a positive variance".into());
            }
        }
        if self.method == MethodName::Sequential && self.tails != Tails::Two {
            return Err("sequential analysis is two-sided".into());
        }
        Ok(())
    }
}

/// One lift with its interval and, for frequentist methods, p-values. One-sided intervals have an open end
/// (`null`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Lift {
    pub estimate: f64,
    pub stddev: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    /// The p-value after the multiple-testing correction chosen (equal to `p_value` without one).
    pub adjusted_p_value: Option<f64>,
}

impl Lift {
    fn from_effect(effect: &Effect) -> Self {
        let finite = |x: f64| x.is_finite().then_some(x);
        Self {
            estimate: effect.estimate,
            stddev: effect.stddev,
            ci_low: finite(effect.ci_low),
            ci_high: finite(effect.ci_high),
            p_value: effect.p_value,
            adjusted_p_value: effect.p_value,
        }
    }
}

/// Treatment against control on one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Comparison {
    pub absolute_lift: Option<Lift>,
    pub relative_lift: Option<Lift>,
    /// Bayesian only, on the relative lift.
    pub chance_to_win: Option<f64>,
    /// Bayesian only: expected relative loss `[of keeping control, of shipping treatment]` (gbstats' order).
    pub risk: Option<[f64; 2]>,
    /// A frequentist (adjusted) p-value below alpha, or a chance to win beyond 1 − alpha either way.
    pub significant: bool,
    /// Why no lift could be estimated, when none could.
    pub not_estimable: Option<NotEstimable>,
    /// With a CUPED covariate: the share of the absolute lift's variance the adjustment removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance_reduction: Option<f64>,
}

/// Compares `treatment` with `control`: the absolute and the relative lift under the chosen method.
pub fn compare(control: &Statistic, treatment: &Statistic, settings: &AnalysisSettings, inverse: bool) -> Comparison {
    let method = settings.method();
    let read = |difference| effect(control, treatment, difference, method, settings.alpha, inverse);
    let (absolute, relative) = (read(Difference::Absolute), read(Difference::Relative));
    let not_estimable = relative.as_ref().err().or(absolute.as_ref().err()).copied();
    let (chance_to_win, risk) = match &relative {
        Ok(e) => (e.chance_to_win, e.risk),
        Err(_) => (None, None),
    };
    let mut comparison = Comparison {
        absolute_lift: absolute.as_ref().ok().map(Lift::from_effect),
        relative_lift: relative.as_ref().ok().map(Lift::from_effect),
        chance_to_win,
        risk,
        significant: false,
        not_estimable,
        variance_reduction: cuped_variance_reduction(control, treatment),
    };
    comparison.significant = is_significant(&comparison, settings.alpha);
    comparison
}

/// The share of the absolute lift's variance CUPED removed, when it applied.
fn cuped_variance_reduction(control: &Statistic, treatment: &Statistic) -> Option<f64> {
    let (a, b, theta) = statistic::summaries(control, treatment);
    theta?;
    let (raw_a, raw_b) = (control.summary(), treatment.summary());
    let raw = raw_a.variance / raw_a.n + raw_b.variance / raw_b.n;
    let adjusted = a.variance / a.n + b.variance / b.n;
    (raw > 0.0 && adjusted.is_finite()).then(|| 1.0 - adjusted / raw)
}

fn is_significant(comparison: &Comparison, alpha: f64) -> bool {
    if let Some(ctw) = comparison.chance_to_win {
        return ctw > 1.0 - alpha || ctw < alpha;
    }
    comparison.relative_lift.as_ref().and_then(|l| l.adjusted_p_value).is_some_and(|p| p < alpha)
}

/// Applies a multiple-testing correction across a family of comparisons (every metric × variation of one
/// analysis), separately for absolute and relative lifts, and re-reads significance.
pub fn correct(family: &mut [Comparison], correction: Correction, alpha: f64) {
    type Pick = fn(&mut Comparison) -> Option<&mut Lift>;
    let picks: [Pick; 2] = [|c| c.absolute_lift.as_mut(), |c| c.relative_lift.as_mut()];
    for pick in picks {
        let p_values: Vec<f64> = family.iter_mut().filter_map(|c| pick(c).and_then(|l| l.p_value)).collect();
        let mut adjusted = adjust(&p_values, correction).into_iter();
        for comparison in family.iter_mut() {
            if let Some(lift) = pick(comparison).filter(|l| l.p_value.is_some()) {
                lift.adjusted_p_value = adjusted.next();
            }
        }
    }
    for comparison in family.iter_mut() {
        comparison.significant = is_significant(comparison, alpha);
    }
}

/// `items.iter().map(f)`, each item on its own thread where there are threads (per-metric work at a million
/// units takes long enough to be worth it); in order, panics passed on. In the browser, one after the other.
pub fn map_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::scope(|scope| {
            let f = &f;
            let threads: Vec<_> = items.iter().map(|item| scope.spawn(move || f(item))).collect();
            threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        items.iter().map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(n: f64, converted: f64) -> Statistic {
        Statistic::Single(Variable::binomial(n, converted))
    }

    #[test]
    fn a_comparison_reads_both_lifts_and_a_correction_can_take_significance_away() {
        let settings = AnalysisSettings::default();
        let mut family = vec![
            compare(&conversion(10_000.0, 500.0), &conversion(10_000.0, 580.0), &settings, false),
            compare(&conversion(10_000.0, 500.0), &conversion(10_000.0, 510.0), &settings, false),
            compare(&conversion(10_000.0, 500.0), &conversion(10_000.0, 505.0), &settings, false),
        ];
        let first = family[0].relative_lift.clone().unwrap();
        assert!((first.estimate - 0.16).abs() < 1e-12);
        assert!(family[0].significant, "p = {:?}", first.p_value);
        assert!(family[0].absolute_lift.as_ref().unwrap().estimate - 0.008 < 1e-12);
        let p = first.p_value.unwrap();
        correct(&mut family, Correction::Holm, 0.05);
        assert!(
            (family[0].relative_lift.as_ref().unwrap().adjusted_p_value.unwrap() - (3.0 * p).min(1.0)).abs() < 1e-15
        );
        assert!(!family[1].significant);
    }

    #[test]
    fn cuped_reports_the_variance_it_removed() {
        // post = pre + small noise: the covariate explains most of the variance.
        let stat = |n: f64, post_sum: f64| Statistic::Adjusted {
            post: Variable::continuous(n, post_sum, post_sum * post_sum / n + 1.1 * n),
            pre: Variable::continuous(n, post_sum, post_sum * post_sum / n + n),
            cross_sum: post_sum * post_sum / n + n,
        };
        let comparison = compare(&stat(1000.0, 10_000.0), &stat(1000.0, 10_500.0), &AnalysisSettings::default(), false);
        let reduction = comparison.variance_reduction.unwrap();
        assert!(reduction > 0.8 && reduction < 1.0, "{reduction}");
        let plain = compare(&conversion(100.0, 5.0), &conversion(100.0, 6.0), &AnalysisSettings::default(), false);
        assert_eq!(plain.variance_reduction, None);
    }

    #[test]
    fn settings_out_of_range_are_refused_with_a_reason() {
        let bad = AnalysisSettings { alpha: 0.7, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("alpha"));
        let bad = AnalysisSettings { prior: Some(Prior { mean: 0.0, variance: 0.0 }), ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(AnalysisSettings::default().validate().is_ok());
    }
}
