//! Creating and editing an experiment: the hypothesis builder, variations with live weight checking, and the
//! advanced settings (coverage, hashing, targeting, namespace). Once an experiment has started, everything but
//! name, description and coverage is locked (pre-registration), and the form shows those fields read-only.

use crate::components::feedback::{ActionError, LoadError};
use crate::domain::experiment::{check_key, Direction, ExperimentSpec, Status};
use crate::error::AppError;
use crate::model::Experiment;
use crate::pages::data::page_data;
use crate::pages::experiments::get_experiment;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde_json::{json, Value};

/// Creates an experiment (`original_key` empty) or applies the form's values to an existing one, then goes to its
/// page. `spec` is the experiment as JSON, in the API's shape.
#[server(endpoint = "save_experiment")]
pub async fn save_experiment(original_key: Option<String>, spec: String) -> Result<Experiment, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let body: Value =
                serde_json::from_str(&spec).map_err(|e| AppError::invalid(format!("invalid form data: {e}")))?;
            let saved = match original_key.filter(|k| !k.is_empty()) {
                None => crate::services::experiments::create(&state, &caller, body).await?,
                Some(key) => crate::services::experiments::update(&state, &caller, &key, body).await?,
            };
            leptos_axum::redirect(&format!("/experiments/{}", saved.spec.key));
            Ok(saved)
        }
        .await,
    )
}

/// What the form holds, as typed: percentages and JSON as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormValues {
    pub key: String,
    pub name: String,
    pub description: String,
    pub change: String,
    pub segment: String,
    pub primary_metric: String,
    pub direction: String,
    pub mde_percent: String,
    pub rationale: String,
    /// (key, name, weight in percent, payload JSON)
    pub variations: Vec<(String, String, String, String)>,
    pub coverage_percent: String,
    pub hash_attribute: String,
    pub hash_version: String,
    pub seed: String,
    pub targeting: String,
    pub namespace: String,
    pub namespace_start_percent: String,
    pub namespace_end_percent: String,
    /// Keys from the metric library; an empty primary means none.
    pub metric_primary: String,
    pub metric_secondary: Vec<String>,
    pub metric_guardrails: Vec<String>,
}

fn percent(field: &str, text: &str, problems: &mut Vec<String>) -> Option<f64> {
    let text = text.trim().trim_end_matches('%').trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Some(value / 100.0),
        _ => {
            problems.push(format!("{field}: '{text}' is not a number"));
            None
        }
    }
}

/// A form's JSON field: `Null` when left empty; a parse error becomes a problem named after the field.
pub(crate) fn json_text(field: &str, text: &str, problems: &mut Vec<String>) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|e| {
        problems.push(format!("{field}: not valid JSON ({e})"));
        Value::Null
    })
}

fn text_or_null(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        json!(text.trim())
    }
}

impl FormValues {
    pub fn from_spec(spec: &ExperimentSpec) -> Self {
        let pct = crate::components::percent_input;
        let h = &spec.hypothesis;
        FormValues {
            key: spec.key.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            change: h.change.clone(),
            segment: h.segment.clone(),
            primary_metric: h.primary_metric.clone(),
            direction: match h.direction {
                Some(Direction::Increase) => "increase".into(),
                Some(Direction::Decrease) => "decrease".into(),
                None => String::new(),
            },
            mde_percent: h.mde.map(pct).unwrap_or_default(),
            rationale: h.rationale.clone(),
            variations: spec
                .variations
                .iter()
                .map(|v| {
                    let payload = v.payload.as_ref().map(|p| p.to_string()).unwrap_or_default();
                    (v.key.clone(), v.name.clone(), v.weight.map(pct).unwrap_or_default(), payload)
                })
                .collect(),
            coverage_percent: pct(spec.coverage),
            hash_attribute: spec.hash_attribute.clone(),
            hash_version: spec.hash_version.to_string(),
            seed: spec.seed.clone().unwrap_or_default(),
            targeting: spec.targeting.as_ref().map(|t| t.to_string()).unwrap_or_default(),
            namespace: spec.namespace.as_ref().map(|ns| ns.name.clone()).unwrap_or_default(),
            namespace_start_percent: spec.namespace.as_ref().map(|ns| pct(ns.range.0)).unwrap_or_default(),
            namespace_end_percent: spec.namespace.as_ref().map(|ns| pct(ns.range.1)).unwrap_or_default(),
            metric_primary: spec.metrics.primary.clone().unwrap_or_default(),
            metric_secondary: spec.metrics.secondary.clone(),
            metric_guardrails: spec.metrics.guardrails.clone(),
        }
    }

    /// Sum of the weights typed so far, in percent (None while any is missing).
    pub fn weight_total_percent(&self) -> Option<f64> {
        self.variations.iter().map(|(_, _, w, _)| w.trim().trim_end_matches('%').trim().parse::<f64>().ok()).sum()
    }

    /// The experiment as the API takes it, with explicit nulls for cleared optional fields (so an update removes
    /// them), or the problems a person can fix before sending. The server validates again.
    pub fn to_spec_json(&self) -> Result<Value, Vec<String>> {
        let mut problems = Vec::new();
        if let Err(e) = check_key(self.key.trim()) {
            problems.push(format!("key: {e}"));
        }
        if self.name.trim().is_empty() {
            problems.push("name: is required".into());
        }
        let weights_given = self.variations.iter().filter(|(_, _, w, _)| !w.trim().is_empty()).count();
        if weights_given != 0 && weights_given != self.variations.len() {
            problems.push("variations: give every variation a weight, or none for an equal split".into());
        } else if weights_given != 0 {
            if let Some(total) = self.weight_total_percent() {
                if (total - 100.0).abs() > 1e-4 {
                    problems.push(format!("variations: weights add up to {total} %, not 100 %"));
                }
            }
        }
        let variations: Vec<Value> = self
            .variations
            .iter()
            .enumerate()
            .map(|(i, (key, name, weight, payload))| {
                let mut v = json!({ "key": key.trim(), "name": name.trim() });
                if let Some(w) = percent(&format!("variation {} weight", i + 1), weight, &mut problems) {
                    v["weight"] = json!(w);
                }
                let payload = json_text(&format!("variation {} payload", i + 1), payload, &mut problems);
                if !payload.is_null() {
                    v["payload"] = payload;
                }
                v
            })
            .collect();
        let coverage = percent("coverage", &self.coverage_percent, &mut problems).unwrap_or(1.0);
        let mde = percent("minimum detectable effect", &self.mde_percent, &mut problems);
        let targeting = json_text("targeting", &self.targeting, &mut problems);
        let namespace = if self.namespace.trim().is_empty() {
            Value::Null
        } else {
            let start = percent("namespace start", &self.namespace_start_percent, &mut problems).unwrap_or(0.0);
            let end = percent("namespace end", &self.namespace_end_percent, &mut problems).unwrap_or(1.0);
            json!({ "name": self.namespace.trim(), "range": [start, end] })
        };
        let hash_version: u8 = self.hash_version.trim().parse().unwrap_or(2);
        let spec = json!({
            "key": self.key.trim(),
            "name": self.name.trim(),
            "description": self.description.trim(),
            "hypothesis": {
                "change": self.change.trim(),
                "segment": self.segment.trim(),
                "primary_metric": self.primary_metric.trim(),
                "direction": text_or_null(&self.direction),
                "mde": mde,
                "rationale": self.rationale.trim(),
            },
            "variations": variations,
            "coverage": coverage,
            "hash_attribute": if self.hash_attribute.trim().is_empty() { "id" } else { self.hash_attribute.trim() },
            "hash_version": hash_version,
            "seed": text_or_null(&self.seed),
            "targeting": targeting,
            "namespace": namespace,
            "metrics": {
                "primary": text_or_null(&self.metric_primary),
                "secondary": self.metric_secondary,
                "guardrails": self.metric_guardrails,
            },
        });
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(problems)
        }
    }
}

#[component]
pub fn NewExperimentPage() -> impl IntoView {
    view! {
        <Title text="New experiment" />
        <header class="page-header">
            <h1>"New experiment"</h1>
            <p class="lead">"State the hypothesis before the data arrives: it is locked once the experiment starts."</p>
        </header>
        <ExperimentForm initial=None />
    }
}

#[component]
pub fn EditExperimentPage() -> impl IntoView {
    let params = use_params_map();
    let experiment = page_data(move || params.read().get("key").unwrap_or_default(), get_experiment);
    view! {
        <Title text="Edit experiment" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match experiment.await {
                    Ok(e) => view! {
                        <header class="page-header">
                            <h1>{format!("Edit {}", e.spec.name)}</h1>
                            {(e.status != Status::Draft).then(|| view! {
                                <p class="lead">"This experiment has started: only its name, description and coverage can change."</p>
                            })}
                        </header>
                        <ExperimentForm initial=Some(e) />
                    }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One editable variation row; each field is its own signal so typing never re-renders the list.
#[derive(Clone, Copy)]
struct VariationRow {
    id: usize,
    key: RwSignal<String>,
    name: RwSignal<String>,
    weight: RwSignal<String>,
    payload: RwSignal<String>,
}

impl VariationRow {
    fn new(id: usize, (key, name, weight, payload): (String, String, String, String)) -> Self {
        VariationRow {
            id,
            key: RwSignal::new(key),
            name: RwSignal::new(name),
            weight: RwSignal::new(weight),
            payload: RwSignal::new(payload),
        }
    }
}

#[component]
fn ExperimentForm(initial: Option<Experiment>) -> impl IntoView {
    let locked = initial.as_ref().is_some_and(|e| e.status != Status::Draft);
    let original_key = initial.as_ref().map(|e| e.spec.key.clone());
    let is_new = original_key.is_none();
    let start = initial.as_ref().map(|e| FormValues::from_spec(&e.spec)).unwrap_or_else(|| FormValues {
        variations: vec![
            ("control".into(), "Control".into(), "50".into(), String::new()),
            ("treatment".into(), "Treatment".into(), "50".into(), String::new()),
        ],
        coverage_percent: "100".into(),
        hash_attribute: "id".into(),
        hash_version: "2".into(),
        ..FormValues::default()
    });

    let text = |value: &str| RwSignal::new(value.to_string());
    let (key, name, description) = (text(&start.key), text(&start.name), text(&start.description));
    let (change, segment, primary_metric) = (text(&start.change), text(&start.segment), text(&start.primary_metric));
    let (direction, mde, rationale) = (text(&start.direction), text(&start.mde_percent), text(&start.rationale));
    let (coverage, hash_attribute, hash_version) =
        (text(&start.coverage_percent), text(&start.hash_attribute), text(&start.hash_version));
    let (seed, targeting) = (text(&start.seed), text(&start.targeting));
    let (namespace, ns_start, ns_end) =
        (text(&start.namespace), text(&start.namespace_start_percent), text(&start.namespace_end_percent));
    let metric_primary = text(&start.metric_primary);
    let (metric_secondary, metric_guardrails) =
        (RwSignal::new(start.metric_secondary.clone()), RwSignal::new(start.metric_guardrails.clone()));
    let library = page_data(|| (), |_| crate::pages::metrics::load_metrics());
    let next_id = StoredValue::new(start.variations.len());
    let rows = RwSignal::new(
        start.variations.into_iter().enumerate().map(|(i, v)| VariationRow::new(i, v)).collect::<Vec<_>>(),
    );

    let values = move || FormValues {
        key: key.get(),
        name: name.get(),
        description: description.get(),
        change: change.get(),
        segment: segment.get(),
        primary_metric: primary_metric.get(),
        direction: direction.get(),
        mde_percent: mde.get(),
        rationale: rationale.get(),
        variations: rows.get().iter().map(|r| (r.key.get(), r.name.get(), r.weight.get(), r.payload.get())).collect(),
        coverage_percent: coverage.get(),
        hash_attribute: hash_attribute.get(),
        hash_version: hash_version.get(),
        seed: seed.get(),
        targeting: targeting.get(),
        namespace: namespace.get(),
        namespace_start_percent: ns_start.get(),
        namespace_end_percent: ns_end.get(),
        metric_primary: metric_primary.get(),
        metric_secondary: metric_secondary.get(),
        metric_guardrails: metric_guardrails.get(),
    };
    let problems = Memo::new(move |_| values().to_spec_json().err().unwrap_or_default());
    let weight_total = Memo::new(move |_| values().weight_total_percent());
    let save = ServerAction::<SaveExperiment>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Ok(spec) = values().to_spec_json() {
            save.dispatch(SaveExperiment { original_key: original_key.clone(), spec: spec.to_string() });
        }
    };
    let add_row = move |_| {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        rows.update(|r| {
            r.push(VariationRow::new(
                id,
                (format!("variation-{}", id + 1), String::new(), String::new(), String::new()),
            ))
        });
    };

    // An input bound to a signal: `prop:value` so the field follows the signal, `on:input` so the signal follows the field.
    let field = move |label: &'static str, signal: RwSignal<String>, disabled: bool, hint: &'static str| {
        view! {
            <label>
                {label}
                <input type="text" prop:value=signal on:input=move |ev| signal.set(event_target_value(&ev)) disabled=disabled placeholder=hint />
            </label>
        }
    };

    view! {
        <form class="stack" on:submit=submit data-testid="experiment-form">
            <section class="card">
                <h2>"Experiment"</h2>
                <div class="form-row">
                    {field("Key", key, !is_new, "e.g. video-autoplay")}
                    {field("Name", name, false, "Autoplay product videos")}
                </div>
                <label>
                    "Description"
                    <textarea prop:value=description on:input=move |ev| description.set(event_target_value(&ev))></textarea>
                </label>
            </section>
            <section class="card">
                <h2>"Hypothesis"</h2>
                <p class="muted">"If we " <em>"change"</em> " for " <em>"segment"</em> ", then " <em>"primary metric"</em> " will move in the expected direction by at least the MDE, because of " <em>"rationale"</em> "."</p>
                <div class="form-row">
                    {field("Change", change, locked, "autoplay the product video, muted")}
                    {field("Target segment", segment, locked, "mobile visitors in consideration")}
                </div>
                <div class="form-row">
                    {field("Primary metric", primary_metric, locked, "conversion")}
                    <label>
                        "Expected direction"
                        <select name="direction" prop:value=direction on:change=move |ev| direction.set(event_target_value(&ev)) disabled=locked>
                            <option value="">"—"</option>
                            <option value="increase">"increase"</option>
                            <option value="decrease">"decrease"</option>
                        </select>
                    </label>
                    {field("Minimum detectable effect (%)", mde, locked, "5")}
                </div>
                <label>
                    "Rationale: which micro-conversion signals, and why"
                    <textarea prop:value=rationale on:input=move |ev| rationale.set(event_target_value(&ev)) disabled=locked></textarea>
                </label>
            </section>
            <section class="card" data-testid="experiment-metrics">
                <h2>"Metrics"</h2>
                <p class="muted">"What the results page judges the test by. The primary metric is pre-registered: it is locked once the experiment starts; secondary and guardrail metrics can be added later."</p>
                <Suspense fallback=|| view! { <p class="muted">"Loading the metric library…"</p> }>
                    {move || Suspend::new(async move {
                        let metrics = library.await.map(|l| l.metrics).unwrap_or_default();
                        let options: Vec<(String, String)> = metrics.iter().map(|m| (m.spec.key.clone(), m.spec.name.clone())).collect();
                        let checkboxes = move |role: &'static str, chosen: RwSignal<Vec<String>>| {
                            let options = options.clone();
                            view! {
                                <fieldset class="checkbox-group" data-testid=format!("metrics-{role}")>
                                    <legend>{role}</legend>
                                    {options.into_iter().map(|(key, name)| {
                                        let value = key.clone();
                                        let toggled = key.clone();
                                        view! {
                                            <label class="checkbox">
                                                <input type="checkbox" value=value prop:checked=move || chosen.with(|c| c.contains(&key))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        chosen.update(|c| { c.retain(|k| k != &toggled); if on { c.push(toggled.clone()); } });
                                                    } />
                                                {name}
                                            </label>
                                        }
                                    }).collect_view()}
                                </fieldset>
                            }
                        };
                        view! {
                            <label>
                                "Primary metric (measured)"
                                <select data-testid="metric-primary" prop:value=metric_primary disabled=locked
                                    on:change=move |ev| metric_primary.set(event_target_value(&ev))>
                                    <option value="">"— none —"</option>
                                    {metrics.iter().map(|m| view! { <option value=m.spec.key.clone()>{m.spec.name.clone()}</option> }).collect_view()}
                                </select>
                            </label>
                            <div class="form-row">
                                {checkboxes("secondary", metric_secondary)}
                                {checkboxes("guardrails", metric_guardrails)}
                            </div>
                        }
                    })}
                </Suspense>
            </section>
            <section class="card">
                <h2>"Variations"</h2>
                <div class="table-wrap">
                    <table class="data">
                        <thead><tr><th>"Key"</th><th>"Name"</th><th>"Weight (%)"</th><th>"Payload (JSON)"</th><th></th></tr></thead>
                        <tbody>
                            <For each=move || rows.get() key=|row| row.id children=move |row: VariationRow| view! {
                                <tr>
                                    <td><input type="text" aria-label="Variation key" prop:value=row.key on:input=move |ev| row.key.set(event_target_value(&ev)) disabled=locked /></td>
                                    <td><input type="text" aria-label="Variation name" prop:value=row.name on:input=move |ev| row.name.set(event_target_value(&ev)) disabled=locked /></td>
                                    <td><input type="text" inputmode="decimal" aria-label="Variation weight" prop:value=row.weight on:input=move |ev| row.weight.set(event_target_value(&ev)) disabled=locked /></td>
                                    <td><input type="text" aria-label="Variation payload" prop:value=row.payload on:input=move |ev| row.payload.set(event_target_value(&ev)) disabled=locked placeholder="{\"autoplay\": true}" /></td>
                                    <td>
                                        <button type="button" class="secondary" disabled=move || locked || rows.with(|r| r.len() <= 2)
                                            on:click=move |_| rows.update(|r| r.retain(|x| x.id != row.id))>"Remove"</button>
                                    </td>
                                </tr>
                            } />
                        </tbody>
                    </table>
                </div>
                <div class="form-row">
                    <button type="button" class="secondary" on:click=add_row disabled=move || locked || rows.with(|r| r.len() >= 10)>"Add variation"</button>
                    <span data-testid="weight-total" class=move || match weight_total.get() {
                        Some(t) if (t - 100.0).abs() <= 1e-4 => "badge ok",
                        Some(_) => "badge danger",
                        None => "badge neutral",
                    }>
                        {move || match weight_total.get() {
                            Some(t) => format!("weights total {t} %"),
                            None => "equal split (or a weight is missing)".to_string(),
                        }}
                    </span>
                </div>
            </section>
            <section class="card">
                <h2>"Traffic and targeting"</h2>
                <div class="form-row">
                    {field("Coverage (%)", coverage, false, "100")}
                    {field("Hash attribute", hash_attribute, locked, "id")}
                    <label>
                        "Hash version"
                        <select name="hash_version" prop:value=hash_version on:change=move |ev| hash_version.set(event_target_value(&ev)) disabled=locked>
                            <option value="2">"2 (default)"</option>
                            <option value="1">"1 (legacy GrowthBook)"</option>
                        </select>
                    </label>
                    {field("Seed", seed, locked, "defaults to the key")}
                </div>
                <label>
                    "Targeting (conditions on request attributes, JSON)"
                    <textarea prop:value=targeting on:input=move |ev| targeting.set(event_target_value(&ev)) disabled=locked
                        placeholder="{\"device\": \"mobile\", \"country\": {\"$in\": [\"DE\", \"AT\"]}}"></textarea>
                </label>
                <div class="form-row">
                    {field("Namespace", namespace, locked, "checkout (optional)")}
                    {field("Namespace from (%)", ns_start, locked, "0")}
                    {field("Namespace to (%)", ns_end, locked, "50")}
                </div>
            </section>
            <Show when=move || !problems.get().is_empty()>
                <div class="alert alert-warning" data-testid="form-problems">
                    <ul>{move || problems.get().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                </div>
            </Show>
            <ActionError result=save.value() />
            <div>
                <button type="submit" class="primary" disabled=move || save.pending().get() || !problems.get().is_empty()>
                    {if is_new { "Create experiment" } else { "Save changes" }}
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> FormValues {
        FormValues {
            key: "video-autoplay".into(),
            name: "Autoplay".into(),
            variations: vec![
                ("control".into(), "".into(), "50".into(), "".into()),
                ("autoplay".into(), "".into(), "50 %".into(), "{\"autoplay\": true}".into()),
            ],
            coverage_percent: "100".into(),
            hash_version: "2".into(),
            ..FormValues::default()
        }
    }

    #[test]
    fn form_values_become_the_api_shape_and_validate() {
        let spec = form().to_spec_json().unwrap();
        assert_eq!(spec["variations"][1]["weight"], json!(0.5));
        assert_eq!(spec["variations"][1]["payload"], json!({"autoplay": true}));
        assert_eq!(spec["targeting"], Value::Null, "cleared fields are explicit nulls");
        let parsed: ExperimentSpec = serde_json::from_value(spec).unwrap();
        assert!(parsed.validate().is_ok());
        assert_eq!(FormValues::from_spec(&parsed).to_spec_json().unwrap()["variations"][0]["weight"], json!(0.5));
    }

    #[test]
    fn problems_are_reported_before_sending() {
        let mut f = form();
        f.key = "Bad Key".into();
        f.variations[1].2 = "60".into();
        f.variations[0].3 = "{oops".into();
        f.targeting = "[1".into();
        let problems = f.to_spec_json().unwrap_err().join("\n");
        assert!(problems.contains("key:"), "{problems}");
        assert!(problems.contains("weights add up to 110 %"), "{problems}");
        assert!(problems.contains("variation 1 payload: not valid JSON"), "{problems}");
        assert!(problems.contains("targeting: not valid JSON"), "{problems}");
    }
}
