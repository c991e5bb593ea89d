//! The metric library: what experiments are measured by. Everyone reads it; editors add and change metrics.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::format_time;
use crate::domain::stats::metrics::{Capping, Measure, MetricSpec};
use crate::error::AppError;
use crate::model::Metric;
use crate::pages::data::page_data;
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
            let metrics = metrics::list(&state.db, &caller).await?;
            // The signals are for the editor's form: viewers read the definitions without them.
            let signals = if caller.require(crate::domain::access::Access::Write).is_ok() {
                signals::list(&state.db, &caller, &Default::default())
                    .await?
                    .into_iter()
                    .map(|s| (s.spec.key, s.spec.name))
                    .collect()
            } else {
                Vec::new()
            };
            Ok(MetricsData { metrics, signals })
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
    /// The key of the metric being changed; absent when adding one.
    #[serde(default)]
    pub editing: Option<String>,
}

/// Adds a metric from the form's fields, or replaces the definition of the one being edited.
#[server(endpoint = "save_metric")]
pub async fn save_metric(metric: MetricFields) -> Result<Metric, AppError> {
    crate::error::server_result(
        async {
            use serde_json::{json, Value};
            let (state, caller) = crate::pages::context::caller().await?;
            // Before the fields are read: someone who may not change metrics learns nothing about them.
            caller.require(crate::domain::access::Access::Write)?;
            let MetricFields {
                key, name, description, measure, signal, event, window_days, capping, cap, ignore_zeros, lower_is_better,
                editing,
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
            match editing.as_deref().filter(|k| !k.is_empty()) {
                Some(original) => crate::services::metrics::replace(&state.db, &caller, original, body).await,
                None => crate::services::metrics::create(&state.db, &caller, body).await,
            }
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
    let library = page_data(move || save.version().get(), |_| load_metrics());
    // The form reads the signals once: refetching the table after a save must not rebuild the form under the
    // person typing in it.
    let signals = page_data(|| (), |_| async { load_metrics().await.map(|l| l.signals) });
    // The metric being changed in the form (none: the form adds one); a successful save closes the edit.
    let editing = RwSignal::new(None::<Metric>);
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) && editing.get_untracked().is_some() {
            editing.set(None);
        }
    });
    view! {
        <Title text="Metrics" />
        <header class="page-header">
            <h1>"Metrics"</h1>
            <p class="lead">"What experiments are judged by: conversions, values per unit, ratios and lifetime value, each in a window after a unit's first exposure."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                match library.await {
                    Ok(library) => view! { <MetricTable library editing=editable.then_some(editing) /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
        <Suspense>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                signals.await.ok().filter(|_| editable).map(|signals| view! { <MetricEditor save signals editing /> })
            })}
        </Suspense>
    }
}

/// `editing` is given to editors: each row then has a button that opens the metric in the form.
#[component]
fn MetricTable(library: MetricsData, editing: Option<RwSignal<Option<Metric>>>) -> impl IntoView {
    view! {
        <section class="card">
            <div class="table-wrap">
                <table class="data" data-testid="metrics-table">
                    <thead><tr><th>"Metric"</th><th>"Measures"</th><th>"Capping"</th><th>"Better when"</th><th>"Changed"</th>{editing.map(|_| view! { <th></th> })}</tr></thead>
                    <tbody>
                        {library.metrics.iter().map(|m| view! {
                            <tr>
                                <td><strong>{m.spec.name.clone()}</strong><br/><code>{m.spec.key.clone()}</code></td>
                                <td>{describe(&m.spec, &library.signals)}<br/><span class="muted">{m.spec.description.clone()}</span></td>
                                <td>{describe_capping(m.spec.capping)}</td>
                                <td>{if m.spec.higher_is_better { "higher" } else { "lower" }}</td>
                                <td>{format_time(&m.updated_at)} <span class="muted">{format!(" by {}", m.updated_by)}</span></td>
                                {editing.map(|editing| {
                                    let metric = m.clone();
                                    view! {
                                        <td>
                                            <button type="button" class="secondary small" data-testid=format!("edit-metric-{}", m.spec.key)
                                                on:click=move |_| editing.set(Some(metric.clone()))>"Edit"</button>
                                        </td>
                                    }
                                })}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// The form, rebuilt with fresh values whenever another metric is opened (or the edit closes).
#[component]
fn MetricEditor(
    save: ServerAction<SaveMetric>,
    signals: Vec<(String, String)>,
    editing: RwSignal<Option<Metric>>,
) -> impl IntoView {
    move || {
        editing.track();
        view! { <MetricForm save signals=signals.clone() editing /> }
    }
}

/// The form's starting values: empty for a new metric, the definition for one being edited.
struct Prefill {
    key: String,
    name: String,
    description: String,
    window_days: String,
    measure: &'static str,
    signal: String,
    event: String,
    capping: &'static str,
    cap: String,
    ignore_zeros: bool,
    lower_is_better: bool,
}

impl Prefill {
    fn of(metric: Option<&Metric>) -> Self {
        let Some(spec) = metric.map(|m| &m.spec) else {
            return Prefill {
                key: String::new(),
                name: String::new(),
                description: String::new(),
                window_days: "14".into(),
                measure: "purchase",
                signal: String::new(),
                event: String::new(),
                capping: "none",
                cap: String::new(),
                ignore_zeros: false,
                lower_is_better: false,
            };
        };
        let (mut signal, mut event) = (String::new(), String::new());
        let measure = match &spec.measure {
            Measure::Purchase => "purchase",
            Measure::Signal { key } => {
                signal = key.clone();
                "signal"
            }
            Measure::Event { name } => {
                event = name.clone();
                "event"
            }
            Measure::Revenue => "revenue",
            Measure::Orders => "orders",
            Measure::AverageOrderValue => "average_order_value",
            Measure::RepeatPurchase { among_purchasers: false } => "repeat_purchase",
            Measure::RepeatPurchase { among_purchasers: true } => "repeat_among_purchasers",
            Measure::LifetimeValue => "lifetime_value",
        };
        let (capping, cap, ignore_zeros) = match spec.capping {
            None => ("none", String::new(), false),
            Some(Capping::Absolute { cap }) => ("absolute", cap.to_string(), false),
            Some(Capping::Percentile { percentile, ignore_zeros }) => {
                ("percentile", crate::components::percent_input(percentile), ignore_zeros)
            }
        };
        Prefill {
            key: spec.key.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            window_days: spec.window_days.to_string(),
            measure,
            signal,
            event,
            capping,
            cap,
            ignore_zeros,
            lower_is_better: !spec.higher_is_better,
        }
    }
}

#[component]
fn MetricForm(
    save: ServerAction<SaveMetric>,
    signals: Vec<(String, String)>,
    editing: RwSignal<Option<Metric>>,
) -> impl IntoView {
    let original = editing.get_untracked();
    let start = Prefill::of(original.as_ref());
    let editing_key = original.as_ref().map(|m| m.spec.key.clone());
    let measure = RwSignal::new(start.measure.to_string());
    let capping = RwSignal::new(start.capping.to_string());
    let signals = StoredValue::new(signals);
    let chosen_signal = start.signal.clone();
    view! {
        <section class="card" data-testid="metric-form-card">
            <h2>{match &editing_key { Some(key) => format!("Change metric '{key}'"), None => "Add a metric".to_string() }}</h2>
            {editing_key.is_some().then(|| view! {
                <p class="muted">"Experiments measured by this metric are analysed with the new definition from now on; concluded playbook entries keep their frozen results."</p>
            })}
            <ActionForm action=save attr:class="stack" attr:data-testid="metric-form">
                <input type="hidden" name="metric[editing]" value=editing_key.clone().unwrap_or_default() />
                <div class="form-row">
                    <label>"Key" <input type="text" name="metric[key]" required placeholder="video-75" value=start.key readonly=editing_key.is_some() /></label>
                    <label>"Name" <input type="text" name="metric[name]" required placeholder="Watched a product video" value=start.name /></label>
                    <label>"Days after exposure" <input type="text" name="metric[window_days]" value=start.window_days inputmode="numeric" /></label>
                </div>
                <label>"Description" <input type="text" name="metric[description]" placeholder="What it tells the team" value=start.description /></label>
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
                                {signals.get_value().into_iter().map(|(key, name)| {
                                    let selected = key == chosen_signal;
                                    view! { <option value=key selected=selected>{name}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    </Show>
                    <Show when=move || measure.get() == "event">
                        <label>"Event name" <input type="text" name="metric[event]" placeholder="Size Guide Viewed" value=start.event.clone() /></label>
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
                            <input type="text" name="metric[cap]" inputmode="decimal" value=start.cap.clone() />
                        </label>
                        <label class="checkbox"><input type="checkbox" name="metric[ignore_zeros]" checked=start.ignore_zeros />"Percentile of non-zero values"</label>
                    </Show>
                    <label class="checkbox"><input type="checkbox" name="metric[lower_is_better]" checked=start.lower_is_better />"Lower is better"</label>
                </div>
                <div class="button-row">
                    <button type="submit" class="primary">{if editing_key.is_some() { "Save changes" } else { "Add metric" }}</button>
                    {editing_key.is_some().then(|| view! {
                        <button type="button" class="secondary" data-testid="cancel-edit" on:click=move |_| editing.set(None)>"Cancel"</button>
                    })}
                </div>
            </ActionForm>
            <ActionError result=save.value() />
            {move || save.value().get().and_then(Result::ok).map(|m| view! {
                <p class="alert alert-success" role="status" data-testid="metric-saved">{format!("Metric '{}' saved.", m.spec.name)}</p>
            })}
        </section>
    }
}
