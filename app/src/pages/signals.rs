//! The signal library: the table of micro-conversions in funnel order with their recent volume, ingestion health,
//! and the editor (rule, weight, stage, channels, schema) with a live preview of what a rule would have matched.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::{format_time, stage_badge};
use crate::domain::signals::{SignalSpec, SignalStatus};
use crate::error::AppError;
use crate::model::{IngestStats, Preview, Signal, VolumePoint, WriterStats};
use crate::pages::data::page_data;
use crate::pages::experiment_form::json_text;
use crate::pages::experiments::can_edit;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Days of volume the library's sparklines show.
const SPARKLINE_DAYS: i64 = 14;

/// Channels offered in filters and the editor (a sender may use others; they still match "all channels").
pub const CHANNELS: &[&str] = &["web", "app", "email", "ads", "social", "sms", "store", "server"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryData {
    pub signals: Vec<Signal>,
    pub volume: BTreeMap<String, Vec<VolumePoint>>,
    pub stages: Vec<String>,
    pub ingest: IngestStats,
    /// The server's date: sparklines end there (the browser has no clock the wasm bundle may read).
    pub today: chrono::NaiveDate,
}

#[server(endpoint = "signal_library")]
pub async fn signal_library(stage: String, channel: String, status: String) -> Result<LibraryData, AppError> {
    crate::error::server_result(
        async {
            use crate::services::{profiles, signals};
            let (state, caller) = crate::pages::context::caller().await?;
            let filter = signals::SignalFilter { stage: Some(stage), channel: Some(channel), status: Some(status) };
            Ok(LibraryData {
                signals: signals::list(&state.db, &caller, &filter).await?,
                volume: signals::volume(&state.db, &caller, None, SPARKLINE_DAYS).await?,
                stages: signals::intent_config(&state.db).await?.stage_names(),
                ingest: profiles::ingest_stats(&state, &caller, Some(48)).await?,
                today: chrono::Utc::now().date_naive(),
            })
        }
        .await,
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalData {
    /// None for a new signal.
    pub signal: Option<Signal>,
    pub stages: Vec<String>,
    pub volume: Vec<VolumePoint>,
    pub today: chrono::NaiveDate,
}

#[server(endpoint = "signal_detail")]
pub async fn signal_detail(key: Option<String>) -> Result<SignalData, AppError> {
    crate::error::server_result(
        async {
            use crate::services::signals;
            let (state, caller) = crate::pages::context::caller().await?;
            let stages = signals::intent_config(&state.db).await?.stage_names();
            let today = chrono::Utc::now().date_naive();
            let Some(key) = key else { return Ok(SignalData { signal: None, stages, volume: Vec::new(), today }) };
            let signal = signals::get(&state.db, &caller, &key).await?;
            let mut volume = signals::volume(&state.db, &caller, Some(&key), 30).await?;
            Ok(SignalData { signal: Some(signal), stages, volume: volume.remove(&key).unwrap_or_default(), today })
        }
        .await,
    )
}

/// Creates a signal (`original_key` empty) or applies the editor's values to one, then shows it.
#[server(endpoint = "save_signal")]
pub async fn save_signal(original_key: Option<String>, spec: String) -> Result<Signal, AppError> {
    crate::error::server_result(
        async {
            use crate::services::signals;
            let (state, caller) = crate::pages::context::caller().await?;
            let body: Value =
                serde_json::from_str(&spec).map_err(|e| AppError::invalid(format!("invalid form data: {e}")))?;
            let saved = match original_key.filter(|k| !k.is_empty()) {
                None => signals::create(&state, &caller, body).await?,
                Some(key) => signals::replace(&state, &caller, &key, body).await?,
            };
            leptos_axum::redirect(&format!("/signals/{}", saved.spec.key));
            Ok(saved)
        }
        .await,
    )
}

#[server(endpoint = "change_signal_status")]
pub async fn change_signal_status(key: String, status: String) -> Result<Signal, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let status =
                SignalStatus::parse(&status).ok_or_else(|| AppError::invalid(format!("unknown status '{status}'")))?;
            crate::services::signals::set_status(&state, &caller, &key, status).await
        }
        .await,
    )
}

#[server(endpoint = "preview_signal")]
pub async fn preview_signal(spec: String) -> Result<Preview, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let body: Value =
                serde_json::from_str(&spec).map_err(|e| AppError::invalid(format!("invalid rule: {e}")))?;
            crate::services::signals::preview(&state.db, &caller, body).await
        }
        .await,
    )
}

fn status_badge(status: SignalStatus) -> impl IntoView {
    let class = match status {
        SignalStatus::Active => "badge ok",
        SignalStatus::Deprecated => "badge neutral",
    };
    view! { <span class=class data-testid="signal-status">{status.as_str()}</span> }
}

/// A rule in words: `Video Watched where {"percent":{"$gte":75}}, again after 60 min within 7 days`.
pub fn rule_summary(spec: &SignalSpec) -> String {
    use crate::domain::signals::RuleKind;
    let mut text = match (spec.rule.kind, spec.rule.event.is_empty()) {
        (RuleKind::Track, _) => spec.rule.event.clone(),
        (RuleKind::View, true) => "any page or screen view".to_string(),
        (RuleKind::View, false) => format!("view of “{}”", spec.rule.event),
    };
    if let Some(conditions) = &spec.rule.conditions {
        text.push_str(&format!(" where {conditions}"));
    }
    if let Some(repeat) = spec.rule.repeat {
        text.push_str(&format!(", again after {} min within {} days", repeat.after_minutes, repeat.within_days));
    }
    text
}

/// Daily totals over the last `days` days (oldest first) and a per-channel breakdown, for a sparkline.
fn daily_totals(points: &[VolumePoint], days: i64, today: chrono::NaiveDate) -> (Vec<i64>, BTreeMap<String, i64>) {
    let mut totals = vec![0; days as usize];
    let mut channels = BTreeMap::new();
    for point in points {
        let age = (today - point.day).num_days();
        if (0..days).contains(&age) {
            totals[(days - 1 - age) as usize] += point.matches;
            *channels.entry(point.channel.clone()).or_insert(0) += point.matches;
        }
    }
    (totals, channels)
}

#[component]
fn Sparkline(points: Vec<VolumePoint>, days: i64, today: chrono::NaiveDate) -> impl IntoView {
    let (totals, channels) = daily_totals(&points, days, today);
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (width, height) = (112.0, 24.0);
    let step = width / (days - 1).max(1) as f64;
    let path: String = totals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                i as f64 * step,
                height - 2.0 - (*v as f64 / max) * (height - 4.0)
            )
        })
        .collect();
    let total: i64 = totals.iter().sum();
    let breakdown = if channels.is_empty() {
        "no matches".to_string()
    } else {
        channels.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(" · ")
    };
    let title = format!("{total} matches in {days} days: {breakdown}");
    let label = title.clone();
    view! {
        <div class="sparkline" title=title data-testid="sparkline">
            <svg viewBox=format!("0 0 {width} {height}") width=width height=height role="img" aria-label=label>
                <path d=path fill="none" stroke="currentColor" stroke-width="1.5" />
            </svg>
            <span class="muted small">{total}" · "{breakdown}</span>
        </div>
    }
}

#[component]
pub fn SignalsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        (q.get("stage").unwrap_or_default(), q.get("channel").unwrap_or_default(), q.get("status").unwrap_or_default())
    };
    let library = page_data(filter, |(stage, channel, status)| signal_library(stage, channel, status));
    view! {
        <Title text="Signals" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let new_button = can_edit().await.then(|| view! {
                    <div class="actions"><a class="button primary" href="/signals/new">"New signal"</a></div>
                });
                let (stage, channel, status) = filter();
                let body = match library.await {
                    Ok(library) => view! { <LibraryView library stage channel status /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                };
                view! {
                    <header class="page-header">
                        <h1>"Signals"</h1>
                        <p class="lead">"The micro-conversions that show intent, their weight and stage in the funnel."</p>
                        {new_button}
                    </header>
                    {body}
                }
            })}
        </Transition>
    }
}

#[component]
fn LibraryView(library: LibraryData, stage: String, channel: String, status: String) -> impl IntoView {
    let LibraryData { signals, volume, stages, ingest, today } = library;
    let option = |value: &str, selected: &str| {
        let value = value.to_string();
        view! { <option value=value.clone() selected=value == selected>{value.clone()}</option> }
    };
    let rows = if signals.is_empty() {
        view! { <p class="empty">"No signal matches these filters."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="data" data-testid="signals-table">
                    <thead><tr><th>"Signal"</th><th>"Stage"</th><th>"Weight"</th><th>"Rule"</th><th>"Channels"</th><th>"Status"</th><th>"Last 14 days"</th></tr></thead>
                    <tbody>
                        {signals.into_iter().map(|s| {
                            let points = volume.get(&s.spec.key).cloned().unwrap_or_default();
                            let channels = if s.spec.channels.is_empty() { "all".to_string() } else { s.spec.channels.join(", ") };
                            view! {
                                <tr data-key=s.spec.key.clone()>
                                    <td><a href=format!("/signals/{}", s.spec.key)><strong>{s.spec.name.clone()}</strong></a><br/><code>{s.spec.key.clone()}</code>" v"{s.version}</td>
                                    <td>{stage_badge(&s.spec.stage)}</td>
                                    <td>{s.spec.weight}</td>
                                    <td class="small">{rule_summary(&s.spec)}</td>
                                    <td>{channels}</td>
                                    <td>{status_badge(s.status)}</td>
                                    <td><Sparkline points days=SPARKLINE_DAYS today /></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }.into_any()
    };
    view! {
        <section class="card">
            <form method="get" class="form-row" data-testid="signal-filters">
                <label>"Stage"
                    <select name="stage">
                        <option value="">"all stages"</option>
                        {stages.iter().map(|s| option(s, &stage)).collect_view()}
                    </select>
                </label>
                <label>"Channel"
                    <select name="channel">
                        <option value="">"all channels"</option>
                        {CHANNELS.iter().map(|c| option(c, &channel)).collect_view()}
                    </select>
                </label>
                <label>"Status"
                    <select name="status">
                        <option value="">"any status"</option>
                        {["active", "deprecated"].iter().map(|s| option(s, &status)).collect_view()}
                    </select>
                </label>
                <button type="submit" class="secondary">"Filter"</button>
            </form>
            {rows}
        </section>
        <IngestSummary stats=ingest />
    }
}

#[component]
fn IngestSummary(stats: IngestStats) -> impl IntoView {
    let total = |name: &str| stats.totals.get(name).copied().unwrap_or(0);
    let figures = [
        ("accepted", "accepted"),
        ("duplicates", "duplicates (retries)"),
        ("rejected", "rejected"),
        ("consent_dropped", "not stored: no consent"),
        ("opted_out", "not stored: opted out"),
        ("schema_violations", "schema violations"),
    ];
    let rejected = if stats.rejected.is_empty() {
        None
    } else {
        Some(stats.rejected.iter().map(|(code, n)| format!("{code}: {n}")).collect::<Vec<_>>().join(" · "))
    };
    view! {
        <section class="card" data-testid="ingest-summary">
            <h2>"Ingestion, last 48 hours"</h2>
            <div class="figures">
                {figures.into_iter().map(|(name, label)| view! {
                    <div class="figure" data-metric=name><strong>{total(name)}</strong><span class="muted">{label}</span></div>
                }).collect_view()}
            </div>
            {rejected.map(|text| view! { <p class="muted small">"Rejected by reason: "{text}</p> })}
            <p class="muted small">{format!("{} events waiting to be committed; {} sources.", stats.in_flight, stats.sources.len())}</p>
            <p class="muted small" data-testid="ingest-writer">{writer_summary(&stats.writer)}</p>
        </section>
    }
}

/// The ingest writer's work since the instance started, for whoever wonders whether ingestion keeps up.
fn writer_summary(writer: &WriterStats) -> String {
    if writer.groups == 0 {
        return "No events committed since this instance started.".into();
    }
    format!(
        "Since this instance started: {} events in {} transactions, {:.1} ms per transaction; a request waited {:.1} ms \
         on average for its transaction to begin.",
        writer.events,
        writer.groups,
        writer.ms_per_transaction(),
        writer.mean_queued_ms(),
    )
}

/// The editor's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalForm {
    pub key: String,
    pub name: String,
    pub description: String,
    pub stage: String,
    pub weight: String,
    /// "track" or "view".
    pub kind: String,
    pub event: String,
    pub conditions: String,
    pub repeat_after_minutes: String,
    pub repeat_within_days: String,
    pub channels: Vec<String>,
    pub owner: String,
    pub properties_schema: String,
}

impl SignalForm {
    pub fn from_spec(spec: &SignalSpec) -> Self {
        use crate::domain::signals::RuleKind;
        SignalForm {
            key: spec.key.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            stage: spec.stage.clone(),
            weight: spec.weight.to_string(),
            kind: if spec.rule.kind == RuleKind::View { "view".into() } else { "track".into() },
            event: spec.rule.event.clone(),
            conditions: spec.rule.conditions.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            repeat_after_minutes: spec.rule.repeat.map(|r| r.after_minutes.to_string()).unwrap_or_default(),
            repeat_within_days: spec.rule.repeat.map(|r| r.within_days.to_string()).unwrap_or_default(),
            channels: spec.channels.clone(),
            owner: spec.owner.clone(),
            properties_schema: if spec.properties_schema.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&spec.properties_schema).unwrap_or_default()
            },
        }
    }

    /// The signal as the API takes it, or every problem a person can fix before sending (the server checks again).
    pub fn to_spec(&self, stages: &[String]) -> Result<Value, Vec<String>> {
        let mut problems = Vec::new();
        let number = |field: &str, text: &str, problems: &mut Vec<String>| -> Option<f64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse::<f64>().ok().filter(|v| v.is_finite()).or_else(|| {
                problems.push(format!("{field}: '{text}' is not a number"));
                None
            })
        };
        let weight = number("weight", &self.weight, &mut problems);
        if weight.is_none() && self.weight.trim().is_empty() {
            problems.push("weight: is required".into());
        }
        let conditions = json_text("conditions", &self.conditions, &mut problems);
        let schema = match json_text("property schema", &self.properties_schema, &mut problems) {
            Value::Null => json!({}),
            schema => schema,
        };
        let after = number("repeat after (minutes)", &self.repeat_after_minutes, &mut problems);
        let within = number("repeat within (days)", &self.repeat_within_days, &mut problems);
        let repeat = match (after, within) {
            (None, None) => Value::Null,
            (after, Some(within)) => json!({"after_minutes": after.unwrap_or(0.0), "within_days": within}),
            (Some(_), None) => {
                problems.push("repeat: give the window (within days) as well".into());
                Value::Null
            }
        };
        let mut rule = Map::new();
        rule.insert("type".into(), json!(if self.kind == "view" { "view" } else { "track" }));
        rule.insert("event".into(), json!(self.event.trim()));
        rule.insert("conditions".into(), conditions);
        rule.insert("repeat".into(), repeat);
        let spec = json!({
            "key": self.key.trim(),
            "name": self.name.trim(),
            "description": self.description.trim(),
            "stage": self.stage.trim(),
            "weight": weight.unwrap_or(0.0),
            "rule": Value::Object(rule),
            "channels": self.channels,
            "owner": self.owner.trim(),
            "properties_schema": schema,
        });
        if problems.is_empty() {
            // The same checks the server makes, in the browser, with the same words.
            let mut strict = spec.clone();
            for field in ["conditions", "repeat"] {
                if strict["rule"][field].is_null() {
                    strict["rule"].as_object_mut().map(|r| r.remove(field));
                }
            }
            match serde_json::from_value::<SignalSpec>(strict) {
                Ok(parsed) => {
                    if let Err(found) = parsed.normalized().validate(stages) {
                        problems.extend(found.0);
                    }
                }
                Err(e) => problems.push(format!("invalid signal: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(problems)
        }
    }
}

#[component]
pub fn NewSignalPage() -> impl IntoView {
    view! { <SignalDetailPage key=None /> }
}

#[component]
pub fn SignalPage() -> impl IntoView {
    let params = use_params_map();
    let key = Memo::new(move |_| params.read().get("key"));
    view! { {move || view! { <SignalDetailPage key=key.get() /> }} }
}

#[component]
fn SignalDetailPage(key: Option<String>) -> impl IntoView {
    let change_status = ServerAction::<ChangeSignalStatus>::new();
    // Saving redirects to the signal's page, which for an existing signal is this page: refetch after each save.
    let save = ServerAction::<SaveSignal>::new();
    // Only successful changes refetch: a refused save keeps what the person typed, with the reason shown.
    let succeeded = RwSignal::new(0u32);
    Effect::new(move |_| {
        let saved = save.value().with(|v| matches!(v, Some(Ok(_))));
        let changed = change_status.value().with(|v| matches!(v, Some(Ok(_))));
        if saved || changed {
            succeeded.update(|n| *n += 1);
        }
    });
    let detail = page_data(move || (key.clone(), succeeded.get()), |(key, _)| signal_detail(key));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                match detail.await {
                    Ok(detail) => view! { <SignalView detail editable change_status save /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SignalView(
    detail: SignalData,
    editable: bool,
    change_status: ServerAction<ChangeSignalStatus>,
    save: ServerAction<SaveSignal>,
) -> impl IntoView {
    let SignalData { signal, stages, volume, today } = detail;
    let title = signal.as_ref().map(|s| s.spec.name.clone()).unwrap_or_else(|| "New signal".into());
    let header = match &signal {
        Some(s) => {
            let key = s.spec.key.clone();
            let (next, label) = match s.status {
                SignalStatus::Active => ("deprecated", "Deprecate"),
                SignalStatus::Deprecated => ("active", "Reactivate"),
            };
            let toggle = editable.then(|| view! {
                <div class="actions">
                    <button class="secondary" data-testid="toggle-status"
                        on:click=move |_| { change_status.dispatch(ChangeSignalStatus { key: key.clone(), status: next.into() }); }>
                        {label}
                    </button>
                </div>
            });
            view! {
                <header class="page-header">
                    <h1>{s.spec.name.clone()}</h1>
                    <p class="lead">
                        <code>{s.spec.key.clone()}</code>" · version "<strong data-testid="signal-version">{s.version}</strong>" · "
                        {status_badge(s.status)}" · "{stage_badge(&s.spec.stage)}
                    </p>
                    {toggle}
                </header>
            }.into_any()
        }
        None => view! { <header class="page-header"><h1>"New signal"</h1><p class="lead">"A micro-conversion: what it matches, what it is worth, where in the funnel it belongs."</p></header> }.into_any(),
    };
    let history = signal.clone().map(|s| {
        view! {
            <section class="card">
                <h2>"Matches, last 30 days"</h2>
                <Sparkline points=volume.clone() days=30 today />
            </section>
            <section class="card">
                <h2>"Versions"</h2>
                <ol class="history" data-testid="signal-versions">
                    {s.versions.iter().rev().map(|v| view! {
                        <li><strong>"v"{v.version}</strong>" · "{rule_summary(&v.spec)}" · weight "{v.spec.weight}" · "{v.spec.stage.clone()}
                            <span class="muted">" — "{v.created_by.clone()}", "{format_time(&v.created_at)}</span></li>
                    }).collect_view()}
                </ol>
                <h2>"Changes"</h2>
                <ol class="history">
                    {s.history.iter().map(|c| view! {
                        <li><strong>{c.action.clone()}</strong>" by "{c.actor.clone()}<span class="muted">", "{format_time(&c.at)}</span>
                            {(!c.detail.as_object().is_some_and(|d| d.is_empty())).then(|| view! { <code class="small">{c.detail.to_string()}</code> })}</li>
                    }).collect_view()}
                </ol>
            </section>
        }
    });
    let form = if editable {
        view! { <SignalEditor signal=signal.clone() stages save /> }.into_any()
    } else {
        signal
            .as_ref()
            .map(|s| view! { <section class="card"><h2>"Rule"</h2><p>{rule_summary(&s.spec)}</p><p class="muted">{s.spec.description.clone()}</p></section> }.into_any())
            .unwrap_or_else(|| view! { <p class="alert alert-warning">"Only editors can create signals."</p> }.into_any())
    };
    view! {
        <Title text=title />
        {header}
        <ActionError result=change_status.value() />
        {form}
        {history}
    }
}

#[component]
fn SignalEditor(signal: Option<Signal>, stages: Vec<String>, save: ServerAction<SaveSignal>) -> impl IntoView {
    let is_new = signal.is_none();
    let original_key = signal.as_ref().map(|s| s.spec.key.clone());
    let initial = signal.as_ref().map(|s| SignalForm::from_spec(&s.spec)).unwrap_or_else(|| SignalForm {
        stage: stages.first().cloned().unwrap_or_default(),
        weight: "1".into(),
        kind: "track".into(),
        ..SignalForm::default()
    });
    let form = RwSignal::new(initial);
    let stages = StoredValue::new(stages);
    let checked = Memo::new(move |_| form.with(|f| stages.with_value(|s| f.to_spec(s))));
    let problems = move || checked.with(|c| c.as_ref().err().cloned().unwrap_or_default());
    // The preview follows the rule as typed, once it is valid (the key and name may still be missing).
    let rule = Memo::new(move |_| {
        form.with(|f| {
            let mut draft = f.clone();
            if draft.key.trim().is_empty() {
                draft.key = "rule-preview".into();
            }
            if draft.name.trim().is_empty() {
                draft.name = "preview".into();
            }
            stages.with_value(|s| draft.to_spec(s)).ok().map(|spec| spec.to_string())
        })
    });
    // Ask the server once typing pauses, not at every keystroke.
    let settled_rule = RwSignal::new(rule.get_untracked());
    Effect::new(move |_| {
        let typed = rule.get();
        // The editor may be gone when the timer fires (saved, navigated away): then there is nothing to do.
        leptos::leptos_dom::helpers::set_timeout(
            move || {
                let (Some(current), Some(settled)) = (rule.try_get_untracked(), settled_rule.try_get_untracked())
                else {
                    return;
                };
                if current == typed && settled != typed {
                    settled_rule.try_set(typed);
                }
            },
            std::time::Duration::from_millis(400),
        );
    });
    let preview = page_data(
        move || settled_rule.get(),
        |spec| async move {
            match spec {
                Some(spec) => Some(preview_signal(spec).await),
                None => None,
            }
        },
    );
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Ok(spec) = checked.get_untracked() {
            save.dispatch(SaveSignal { original_key: original_key.clone(), spec: spec.to_string() });
        }
    };
    let text = move |label: &'static str,
                     get: fn(&SignalForm) -> String,
                     set: fn(&mut SignalForm, String),
                     placeholder: &'static str,
                     disabled: bool| {
        view! {
            <label>
                {label}
                <input type="text" prop:value=move || form.with(get) placeholder=placeholder disabled=disabled
                    on:input=move |ev| form.update(|f| set(f, event_target_value(&ev))) />
            </label>
        }
    };
    view! {
        <form class="stack" on:submit=submit data-testid="signal-form">
            <section class="card">
                <h2>"Signal"</h2>
                <div class="form-row">
                    {text("Key", |f| f.key.clone(), |f, v| f.key = v, "e.g. gift-wrap", !is_new)}
                    {text("Name", |f| f.name.clone(), |f, v| f.name = v, "Gift wrap chosen", false)}
                    {text("Owner", |f| f.owner.clone(), |f, v| f.owner = v, "growth team", false)}
                </div>
                <label>
                    "Description"
                    <textarea prop:value=move || form.with(|f| f.description.clone()) on:input=move |ev| form.update(|f| f.description = event_target_value(&ev))></textarea>
                </label>
                <div class="form-row">
                    <label>
                        "Stage"
                        <select name="stage" prop:value=move || form.with(|f| f.stage.clone()) on:change=move |ev| form.update(|f| f.stage = event_target_value(&ev))>
                            {stages.get_value().into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    {text("Weight (0–100)", |f| f.weight.clone(), |f, v| f.weight = v, "3", false)}
                </div>
            </section>
            <section class="card">
                <h2>"Rule"</h2>
                <div class="form-row">
                    <label>
                        "Matches"
                        <select name="kind" prop:value=move || form.with(|f| f.kind.clone()) on:change=move |ev| form.update(|f| f.kind = event_target_value(&ev))>
                            <option value="track">"a tracked event"</option>
                            <option value="view">"a page or screen view"</option>
                        </select>
                    </label>
                    {text("Event (or page name)", |f| f.event.clone(), |f, v| f.event = v, "Video Watched", false)}
                </div>
                <label>
                    "Conditions on properties (JSON, targeting syntax)"
                    <textarea name="conditions" prop:value=move || form.with(|f| f.conditions.clone()) on:input=move |ev| form.update(|f| f.conditions = event_target_value(&ev))
                        placeholder="{\"percent\": {\"$gte\": 75}}"></textarea>
                </label>
                <div class="form-row">
                    {text("Again after (minutes)", |f| f.repeat_after_minutes.clone(), |f, v| f.repeat_after_minutes = v, "60 (optional)", false)}
                    {text("…within (days)", |f| f.repeat_within_days.clone(), |f, v| f.repeat_within_days = v, "7 (optional)", false)}
                </div>
                <fieldset class="channels">
                    <legend>"Channels (none checked: all)"</legend>
                    {CHANNELS.iter().map(|channel| {
                        let channel = channel.to_string();
                        let name = channel.clone();
                        let label = channel.clone();
                        view! {
                            <label class="inline">
                                <input type="checkbox" value=channel.clone()
                                    prop:checked=move || form.with(|f| f.channels.contains(&name))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let channel = channel.clone();
                                        form.update(|f| {
                                            f.channels.retain(|c| *c != channel);
                                            if on { f.channels.push(channel); f.channels.sort(); }
                                        });
                                    } />
                                {label}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <label>
                    "Property schema (JSON: name → {\"type\", \"required\"})"
                    <textarea name="schema" prop:value=move || form.with(|f| f.properties_schema.clone()) on:input=move |ev| form.update(|f| f.properties_schema = event_target_value(&ev))
                        placeholder="{\"percent\": {\"type\": \"number\", \"required\": true}}"></textarea>
                </label>
                <div class="preview" data-testid="signal-preview">
                    <Transition fallback=|| view! { <span class="muted">"Counting…"</span> }>
                        {move || Suspend::new(async move {
                            match preview.await {
                                None => view! { <span class="muted">"Complete the rule to see how many units it matched."</span> }.into_any(),
                                Some(Ok(p)) => {
                                    let channels = p.by_channel.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(" · ");
                                    view! {
                                        <span><strong data-testid="preview-units">{p.units}</strong>" units matched this rule in the last 7 days ("
                                            {p.matches}" matches"{(!channels.is_empty()).then(|| format!(": {channels}"))}")"
                                            {p.truncated.then_some(" — at least; too many events to count them all")}</span>
                                    }.into_any()
                                }
                                Some(Err(error)) => view! { <span class="error">{error.public_message()}</span> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </section>
            <Show when=move || !problems().is_empty()>
                <div class="alert alert-warning" data-testid="form-problems">
                    <ul>{move || problems().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                </div>
            </Show>
            <ActionError result=save.value() />
            <div>
                <button type="submit" class="primary" disabled=move || save.pending().get() || checked.with(|c| c.is_err())>
                    {if is_new { "Create signal" } else { "Save changes" }}
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signals::{starter_library, IntentConfig};

    #[test]
    fn the_form_round_trips_every_starter_signal() {
        let stages = IntentConfig::default().stage_names();
        for spec in starter_library() {
            let json = SignalForm::from_spec(&spec).to_spec(&stages).unwrap_or_else(|p| panic!("{}: {p:?}", spec.key));
            let mut back: SignalSpec = serde_json::from_value({
                let mut j = json;
                for field in ["conditions", "repeat"] {
                    if j["rule"][field].is_null() {
                        j["rule"].as_object_mut().unwrap().remove(field);
                    }
                }
                j
            })
            .unwrap();
            back = back.normalized();
            assert_eq!(back, spec.clone().normalized(), "{}", spec.key);
        }
    }

    #[test]
    fn problems_are_listed_before_sending() {
        let stages = IntentConfig::default().stage_names();
        let form = SignalForm {
            key: "Bad Key".into(),
            name: "X".into(),
            stage: "curiosity".into(),
            weight: "lots".into(),
            kind: "track".into(),
            conditions: "{oops".into(),
            ..SignalForm::default()
        };
        let problems = form.to_spec(&stages).unwrap_err().join("\n");
        assert!(problems.contains("weight: 'lots' is not a number"), "{problems}");
        assert!(problems.contains("conditions: not valid JSON"), "{problems}");
        let form = SignalForm { weight: "500".into(), conditions: String::new(), ..form };
        let problems = form.to_spec(&stages).unwrap_err().join("\n");
        assert!(problems.contains("weight must be between 0 and 100"), "{problems}");
        assert!(problems.contains("rule.event is required"), "{problems}");
    }

    #[test]
    fn sparklines_sum_days_and_channels() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let point = |days_ago: i64, channel: &str, matches| VolumePoint {
            day: today - chrono::Duration::days(days_ago),
            channel: channel.into(),
            matches,
        };
        let (totals, channels) = daily_totals(
            &[point(0, "web", 3), point(0, "app", 2), point(13, "web", 1), point(20, "web", 9)],
            14,
            today,
        );
        assert_eq!(totals.len(), 14);
        assert_eq!((totals[13], totals[0]), (5, 1));
        assert_eq!(channels.get("web"), Some(&4));
    }
}
