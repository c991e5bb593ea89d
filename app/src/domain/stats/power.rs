//! Planning: power, minimum detectable effect and the units (and days) a test needs, for fixed-horizon and
//! sequential designs. The formulas are GrowthBook's power calculator (`packages/shared/src/power/power.ts`);
//! effects are relative to the baseline mean and `total_units` are split evenly across variations.

use super::effect::{sequential_discriminant, sequential_rho, variance_of_difference};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// A planned test of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Design {
    /// The baseline mean (the conversion rate for a binomial metric).
    pub mean: f64,
    /// The variance of one unit's value (p(1 − p) for a binomial metric).
    pub variance: f64,
    /// Number of variations including control.
    pub variations: u32,
    pub alpha: f64,
    pub two_tailed: bool,
    /// Plan for a sequential analysis tuned at this many units (gbstats' N*), or a fixed horizon.
    pub sequential_tuning: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanningError {
    #[error("the target power must be greater than alpha")]
    PowerNotAboveAlpha,
    #[error("no effect is detectable with these units: add units or remove variations")]
    TooFewUnits,
}

fn standard_normal() -> Normal {
    Normal::standard()
}

impl Design {
    fn critical_z(&self) -> f64 {
        let tail = if self.two_tailed { self.alpha / 2.0 } else { self.alpha };
        standard_normal().inverse_cdf(1.0 - tail)
    }

    /// The sequential design's stand-in for a per-unit variance: what a fixed-horizon test would need to be as
    /// wide as the confidence sequence at `n` units.
    fn sequential_variance(&self, variance: f64, n: f64, tuning: f64) -> f64 {
        let rho = sequential_rho(self.alpha, tuning);
        let z_star = standard_normal().inverse_cdf(1.0 - self.alpha / 2.0);
        variance * n * sequential_discriminant(n, rho, self.alpha) / z_star.powi(2)
    }

    /// The standard error of the relative lift when the true lift is `relative_effect`.
    fn standard_error(&self, relative_effect: f64, total_units: f64) -> f64 {
        let per_variation = total_units / f64::from(self.variations);
        let (v, m) = (self.variance, self.mean);
        let variance = variance_of_difference(v, m, per_variation, v, m * (1.0 + relative_effect), per_variation, true);
        match self.sequential_tuning {
            Some(tuning) => self.sequential_variance(variance, 2.0 * per_variation, tuning).sqrt(),
            None => variance.sqrt(),
        }
    }

    /// The probability of a significant result when the true relative lift is `relative_effect`.
    pub fn power(&self, relative_effect: f64, total_units: f64) -> f64 {
        power_at(relative_effect, self.standard_error(relative_effect, total_units), self.critical_z(), self.two_tailed)
    }

    /// The smallest relative lift detected with probability `target_power`.
    pub fn minimum_detectable_effect(&self, target_power: f64, total_units: f64) -> Result<f64, PlanningError> {
        if target_power <= self.alpha {
            return Err(PlanningError::PowerNotAboveAlpha);
        }
        let per_variation = total_units / f64::from(self.variations);
        let z = self.critical_z() - standard_normal().inverse_cdf(1.0 - target_power);
        let m = self.mean;
        let v = match self.sequential_tuning {
            Some(tuning) => self.sequential_variance(self.variance, 2.0 * per_variation, tuning),
            None => self.variance,
        };
        if per_variation <= v * z * z / (m * m) {
            return Err(PlanningError::TooFewUnits);
        }
        // Solve (x − m)² = z² σ²(1 + x²/m²) for the treatment mean x; σ² = v / n per variation.
        let sigma2 = v / per_variation;
        let a = 1.0 - z * z * sigma2 / (m * m);
        let b = -2.0 * m;
        let c = m * m - z * z * sigma2;
        let x = (-b + (b * b - 4.0 * a * c).sqrt()) / (2.0 * a);
        Ok((x - m) / m)
    }

    /// The total units (a multiple of the variations) needed to detect `relative_effect` with probability
    /// `target_power`, or `None` beyond a trillion units.
    pub fn units_needed(&self, relative_effect: f64, target_power: f64) -> Option<f64> {
        const LIMIT: f64 = 1e12;
        let k = f64::from(self.variations);
        let enough = |units: f64| self.power(relative_effect, units) >= target_power;
        let mut high = 2.0 * k;
        while !enough(high) {
            high *= 2.0;
            if high > LIMIT {
                return None;
            }
        }
        // Bisect over units per variation.
        let (mut low_per, mut high_per) = ((high / 2.0 / k).floor(), (high / k).ceil());
        while high_per - low_per > 1.0 {
            let mid = ((low_per + high_per) / 2.0).floor();
            if enough(mid * k) {
                high_per = mid;
            } else {
                low_per = mid;
            }
        }
        Some(high_per * k)
    }
}

/// Power of a z-test of an effect with the given standard error (both tails counted when two-tailed).
pub fn power_at(effect: f64, standard_error: f64, critical_z: f64, two_tailed: bool) -> f64 {
    let normal = standard_normal();
    let standardized = effect / standard_error;
    let mut power = 1.0 - normal.cdf(critical_z - standardized);
    if two_tailed {
        power += normal.cdf(-critical_z - standardized);
    }
    power
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(sequential_tuning: Option<f64>) -> Design {
        Design { mean: 0.05, variance: 0.05 * 0.95, variations: 2, alpha: 0.05, two_tailed: true, sequential_tuning }
    }

    #[test]
    fn power_grows_with_units_and_effect() {
        let d = design(None);
        assert!(d.power(0.1, 10_000.0) < d.power(0.1, 40_000.0));
        assert!(d.power(0.05, 40_000.0) < d.power(0.1, 40_000.0));
        assert!((d.power(0.0, 40_000.0) - 0.05).abs() < 1e-9, "no effect: power is alpha");
    }

    #[test]
    fn the_units_needed_reach_the_target_and_one_fewer_per_variation_does_not() {
        for tuning in [None, Some(5000.0)] {
            let d = design(tuning);
            let units = d.units_needed(0.1, 0.8).unwrap();
            assert!(d.power(0.1, units) >= 0.8);
            assert!(d.power(0.1, units - 2.0) < 0.8);
            let mde = d.minimum_detectable_effect(0.8, units).unwrap();
            assert!(mde <= 0.1 && mde > 0.09, "{mde}");
        }
        assert!(design(Some(5000.0)).units_needed(0.1, 0.8) > design(None).units_needed(0.1, 0.8));
    }

    #[test]
    fn impossible_plans_say_why() {
        let d = design(None);
        assert_eq!(d.minimum_detectable_effect(0.01, 1000.0), Err(PlanningError::PowerNotAboveAlpha));
        assert_eq!(d.minimum_detectable_effect(0.8, 20.0), Err(PlanningError::TooFewUnits));
    }
}
