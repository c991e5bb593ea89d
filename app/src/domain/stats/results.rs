//! An experiment's results from its units' metric values: sample-ratio check, every metric × variation
//! compared with control under one analysis setting, the multiple-testing correction across them, and the
//! test of whether an effect differs between segments. Pure; the results service gathers the values.

use super::calculator::{observed, VariationResult};
use super::metrics::{Measure, MetricKind, MetricSpec, UnitValue};
use super::srm::{srm_p_value, SRM_THRESHOLD};
use super::{compare, correct, AnalysisSettings, Comparison};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct MetricResult {
    pub key: String,
    pub name: String,
    pub role: MetricRole,
    pub kind: MetricKind,
    pub measure: Measure,
    pub higher_is_better: bool,
    pub window_days: u32,
    /// The winsorizing cap applied, if any.
    pub cap: Option<f64>,
    /// Lifetime value: `units` are the units whose horizon has fully elapsed.
    pub mature_units_only: bool,
    /// Control first; every other variation carries its comparison with control.
    pub variations: Vec<VariationResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Analysis {
    /// Variation keys, control first; every list of variations below is in this order.
    pub variations: Vec<String>,
    /// Units first exposed per variation.
    pub exposures: Vec<u64>,
    pub srm_p_value: f64,
    /// False when the split is so far from the weights (p < 0.001) that no result can be trusted.
    pub srm_ok: bool,
    pub metrics: Vec<MetricResult>,
}

/// Analyses the metrics of one experiment (or one segment of it).
pub fn analyze(
    variations: &[String],
    exposures: &[u64],
    weights: &[f64],
    metrics: &[MetricValues],
    settings: &AnalysisSettings,
    cuped: bool,
) -> Analysis {
    let srm = srm_p_value(exposures, weights);
    // Caps, sums and tests are per metric; the correction below joins them.
    let mut results: Vec<MetricResult> = super::map_in_parallel(metrics, |m| metric_result(m, settings, cuped));
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
    Analysis {
        variations: variations.to_vec(),
        exposures: exposures.to_vec(),
        srm_p_value: srm,
        srm_ok,
        metrics: results,
    }
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
        measure: spec.measure.clone(),
        higher_is_better: spec.higher_is_better,
        window_days: spec.window_days,
        cap,
        mature_units_only: spec.measure == Measure::LifetimeValue,
        variations,
    }
}

/// A non-significant result whose interval still includes the planned effect (either way) cannot say that
/// nothing changed: the test was too small to rule that effect out.
pub fn underpowered(lift: &super::Lift, significant: bool, planned_mde: Option<f64>) -> bool {
    let holds = |effect: f64| lift.ci_low.is_none_or(|l| l <= effect) && lift.ci_high.is_none_or(|h| h >= effect);
    planned_mde.is_some_and(|mde| !significant && (holds(mde) || holds(-mde)))
}

/// How one experiment's results were asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ResultsQuery {
    pub method: Option<super::MethodName>,
    pub alpha: Option<f64>,
    pub tails: Option<super::Tails>,
    pub sequential_tuning_parameter: Option<f64>,
    /// Use each metric's pre-exposure value as a CUPED covariate (default on).
    pub cuped: Option<bool>,
    pub correction: Option<super::Correction>,
    /// Bayesian only: an informative Gaussian prior on the relative lift (both or neither), e.g. what earlier
    /// tests of the same signal found.
    pub prior_mean: Option<f64>,
    pub prior_variance: Option<f64>,
    /// Break the results down by this exposure attribute (device, country, channel, intent_stage, …).
    pub segment: Option<String>,
    /// Add the primary metric's cumulative effect over time (`Timeline`).
    pub timeline: Option<bool>,
}

impl ResultsQuery {
    pub fn settings(&self) -> Result<AnalysisSettings, String> {
        let defaults = AnalysisSettings::default();
        let settings = AnalysisSettings {
            method: self.method.unwrap_or(defaults.method),
            alpha: self.alpha.unwrap_or(defaults.alpha),
            tails: self.tails.unwrap_or(defaults.tails),
            sequential_tuning_parameter: self
                .sequential_tuning_parameter
                .unwrap_or(defaults.sequential_tuning_parameter),
            prior: match (self.prior_mean, self.prior_variance) {
                (Some(mean), Some(variance)) => Some(super::Prior { mean, variance }),
                (None, None) => None,
                _ => return Err("an informative prior needs both prior_mean and prior_variance".into()),
            },
            correction: self.correction.unwrap_or(defaults.correction),
        };
        if settings.prior.is_some() && settings.method != super::MethodName::Bayesian {
            return Err("a prior (prior_mean, prior_variance) applies to method=bayesian only".into());
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// An experiment's results as the API returns them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ExperimentResults {
    pub experiment: String,
    pub settings: AnalysisSettings,
    pub cuped: bool,
    pub computed_at: chrono::DateTime<chrono::Utc>,
    /// Everything committed up to this time is counted.
    pub data_through: chrono::DateTime<chrono::Utc>,
    /// People exposed to more than one variation (under several ids), left out of the analysis.
    pub people_in_several_variations: u64,
    /// The minimum detectable effect the hypothesis planned for (relative), if it named one.
    pub planned_mde: Option<f64>,
    #[serde(flatten)]
    pub analysis: Analysis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentBreakdown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// The cumulative effect over time on one metric: at the end of each day, every treatment's relative lift over
/// the units exposed so far, counting what they had done so far. Shows whether an effect is settling or was a
/// novelty; with the sequential method its intervals are valid at every point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Timeline {
    pub metric: String,
    /// The treatments, in the order of each point's `lifts`.
    pub variations: Vec<String>,
    pub points: Vec<TimelinePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct TimelinePoint {
    pub at: chrono::DateTime<chrono::Utc>,
    /// Units exposed by `at`, every variation together.
    pub units: u64,
    /// Per treatment; `None` while the lift cannot be estimated (no units yet, a zero baseline).
    pub lifts: Vec<Option<super::Lift>>,
}

/// The vertical range a timeline is drawn over. The first days' intervals, from a handful of units, can be
/// ten times wider than the rest and would flatten the line everyone reads; the range therefore covers the
/// points whose intervals are at most [`READABLE_WIDTH_RATIO`] times as wide as the narrowest one, and zero.
/// What lies beyond is drawn clipped at the edge, and the chart says so.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineScale {
    pub low: f64,
    pub high: f64,
    /// Points with an estimate or an interval end outside the range.
    pub clipped_points: usize,
    /// The most units any clipped point had (the clipped ones are the early, small ones).
    pub clipped_up_to_units: u64,
}

/// How much wider than the narrowest interval a point's interval may be and still set the chart's range: with
/// intervals shrinking as one over the square root of the sample, three times as wide is a ninth of it.
pub const READABLE_WIDTH_RATIO: f64 = 3.0;

impl TimelineScale {
    pub fn of(timeline: &Timeline) -> TimelineScale {
        let lifts = || timeline.points.iter().flat_map(|p| p.lifts.iter().flatten().map(move |l| (p.units, l)));
        let ends = |l: &super::Lift| (l.ci_low.unwrap_or(l.estimate), l.ci_high.unwrap_or(l.estimate));
        let width = |l: &super::Lift| {
            let (low, high) = ends(l);
            high - low
        };
        let narrowest = lifts().map(|(_, l)| width(l)).filter(|w| w.is_finite()).fold(f64::INFINITY, f64::min);
        let readable = |l: &super::Lift| width(l) <= narrowest * READABLE_WIDTH_RATIO || narrowest == 0.0;
        let (mut low, mut high) = (0.0_f64, 0.0_f64);
        for (_, lift) in lifts().filter(|(_, l)| readable(l)) {
            let (from, to) = ends(lift);
            low = low.min(from).min(lift.estimate);
            high = high.max(to).max(lift.estimate);
        }
        let pad = ((high - low) * 0.08).max(0.005);
        let (low, high) = (low - pad, high + pad);
        let outside = |l: &super::Lift| {
            let (from, to) = ends(l);
            from < low || to > high
        };
        let clipped: Vec<u64> =
            timeline.points.iter().filter(|p| p.lifts.iter().flatten().any(outside)).map(|p| p.units).collect();
        TimelineScale {
            low,
            high,
            clipped_points: clipped.len(),
            clipped_up_to_units: clipped.into_iter().max().unwrap_or(0),
        }
    }

    /// `value` held within the range.
    pub fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.low, self.high)
    }
}

/// The most points a timeline has: enough for a readable line, few enough that computing it stays cheap.
pub const TIMELINE_POINTS: usize = 30;

/// When to read the cumulative effect: the end of each UTC day from the first exposure's day until `through`,
/// and `through` itself; when there would be more than `max`, evenly spread ones of them (the last always kept).
pub fn timeline_moments(
    first: chrono::DateTime<chrono::Utc>,
    through: chrono::DateTime<chrono::Utc>,
    max: usize,
) -> Vec<chrono::DateTime<chrono::Utc>> {
    use chrono::{Duration, TimeZone, Utc};
    if through < first || max == 0 {
        return Vec::new();
    }
    let first_midnight = Utc.from_utc_datetime(&first.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut moments: Vec<chrono::DateTime<Utc>> =
        (1..).map(|day| first_midnight + Duration::days(day)).take_while(|end| *end < through).collect();
    moments.push(through);
    if moments.len() > max {
        let last = moments.len() - 1;
        moments = (0..max).map(|i| moments[i * last / (max - 1).max(1)]).collect();
        moments.dedup();
    }
    moments
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SegmentBreakdown {
    pub attribute: String,
    /// Largest segments first.
    pub values: Vec<SegmentResult>,
    /// Per metric and treatment: does the relative lift differ between segments more than chance would?
    pub heterogeneity: Vec<Heterogeneity>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SegmentResult {
    pub value: String,
    #[serde(flatten)]
    pub analysis: Analysis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Heterogeneity {
    pub metric: String,
    pub variation: String,
    /// Cochran's Q p-value; `None` with fewer than two segments that have an estimate.
    pub p_value: Option<f64>,
}

/// The heterogeneity of every metric × treatment across the segments' analyses.
pub fn heterogeneity(segments: &[SegmentResult], variations: &[String]) -> Vec<Heterogeneity> {
    let Some(first) = segments.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (m, metric) in first.analysis.metrics.iter().enumerate() {
        for (v, variation) in variations.iter().enumerate().skip(1) {
            let estimates: Vec<(f64, f64)> = segments
                .iter()
                .filter_map(|s| {
                    s.analysis.metrics.get(m)?.variations.get(v)?.comparison.as_ref()?.relative_lift.as_ref()
                })
                .map(|lift| (lift.estimate, lift.stddev))
                .collect();
            out.push(Heterogeneity {
                metric: metric.key.clone(),
                variation: variation.clone(),
                p_value: heterogeneity_p_value(&estimates),
            });
        }
    }
    out
}

/// A unit as first exposed: its variation, when, the attributes sent with the assignment request, and the
/// person (unified profile) it belongs to if known.
#[derive(Clone, Debug, PartialEq)]
pub struct ExposedUnit {
    pub variation: usize,
    pub exposed_at: chrono::DateTime<chrono::Utc>,
    pub person: Option<i64>,
    /// Shared: the results service keeps every unit between requests and regroups them cheaply.
    pub attributes: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
}

/// One analysis unit per person: a person exposed under several ids (anonymous on the app, signed in on the
/// web) counts once, from the first exposure; a person who saw different variations is left out (the effect
/// on them is not any one variation's) and counted in the second value.
pub fn one_unit_per_person(units: Vec<ExposedUnit>) -> (Vec<ExposedUnit>, u64) {
    use std::collections::HashMap;
    let mut by_person: HashMap<i64, (ExposedUnit, bool)> = HashMap::new();
    let mut anonymous = Vec::new();
    for unit in units {
        let Some(person) = unit.person else {
            anonymous.push(unit);
            continue;
        };
        match by_person.get_mut(&person) {
            None => {
                by_person.insert(person, (unit, false));
            }
            Some((first, mixed)) => {
                *mixed |= first.variation != unit.variation;
                if unit.exposed_at < first.exposed_at {
                    *first = unit;
                }
            }
        }
    }
    let mixed = by_person.values().filter(|(_, mixed)| *mixed).count() as u64;
    let mut people: Vec<ExposedUnit> = by_person.into_values().filter(|(_, mixed)| !mixed).map(|(u, _)| u).collect();
    people.sort_by_key(|u| (u.exposed_at, u.person));
    people.extend(anonymous);
    (people, mixed)
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
        let keys = ["control".to_string(), "treatment".to_string()];
        let fair = analyze(&keys, &[10_000, 10_000], &[0.5, 0.5], std::slice::from_ref(&metric), &settings, false);
        assert!(fair.srm_ok);
        assert!(fair.metrics[0].variations[1].comparison.as_ref().unwrap().significant);
        let broken = analyze(&keys, &[10_000, 11_000], &[0.5, 0.5], &[metric], &settings, false);
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
        let keys = ["a".to_string(), "b".to_string(), "c".to_string()];
        let analysis = analyze(&keys, &[10_000; 3], &[1.0; 3], &[metric("a", 560), metric("b", 520)], &settings, false);
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
    fn a_person_counts_once_and_people_who_saw_two_variations_are_left_out() {
        use chrono::TimeZone;
        let at = |h| chrono::Utc.with_ymd_and_hms(2026, 11, 1, h, 0, 0).unwrap();
        let unit = |variation, hour, person| ExposedUnit {
            variation,
            exposed_at: at(hour),
            person,
            attributes: Default::default(),
        };
        let (units, mixed) = one_unit_per_person(vec![
            unit(1, 5, Some(1)),
            unit(1, 3, Some(1)),
            unit(0, 4, Some(2)),
            unit(1, 6, Some(2)),
            unit(0, 1, None),
            unit(0, 2, None),
        ]);
        assert_eq!(mixed, 1);
        assert_eq!(units.len(), 3, "person 1 once, person 2 left out, both anonymous units kept");
        assert_eq!(units[0].exposed_at, at(3), "from the first exposure");
    }

    #[test]
    fn timeline_moments_are_day_ends_then_now_and_thin_out_evenly() {
        use chrono::TimeZone;
        let at = |d, h| chrono::Utc.with_ymd_and_hms(2026, 11, d, h, 30, 0).unwrap();
        let midnight = |d| chrono::Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        assert_eq!(timeline_moments(at(1, 9), at(3, 15), 30), vec![midnight(2), midnight(3), at(3, 15)]);
        assert_eq!(timeline_moments(at(1, 9), at(1, 15), 30), vec![at(1, 15)], "a first day has one point");
        assert!(timeline_moments(at(2, 9), at(1, 15), 30).is_empty());
        let thinned = timeline_moments(at(1, 9), at(30, 15), 5);
        assert_eq!(thinned.len(), 5);
        assert_eq!(thinned.first(), Some(&midnight(2)));
        assert_eq!(thinned.last(), Some(&at(30, 15)), "the present is always the last point");
        assert!(thinned.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn heterogeneity_flags_opposite_effects_and_not_consistent_ones() {
        let consistent = heterogeneity_p_value(&[(0.05, 0.02), (0.06, 0.03), (0.04, 0.025)]).unwrap();
        assert!(consistent > 0.5, "{consistent}");
        let opposite = heterogeneity_p_value(&[(0.10, 0.02), (-0.08, 0.02)]).unwrap();
        assert!(opposite < 0.001, "{opposite}");
        assert_eq!(heterogeneity_p_value(&[(0.1, 0.02)]), None);
    }

    /// A timeline whose points are (units, estimate, interval half-width).
    fn timeline(points: &[(u64, f64, f64)]) -> Timeline {
        use chrono::TimeZone;
        let start = chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        Timeline {
            metric: "purchase".into(),
            variations: vec!["treatment".into()],
            points: points
                .iter()
                .enumerate()
                .map(|(day, &(units, estimate, half))| TimelinePoint {
                    at: start + chrono::Duration::days(day as i64),
                    units,
                    lifts: vec![Some(super::super::Lift {
                        estimate,
                        stddev: half / 1.96,
                        ci_low: Some(estimate - half),
                        ci_high: Some(estimate + half),
                        p_value: None,
                        adjusted_p_value: None,
                    })],
                })
                .collect(),
        }
    }

    #[test]
    fn the_timeline_scale_leaves_out_the_first_days_wide_intervals_and_counts_them() {
        // The demo's shape: +1099 % / -621 % on the first day, then a +20 % effect settling.
        let series =
            timeline(&[(40, 2.4, 8.6), (400, 0.35, 0.9), (2000, 0.22, 0.3), (4000, 0.21, 0.2), (8000, 0.2, 0.14)]);
        let scale = TimelineScale::of(&series);
        // Readable: intervals up to 3 × 0.28 wide, i.e. the last three points: 0.22 ± 0.3 reaches -0.08 and 0.52.
        assert!(scale.low < -0.08 && scale.low > -0.2, "{scale:?}");
        assert!(scale.high > 0.52 && scale.high < 0.6, "{scale:?}");
        assert_eq!((scale.clipped_points, scale.clipped_up_to_units), (2, 400));
        assert_eq!(scale.clamp(11.0), scale.high);
    }

    #[test]
    fn a_timeline_of_similar_intervals_is_shown_whole_with_zero() {
        let series = timeline(&[(1000, 0.3, 0.1), (2000, 0.25, 0.08)]);
        let scale = TimelineScale::of(&series);
        assert!(scale.low < 0.0, "zero is always on the chart: {scale:?}");
        assert!(scale.high >= 0.4, "{scale:?}");
        assert_eq!(scale.clipped_points, 0);
        assert_eq!(TimelineScale::of(&timeline(&[])).clipped_points, 0);
    }
}
