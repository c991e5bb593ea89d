//! An experiment's results: the sample-ratio check, a plain-language verdict on the primary metric, a forest
//! plot of every metric's relative lift, the primary metric's cumulative effect over time, a table per metric,
//! and a segment breakdown, under the method chosen.

use crate::components::feedback::LoadError;
use crate::components::{choice, format_time};
use crate::domain::stats::calculator::VariationResult;
use crate::domain::stats::metrics::MetricKind;
use crate::domain::stats::results::{
    underpowered, ExperimentResults, MetricResult, MetricRole, SegmentBreakdown, Timeline, TimelineScale,
};
use crate::domain::stats::Lift;
use crate::error::AppError;
use crate::pages::calculator::{format_p, interval, pct, plain_pct, verdict};
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

#[server(endpoint = "experiment_results")]
pub async fn load_results(
    key: String,
    method: String,
    cuped: bool,
    correction: String,
    segment: String,
) -> Result<ExperimentResults, AppError> {
    crate::error::server_result(
        async {
            use crate::domain::stats::results::ResultsQuery;
            let (state, caller) = crate::pages::context::caller().await?;
            let query: ResultsQuery = serde_json::from_value(serde_json::json!({
                "method": if method.is_empty() { None } else { Some(method) },
                "cuped": cuped,
                "correction": if correction.is_empty() { None } else { Some(correction) },
                "segment": if segment.trim().is_empty() { None } else { Some(segment) },
                "timeline": true,
            }))
            .map_err(|e| AppError::invalid(format!("invalid results settings: {e}")))?;
            crate::services::results::results(&state.db, &state.results, &caller, &key, &query).await
        }
        .await,
    )
}

#[component]
pub fn ResultsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let setting = move |name: &'static str, default: &'static str| {
        move || query.read().get(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
    };
    let (method, correction, segment, cuped) = (
        setting("method", "frequentist"),
        setting("correction", "none"),
        setting("segment", ""),
        setting("cuped", "true"),
    );
    let results = page_data(
        move || (key(), method(), cuped(), correction(), segment()),
        |(key, method, cuped, correction, segment)| load_results(key, method, cuped == "true", correction, segment),
    );
    let navigate = use_navigate();
    // Each control rewrites the URL, so a reading can be shared and survives a reload.
    let set = move |name: &'static str, value: String| {
        let mut next = form_urlencoded::Serializer::new(String::new());
        for other in ["method", "cuped", "correction", "segment"].into_iter().filter(|n| *n != name) {
            if let Some(v) = query.read_untracked().get(other).filter(|v| !v.is_empty()) {
                next.append_pair(other, &v);
            }
        }
        if !value.is_empty() {
            next.append_pair(name, &value);
        }
        navigate(&format!("/experiments/{}/results?{}", key(), next.finish()), Default::default());
    };
    let set = StoredValue::new(set);
    view! {
        <Title text="Results" />
        <header class="page-header">
            <h1>"Results"</h1>
            <p class="lead"><a href=move || format!("/experiments/{}", key())><code>{key}</code></a></p>
        </header>
        <section class="card form-row" data-testid="results-controls">
            {choice("Method", "results-method", &[
                ("frequentist", "Frequentist"),
                ("sequential", "Sequential (safe to peek)"),
                ("bayesian", "Bayesian"),
            ], method, move |v| set.with_value(|s| s("method", v)))}
            {choice("Multiple metrics", "results-correction", &[
                ("none", "No correction"),
                ("holm", "Holm–Bonferroni"),
                ("bh", "Benjamini–Hochberg"),
            ], correction, move |v| set.with_value(|s| s("correction", v)))}
            <label>
                "Segment by attribute"
                <input type="text" placeholder="e.g. device" data-testid="results-segment" prop:value=segment
                    on:change=move |ev| set.with_value(|s| s("segment", event_target_value(&ev))) />
            </label>
            <label class="checkbox">
                <input type="checkbox" data-testid="results-cuped" prop:checked=move || cuped() == "true"
                    on:change=move |ev| set.with_value(|s| s("cuped", event_target_checked(&ev).to_string())) />
                "CUPED variance reduction"
            </label>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Computing…"</p> }>
            {move || Suspend::new(async move {
                match results.await {
                    Ok(r) => view! { <ResultsView results=r /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn ResultsView(results: ExperimentResults) -> impl IntoView {
    let analysis = &results.analysis;
    let total: u64 = analysis.exposures.iter().sum();
    let split = analysis
        .variations
        .iter()
        .zip(&analysis.exposures)
        .map(|(v, n)| format!("{v} {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let srm = (!analysis.srm_ok).then(|| {
        view! {
            <div class="banner danger" data-testid="srm-banner" role="alert">
                <strong>"Sample ratio mismatch."</strong>
                {format!(
                    " The units per variation ({split}) differ from the configured split far more than chance allows \
                     (p = {}). Randomization or exposure logging is broken, so none of these results can be trusted.",
                    format_p(analysis.srm_p_value)
                )}
            </div>
        }
    });
    let alpha = results.settings.alpha;
    let primary = analysis.metrics.iter().find(|m| m.role == MetricRole::Primary).cloned();
    let verdict_text = match (&primary, analysis.srm_ok) {
        (_, false) => "No verdict: the sample ratio mismatch makes every number below untrustworthy.".to_string(),
        (None, _) => "No primary metric is attached to this experiment; every metric below is exploratory.".to_string(),
        (Some(m), true) => primary_verdict(m, &analysis.variations, alpha, results.planned_mde),
    };
    let notes = (results.people_in_several_variations > 0).then(|| {
        format!(
            "{} people saw more than one variation (under several ids) and are left out.",
            results.people_in_several_variations
        )
    });
    view! {
        {srm}
        <section class="card" data-testid="results-summary">
            <p class="verdict" data-testid="results-verdict">{verdict_text}</p>
            <p class="muted">
                {format!("{total} units: {split}. Sample-ratio p = {}. ", format_p(analysis.srm_p_value))}
                {format!("Computed {} with data through {}.", format_time(&results.computed_at), format_time(&results.data_through))}
            </p>
            {notes.map(|n| view! { <p class="muted">{n}</p> })}
        </section>
        {(!analysis.metrics.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Relative lift by metric"</h2>
                <ForestPlot metrics=analysis.metrics.clone() variations=analysis.variations.clone() confidence=1.0 - alpha />
            </section>
        })}
        {results.timeline.clone().filter(|t| !t.points.is_empty()).map(|timeline| view! {
            <section class="card">
                <h2>{format!("Cumulative effect over time: {}", metric_name(&analysis.metrics, &timeline.metric))}</h2>
                <p class="muted">"Each point counts the units exposed by then and what they had done by then. An effect that keeps shrinking was a novelty; with the sequential method every interval is valid, so watching it is safe."</p>
                <TimelineChart timeline confidence=1.0 - alpha />
            </section>
        })}
        {analysis.metrics.iter().map(|m| view! { <MetricTable metric=m.clone() variations=analysis.variations.clone() bayesian=results.settings.method == crate::domain::stats::MethodName::Bayesian /> }).collect_view()}
        {results.segments.clone().map(|s| view! { <Segments breakdown=s /> })}
    }
}

/// The verdict on the primary metric for each treatment, never claiming more than the data support: a flat
/// result whose interval still holds the planned effect says the test is underpowered, not that nothing changed.
fn primary_verdict(metric: &MetricResult, variations: &[String], alpha: f64, planned_mde: Option<f64>) -> String {
    let confidence = format!("{:.0}%", (1.0 - alpha) * 100.0);
    metric
        .variations
        .iter()
        .zip(variations)
        .skip(1)
        .map(|(v, key)| {
            let Some(c) = &v.comparison else { return String::new() };
            match &c.relative_lift {
                None => format!(
                    "{key}: no lift on {} yet ({}).",
                    metric.name,
                    c.not_estimable.map(|r| r.to_string()).unwrap_or_default()
                ),
                Some(lift) => {
                    let mut text = format!(
                        "{key} on {}: {}",
                        metric.name,
                        verdict(lift, c.chance_to_win, c.significant, &confidence).replace("the metric", &metric.name)
                    );
                    if let Some(mde) = planned_mde.filter(|_| underpowered(lift, c.significant, planned_mde)) {
                        text.push_str(&format!(
                            " The interval still includes the planned {} effect: the test is underpowered so far, \
                             so a real effect of that size is not ruled out.",
                            plain_pct(mde)
                        ));
                    }
                    text
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every metric × treatment's relative lift with its interval, one row each, zero marked.
#[component]
fn ForestPlot(metrics: Vec<MetricResult>, variations: Vec<String>, confidence: f64) -> impl IntoView {
    let rows: Vec<(String, Lift, bool)> = metrics
        .iter()
        .flat_map(|m| {
            m.variations.iter().zip(&variations).skip(1).filter_map(move |(v, key)| {
                let c = v.comparison.as_ref()?;
                Some((format!("{} · {key}", m.name), c.relative_lift.clone()?, c.significant))
            })
        })
        .collect();
    if rows.is_empty() {
        return view! { <p class="muted">"No lift can be estimated yet."</p> }.into_any();
    }
    let (label_width, plot_width, row_height) = (260.0, 420.0, 26.0);
    let bound = |l: &Lift| [l.ci_low.unwrap_or(l.estimate), l.ci_high.unwrap_or(l.estimate), l.estimate];
    let low = rows.iter().flat_map(|(_, l, _)| bound(l)).fold(0.0_f64, f64::min);
    let high = rows.iter().flat_map(|(_, l, _)| bound(l)).fold(0.0_f64, f64::max);
    let pad = ((high - low) * 0.08).max(0.005);
    let (low, high) = (low - pad, high + pad);
    let x = move |value: f64| label_width + (value - low) / (high - low) * plot_width;
    let height = row_height * rows.len() as f64 + 30.0;
    let width = label_width + plot_width + 20.0;
    view! {
        <svg class="forest" data-testid="forest-plot" viewBox=format!("0 0 {width} {height}") role="img"
            aria-label=format!("Relative lift per metric with {:.0}% intervals", confidence * 100.0)>
            <line class="zero" x1=x(0.0) x2=x(0.0) y1=0 y2=height - 24.0 />
            {rows.into_iter().enumerate().map(|(i, (label, lift, significant))| {
                let y = row_height * i as f64 + row_height / 2.0;
                let class = if significant { "interval significant" } else { "interval" };
                let (from, to) = (lift.ci_low.unwrap_or(low), lift.ci_high.unwrap_or(high));
                view! {
                    <g>
                        <title>{format!("{label}: {} ({})", pct(lift.estimate), interval(&lift))}</title>
                        <text x=0 y=y + 4.0 class="label">{label}</text>
                        <line class=class x1=x(from) x2=x(to) y1=y y2=y />
                        <circle class=class cx=x(lift.estimate) cy=y r=4.5 />
                    </g>
                }
            }).collect_view()}
            // The ends of the axis are labelled unless they would overlap the zero mark.
            {((x(0.0) - x(low)) > 48.0).then(|| view! { <text x=x(low) y=height - 6.0 class="axis">{pct(low)}</text> })}
            <text x=x(0.0) y=height - 6.0 class="axis" text-anchor="middle">"0"</text>
            {((x(high) - x(0.0)) > 48.0).then(|| view! { <text x=x(high) y=height - 6.0 class="axis" text-anchor="end">{pct(high)}</text> })}
        </svg>
    }
    .into_any()
}

fn metric_name(metrics: &[MetricResult], key: &str) -> String {
    metrics.iter().find(|m| m.key == key).map_or_else(|| key.to_string(), |m| m.name.clone())
}

/// Each treatment's relative lift over time: the estimate as a line, its interval as a band, zero marked. The
/// vertical range is the readable part of the series (`TimelineScale`): ends beyond it are drawn at the edge with
/// a mark, and a note under the chart says how many early points that concerns.
#[component]
fn TimelineChart(timeline: Timeline, confidence: f64) -> impl IntoView {
    let (left, plot_width, plot_height, top) = (76.0, 600.0, 180.0, 10.0);
    let points = &timeline.points;
    let (Some(first), Some(last)) = (points.first().map(|p| p.at), points.last().map(|p| p.at)) else {
        return ().into_any();
    };
    let scale = TimelineScale::of(&timeline);
    let (low, high) = (scale.low, scale.high);
    let span = (last - first).num_seconds().max(1) as f64;
    let x = move |at: chrono::DateTime<chrono::Utc>| left + (at - first).num_seconds() as f64 / span * plot_width;
    let y = move |value: f64| top + (high - scale.clamp(value)) / (high - low) * plot_height;
    let series: Vec<(String, String, String)> = timeline
        .variations
        .iter()
        .enumerate()
        .map(|(i, variation)| {
            let known: Vec<(chrono::DateTime<chrono::Utc>, &Lift)> =
                points.iter().filter_map(|p| Some((p.at, p.lifts.get(i)?.as_ref()?))).collect();
            let line = known.iter().map(|(at, l)| format!("{:.1},{:.1}", x(*at), y(l.estimate))).collect::<Vec<_>>();
            // The band: along the upper ends, back along the lower ends.
            let band = known
                .iter()
                .map(|(at, l)| format!("{:.1},{:.1}", x(*at), y(l.ci_high.unwrap_or(high))))
                .chain(known.iter().rev().map(|(at, l)| format!("{:.1},{:.1}", x(*at), y(l.ci_low.unwrap_or(low)))))
                .collect::<Vec<_>>();
            (variation.clone(), line.join(" "), band.join(" "))
        })
        .collect();
    let height = top + plot_height + 26.0;
    let width = left + plot_width + 16.0;
    let day = |at: chrono::DateTime<chrono::Utc>| at.format("%b %-d").to_string();
    // A small triangle at the edge where an interval end (or an estimate) lies beyond the range.
    let clip_mark = move |cx: f64, beyond_top: bool| {
        let (edge, tip) = if beyond_top { (top + 7.0, top) } else { (top + plot_height - 7.0, top + plot_height) };
        view! { <polygon class="clipped" points=format!("{:.1},{tip:.1} {:.1},{edge:.1} {:.1},{edge:.1}", cx, cx - 4.0, cx + 4.0) /> }
    };
    let note = match scale.clipped_points {
        0 => None,
        1 => Some(format!(
            "The first point ({} units) has an interval too wide to draw whole: it runs past the chart's edge where \
             a ▲ or ▼ marks it. Hover a point for its numbers.",
            scale.clipped_up_to_units
        )),
        n => Some(format!(
            "The first {n} points (up to {} units) have intervals too wide to draw whole: they run past the chart's \
             edge where a ▲ or ▼ marks them. Hover a point for its numbers.",
            scale.clipped_up_to_units
        )),
    };
    view! {
        <svg class="timeline" data-testid="cumulative-chart" viewBox=format!("0 0 {width} {height}") role="img"
            aria-label=format!("Cumulative relative lift over time with {:.0}% intervals", confidence * 100.0)>
            <line class="zero" x1=left x2=left + plot_width y1=y(0.0) y2=y(0.0) />
            <text class="axis" x=left - 6.0 y=y(0.0) + 4.0 text-anchor="end">"0"</text>
            {((y(high) - y(0.0)).abs() > 16.0).then(|| view! { <text class="axis" x=left - 6.0 y=y(high) + 4.0 text-anchor="end">{pct(high)}</text> })}
            {((y(low) - y(0.0)).abs() > 16.0).then(|| view! { <text class="axis" x=left - 6.0 y=y(low) + 4.0 text-anchor="end">{pct(low)}</text> })}
            {series.into_iter().map(|(variation, line, band)| view! {
                <g>
                    <title>{variation}</title>
                    <polygon class="band" points=band />
                    <polyline class="estimate" points=line />
                </g>
            }).collect_view()}
            // Each point with its interval as a whisker: the band alone would not show a single day's.
            {points.iter().flat_map(|p| p.lifts.iter().flatten().map(move |l| (p.at, p.units, l.clone()))).map(|(at, units, lift)| {
                let (from, to) = (lift.ci_low.unwrap_or(low), lift.ci_high.unwrap_or(high));
                view! {
                    <g>
                        <title>{format!("{}: {} ({}), {units} units", format_time(&at), pct(lift.estimate), interval(&lift))}</title>
                        <line class="whisker" x1=x(at) x2=x(at) y1=y(to) y2=y(from) />
                        <circle class="estimate" cx=x(at) cy=y(lift.estimate) r=3.0 />
                        {(to > high).then(|| clip_mark(x(at), true))}
                        {(from < low).then(|| clip_mark(x(at), false))}
                    </g>
                }
            }).collect_view()}
            <text class="axis" x=left y=height - 6.0>{day(first)}</text>
            <text class="axis" x=left + plot_width y=height - 6.0 text-anchor="end">{day(last)}</text>
        </svg>
        {note.map(|note| view! { <p class="muted chart-note" data-testid="timeline-clipped">{note}</p> })}
    }
    .into_any()
}

fn format_value(kind: MetricKind, x: f64) -> String {
    match kind {
        MetricKind::Conversion => plain_pct(x),
        _ => format!("{x:.2}"),
    }
}

#[component]
fn MetricTable(metric: MetricResult, variations: Vec<String>, bayesian: bool) -> impl IntoView {
    let role = match metric.role {
        MetricRole::Primary => "primary",
        MetricRole::Secondary => "secondary",
        MetricRole::Guardrail => "guardrail",
    };
    let units_label = if metric.mature_units_only { "Mature units" } else { "Units" };
    let evidence_label = if bayesian { "Chance to win" } else { "p-value" };
    let kind = metric.kind;
    let row = move |(v, key): (&VariationResult, &String)| {
        let comparison = v.comparison.clone();
        let lift = comparison.as_ref().and_then(|c| c.relative_lift.clone());
        let evidence =
            comparison.as_ref().map(|c| match (c.chance_to_win, lift.as_ref().and_then(|l| l.adjusted_p_value)) {
                (Some(ctw), _) => plain_pct(ctw),
                (None, Some(p)) => format_p(p),
                _ => "—".into(),
            });
        let badge = comparison.as_ref().map(|c| {
            if c.significant {
                view! { <span class="badge ok">"significant"</span> }.into_any()
            } else {
                view! { <span class="badge neutral">"not significant"</span> }.into_any()
            }
        });
        view! {
            <tr>
                <td><code>{key.clone()}</code></td>
                <td class="num">{v.units}</td>
                <td class="num">{format_value(kind, v.value)}</td>
                <td class="num">{lift.as_ref().map(|l| pct(l.estimate))}</td>
                <td>{lift.as_ref().map(interval)}</td>
                <td class="num">{evidence}</td>
                <td>{badge}</td>
            </tr>
        }
    };
    view! {
        <section class="card" data-testid=format!("metric-{}", metric.key)>
            <h2>{metric.name.clone()} " " <span class="badge neutral">{role}</span></h2>
            <p class="muted">
                {format!("{} days after first exposure", metric.window_days)}
                {metric.cap.map(|c| format!(" · values capped at {c:.2}"))}
                {(!metric.higher_is_better).then_some(" · lower is better")}
            </p>
            <div class="table-wrap">
                <table class="data">
                    <thead><tr><th>"Variation"</th><th class="num">{units_label}</th><th class="num">"Value"</th><th class="num">"Relative lift"</th><th>"Interval"</th><th class="num">{evidence_label}</th><th></th></tr></thead>
                    <tbody>{metric.variations.iter().zip(&variations).map(row).collect_view()}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
pub fn Segments(breakdown: SegmentBreakdown) -> impl IntoView {
    let primary = breakdown.values.first().and_then(|s| s.analysis.metrics.first()).map(|m| m.key.clone());
    view! {
        <section class="card" data-testid="segments">
            <h2>{format!("By {}", breakdown.attribute)}</h2>
            <div class="table-wrap">
                <table class="data">
                    <thead><tr><th>"Segment"</th><th class="num">"Units"</th><th>"Metric"</th><th>"Variation"</th><th class="num">"Relative lift"</th><th>"Interval"</th></tr></thead>
                    <tbody>
                        {breakdown.values.iter().flat_map(|segment| {
                            let units: u64 = segment.analysis.exposures.iter().sum();
                            let value = segment.value.clone();
                            segment.analysis.metrics.iter().filter(|m| Some(&m.key) == primary.as_ref()).flat_map(move |m| {
                                let value = value.clone();
                                m.variations.iter().zip(segment.analysis.variations.clone()).skip(1).map(move |(v, key)| {
                                    let lift = v.comparison.as_ref().and_then(|c| c.relative_lift.clone());
                                    view! {
                                        <tr>
                                            <td>{value.clone()}</td><td class="num">{units}</td><td>{m.name.clone()}</td><td><code>{key}</code></td>
                                            <td class="num">{lift.as_ref().map(|l| pct(l.estimate)).unwrap_or_else(|| "—".into())}</td>
                                            <td>{lift.as_ref().map(interval).unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }
                                })
                            })
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <ul class="muted">
                {breakdown.heterogeneity.iter().map(|h| {
                    let text = match h.p_value {
                        Some(p) if p < 0.05 => format!("{} · {}: the effect differs between segments (p = {}).", h.metric, h.variation, format_p(p)),
                        Some(p) => format!("{} · {}: no evidence the effect differs between segments (p = {}).", h.metric, h.variation, format_p(p)),
                        None => format!("{} · {}: too few segments with an estimate to compare.", h.metric, h.variation),
                    };
                    view! { <li>{text}</li> }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::Comparison;

    fn primary(ci: (f64, f64), significant: bool) -> MetricResult {
        let lift = Lift {
            estimate: (ci.0 + ci.1) / 2.0,
            stddev: 0.02,
            ci_low: Some(ci.0),
            ci_high: Some(ci.1),
            p_value: Some(if significant { 0.01 } else { 0.3 }),
            adjusted_p_value: Some(if significant { 0.01 } else { 0.3 }),
        };
        let comparison = Comparison {
            absolute_lift: None,
            relative_lift: Some(lift),
            chance_to_win: None,
            risk: None,
            significant,
            not_estimable: None,
            variance_reduction: None,
        };
        let variation = |comparison| VariationResult { units: 1000.0, value: 0.1, stddev: 0.3, comparison };
        MetricResult {
            key: "purchase".into(),
            name: "Purchase".into(),
            role: MetricRole::Primary,
            kind: MetricKind::Conversion,
            higher_is_better: true,
            window_days: 14,
            cap: None,
            mature_units_only: false,
            measure: crate::domain::stats::metrics::Measure::Purchase,
            variations: vec![variation(None), variation(Some(comparison))],
        }
    }

    #[test]
    fn a_flat_result_that_cannot_rule_out_the_planned_effect_says_it_is_underpowered() {
        let keys = ["control".to_string(), "b".to_string()];
        let flat = primary_verdict(&primary((-0.03, 0.08), false), &keys, 0.05, Some(0.05));
        assert!(flat.contains("No significant difference") && flat.contains("underpowered"), "{flat}");
        let precise = primary_verdict(&primary((-0.01, 0.02), false), &keys, 0.05, Some(0.05));
        assert!(!precise.contains("underpowered"), "{precise}");
        let win = primary_verdict(&primary((0.04, 0.12), true), &keys, 0.05, Some(0.05));
        assert!(win.contains("raised Purchase by 8.0%") && !win.contains("underpowered"), "{win}");
    }
}
