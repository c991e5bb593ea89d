//! The Calculator: compare two variations from their totals, plan a test's size and duration, and correct
//! p-values for multiple comparisons. It runs the same pure functions as `POST /api/v1/stats/*`, in the page
//! itself, so answers follow the inputs as they are typed.

use crate::components::choice;
use crate::domain::stats::calculator::{
    adjust_request, compare_request, power_request, AdjustRequest, CompareRequest, CompareResponse, MetricType,
    PowerMetricType, PowerRequest, PowerResponse, VariationInput,
};
use crate::domain::stats::{Correction, Lift, MethodName, Tails};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn CalculatorPage() -> impl IntoView {
    view! {
        <Title text="Calculator" />
        <h1>"Calculator"</h1>
        <p class="muted">
            "The statistics behind every results page, on numbers you bring: compare two variations, plan a test, "
            "correct p-values. The same engine answers " <code>"POST /api/v1/stats/compare|power|adjust"</code> "."
        </p>
        <CompareCard />
        <PlanCard />
        <AdjustCard />
    }
}

/// The planner on its own: how many units and days a test needs.
#[component]
pub fn PlannerPage() -> impl IntoView {
    view! {
        <Title text="Planner" />
        <h1>"Plan a test"</h1>
        <p class="muted">
            "How many units, and how many days at your traffic, a test needs to detect the lift you care about — for a "
            "fixed horizon or a sequential analysis you may peek at. The same engine answers "
            <code>"POST /api/v1/stats/power"</code> "."
        </p>
        <PlanCard />
    }
}

fn number(text: &str) -> Option<f64> {
    let cleaned = text.trim().replace([',', '_', ' '], "");
    cleaned.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A percentage typed as "5" or "5%" → 0.05.
fn percent(text: &str) -> Option<f64> {
    number(text.trim().trim_end_matches('%')).map(|x| x / 100.0)
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

pub(crate) fn plain_pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn input(label: &'static str, value: RwSignal<String>, testid: impl Into<String>) -> impl IntoView {
    let testid = testid.into();
    view! {
        <label>
            {label}
            <input type="text" inputmode="decimal" data-testid=testid prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev)) />
        </label>
    }
}

/// A variation's inputs: units and conversions, or units, mean and standard deviation.
#[derive(Clone, Copy)]
struct VariationFields {
    units: RwSignal<String>,
    conversions: RwSignal<String>,
    mean: RwSignal<String>,
    stddev: RwSignal<String>,
}

impl VariationFields {
    fn new(units: &str, conversions: &str, mean: &str, stddev: &str) -> Self {
        Self {
            units: RwSignal::new(units.into()),
            conversions: RwSignal::new(conversions.into()),
            mean: RwSignal::new(mean.into()),
            stddev: RwSignal::new(stddev.into()),
        }
    }

    fn input(&self, label: &str, binomial: bool) -> Result<VariationInput, String> {
        let units = number(&self.units.get()).ok_or(format!("{label}: units must be a number"))?;
        if binomial {
            let converted = number(&self.conversions.get()).ok_or(format!("{label}: conversions must be a number"))?;
            return Ok(VariationInput { n: units, sum: converted, ..Default::default() });
        }
        let mean = number(&self.mean.get()).ok_or(format!("{label}: mean must be a number"))?;
        let sd = number(&self.stddev.get()).ok_or(format!("{label}: standard deviation must be a number"))?;
        if sd < 0.0 {
            return Err(format!("{label}: the standard deviation cannot be negative"));
        }
        // Sufficient statistics from the summary: Σx = n·mean, Σx² = (n − 1)·sd² + n·mean².
        Ok(VariationInput {
            n: units,
            sum: units * mean,
            sum_squares: Some((units - 1.0).max(0.0) * sd * sd + units * mean * mean),
            ..Default::default()
        })
    }
}

#[component]
fn CompareCard() -> impl IntoView {
    let metric = RwSignal::new("binomial".to_string());
    let method = RwSignal::new("frequentist".to_string());
    let alpha = RwSignal::new("5".to_string());
    let control = VariationFields::new("10000", "500", "42.0", "60.0");
    let treatment = VariationFields::new("10000", "580", "44.5", "61.0");
    let result = Memo::new(move |_| -> Result<CompareResponse, String> {
        let binomial = metric.get() == "binomial";
        let method = match method.get().as_str() {
            "sequential" => MethodName::Sequential,
            "bayesian" => MethodName::Bayesian,
            _ => MethodName::Frequentist,
        };
        let request = CompareRequest {
            metric_type: if binomial { MetricType::Binomial } else { MetricType::Mean },
            method,
            alpha: Some(percent(&alpha.get()).ok_or("alpha must be a percentage, e.g. 5")?),
            tails: Tails::Two,
            sequential_tuning_parameter: None,
            prior: None,
            inverse: false,
            control: control.input("Control", binomial)?,
            treatment: treatment.input("Treatment", binomial)?,
        };
        compare_request(&request)
    });
    let fields = move |v: VariationFields, name: &'static str, prefix: &'static str| {
        let binomial = move || metric.get() == "binomial";
        view! {
            <fieldset class="form-row variation">
                <legend>{name}</legend>
                {input("Units", v.units, format!("{prefix}-units"))}
                <Show when=binomial fallback=move || view! {
                    {input("Mean per unit", v.mean, format!("{prefix}-mean"))}
                    {input("Standard deviation", v.stddev, format!("{prefix}-sd"))}
                }>
                    {input("Conversions", v.conversions, format!("{prefix}-conversions"))}
                </Show>
            </fieldset>
        }
    };
    view! {
        <section class="card" data-testid="compare-card">
            <h2>"Compare two variations"</h2>
            <div class="form-row">
                {choice("Metric", "compare-metric", &[("binomial", "Conversion (yes/no per unit)"), ("mean", "Mean (e.g. revenue per unit)")], move || metric.get(), move |v| metric.set(v))}
                {choice("Method", "compare-method", &[
                    ("frequentist", "Frequentist (fixed horizon)"),
                    ("sequential", "Sequential (safe to peek)"),
                    ("bayesian", "Bayesian"),
                ], move || method.get(), move |v| method.set(v))}
                {input("Alpha (%)", alpha, "compare-alpha")}
            </div>
            {fields(control, "Control", "control")}
            {fields(treatment, "Treatment", "treatment")}
            {move || match result.get() {
                Err(problem) => view! { <p class="error" data-testid="compare-error">{problem}</p> }.into_any(),
                Ok(answer) => comparison_view(&answer, percent(&alpha.get()).unwrap_or(0.05)).into_any(),
            }}
        </section>
    }
}

pub(crate) fn interval(lift: &Lift) -> String {
    match (lift.ci_low, lift.ci_high) {
        (Some(low), Some(high)) => format!("{} to {}", pct(low), pct(high)),
        (Some(low), None) => format!("above {}", pct(low)),
        (None, Some(high)) => format!("below {}", pct(high)),
        (None, None) => "—".into(),
    }
}

fn comparison_view(answer: &CompareResponse, alpha: f64) -> impl IntoView {
    let Some(comparison) = answer.treatment.comparison.clone() else {
        return view! { <p class="muted">"Nothing to compare."</p> }.into_any();
    };
    let confidence = format!("{:.0}%", (1.0 - alpha) * 100.0);
    let Some(relative) = comparison.relative_lift.clone() else {
        let why = comparison.not_estimable.map(|r| r.to_string()).unwrap_or_default();
        return view! { <p class="muted" data-testid="verdict">"No lift can be estimated: " {why} "."</p> }.into_any();
    };
    let verdict = verdict(&relative, comparison.chance_to_win, comparison.significant, &confidence);
    let evidence = match (relative.p_value, comparison.chance_to_win) {
        (Some(p), _) => format!("p = {}", format_p(p)),
        (None, Some(ctw)) => format!("chance to win {}", plain_pct(ctw)),
        _ => String::new(),
    };
    let risk = comparison.risk.map(|[keep, ship]| {
        format!("Expected loss: {} if you keep control, {} if you ship treatment.", plain_pct(keep), plain_pct(ship))
    });
    view! {
        <div class="table-wrap"><table class="data" data-testid="compare-result">
            <thead><tr><th></th><th>"Units"</th><th>"Value"</th><th>"Relative lift"</th><th>{format!("{confidence} interval")}</th><th>"Evidence"</th></tr></thead>
            <tbody>
                <tr><td>"Control"</td><td>{answer.control.units}</td><td>{format_value(answer.control.value)}</td><td></td><td></td><td></td></tr>
                <tr>
                    <td>"Treatment"</td><td>{answer.treatment.units}</td><td>{format_value(answer.treatment.value)}</td>
                    <td data-testid="relative-lift">{pct(relative.estimate)}</td><td>{interval(&relative)}</td><td>{evidence}</td>
                </tr>
            </tbody>
        </table></div>
        <p class="verdict" data-testid="verdict">{verdict}</p>
        {risk.map(|r| view! { <p class="muted">{r}</p> })}
    }
    .into_any()
}

fn format_value(x: f64) -> String {
    if x.abs() < 1.0 {
        format!("{:.4}", x)
    } else {
        format!("{:.2}", x)
    }
}

pub(crate) fn format_p(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

/// One sentence that says what the data support and no more.
pub(crate) fn verdict(relative: &Lift, chance_to_win: Option<f64>, significant: bool, confidence: &str) -> String {
    let direction = if relative.estimate >= 0.0 { "raised" } else { "lowered" };
    let size = plain_pct(relative.estimate.abs());
    match chance_to_win {
        Some(ctw) if significant => format!(
            "Treatment {direction} the metric by {size} ({confidence} credible interval {}); it has a {} chance of beating control.",
            interval(relative),
            plain_pct(ctw)
        ),
        Some(ctw) => format!(
            "Not conclusive yet: a {} chance that treatment beats control, with a {confidence} credible interval of {}.",
            plain_pct(ctw),
            interval(relative)
        ),
        None if significant => {
            format!("Treatment {direction} the metric by {size} ({confidence} CI {}).", interval(relative))
        }
        None => format!(
            "No significant difference: the {confidence} CI of the lift, {}, includes no change.",
            interval(relative)
        ),
    }
}

#[component]
fn PlanCard() -> impl IntoView {
    let metric = RwSignal::new("binomial".to_string());
    let baseline = RwSignal::new("5".to_string());
    let stddev = RwSignal::new("60".to_string());
    let effect = RwSignal::new("10".to_string());
    let power = RwSignal::new("80".to_string());
    let variations = RwSignal::new("2".to_string());
    let per_day = RwSignal::new("2000".to_string());
    let sequential = RwSignal::new(false);
    let result = Memo::new(move |_| -> Result<PowerResponse, String> {
        let binomial = metric.get() == "binomial";
        let (mean, variance) = if binomial {
            (percent(&baseline.get()).ok_or("the baseline conversion rate must be a percentage")?, None)
        } else {
            let sd = number(&stddev.get()).ok_or("the standard deviation must be a number")?;
            (number(&baseline.get()).ok_or("the baseline mean must be a number")?, Some(sd * sd))
        };
        let variations = number(&variations.get()).filter(|v| v.fract() == 0.0 && *v >= 0.0);
        power_request(&PowerRequest {
            metric_type: if binomial { PowerMetricType::Binomial } else { PowerMetricType::Mean },
            mean,
            variance,
            relative_effect: Some(percent(&effect.get()).ok_or("the effect must be a percentage, e.g. 5")?),
            target_power: Some(percent(&power.get()).ok_or("the power must be a percentage, e.g. 80")?),
            total_units: None,
            variations: variations.ok_or("variations must be a whole number")? as u32,
            alpha: 0.05,
            two_tailed: true,
            sequential_tuning_parameter: sequential.get().then_some(crate::domain::stats::DEFAULT_SEQUENTIAL_TUNING),
            units_per_day: Some(number(&per_day.get()).ok_or("units per day must be a number")?),
        })
    });
    view! {
        <section class="card" data-testid="plan-card">
            <h2>"Plan a test"</h2>
            <div class="form-row">
                {choice("Metric", "plan-metric", &[("binomial", "Conversion"), ("mean", "Mean")], move || metric.get(), move |v| metric.set(v))}
                <Show when=move || metric.get() == "binomial" fallback=move || view! {
                    {input("Baseline mean", baseline, "plan-mean")}
                    {input("Standard deviation", stddev, "plan-sd")}
                }>
                    {input("Baseline conversion (%)", baseline, "plan-baseline")}
                </Show>
                {input("Relative lift to detect (%)", effect, "plan-effect")}
                {input("Power (%)", power, "plan-power")}
                {input("Variations", variations, "plan-variations")}
                {input("New units per day", per_day, "plan-per-day")}
                <label class="checkbox">
                    <input type="checkbox" data-testid="plan-sequential" prop:checked=move || sequential.get()
                        on:change=move |ev| sequential.set(event_target_checked(&ev)) />
                    "Sequential analysis"
                </label>
            </div>
            {move || match result.get() {
                Err(problem) => view! { <p class="error">{problem}</p> }.into_any(),
                Ok(plan) => match (plan.units_needed, plan.days_needed) {
                    (Some(units), Some(days)) => view! {
                        <p class="verdict" data-testid="plan-result">
                            {format!("{units:.0} units in all ({:.0} per variation): about {days:.0} days at this traffic.",
                                units / number(&variations.get()).unwrap_or(2.0))}
                        </p>
                    }.into_any(),
                    _ => view! { <p class="error">{plan.notes.join("; ")}</p> }.into_any(),
                },
            }}
        </section>
    }
}

#[component]
fn AdjustCard() -> impl IntoView {
    let text = RwSignal::new("0.01, 0.04, 0.03, 0.005".to_string());
    let method = RwSignal::new("holm".to_string());
    let result = Memo::new(move |_| -> Result<Vec<(f64, f64)>, String> {
        let p_values = text
            .get()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| number(s).ok_or(format!("'{s}' is not a number")))
            .collect::<Result<Vec<_>, _>>()?;
        let method = if method.get() == "bh" { Correction::Bh } else { Correction::Holm };
        let adjusted = adjust_request(&AdjustRequest { p_values: p_values.clone(), method })?.adjusted;
        Ok(p_values.into_iter().zip(adjusted).collect())
    });
    view! {
        <section class="card" data-testid="adjust-card">
            <h2>"Correct p-values for multiple comparisons"</h2>
            <div class="form-row">
                <label>
                    "p-values (comma or space separated)"
                    <input type="text" data-testid="adjust-p-values" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
                </label>
                {choice("Correction", "adjust-method", &[
                    ("holm", "Holm–Bonferroni (family-wise error)"),
                    ("bh", "Benjamini–Hochberg (false discovery rate)"),
                ], move || method.get(), move |v| method.set(v))}
            </div>
            {move || match result.get() {
                Err(problem) => view! { <p class="error">{problem}</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="data" data-testid="adjust-result">
                        <thead><tr><th>"p-value"</th><th>"Adjusted"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|(p, adjusted)| view! { <tr><td>{format_p(p)}</td><td>{format_p(adjusted)}</td></tr> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_percentages_are_read_as_people_type_them() {
        assert_eq!(number("10,000"), Some(10000.0));
        assert_eq!(percent("5%"), Some(0.05));
        assert_eq!(number("abc"), None);
    }

    #[test]
    fn a_verdict_never_claims_more_than_the_data() {
        let lift = |estimate, low, high| Lift {
            estimate,
            stddev: 0.01,
            ci_low: Some(low),
            ci_high: Some(high),
            p_value: Some(0.2),
            adjusted_p_value: Some(0.2),
        };
        let flat = verdict(&lift(0.03, -0.01, 0.07), None, false, "95%");
        assert!(flat.starts_with("No significant difference"), "{flat}");
        let win = verdict(&lift(0.16, 0.04, 0.28), None, true, "95%");
        assert!(win.contains("raised the metric by 16.0%"), "{win}");
        let unsure = verdict(&lift(0.03, -0.01, 0.07), Some(0.8), false, "95%");
        assert!(unsure.starts_with("Not conclusive"), "{unsure}");
    }
}
