//! An experiment's results from its units' metric values: sample-ratio check, every metric × variation
//! compared with control under one analysis setting, the multiple-testing correction across them, and the
//! test of whether an effect differs between segments. Pure; the results service gathers the values.

use super::calculator::{observed, VariationResult};
use super::metrics::{MetricKind, MetricSpec, UnitValue};
use super::srm::{srm_p_value, SRM_THRESHOLD};
use super::{compare, correct, AnalysisSettings, Comparison};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    Primary,
    Secondary,
    Guardrail,
}

/// One metric's per-unit values, per variation (control first).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricValues {
    pub spec: MetricSpec,
    pub role: MetricRole,
    pub values: Vec<Vec<UnitValue>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub key: String,
    pub name: String,
    pub role: MetricRole,
    pub kind: MetricKind,
    pub higher_is_better: bool,
    pub window_days: u32,
    /// The winsorizing cap applied, if any.
    pub cap: Option<f64>,
    /// Control first; every other variation carries its comparison with control.
    pub variations: Vec<VariationResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Units first exposed per variation (control first).
    pub exposures: Vec<u64>,
    pub srm_p_value: f64,
    /// False when the split is so far from the weights (p < 0.001) that no result can be trusted.
    pub srm_ok: bool,
    pub metrics: Vec<MetricResult>,
}

/// Analyses the metrics of one experiment (or one segment of it).
pub fn analyze(
    exposures: &[u64],
    weights: &[f64],
    metrics: &[MetricValues],
    settings: &AnalysisSettings,
    cuped: bool,
) -> Analysis {
    let srm = srm_p_value(exposures, weights);
    let mut results: Vec<MetricResult> = metrics.iter().map(|m| metric_result(m, settings, cuped)).collect();
    // The family for the correction: every metric × treatment.
    let mut family: Vec<Comparison> =
        results.iter().flat_map(|r| r.variations.iter().filter_map(|v| v.comparison.clone())).collect();
    correct(&mut family, settings.correction, settings.alpha);
    let mut corrected = family.into_iter();
    for result in &mut results {
        for variation in result.variations.iter_mut().filter(|v| v.comparison.is_some()) {
            variation.comparison = corrected.next();
        }
    }
    let srm_ok = srm >= SRM_THRESHOLD;
    if !srm_ok {
        // Nothing is significant in an experiment whose randomization is broken.
        for comparison in results.iter_mut().flat_map(|r| r.variations.iter_mut()).filter_map(|v| v.comparison.as_mut())
        {
            comparison.significant = false;
        }
    }
    Analysis { exposures: exposures.to_vec(), srm_p_value: srm, srm_ok, metrics: results }
}

fn metric_result(metric: &MetricValues, settings: &AnalysisSettings, cuped: bool) -> MetricResult {
    let spec = &metric.spec;
    let pooled: Vec<UnitValue> = metric.values.iter().flatten().copied().collect();
    let cap = spec.cap(&pooled);
    let cuped = cuped && spec.kind() != MetricKind::Ratio;
    let statistics: Vec<_> = metric.values.iter().map(|values| spec.statistic(values, cap, cuped)).collect();
    let variations = statistics
        .iter()
        .enumerate()
        .map(|(i, statistic)| {
            let comparison = (i > 0).then(|| compare(&statistics[0], statistic, settings, !spec.higher_is_better));
            observed(statistic, comparison)
        })
        .collect();
    MetricResult {
        key: spec.key.clone(),
        name: spec.name.clone(),
        role: metric.role,
        kind: spec.kind(),
        higher_is_better: spec.higher_is_better,
        window_days: spec.window_days,
        cap,
        variations,
    }
}

/// Cochran's Q test of whether independent estimates (estimate, standard error) of one effect differ by more
/// than chance: the p-value, or `None` with fewer than two usable estimates.
pub fn heterogeneity_p_value(estimates: &[(f64, f64)]) -> Option<f64> {
    let usable: Vec<(f64, f64)> =
        estimates.iter().copied().filter(|(e, se)| e.is_finite() && se.is_finite() && *se > 0.0).collect();
    if usable.len() < 2 {
        return None;
    }
    let weights: Vec<f64> = usable.iter().map(|(_, se)| 1.0 / (se * se)).collect();
    let total: f64 = weights.iter().sum();
    let pooled = usable.iter().zip(&weights).map(|((e, _), w)| w * e).sum::<f64>() / total;
    let q: f64 = usable.iter().zip(&weights).map(|((e, _), w)| w * (e - pooled).powi(2)).sum();
    let degrees = (usable.len() - 1) as f64;
    Some(ChiSquared::new(degrees).expect("at least one degree of freedom").sf(q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::metrics::Measure;
    use crate::domain::stats::Correction;

    fn purchase() -> MetricSpec {
        MetricSpec {
            key: "purchase".into(),
            name: "Purchase".into(),
            description: String::new(),
            measure: Measure::Purchase,
            window_days: 14,
            capping: None,
            higher_is_better: true,
        }
    }

    fn units(converted: usize, total: usize) -> Vec<UnitValue> {
        (0..total)
            .map(|i| UnitValue { value: if i < converted { 1.0 } else { 0.0 }, denominator: 1.0, pre_value: 0.0 })
            .collect()
    }

    #[test]
    fn a_broken_split_makes_nothing_significant() {
        let metric = MetricValues {
            spec: purchase(),
            role: MetricRole::Primary,
            values: vec![units(500, 10_000), units(700, 10_000)],
        };
        let settings = AnalysisSettings::default();
        let fair = analyze(&[10_000, 10_000], &[0.5, 0.5], std::slice::from_ref(&metric), &settings, false);
        assert!(fair.srm_ok);
        assert!(fair.metrics[0].variations[1].comparison.as_ref().unwrap().significant);
        let broken = analyze(&[10_000, 11_000], &[0.5, 0.5], &[metric], &settings, false);
        assert!(!broken.srm_ok && broken.srm_p_value < 0.001);
        assert!(!broken.metrics[0].variations[1].comparison.as_ref().unwrap().significant);
    }

    #[test]
    fn the_correction_spans_every_metric_and_treatment() {
        let metric = |key: &str, converted: usize| MetricValues {
            spec: MetricSpec { key: key.into(), ..purchase() },
            role: MetricRole::Secondary,
            values: vec![units(500, 10_000), units(converted, 10_000), units(500, 10_000)],
        };
        let settings = AnalysisSettings { correction: Correction::Holm, ..Default::default() };
        let analysis = analyze(&[10_000; 3], &[1.0; 3], &[metric("a", 560), metric("b", 520)], &settings, false);
        let lifts: Vec<_> = analysis
            .metrics
            .iter()
            .flat_map(|m| m.variations[1..].iter())
            .map(|v| v.comparison.as_ref().unwrap().relative_lift.clone().unwrap())
            .collect();
        assert_eq!(lifts.len(), 4);
        let smallest = lifts.iter().map(|l| l.p_value.unwrap()).fold(1.0, f64::min);
        let adjusted = lifts.iter().find(|l| l.p_value == Some(smallest)).unwrap().adjusted_p_value.unwrap();
        assert!(
            (adjusted - (4.0 * smallest).min(1.0)).abs() < 1e-12,
            "Holm multiplies the smallest by the family size"
        );
    }

    #[test]
    fn heterogeneity_flags_opposite_effects_and_not_consistent_ones() {
        let consistent = heterogeneity_p_value(&[(0.05, 0.02), (0.06, 0.03), (0.04, 0.025)]).unwrap();
        assert!(consistent > 0.5, "{consistent}");
        let opposite = heterogeneity_p_value(&[(0.10, 0.02), (-0.08, 0.02)]).unwrap();
        assert!(opposite < 0.001, "{opposite}");
        assert_eq!(heterogeneity_p_value(&[(0.1, 0.02)]), None);
    }
}
