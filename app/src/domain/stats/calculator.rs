//! The calculators behind `POST /api/v1/stats/compare|power|adjust` and the Calculator page: request shapes,
//! their validation (every refusal names the field), and the answers. Pure.

use super::power::Design;
use super::statistic::{Moments, Scale, Statistic, Variable};
use super::{compare, AnalysisSettings, Comparison, Correction, MethodName, Prior, Tails};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    Binomial,
    Mean,
    Ratio,
}

/// A CUPED covariate: the same metric per unit before exposure. `cross_sum` is Σ value × covariate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CovariateInput {
    pub sum: f64,
    pub sum_squares: f64,
    pub cross_sum: f64,
}

/// One variation's sufficient statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VariationInput {
    pub n: f64,
    pub sum: f64,
    #[serde(default)]
    pub sum_squares: Option<f64>,
    #[serde(default)]
    pub denominator_sum: Option<f64>,
    #[serde(default)]
    pub denominator_sum_squares: Option<f64>,
    #[serde(default)]
    pub cross_sum: Option<f64>,
    #[serde(default)]
    pub covariate: Option<CovariateInput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub metric_type: MetricType,
    #[serde(default)]
    pub method: MethodName,
    #[serde(default)]
    pub alpha: Option<f64>,
    #[serde(default)]
    pub tails: Tails,
    #[serde(default)]
    pub sequential_tuning_parameter: Option<f64>,
    #[serde(default)]
    pub prior: Option<Prior>,
    /// Lower is better (e.g. refunds): flips the chance to win and the risk.
    #[serde(default)]
    pub inverse: bool,
    pub control: VariationInput,
    pub treatment: VariationInput,
}

/// A variation's observed value; the treatment also carries its comparison with control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct VariationResult {
    pub units: f64,
    /// The rate, mean or ratio.
    pub value: f64,
    /// Standard deviation of one unit's value (delta method for a ratio).
    pub stddev: f64,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct CompareResponse {
    pub control: VariationResult,
    pub treatment: VariationResult,
}

fn finite(field: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{field} must be a finite number"))
    }
}

fn required(field: &str, value: Option<f64>, metric: &str) -> Result<f64, String> {
    finite(field, value.ok_or_else(|| format!("{field} is required for a {metric} metric"))?)
}

/// Σx² can be no smaller than (Σx)²/n; a smaller one means the inputs were mixed up.
fn check_moments(label: &str, m: &Moments) -> Result<(), String> {
    if m.sum_squares < 0.0 || (m.n > 0.0 && m.sum_squares < m.sum * m.sum / m.n * (1.0 - 1e-9) - 1e-9) {
        return Err(format!("{label}: sum_squares is smaller than sum² / n, which no data can produce"));
    }
    Ok(())
}

impl VariationInput {
    fn statistic(&self, label: &str, metric: MetricType) -> Result<Statistic, String> {
        let n = finite(&format!("{label}.n"), self.n)?;
        if n < 0.0 || n.fract() != 0.0 {
            return Err(format!("{label}.n must be a whole number of units, 0 or more"));
        }
        let sum = finite(&format!("{label}.sum"), self.sum)?;
        let value = match metric {
            MetricType::Binomial => {
                if !(0.0..=n).contains(&sum) || sum.fract() != 0.0 {
                    return Err(format!("{label}.sum counts converted units: a whole number between 0 and n ({n})"));
                }
                Variable::binomial(n, sum)
            }
            MetricType::Mean | MetricType::Ratio => {
                let ss = required(&format!("{label}.sum_squares"), self.sum_squares, "mean or ratio")?;
                let v = Variable::continuous(n, sum, ss);
                check_moments(label, &v.moments)?;
                v
            }
        };
        if metric == MetricType::Ratio {
            if self.covariate.is_some() {
                return Err(format!("{label}.covariate: CUPED applies to binomial and mean metrics"));
            }
            let denominator = Moments::new(
                n,
                required(&format!("{label}.denominator_sum"), self.denominator_sum, "ratio")?,
                required(&format!("{label}.denominator_sum_squares"), self.denominator_sum_squares, "ratio")?,
            );
            check_moments(&format!("{label} denominator"), &denominator)?;
            let cross_sum = required(&format!("{label}.cross_sum"), self.cross_sum, "ratio")?;
            return Ok(Statistic::Ratio { numerator: value.moments, denominator, cross_sum });
        }
        match self.covariate {
            None => Ok(Statistic::Single(value)),
            Some(c) => {
                let pre = Variable {
                    scale: Scale::Continuous,
                    moments: Moments::new(
                        n,
                        finite(&format!("{label}.covariate.sum"), c.sum)?,
                        finite(&format!("{label}.covariate.sum_squares"), c.sum_squares)?,
                    ),
                };
                check_moments(&format!("{label} covariate"), &pre.moments)?;
                let cross_sum = finite(&format!("{label}.covariate.cross_sum"), c.cross_sum)?;
                Ok(Statistic::Adjusted { post: value, pre, cross_sum })
            }
        }
    }
}

impl CompareRequest {
    pub fn settings(&self) -> Result<AnalysisSettings, String> {
        let defaults = AnalysisSettings::default();
        let settings = AnalysisSettings {
            method: self.method,
            alpha: self.alpha.unwrap_or(defaults.alpha),
            tails: self.tails,
            sequential_tuning_parameter: self
                .sequential_tuning_parameter
                .unwrap_or(defaults.sequential_tuning_parameter),
            prior: self.prior,
            correction: Correction::None,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// The calculator on sufficient statistics.
pub fn compare_request(request: &CompareRequest) -> Result<CompareResponse, String> {
    let settings = request.settings()?;
    let control = request.control.statistic("control", request.metric_type)?;
    let treatment = request.treatment.statistic("treatment", request.metric_type)?;
    if request.control.covariate.is_some() != request.treatment.covariate.is_some() {
        return Err("give a covariate for both variations or for neither".into());
    }
    let comparison = compare(&control, &treatment, &settings, request.inverse);
    Ok(CompareResponse { control: observed(&control, None), treatment: observed(&treatment, Some(comparison)) })
}

/// A variation as observed (before any covariate adjustment).
pub fn observed(statistic: &Statistic, comparison: Option<Comparison>) -> VariationResult {
    let summary = statistic.summary();
    VariationResult { units: summary.n, value: statistic.value(), stddev: summary.variance.max(0.0).sqrt(), comparison }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PowerMetricType {
    Binomial,
    Mean,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    pub metric_type: PowerMetricType,
    /// The baseline mean; for a binomial metric, the baseline conversion rate.
    pub mean: f64,
    /// Variance of one unit's value; derived as p(1 − p) for a binomial metric.
    #[serde(default)]
    pub variance: Option<f64>,
    /// The relative lift to detect (0.05 = +5 %): answers `power`.
    #[serde(default)]
    pub relative_effect: Option<f64>,
    /// Answers `mde` (with `relative_effect` also `units_needed`).
    #[serde(default)]
    pub target_power: Option<f64>,
    /// Units across all variations the test will have.
    #[serde(default)]
    pub total_units: Option<f64>,
    #[serde(default = "two")]
    pub variations: u32,
    #[serde(default = "five_percent")]
    pub alpha: f64,
    #[serde(default = "yes")]
    pub two_tailed: bool,
    #[serde(default)]
    pub sequential_tuning_parameter: Option<f64>,
    /// New units a day: turns `units_needed` into `days_needed`.
    #[serde(default)]
    pub units_per_day: Option<f64>,
}

fn two() -> u32 {
    2
}
fn five_percent() -> f64 {
    0.05
}
fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct PowerResponse {
    pub power: Option<f64>,
    pub mde: Option<f64>,
    pub units_per_variation: Option<f64>,
    /// Total units to reach `target_power` for `relative_effect`.
    pub units_needed: Option<f64>,
    pub days_needed: Option<f64>,
    /// Why an answer asked for could not be given (e.g. too few units for any MDE).
    pub notes: Vec<String>,
}

pub fn power_request(request: &PowerRequest) -> Result<PowerResponse, String> {
    let mean = finite("mean", request.mean)?;
    let variance = match request.metric_type {
        PowerMetricType::Binomial => {
            if !(mean > 0.0 && mean < 1.0) {
                return Err("mean is the baseline conversion rate of a binomial metric: between 0 and 1".into());
            }
            mean * (1.0 - mean)
        }
        PowerMetricType::Mean => {
            if mean == 0.0 {
                return Err("mean must not be 0: effects are relative to it".into());
            }
            let v = required("variance", request.variance, "mean")?;
            if v <= 0.0 {
                return Err("variance must be positive".into());
            }
            v
        }
    };
    if request.variations < 2 || request.variations > 10 {
        return Err("variations must be between 2 and 10".into());
    }
    if !(request.alpha > 0.0 && request.alpha < 0.5) {
        return Err("alpha must be between 0 and 0.5 (exclusive)".into());
    }
    if let Some(tuning) = request.sequential_tuning_parameter {
        if !(tuning.is_finite() && tuning > 0.0) {
            return Err("sequential_tuning_parameter must be a positive number of units".into());
        }
    }
    if let Some(effect) = request.relative_effect {
        if !(effect.is_finite() && effect != 0.0 && effect > -1.0) {
            return Err("relative_effect must be a non-zero lift above -1 (e.g. 0.05 for +5 %)".into());
        }
    }
    if let Some(p) = request.target_power {
        if !(p > 0.0 && p < 1.0) {
            return Err("target_power must be between 0 and 1 (e.g. 0.8)".into());
        }
    }
    if let Some(units) = request.total_units {
        if !(units.is_finite() && units >= f64::from(request.variations) * 2.0) {
            return Err("total_units must be at least two per variation".into());
        }
    }
    if let Some(per_day) = request.units_per_day {
        if !(per_day.is_finite() && per_day > 0.0) {
            return Err("units_per_day must be positive".into());
        }
    }
    if request.relative_effect.is_none() && request.target_power.is_none() {
        return Err("give relative_effect (for power) or target_power (for the MDE), or both".into());
    }
    let needs_units =
        request.total_units.is_none() && !(request.relative_effect.is_some() && request.target_power.is_some());
    if needs_units {
        return Err("total_units is required to compute power or the MDE".into());
    }

    let design = Design {
        mean,
        variance,
        variations: request.variations,
        alpha: request.alpha,
        two_tailed: request.two_tailed,
        sequential_tuning: request.sequential_tuning_parameter,
    };
    let mut response = PowerResponse::default();
    if let Some(units) = request.total_units {
        response.units_per_variation = Some(units / f64::from(request.variations));
        if let Some(effect) = request.relative_effect {
            response.power = Some(design.power(effect, units));
        }
        if let Some(target) = request.target_power {
            match design.minimum_detectable_effect(target, units) {
                Ok(mde) => response.mde = Some(mde),
                Err(err) => response.notes.push(format!("mde: {err}")),
            }
        }
    }
    if let (Some(effect), Some(target)) = (request.relative_effect, request.target_power) {
        if target <= request.alpha {
            response.notes.push("units_needed: the target power must be greater than alpha".into());
        } else {
            match design.units_needed(effect, target) {
                Some(units) => {
                    response.units_needed = Some(units);
                    response.days_needed = request.units_per_day.map(|per_day| (units / per_day).ceil());
                }
                None => response.notes.push("units_needed: more than a trillion units".into()),
            }
        }
    }
    Ok(response)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    pub p_values: Vec<f64>,
    pub method: Correction,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct AdjustResponse {
    pub adjusted: Vec<f64>,
}

pub fn adjust_request(request: &AdjustRequest) -> Result<AdjustResponse, String> {
    if let Some(i) = request.p_values.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(format!("p_values[{i}] must be between 0 and 1"));
    }
    Ok(AdjustResponse { adjusted: super::adjust(&request.p_values, request.method) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variation(n: f64, sum: f64) -> VariationInput {
        VariationInput { n, sum, ..Default::default() }
    }

    fn binomial(control: VariationInput, treatment: VariationInput) -> CompareRequest {
        CompareRequest {
            metric_type: MetricType::Binomial,
            method: MethodName::Frequentist,
            alpha: None,
            tails: Tails::Two,
            sequential_tuning_parameter: None,
            prior: None,
            inverse: false,
            control,
            treatment,
        }
    }

    #[test]
    fn impossible_statistics_are_refused_naming_the_field() {
        let err = compare_request(&binomial(variation(100.0, 120.0), variation(100.0, 3.0))).unwrap_err();
        assert!(err.starts_with("control.sum"), "{err}");
        let err = compare_request(&binomial(variation(10.5, 1.0), variation(100.0, 3.0))).unwrap_err();
        assert!(err.starts_with("control.n"), "{err}");
        let mut mean = binomial(variation(10.0, 50.0), variation(10.0, 60.0));
        mean.metric_type = MetricType::Mean;
        assert!(compare_request(&mean).unwrap_err().contains("sum_squares is required"));
        mean.control.sum_squares = Some(10.0);
        mean.treatment.sum_squares = Some(400.0);
        assert!(compare_request(&mean).unwrap_err().contains("no data can produce"));
    }

    #[test]
    fn the_planner_answers_what_it_is_asked() {
        let request = PowerRequest {
            metric_type: PowerMetricType::Binomial,
            mean: 0.05,
            variance: None,
            relative_effect: Some(0.1),
            target_power: Some(0.8),
            total_units: Some(20_000.0),
            variations: 2,
            alpha: 0.05,
            two_tailed: true,
            sequential_tuning_parameter: None,
            units_per_day: Some(1000.0),
        };
        let answer = power_request(&request).unwrap();
        assert!(answer.power.unwrap() < 0.8, "20k units are not enough for +10 % on 5 %");
        assert!(answer.mde.unwrap() > 0.1);
        let needed = answer.units_needed.unwrap();
        assert!(needed > 20_000.0);
        assert_eq!(answer.days_needed, Some((needed / 1000.0).ceil()));
        let no_question = PowerRequest { relative_effect: None, target_power: None, ..request.clone() };
        assert!(power_request(&no_question).is_err());
        let bad = PowerRequest { mean: 1.5, ..request };
        assert!(power_request(&bad).unwrap_err().contains("between 0 and 1"));
    }

    #[test]
    fn adjusted_p_values_come_back_in_input_order() {
        let answer = adjust_request(&AdjustRequest { p_values: vec![0.04, 0.01], method: Correction::Holm }).unwrap();
        assert_eq!(answer.adjusted, vec![0.04, 0.02]);
        assert!(adjust_request(&AdjustRequest { p_values: vec![1.2], method: Correction::Bh }).is_err());
    }
}
