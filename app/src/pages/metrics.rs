//! The metric library: what experiments are measured by. Everyone reads it; editors add and change metrics.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::format_time;
use crate::domain::stats::metrics::{Capping, Measure, MetricSpec};
use crate::error::AppError;
use crate::model::Metric;
use crate::pages::experiments::can_edit;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsData {
    pub metrics: Vec<Metric>,
    /// (key, name) of every signal a metric can count.
    pub signals: Vec<(String, String)>,
}

#[server(endpoint = "metric_library")]
pub async fn load_metrics() -> Result<MetricsData, AppError> {
    crate::error::server_result(
        async {
            use crate::services::{metrics, signals};
            let (state, caller) = crate::pages::context::caller().await?;
            let signals = signals::list(&state.db, &caller, &Default::default())
                .await?
                .into_iter()
                .map(|s| (s.spec.key, s.spec.name))
                .collect();
            Ok(MetricsData { metrics: metrics::list(&state.db, &caller).await?, signals })
        }
        .await,
    )
}

/// The metric form's fields, as typed (inputs are named `metric[<field>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFields {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub measure: String,
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    pub window_days: String,
    pub capping: String,
    #[serde(default)]
    pub cap: Option<String>,
    /// Checkboxes: present when ticked.
    #[serde(default)]
    pub ignore_zeros: Option<String>,
    #[serde(default)]
    pub lower_is_better: Option<String>,
}

/// Creates a metric from the form's fields.
#[server(endpoint = "save_metric")]
pub async fn save_metric(metric: MetricFields) -> Result<Metric, AppError> {
    crate::error::server_result(
        async {
            use serde_json::{json, Value};
            let (state, caller) = crate::pages::context::caller().await?;
            let MetricFields {
                key, name, description, measure, signal, event, window_days, capping, cap, ignore_zeros, lower_is_better,
            } = metric;
            let measure = match measure.as_str() {
                "signal" => json!({"type": "signal", "key": signal.unwrap_or_default()}),
                "event" => json!({"type": "event", "name": event.unwrap_or_default().trim()}),
                "repeat_among_purchasers" => json!({"type": "repeat_purchase", "among_purchasers": true}),
                other => json!({"type": other}),
            };
            let window: u32 = window_days
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("window_days: a whole number of days, e.g. 14"))?;
            let cap_value = || -> Result<f64, AppError> {
                cap.as_deref()
                    .map(str::trim)
                    .and_then(|c| c.trim_end_matches('%').parse::<f64>().ok())
                    .ok_or_else(|| AppError::invalid("capping: enter the cap (a number, or a percentile such as 99)"))
            };
            let capping = match capping.as_str() {
                "absolute" => json!({"type": "absolute", "cap": cap_value()?}),
                "percentile" => json!({"type": "percentile", "percentile": cap_value()? / 100.0, "ignore_zeros": ignore_zeros.is_some()}),
                _ => Value::Null,
            };
            let body = json!({
                "key": key.trim(), "name": name.trim(), "description": description.trim(), "measure": measure,
                "window_days": window, "capping": capping, "higher_is_better": lower_is_better.is_none(),
            });
            crate::services::metrics::create(&state.db, &caller, body).await
        }
        .await,
    )
}

/// What a metric measures, in words.
pub fn describe(spec: &MetricSpec, signals: &[(String, String)]) -> String {
    let window = spec.window_days;
    let what = match &spec.measure {
        Measure::Purchase => "share of units that order".to_string(),
        Measure::Signal { key } => {
            let name = signals.iter().find(|(k, _)| k == key).map_or(key.as_str(), |(_, n)| n.as_str());
            format!("share of units with the signal “{name}”")
        }
        Measure::Event { name } => format!("share of units sending “{name}”"),
        Measure::Revenue => "revenue per unit".into(),
        Measure::Orders => "orders per unit".into(),
        Measure::AverageOrderValue => "revenue per order".into(),
        Measure::RepeatPurchase { among_purchasers: false } => "share of units ordering twice or more".into(),
        Measure::RepeatPurchase { among_purchasers: true } => "share of purchasers ordering again".into(),
        Measure::LifetimeValue => return format!("revenue per unit {window} days after exposure (mature units only)"),
    };
    format!("{what}, within {window} days of exposure")
}

fn describe_capping(capping: Option<Capping>) -> String {
    match capping {
        None => "—".into(),
        Some(Capping::Absolute { cap }) => format!("at {cap}"),
        Some(Capping::Percentile { percentile, ignore_zeros }) => {
            format!(
                "at the {:.1}th percentile{}",
                percentile * 100.0,
                if ignore_zeros { " of non-zero values" } else { "" }
            )
        }
    }
}

#[component]
pub fn MetricsPage() -> impl IntoView {
    let save = ServerAction::<SaveMetric>::new();
    let library = Resource::new(move || save.version().get(), |_| load_metrics());
    // The form reads the signals once: refetching the table after a save must not rebuild the form under the
    // person typing in it.
    let signals = Resource::new(|| (), |_| async { load_metrics().await.map(|l| l.signals) });
    view! {
        <Title text="Metrics" />
        <header class="page-header">
            <h1>"Metrics"</h1>
            <p class="lead">"What experiments are judged by: conversions, values per unit, ratios and lifetime value, each in a window after a unit's first exposure."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match library.await {
                    Ok(library) => view! { <MetricTable library /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
        <Suspense>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                signals.await.ok().filter(|_| editable).map(|signals| view! { <MetricForm save signals /> })
            })}
        </Suspense>
    }
}

#[component]
fn MetricTable(library: MetricsData) -> impl IntoView {
    view! {
        <section class="card">
            <div class="table-wrap">
                <table class="data" data-testid="metrics-table">
                    <thead><tr><th>"Metric"</th><th>"Measures"</th><th>"Capping"</th><th>"Better when"</th><th>"Changed"</th></tr></thead>
                    <tbody>
                        {library.metrics.iter().map(|m| view! {
                            <tr>
                                <td><strong>{m.spec.name.clone()}</strong><br/><code>{m.spec.key.clone()}</code></td>
                                <td>{describe(&m.spec, &library.signals)}<br/><span class="muted">{m.spec.description.clone()}</span></td>
                                <td>{describe_capping(m.spec.capping)}</td>
                                <td>{if m.spec.higher_is_better { "higher" } else { "lower" }}</td>
                                <td>{format_time(&m.updated_at)} <span class="muted">{format!(" by {}", m.updated_by)}</span></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn MetricForm(save: ServerAction<SaveMetric>, signals: Vec<(String, String)>) -> impl IntoView {
    let measure = RwSignal::new("purchase".to_string());
    let capping = RwSignal::new("none".to_string());
    let signals = StoredValue::new(signals);
    view! {
        <section class="card">
            <h2>"Add a metric"</h2>
            <ActionForm action=save attr:class="stack" attr:data-testid="metric-form">
                <div class="form-row">
                    <label>"Key" <input type="text" name="metric[key]" required placeholder="video-75" /></label>
                    <label>"Name" <input type="text" name="metric[name]" required placeholder="Watched a product video" /></label>
                    <label>"Days after exposure" <input type="text" name="metric[window_days]" value="14" inputmode="numeric" /></label>
                </div>
                <label>"Description" <input type="text" name="metric[description]" placeholder="What it tells the team" /></label>
                <div class="form-row">
                    <label>
                        "Measures"
                        <select name="metric[measure]" data-testid="metric-measure" prop:value=move || measure.get() on:change=move |ev| measure.set(event_target_value(&ev))>
                            <option value="purchase">"Purchase (converted: ordered)"</option>
                            <option value="signal">"A signal from the library (converted)"</option>
                            <option value="event">"An event (converted: sent it)"</option>
                            <option value="revenue">"Revenue per unit"</option>
                            <option value="orders">"Orders per unit"</option>
                            <option value="average_order_value">"Average order value (ratio)"</option>
                            <option value="repeat_purchase">"Repeat purchase (of all units)"</option>
                            <option value="repeat_among_purchasers">"Repeat purchase (of purchasers)"</option>
                            <option value="lifetime_value">"Lifetime value at the horizon"</option>
                        </select>
                    </label>
                    <Show when=move || measure.get() == "signal">
                        <label>
                            "Signal"
                            <select name="metric[signal]" data-testid="metric-signal">
                                {signals.get_value().into_iter().map(|(key, name)| view! { <option value=key>{name}</option> }).collect_view()}
                            </select>
                        </label>
                    </Show>
                    <Show when=move || measure.get() == "event">
                        <label>"Event name" <input type="text" name="metric[event]" placeholder="Size Guide Viewed" /></label>
                    </Show>
                </div>
                <div class="form-row">
                    <label>
                        "Outliers"
                        <select name="metric[capping]" prop:value=move || capping.get() on:change=move |ev| capping.set(event_target_value(&ev))>
                            <option value="none">"Not capped"</option>
                            <option value="percentile">"Capped at a percentile"</option>
                            <option value="absolute">"Capped at a value"</option>
                        </select>
                    </label>
                    <Show when=move || capping.get() != "none">
                        <label>
                            {move || if capping.get() == "percentile" { "Percentile (e.g. 99)" } else { "Cap" }}
                            <input type="text" name="metric[cap]" inputmode="decimal" />
                        </label>
                        <label class="checkbox"><input type="checkbox" name="metric[ignore_zeros]" />"Percentile of non-zero values"</label>
                    </Show>
                    <label class="checkbox"><input type="checkbox" name="metric[lower_is_better]" />"Lower is better"</label>
                </div>
                <div><button type="submit" class="primary">"Add metric"</button></div>
            </ActionForm>
            <ActionError result=save.value() />
            {move || save.value().get().and_then(Result::ok).map(|m| view! {
                <p class="alert alert-success" role="status" data-testid="metric-saved">{format!("Metric '{}' saved.", m.spec.name)}</p>
            })}
        </section>
    }
}
