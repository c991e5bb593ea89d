//! Sample-ratio mismatch: do the units exposed per variation fit the configured weights?

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Below this p-value the split is flagged and the results are marked untrustworthy.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The p-value of Pearson's chi-square goodness-of-fit test of `observed` units against `weights` (any
/// scale). Variations with no weight are left out of the statistic (as gbstats does); with no units the
/// answer is 1.
pub fn srm_p_value(observed: &[u64], weights: &[f64]) -> f64 {
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    let total_weight: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total == 0.0 || total_weight <= 0.0 || observed.len() < 2 {
        return 1.0;
    }
    let statistic: f64 = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&o, &w)| {
            let expected = w / total_weight * total;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let degrees = (observed.len() - 1) as f64;
    // At least two variations: at least one degree of freedom, so the distribution always exists.
    ChiSquared::new(degrees).map_or(1.0, |chi2| chi2.sf(statistic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_split_passes_and_a_lopsided_one_fails() {
        assert!((srm_p_value(&[500, 500], &[0.5, 0.5]) - 1.0).abs() < 1e-12);
        assert!(srm_p_value(&[5300, 4700], &[1.0, 1.0]) < SRM_THRESHOLD);
        assert_eq!(srm_p_value(&[0, 0], &[0.5, 0.5]), 1.0);
    }
}
