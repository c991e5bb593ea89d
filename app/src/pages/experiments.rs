//! Experiments: the list, and one experiment's page (pre-registered hypothesis, variations with exposures,
//! configuration, lifecycle buttons, change history, and how a backend or an OpenFeature SDK asks for a bucket).

use crate::components::feedback::{ActionError, LoadError};
use crate::components::{format_optional_time, format_time};
use crate::domain::access::Role;
use crate::domain::experiment::{Direction, Status};
use crate::error::AppError;
use crate::model::Experiment;
use crate::pages::app::AuthContext;
use crate::pages::data::page_data;
use crate::pages::playbook::ConcludeForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(endpoint = "list_experiments")]
pub async fn list_experiments() -> Result<Vec<Experiment>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::experiments::list(&state.db, &caller).await
        }
        .await,
    )
}

#[server(endpoint = "get_experiment")]
pub async fn get_experiment(key: String) -> Result<Experiment, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::experiments::get(&state.db, &caller, &key).await
        }
        .await,
    )
}

/// `status` is where the experiment should go: "running" (start or restart) or "stopped".
#[server(endpoint = "change_experiment_status")]
pub async fn change_experiment_status(key: String, status: String) -> Result<Experiment, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let next = Status::parse(&status).map_err(AppError::InvalidInput)?;
            crate::services::experiments::transition(&state, &caller, &key, next).await
        }
        .await,
    )
}

/// Whether the signed-in user may create and change experiments (resolved before rendering, so the server and
/// the browser render the same controls).
pub async fn can_edit() -> bool {
    let auth = AuthContext::expect();
    auth.user.await.ok().flatten().is_some_and(|u| u.role >= Role::Editor)
}

pub fn status_badge(status: Status) -> impl IntoView {
    let class = match status {
        Status::Running => "badge ok",
        Status::Draft => "badge neutral",
        Status::Stopped => "badge warn",
        Status::Concluded => "badge role-admin",
    };
    view! { <span class=class data-testid="status">{status.as_str()}</span> }
}

fn hypothesis_summary(e: &Experiment) -> String {
    let h = &e.spec.hypothesis;
    if h.change.is_empty() && h.primary_metric.is_empty() {
        return String::new();
    }
    let direction = match h.direction {
        Some(Direction::Increase) => " increases ",
        Some(Direction::Decrease) => " decreases ",
        None => " moves ",
    };
    format!("{}{}{}", if h.change.is_empty() { "The change" } else { &h.change }, direction, h.primary_metric)
}

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let experiments = page_data(|| (), |_| list_experiments());
    view! {
        <Title text="Experiments" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let new_button = can_edit().await.then(|| view! {
                    <div class="actions"><a class="button primary" href="/experiments/new">"New experiment"</a></div>
                });
                let header = view! {
                    <header class="page-header">
                        <h1>"Experiments"</h1>
                        <p class="lead">"Hypothesis-driven tests on shoppers' micro-conversions."</p>
                        {new_button}
                    </header>
                };
                let body = match experiments.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No experiments yet. Editors start one with “New experiment”."</p>
                    }.into_any(),
                    Ok(list) => view! { <ExperimentTable experiments=list /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                };
                view! { {header} {body} }
            })}
        </Suspense>
    }
}

#[component]
fn ExperimentTable(experiments: Vec<Experiment>) -> impl IntoView {
    view! {
        <section class="card">
            <div class="table-wrap">
                <table class="data" data-testid="experiments-table">
                    <thead>
                        <tr><th>"Status"</th><th>"Experiment"</th><th>"Hypothesis"</th><th>"Started"</th><th>"Variations"</th></tr>
                    </thead>
                    <tbody>
                        {experiments.into_iter().map(|e| {
                            let href = format!("/experiments/{}", e.spec.key);
                            let variations = e.spec.variations.iter().map(|v| v.key.clone()).collect::<Vec<_>>().join(" · ");
                            view! {
                                <tr>
                                    <td>{status_badge(e.status)}</td>
                                    <td><a href=href><strong>{e.spec.name.clone()}</strong></a><br/><code>{e.spec.key.clone()}</code></td>
                                    <td>{hypothesis_summary(&e)}</td>
                                    <td>{format_optional_time(&e.started_at, "—")}</td>
                                    <td>{variations}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
pub fn ExperimentPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let change_status = ServerAction::<ChangeExperimentStatus>::new();
    let experiment = page_data(move || (key(), change_status.version().get()), |(key, _)| get_experiment(key));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                match experiment.await {
                    Ok(e) => view! { <ExperimentView experiment=e change_status editable /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ExperimentView(
    experiment: Experiment,
    change_status: ServerAction<ChangeExperimentStatus>,
    editable: bool,
) -> impl IntoView {
    let e = experiment;
    let key = e.spec.key.clone();
    let (start_label, start_confirm) = match e.status {
        Status::Stopped => ("Restart", "Restart this experiment? Units keep their variations."),
        _ => ("Start", "Start this experiment? Its hypothesis, metric and variations will be locked."),
    };
    let can_start = e.status.can_become(Status::Running);
    let can_stop = e.status.can_become(Status::Stopped);
    let transition = move |status: &'static str, question: &'static str, key: String| {
        move |_| {
            if confirm(question) {
                change_status.dispatch(ChangeExperimentStatus { key: key.clone(), status: status.to_string() });
            }
        }
    };
    let actions =
        editable.then(|| {
            let start = can_start.then(|| view! {
            <button class="primary" data-testid="start" on:click=transition("running", start_confirm, key.clone())>
                {start_label}
            </button>
        });
            let stop = can_stop.then(|| view! {
            <button class="danger" data-testid="stop"
                on:click=transition("stopped", "Stop this experiment? Units will no longer be assigned.", key.clone())>
                "Stop"
            </button>
        });
            view! {
                <div class="actions">
                    <a class="button secondary" href=format!("/experiments/{key}/edit")>"Edit"</a>
                    {start}
                    {stop}
                </div>
            }
        });
    let h = e.spec.hypothesis.clone();
    let total_units: i64 = e.exposures.iter().map(|x| x.units).sum();
    view! {
        <Title text=e.spec.name.clone() />
        <header class="page-header">
            <h1>{e.spec.name.clone()} " " {status_badge(e.status)}</h1>
            <p class="lead"><code>{key.clone()}</code> " · " {e.spec.description.clone()}</p>
            <a class="button" data-testid="open-results" href=format!("/experiments/{key}/results")>"Results"</a>
            {actions}
        </header>
        <ActionError result=change_status.value() />
        <div class="grid">
            <section class="card" data-testid="hypothesis">
                <h2>"Pre-registered hypothesis"</h2>
                <dl class="facts">
                    <dt>"Change"</dt><dd>{or_dash(&h.change)}</dd>
                    <dt>"Segment"</dt><dd>{or_dash(&h.segment)}</dd>
                    <dt>"Primary metric"</dt><dd>{or_dash(&h.primary_metric)}</dd>
                    <dt>"Expected direction"</dt>
                    <dd>{match h.direction { Some(Direction::Increase) => "increase", Some(Direction::Decrease) => "decrease", None => "—" }}</dd>
                    <dt>"Minimum detectable effect " <a href="/planner" class="muted">"(plan)"</a></dt>
                    <dd>{h.mde.map(|m| format!("{:.1} %", m * 100.0)).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Rationale"</dt><dd>{or_dash(&h.rationale)}</dd>
                    <dt>"Measured by"</dt>
                    <dd data-testid="measured-by">{measured_by(&e.spec.metrics)}</dd>
                </dl>
            </section>
            <section class="card">
                <h2>"Configuration"</h2>
                <dl class="facts">
                    <dt>"Coverage"</dt><dd>{format!("{:.0} % of eligible units", e.spec.coverage * 100.0)}</dd>
                    <dt>"Hashing"</dt>
                    <dd>{format!("attribute '{}', version {}, seed '{}'", e.spec.hash_attribute, e.spec.hash_version, e.spec.effective_seed())}</dd>
                    <dt>"Targeting"</dt>
                    <dd>{match &e.spec.targeting { Some(t) => view! { <code>{t.to_string()}</code> }.into_any(), None => view! { "everyone" }.into_any() }}</dd>
                    <dt>"Namespace"</dt>
                    <dd>{e.spec.namespace.as_ref().map(|ns| format!("{} [{}, {})", ns.name, ns.range.0, ns.range.1)).unwrap_or_else(|| "none".into())}</dd>
                    <dt>"Created"</dt><dd>{format_time(&e.created_at)}</dd>
                    <dt>"Started"</dt><dd>{format_optional_time(&e.started_at, "not yet")}</dd>
                    <dt>"Stopped"</dt><dd>{format_optional_time(&e.stopped_at, "—")}</dd>
                </dl>
            </section>
        </div>
        <section class="card">
            <h2>"Variations"</h2>
            <div class="table-wrap">
                <table class="data" data-testid="variations-table">
                    <thead><tr><th>"Key"</th><th>"Name"</th><th class="num">"Weight"</th><th>"Payload"</th><th class="num">"Exposed units"</th></tr></thead>
                    <tbody>
                        {e.spec.variations.iter().zip(e.spec.weights()).map(|(v, w)| {
                            let units = e.exposures.iter().find(|x| x.variation == v.key).map_or(0, |x| x.units);
                            view! {
                                <tr>
                                    <td><code>{v.key.clone()}</code></td>
                                    <td>{v.name.clone()}</td>
                                    <td class="num">{format!("{:.1} %", w * 100.0)}</td>
                                    <td>{v.payload.as_ref().map(|p| view! { <code>{p.to_string()}</code> })}</td>
                                    <td class="num">{units}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted">{format!("{total_units} units exposed in all.")}</p>
        </section>
        {(editable && e.status == Status::Stopped).then(|| view! { <ConcludeForm spec=e.spec.clone() /> })}
        {e.playbook_entry.map(|id| view! {
            <section class="card" data-testid="concluded">
                <h2>"Concluded"</h2>
                <p>"The learning and the frozen results are in the playbook: " <a href=format!("/playbook/{id}")>{format!("entry #{id}")}</a></p>
            </section>
        })}
        <Snippets key=e.spec.key.clone() />
        <section class="card">
            <h2>"History"</h2>
            <ol class="history" data-testid="history">
                {e.history.iter().rev().map(|c| view! {
                    <li>
                        <strong>{c.action.clone()}</strong> " by " {c.actor.clone()} " · " <span class="muted">{format_time(&c.at)}</span>
                        {(c.action != "created").then(|| view! { <br/><code class="detail">{c.detail.to_string()}</code> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

/// The attached metrics in one line: primary first, then secondary and guardrails.
fn measured_by(metrics: &crate::domain::experiment::MetricRoles) -> String {
    let mut parts = Vec::new();
    if let Some(primary) = &metrics.primary {
        parts.push(format!("{primary} (primary)"));
    }
    parts.extend(metrics.secondary.iter().cloned());
    parts.extend(metrics.guardrails.iter().map(|g| format!("{g} (guardrail)")));
    if parts.is_empty() {
        "no metrics attached yet".into()
    } else {
        parts.join(", ")
    }
}

fn or_dash(text: &str) -> String {
    if text.trim().is_empty() {
        "—".to_string()
    } else {
        text.to_string()
    }
}

/// Asks the person to confirm; on the server (no window) nothing is ever confirmed.
fn confirm(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(question).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}

#[component]
fn Snippets(key: String) -> impl IntoView {
    let assign = format!(
        "curl -X POST http://127.0.0.1:3000/api/v1/assign \\\n  -H 'Authorization: Bearer il_…' -H 'Content-Type: application/json' \\\n  -d '{{\"unit_id\": \"user-123\", \"attributes\": {{\"device\": \"mobile\"}}, \"experiments\": [\"{key}\"]}}'"
    );
    let openfeature = format!(
        "# Python: pip install openfeature-sdk openfeature-provider-ofrep\nfrom openfeature import api\nfrom openfeature.contrib.provider.ofrep import OFREPProvider\nfrom openfeature.evaluation_context import EvaluationContext\n\napi.set_provider(OFREPProvider(\"http://127.0.0.1:3000\",\n    headers_factory=lambda: {{\"Authorization\": \"Bearer il_…\"}}))\nvariation = api.get_client().get_string_value(\n    \"{key}\", \"control\", EvaluationContext(targeting_key=\"user-123\"))\npayload = api.get_client().get_object_value(\"{key}.payload\", {{}}, ...)"
    );
    view! {
        <section class="card">
            <h2>"Ask for a bucket"</h2>
            <p>"From a backend service, with an API key that has the " <code>"assign"</code> " scope:"</p>
            <pre><code>{assign}</code></pre>
            <p>"Or through OpenFeature (OFREP): the flag key is the experiment key."</p>
            <pre><code>{openfeature}</code></pre>
        </section>
    }
}
