//! The playbook in the browser: concluding a stopped experiment, the searchable list of learnings, one entry
//! with its frozen results and revisions, the signal leaderboard, and what a share link shows without an account.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::{format_time, stage_badge};
use crate::domain::experiment::{Direction, ExperimentSpec};
use crate::domain::playbook::{
    CreatedShareLink, Decision, EntryDetail, Outcome, PlaybookEntry, PooledEffect, SegmentEffect, SharedView,
    SignalRecord, SignalRef,
};
use crate::error::AppError;
use crate::pages::calculator::{interval, pct};
use crate::pages::data::page_data;
use crate::pages::experiments::can_edit;
use crate::pages::results::{ResultsView, Segments};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde_json::json;

#[server(endpoint = "playbook_entries")]
pub async fn load_playbook(query: String) -> Result<Vec<PlaybookEntry>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let query =
                crate::domain::playbook::PlaybookQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(AppError::invalid)?;
            crate::services::playbook::list(&state.db, &caller, &query).await
        }
        .await,
    )
}

#[server(endpoint = "playbook_entry")]
pub async fn load_playbook_entry(id: i64, revision: Option<u32>) -> Result<EntryDetail, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::playbook::get(&state.db, &caller, id, revision).await
        }
        .await,
    )
}

#[server(endpoint = "signal_leaderboard")]
pub async fn load_signal_leaderboard() -> Result<Vec<SignalRecord>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::playbook::leaderboard(&state.db, &caller).await
        }
        .await,
    )
}

/// The signals a conclusion can name: the whole library, funnel order.
#[server(endpoint = "conclusion_signals")]
pub async fn conclusion_signals() -> Result<Vec<SignalRef>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let filter = crate::services::signals::SignalFilter::default();
            let signals = crate::services::signals::list(&state.db, &caller, &filter).await?;
            Ok(signals
                .into_iter()
                .map(|s| SignalRef {
                    key: s.spec.key,
                    name: s.spec.name,
                    stage: s.spec.stage,
                    channels: s.spec.channels,
                })
                .collect())
        }
        .await,
    )
}

/// `conclusion` is the API's JSON body; on success the browser goes to the new entry.
#[server(endpoint = "conclude_experiment")]
pub async fn conclude_experiment(key: String, conclusion: String) -> Result<i64, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let body =
                serde_json::from_str(&conclusion).map_err(|e| AppError::invalid(format!("invalid form data: {e}")))?;
            let entry = crate::services::playbook::conclude(&state, &caller, &key, body).await?;
            leptos_axum::redirect(&format!("/playbook/{}", entry.entry.id));
            Ok(entry.entry.id)
        }
        .await,
    )
}

#[server(endpoint = "reanalyze_entry")]
pub async fn reanalyze_entry(id: i64, reason: String, method: String) -> Result<u32, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let method = if method.is_empty() { None } else { Some(method) };
            let body = json!({ "reason": reason, "analysis": { "method": method } });
            let entry = crate::services::playbook::reanalyze(&state, &caller, id, body).await?;
            Ok(entry.entry.revision)
        }
        .await,
    )
}

#[server(endpoint = "follow_up_entry")]
pub async fn follow_up_entry(id: i64, key: String, name: String) -> Result<String, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let name = if name.trim().is_empty() { None } else { Some(name) };
            let draft =
                crate::services::playbook::follow_up(&state, &caller, id, json!({ "key": key, "name": name })).await?;
            leptos_axum::redirect(&format!("/experiments/{}/edit", draft.spec.key));
            Ok(draft.spec.key)
        }
        .await,
    )
}

/// `scope` is `entry:<id>` or `view:<query string>`.
#[server(endpoint = "share_playbook")]
pub async fn share_playbook(scope: String, days: u32) -> Result<CreatedShareLink, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let body = match scope.split_once(':') {
                Some(("entry", id)) => {
                    let id: i64 = id.parse().map_err(|_| AppError::invalid("no such entry"))?;
                    json!({ "entry_id": id, "expires_in_days": days })
                }
                Some(("view", query)) => {
                    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                    let filter = crate::domain::playbook::PlaybookQuery::from_pairs(
                        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                    .map_err(AppError::invalid)?;
                    json!({ "filter": filter, "expires_in_days": days })
                }
                _ => return Err(AppError::invalid("share an entry or a view")),
            };
            crate::services::playbook::share(&state.db, &caller, body).await
        }
        .await,
    )
}

/// No account needed: the token is the permission.
#[server(endpoint = "open_shared")]
pub async fn open_shared(token: String) -> Result<SharedView, AppError> {
    crate::error::server_result(
        async {
            let state = crate::pages::context::state()?;
            crate::services::playbook::open_share(&state.db, &token).await
        }
        .await,
    )
}

pub fn outcome_badge(outcome: Outcome) -> impl IntoView {
    let class = match outcome {
        Outcome::Win => "badge ok",
        Outcome::Loss => "badge danger",
        Outcome::Flat => "badge neutral",
        Outcome::Inconclusive => "badge warn",
    };
    view! { <span class=class data-testid="outcome">{outcome.as_str()}</span> }
}

fn decision_text(entry: &PlaybookEntry) -> String {
    match (entry.conclusion.decision, &entry.conclusion.winning_variation) {
        (Decision::Ship, Some(v)) => format!("ship {v}"),
        (decision, _) => decision.as_str().to_string(),
    }
}

fn primary_line(entry: &PlaybookEntry) -> String {
    match &entry.reading.primary {
        Some(p) => format!(
            "{} · {}: {} ({}){}",
            p.metric_name,
            p.variation,
            pct(p.lift.estimate),
            interval(&p.lift),
            if p.significant { ", significant" } else { "" }
        ),
        None => "No primary metric result".to_string(),
    }
}

/// One entry as a card: outcome, primary lift with its interval, decision, learning, dates.
#[component]
fn EntryCard(entry: PlaybookEntry, #[prop(optional)] href: Option<String>) -> impl IntoView {
    let title = entry.reading.name.clone();
    let heading = match href {
        Some(href) => view! { <a href=href>{title}</a> }.into_any(),
        None => view! { {title} }.into_any(),
    };
    view! {
        <article class="card entry-card" data-testid="playbook-entry">
            <h2>{heading} " " {outcome_badge(entry.reading.outcome)} " " <span class="badge neutral">{decision_text(&entry)}</span></h2>
            <p class="muted"><code>{entry.reading.experiment.clone()}</code> " · concluded " {format_time(&entry.concluded_at)}
                {entry.reading.started_at.map(|s| format!(" · started {}", format_time(&s)))}</p>
            <p data-testid="entry-primary"><strong>{primary_line(&entry)}</strong></p>
            <p class="learning">{entry.conclusion.summary.clone()}</p>
            <p class="tags">
                {entry.conclusion.signals.iter().map(|s| view! { <span class="badge neutral">{s.name.clone()}</span> " " }).collect_view()}
                {entry.conclusion.tags.iter().map(|t| view! { <span class="badge role-admin">{format!("#{t}")}</span> " " }).collect_view()}
            </p>
        </article>
    }
}

const FILTERS: [&str; 12] =
    ["q", "signal", "stage", "channel", "segment", "metric", "decision", "outcome", "tag", "from", "to", "sort"];

#[component]
pub fn PlaybookPage() -> impl IntoView {
    let query = use_query_map();
    let current = move || {
        let map = query.read();
        let mut out = form_urlencoded::Serializer::new(String::new());
        for name in FILTERS {
            if let Some(value) = map.get(name).filter(|v| !v.is_empty()) {
                out.append_pair(name, &value);
            }
        }
        out.finish()
    };
    let value = move |name: &'static str| move || query.read().get(name).unwrap_or_default();
    let entries = page_data(current, load_playbook);
    let share = ServerAction::<SharePlaybook>::new();
    let select = move |name: &'static str, label: &'static str, options: &'static [(&'static str, &'static str)]| {
        view! {
            <label>
                {label}
                <select name=name prop:value=value(name) data-testid=format!("filter-{name}")>
                    {options.iter().map(|(v, text)| view! { <option value=*v>{*text}</option> }).collect_view()}
                </select>
            </label>
        }
    };
    let text = move |name: &'static str, label: &'static str, placeholder: &'static str| {
        view! {
            <label>
                {label}
                <input type="text" name=name placeholder=placeholder prop:value=value(name) data-testid=format!("filter-{name}") />
            </label>
        }
    };
    view! {
        <Title text="Playbook" />
        <header class="page-header">
            <h1>"Playbook"</h1>
            <p class="lead">"What every concluded test taught: which signals predicted buying, for whom."</p>
            <a class="button secondary" href="/playbook/signals">"Signal leaderboard"</a>
        </header>
        <section class="card">
            <Form method="GET" action="/playbook">
                <div class="form-row">
                    <label class="grow">
                        "Search hypotheses, learnings and notes"
                        <input type="search" name="q" placeholder="e.g. video, free shipping" prop:value=value("q") data-testid="playbook-search" />
                    </label>
                    {select("decision", "Decision", &[("", "Any"), ("ship", "Ship"), ("iterate", "Iterate"), ("abandon", "Abandon")])}
                    {select("outcome", "Outcome", &[("", "Any"), ("win", "Win"), ("loss", "Loss"), ("flat", "Flat"), ("inconclusive", "Inconclusive")])}
                    {select("sort", "Sort by", &[("", "Date (or best match)"), ("effect", "Effect size")])}
                </div>
                <div class="form-row">
                    {text("signal", "Signal", "signal key")}
                    {text("stage", "Stage", "e.g. intent")}
                    {text("channel", "Channel", "e.g. app")}
                    {text("segment", "Segment", "e.g. device=mobile")}
                    {text("metric", "Metric", "metric key")}
                    {text("tag", "Tag", "")}
                    <label>"From" <input type="date" name="from" prop:value=value("from") /></label>
                    <label>"To" <input type="date" name="to" prop:value=value("to") /></label>
                </div>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="playbook-apply">"Search"</button>
                    <a class="button secondary" href="/playbook">"Clear"</a>
                </div>
            </Form>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                match entries.await {
                    Ok(list) => {
                        let filters = current();
                        let export = |format: &str| {
                            let sep = if filters.is_empty() { "" } else { "&" };
                            format!("/api/v1/playbook?{filters}{sep}format={format}")
                        };
                        let share_button = editable.then(|| {
                            let scope = format!("view:{filters}");
                            view! {
                                <button class="secondary" data-testid="share-view"
                                    on:click=move |_| { share.dispatch(SharePlaybook { scope: scope.clone(), days: 30 }); }>
                                    "Share this view"
                                </button>
                                <a class="button secondary" href="/playbook/shares">"Share links"</a>
                            }
                        });
                        let count = list.len();
                        let body = if list.is_empty() {
                            view! { <p class="empty">"No entry matches. Concluded experiments appear here."</p> }.into_any()
                        } else {
                            list.into_iter().map(|e| {
                                let href = format!("/playbook/{}", e.id);
                                view! { <EntryCard entry=e href /> }
                            }).collect_view().into_any()
                        };
                        view! {
                            <div class="actions">
                                <span class="muted" data-testid="playbook-count">{format!("{count} entries")}</span>
                                <a class="button secondary" href=export("csv")>"CSV"</a>
                                <a class="button secondary" href=export("md")>"Markdown"</a>
                                <a class="button secondary" href=export("json")>"JSON"</a>
                                {share_button}
                            </div>
                            <ShareResult result=share.value() />
                            {body}
                        }.into_any()
                    }
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The link a share action made, shown once with how long it lives.
#[component]
fn ShareResult(#[prop(into)] result: Signal<Option<Result<CreatedShareLink, AppError>>>) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Ok(created)) => {
                let path = created.path.clone();
                Some(
                    view! {
                        <p class="banner ok" data-testid="share-link">
                            "Read-only link (anyone with it can read this until "
                            {format_time(&created.link.expires_at)} "): "
                            <a href=path.clone()>{path.clone()}</a>
                        </p>
                    }
                    .into_any(),
                )
            }
            Some(Err(err)) => Some(view! { <p class="error" role="alert">{err.public_message()}</p> }.into_any()),
            None => None,
        })
    }
}

#[component]
pub fn PlaybookEntryPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|id| id.parse::<i64>().ok()).unwrap_or(0);
    let revision = move || query.read().get("revision").and_then(|r| r.parse::<u32>().ok());
    let reanalyze = ServerAction::<ReanalyzeEntry>::new();
    let entry = page_data(
        move || (id(), revision(), reanalyze.version().get()),
        |(id, revision, _)| load_playbook_entry(id, revision),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = can_edit().await;
                match entry.await {
                    Ok(detail) => view! { <EntryView detail editable reanalyze /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The hypothesis as it was registered, next to the outcome.
fn hypothesis_facts(spec: &ExperimentSpec) -> impl IntoView {
    let h = spec.hypothesis.clone();
    let dash = |s: &str| if s.trim().is_empty() { "—".to_string() } else { s.to_string() };
    view! {
        <dl class="facts">
            <dt>"Change"</dt><dd>{dash(&h.change)}</dd>
            <dt>"Segment"</dt><dd>{dash(&h.segment)}</dd>
            <dt>"Primary metric"</dt>
            <dd>{dash(&h.primary_metric)} {spec.metrics.primary.clone().map(|k| view! { " " <code>{k}</code> })}</dd>
            <dt>"Expected direction"</dt>
            <dd>{match h.direction { Some(Direction::Increase) => "increase", Some(Direction::Decrease) => "decrease", None => "—" }}</dd>
            <dt>"Minimum detectable effect"</dt>
            <dd>{h.mde.map(|m| format!("{:.1} %", m * 100.0)).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Rationale"</dt><dd>{dash(&h.rationale)}</dd>
        </dl>
    }
}

#[component]
fn EntryView(detail: EntryDetail, editable: bool, reanalyze: ServerAction<ReanalyzeEntry>) -> impl IntoView {
    let entry = detail.entry.clone();
    let id = entry.id;
    let snapshot = detail.snapshot.clone();
    let latest = detail.shown_revision == entry.revision;
    let revision_note = (!latest).then(|| {
        view! {
            <div class="banner warn" data-testid="old-revision">
                {format!("You are reading revision {} of {}. ", detail.shown_revision, entry.revision)}
                <a href=format!("/playbook/{id}")>"Read the latest"</a>
            </div>
        }
    });
    let editor_tools =
        editable.then(|| view! { <EntryTools id experiment=entry.reading.experiment.clone() reanalyze /> });
    view! {
        <Title text=entry.reading.name.clone() />
        <header class="page-header">
            <h1>{entry.reading.name.clone()} " " {outcome_badge(entry.reading.outcome)}</h1>
            <p class="lead">
                <a href=format!("/experiments/{}", entry.reading.experiment)><code>{entry.reading.experiment.clone()}</code></a>
                {format!(" · concluded {} by {} · decision: ", format_time(&entry.concluded_at), entry.concluded_by)}
                <strong data-testid="entry-decision">{decision_text(&entry)}</strong>
            </p>
            <div class="actions">
                <a class="button secondary" href=format!("/api/v1/playbook/{id}?format=md")>"Markdown"</a>
                <a class="button secondary" href=format!("/api/v1/playbook/{id}?format=csv")>"CSV"</a>
                <a class="button secondary" href=format!("/api/v1/playbook/{id}")>"JSON"</a>
            </div>
        </header>
        {revision_note}
        <EntryBody detail=detail.clone() />
        <section class="card">
            <h2>"Frozen results"</h2>
            <p class="muted">{format!(
                "Revision {} · data through {} · {} · these numbers never change; a re-analysis adds a revision.",
                detail.shown_revision,
                format_time(&snapshot.results.data_through),
                if snapshot.results.cuped { "CUPED on" } else { "CUPED off" },
            )}</p>
        </section>
        <ResultsView results=snapshot.results.clone() />
        {snapshot.breakdowns.iter().map(|b| view! { <Segments breakdown=b.clone() /> }).collect_view()}
        <section class="card" data-testid="revisions">
            <h2>"Revisions"</h2>
            <ol>
                {detail.revisions.iter().map(|r| view! {
                    <li>
                        <a href=format!("/playbook/{id}?revision={}", r.revision)>{format!("Revision {}", r.revision)}</a>
                        {format!(" · {} · {} · {}", r.reason, r.created_by, format_time(&r.created_at))}
                    </li>
                }).collect_view()}
            </ol>
        </section>
        {(!detail.related.is_empty()).then(|| view! {
            <section data-testid="related">
                <h2>"Related entries"</h2>
                {detail.related.iter().cloned().map(|e| {
                    let href = format!("/playbook/{}", e.id);
                    view! { <EntryCard entry=e href /> }
                }).collect_view()}
            </section>
        })}
        {editor_tools}
    }
}

/// Hypothesis next to outcome, deviations, the learning and what it concerned: shared by the entry page and
/// share links.
#[component]
fn EntryBody(detail: EntryDetail) -> impl IntoView {
    let entry = detail.entry;
    let c = entry.conclusion.clone();
    view! {
        <div class="grid">
            <section class="card" data-testid="entry-hypothesis">
                <h2>"Pre-registered hypothesis"</h2>
                {hypothesis_facts(&detail.snapshot.experiment)}
            </section>
            <section class="card" data-testid="entry-outcome">
                <h2>"Outcome"</h2>
                <p data-testid="entry-primary"><strong>{primary_line(&entry)}</strong></p>
                <p class="learning" data-testid="entry-learning">{c.summary.clone()}</p>
                {entry.reading.deviations.iter().map(|d| view! {
                    <p class="banner warn" data-testid="deviation">{d.message.clone()}</p>
                }).collect_view()}
                {(!c.notes.is_empty()).then(|| view! { <h3>"Notes"</h3><p>{c.notes.clone()}</p> })}
            </section>
        </div>
        <section class="card">
            <h2>"Signals and segments"</h2>
            <ul>
                {c.signals.iter().map(|s| view! {
                    <li><a href=format!("/playbook?signal={}", s.key) title="Every entry about this signal">{s.name.clone()}</a> " " {stage_badge(&s.stage)}</li>
                }).collect_view()}
            </ul>
            <ul data-testid="entry-segments">
                {c.segments.iter().map(|s| {
                    let (class, word) = match s.effect { SegmentEffect::Held => ("badge ok", "held"), SegmentEffect::Failed => ("badge danger", "failed") };
                    view! { <li>{s.label()} " " <span class=class>{word}</span> {(!s.note.is_empty()).then(|| format!(" — {}", s.note))}</li> }
                }).collect_view()}
            </ul>
            <p>{c.tags.iter().map(|t| view! { <a class="badge role-admin" href=format!("/playbook?tag={t}")>{format!("#{t}")}</a> " " }).collect_view()}</p>
        </section>
    }
}

/// Re-analysis, follow-up and sharing, for editors.
#[component]
fn EntryTools(id: i64, experiment: String, reanalyze: ServerAction<ReanalyzeEntry>) -> impl IntoView {
    let follow_up = ServerAction::<FollowUpEntry>::new();
    let share = ServerAction::<SharePlaybook>::new();
    let reason = RwSignal::new(String::new());
    let method = RwSignal::new(String::new());
    let key = RwSignal::new(format!("{experiment}-follow-up"));
    let name = RwSignal::new(String::new());
    let days = RwSignal::new("30".to_string());
    view! {
        <div class="grid">
            <section class="card">
                <h2>"Run a follow-up"</h2>
                <p class="muted">"A new draft with this entry's hypothesis, variations, metrics and targeting, and a fresh split."</p>
                <form class="stack" on:submit=move |ev| {
                    ev.prevent_default();
                    follow_up.dispatch(FollowUpEntry { id, key: key.get_untracked(), name: name.get_untracked() });
                }>
                    <label>"Key" <input type="text" data-testid="follow-up-key" prop:value=key on:input=move |ev| key.set(event_target_value(&ev)) /></label>
                    <label>"Name (optional)" <input type="text" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                    <button type="submit" class="primary" data-testid="follow-up">"Create the draft"</button>
                    <ActionError result=follow_up.value() />
                </form>
            </section>
            <section class="card">
                <h2>"Re-analyse"</h2>
                <p class="muted">"Adds a revision computed from today's data; earlier revisions stay as they were."</p>
                <form class="stack" on:submit=move |ev| {
                    ev.prevent_default();
                    reanalyze.dispatch(ReanalyzeEntry { id, reason: reason.get_untracked(), method: method.get_untracked() });
                }>
                    <label>"Why" <input type="text" data-testid="reanalyze-reason" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev)) /></label>
                    <label>
                        "Method"
                        <select prop:value=method on:change=move |ev| method.set(event_target_value(&ev))>
                            <option value="">"Frequentist"</option>
                            <option value="sequential">"Sequential"</option>
                            <option value="bayesian">"Bayesian"</option>
                        </select>
                    </label>
                    <button type="submit" class="secondary" data-testid="reanalyze">"Add a revision"</button>
                    <ActionError result=reanalyze.value() />
                </form>
            </section>
            <section class="card">
                <h2>"Share"</h2>
                <p class="muted">"A read-only link to this entry for people without an account. It expires, and can be revoked through the API."</p>
                <form class="stack" on:submit=move |ev| {
                    ev.prevent_default();
                    let days = days.get_untracked().trim().parse().unwrap_or(0);
                    share.dispatch(SharePlaybook { scope: format!("entry:{id}"), days });
                }>
                    <label>"Days until it expires" <input type="number" min="1" max="365" prop:value=days on:input=move |ev| days.set(event_target_value(&ev)) /></label>
                    <button type="submit" class="secondary" data-testid="share-entry">"Make a link"</button>
                    <ShareResult result=share.value() />
                </form>
            </section>
        </div>
    }
}

/// Concluding a stopped experiment: decision, learning, signals, segments, tags and notes.
#[component]
pub fn ConcludeForm(spec: ExperimentSpec) -> impl IntoView {
    let key = spec.key.clone();
    let treatments: Vec<String> = spec.variations.iter().skip(1).map(|v| v.key.clone()).collect();
    let signals = page_data(|| (), |_| conclusion_signals());
    let conclude = ServerAction::<ConcludeExperiment>::new();
    let decision = RwSignal::new("ship".to_string());
    let winner = RwSignal::new(treatments.first().cloned().unwrap_or_default());
    let summary = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    // (attribute, value, effect, note)
    let segments = RwSignal::new(vec![("all".to_string(), "everyone".to_string(), "held".to_string(), String::new())]);
    let tags = RwSignal::new(String::new());
    let notes = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ship = decision.get_untracked() == "ship";
        let body = json!({
            "decision": decision.get_untracked(),
            "winning_variation": if ship { Some(winner.get_untracked()) } else { None },
            "summary": summary.get_untracked(),
            "signals": chosen.get_untracked(),
            "segments": segments.get_untracked().into_iter()
                .filter(|(a, v, _, _)| !a.trim().is_empty() || !v.trim().is_empty())
                .map(|(attribute, value, effect, note)| json!({"attribute": attribute, "value": value, "effect": effect, "note": note}))
                .collect::<Vec<_>>(),
            "tags": tags.get_untracked().split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect::<Vec<_>>(),
            "notes": notes.get_untracked(),
        });
        conclude.dispatch(ConcludeExperiment { key: key.clone(), conclusion: body.to_string() });
    };
    let segment_row = move |i: usize| {
        let get = move |f: fn(&(String, String, String, String)) -> String| {
            move || segments.with(|s| s.get(i).map(f).unwrap_or_default())
        };
        let set = move |f: fn(&mut (String, String, String, String), String)| {
            move |ev: leptos::ev::Event| {
                let value = event_target_value(&ev);
                segments.update(|s| {
                    if let Some(row) = s.get_mut(i) {
                        f(row, value)
                    }
                })
            }
        };
        view! {
            <div class="form-row">
                <label>"Attribute" <input type="text" placeholder="channel" prop:value=get(|r| r.0.clone()) on:input=set(|r, v| r.0 = v) data-testid=format!("segment-attribute-{i}") /></label>
                <label>"Value" <input type="text" placeholder="app" prop:value=get(|r| r.1.clone()) on:input=set(|r, v| r.1 = v) data-testid=format!("segment-value-{i}") /></label>
                <label>
                    "The effect"
                    <select prop:value=get(|r| r.2.clone()) on:change=set(|r, v| r.2 = v)>
                        <option value="held">"held"</option>
                        <option value="failed">"failed"</option>
                    </select>
                </label>
                <label class="grow">"Note" <input type="text" prop:value=get(|r| r.3.clone()) on:input=set(|r, v| r.3 = v) /></label>
            </div>
        }
    };
    view! {
        <section class="card" data-testid="conclude">
            <h2>"Conclude: add it to the playbook"</h2>
            <p class="muted">"The results are frozen as they are now, next to the pre-registered hypothesis. A conclusion cannot be edited; a re-analysis adds a revision."</p>
            <form class="stack" on:submit=submit>
                <div class="form-row">
                    <label>
                        "Decision"
                        <select data-testid="conclude-decision" prop:value=decision on:change=move |ev| decision.set(event_target_value(&ev))>
                            <option value="ship">"Ship a variation"</option>
                            <option value="iterate">"Iterate"</option>
                            <option value="abandon">"Abandon (keep control)"</option>
                        </select>
                    </label>
                    <Show when=move || decision.get() == "ship">
                        <label>
                            "Variation to ship"
                            <select data-testid="conclude-winner" prop:value=winner on:change=move |ev| winner.set(event_target_value(&ev))>
                                {treatments.iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    </Show>
                </div>
                <label>
                    "What did it teach? (the learning)"
                    <textarea rows="3" data-testid="conclude-summary" prop:value=summary on:input=move |ev| summary.set(event_target_value(&ev))></textarea>
                </label>
                <fieldset class="signal-choice">
                    <legend>"Signals it was about"</legend>
                    <Suspense fallback=|| view! { <p class="muted">"Loading the signal library…"</p> }>
                        {move || Suspend::new(async move {
                            match signals.await {
                                Ok(list) => list.into_iter().map(|s| {
                                    let key = s.key.clone();
                                    let toggle_key = key.clone();
                                    view! {
                                        <label class="checkbox">
                                            <input type="checkbox" data-testid=format!("conclude-signal-{key}")
                                                prop:checked=move || chosen.with(|c| c.contains(&key))
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    let key = toggle_key.clone();
                                                    chosen.update(|c| { c.retain(|k| *k != key); if on { c.push(key); } });
                                                } />
                                            {s.name.clone()} " " {stage_badge(&s.stage)}
                                        </label>
                                    }
                                }).collect_view().into_any(),
                                Err(error) => view! { <LoadError error /> }.into_any(),
                            }
                        })}
                    </Suspense>
                </fieldset>
                <fieldset class="segment-findings">
                    <legend>"Segments where the effect held or failed"</legend>
                    {move || (0..segments.with(Vec::len)).map(segment_row).collect_view()}
                    <button type="button" class="secondary" on:click=move |_| segments.update(|s| s.push(Default::default()))>"Add a segment"</button>
                </fieldset>
                <label>
                    "Tags (comma-separated)"
                    <input type="text" data-testid="conclude-tags" placeholder="shipping, mobile" prop:value=tags on:input=move |ev| tags.set(event_target_value(&ev)) />
                </label>
                <label>
                    "Notes (customer care, merchandising feedback; optional)"
                    <textarea rows="2" prop:value=notes on:input=move |ev| notes.set(event_target_value(&ev))></textarea>
                </label>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="conclude-submit">"Conclude and freeze the results"</button>
                </div>
                <ActionError result=conclude.value() />
            </form>
        </section>
    }
}

fn pooled_cell(effect: &Option<PooledEffect>) -> String {
    match effect {
        Some(p) => format!("{} ({} to {}) · {} tests", pct(p.estimate), pct(p.ci_low), pct(p.ci_high), p.tests),
        None => "—".to_string(),
    }
}

#[component]
pub fn SignalLeaderboardPage() -> impl IntoView {
    let board = page_data(|| (), |_| load_signal_leaderboard());
    view! {
        <Title text="Signal leaderboard" />
        <header class="page-header">
            <h1>"Signal leaderboard"</h1>
            <p class="lead">"Per micro-conversion signal: how often tests touched it, how they ended, the pooled effect on conversion, AOV and lifetime value, and the segments where it predicted buying best."</p>
            <a class="button secondary" href="/playbook">"Playbook"</a>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="empty">"No concluded tests yet."</p> }.into_any(),
                    Ok(rows) => view! {
                        <section class="card">
                            <div class="table-wrap">
                                <table class="data" data-testid="leaderboard">
                                    <thead><tr><th>"Signal"</th><th class="num">"Tests"</th><th class="num">"Wins"</th><th class="num">"Losses"</th><th>"Conversion lift"</th><th>"AOV lift"</th><th>"LTV lift"</th><th>"Best segment (conversion)"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|r| view! {
                                            <tr>
                                                <td><a href=format!("/playbook?signal={}", r.signal)>{r.name.clone()}</a> " " {stage_badge(&r.stage)}</td>
                                                <td class="num">{r.tests}</td>
                                                <td class="num">{r.wins}</td>
                                                <td class="num">{r.losses}</td>
                                                <td>{pooled_cell(&r.conversion)}</td>
                                                <td>{pooled_cell(&r.aov)}</td>
                                                <td>{pooled_cell(&r.ltv)}</td>
                                                <td>
                                                    {r.segments.iter().map(|s| {
                                                        let best = s.effects.get(&s.best).map(|p| pct(p.estimate)).unwrap_or_default();
                                                        view! { <div>{format!("{}: {} ({best})", s.attribute, s.best)}</div> }
                                                    }).collect_view()}
                                                </td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <p class="muted">"Effects are relative lifts of the shipped (or strongest) variation, pooled across tests by inverse variance, with 95% intervals. Tests that failed the sample-ratio check are counted but not pooled."</p>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What a share link opens, for anyone holding it: no navigation beyond its scope.
#[component]
pub fn SharedPage() -> impl IntoView {
    let params = use_params_map();
    let view_data = page_data(move || params.read().get("token").unwrap_or_default(), open_shared);
    view! {
        <Title text="Shared from the playbook" />
        <div class="shell">
            <header class="topbar"><span class="brand">"intentlab"</span><span class="muted">"Read-only link"</span></header>
            <main class="content">
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match view_data.await {
                            Ok(SharedView::Entry { label, expires_at, entry }) => {
                                let entry = *entry;
                                let results = entry.snapshot.results.clone();
                                view! {
                                    <header class="page-header">
                                        <h1>{entry.entry.reading.name.clone()} " " {outcome_badge(entry.entry.reading.outcome)}</h1>
                                        <p class="lead">{format!("{label} · decision: {} · link valid until {}", decision_text(&entry.entry), format_time(&expires_at))}</p>
                                    </header>
                                    <EntryBody detail=entry />
                                    <ResultsView results />
                                }.into_any()
                            }
                            Ok(SharedView::View { label, expires_at, entries, .. }) => view! {
                                <header class="page-header">
                                    <h1>{label}</h1>
                                    <p class="lead">{format!("{} entries from the playbook · link valid until {}", entries.len(), format_time(&expires_at))}</p>
                                </header>
                                {entries.into_iter().map(|e| view! { <EntryCard entry=e /> }).collect_view()}
                            }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Transition>
            </main>
        </div>
    }
}

/// The share links with the server's clock, so the page can say which still open.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShareLinkList {
    pub links: Vec<crate::domain::playbook::ShareLink>,
    pub now: chrono::DateTime<chrono::Utc>,
}

#[server(endpoint = "share_links")]
pub async fn load_share_links() -> Result<ShareLinkList, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let links = crate::services::playbook::share_links(&state.db, &caller).await?;
            Ok(ShareLinkList { links, now: chrono::Utc::now() })
        }
        .await,
    )
}

#[server(endpoint = "revoke_share_link")]
pub async fn revoke_share_link(id: i64) -> Result<(), AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::playbook::revoke_share(&state.db, &caller, id).await
        }
        .await,
    )
}

/// Every share link, what it opens, until when, and a way to close it.
#[component]
pub fn ShareLinksPage() -> impl IntoView {
    use crate::domain::playbook::ShareScope;
    let revoke = ServerAction::<RevokeShareLink>::new();
    let links = page_data(move || revoke.version().get(), |_| load_share_links());
    view! {
        <Title text="Share links" />
        <header class="page-header">
            <h1>"Share links"</h1>
            <p class="lead">"Read-only links to playbook entries and views for people without an account."</p>
            <a class="button secondary" href="/playbook">"Playbook"</a>
        </header>
        <ActionError result=revoke.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match links.await {
                    Ok(list) if list.links.is_empty() => view! {
                        <p class="empty">"No links yet. Share an entry from its page, or a filtered view from the playbook."</p>
                    }.into_any(),
                    Ok(list) => {
                        let now = list.now;
                        view! {
                            <section class="card">
                                <div class="table-wrap">
                                    <table class="data" data-testid="share-links">
                                        <thead><tr><th>"Label"</th><th>"Opens"</th><th>"Made by"</th><th>"Expires"</th><th>"State"</th><th></th></tr></thead>
                                        <tbody>
                                            {list.links.into_iter().map(|link| {
                                                let opens = match &link.scope {
                                                    ShareScope::Entry(id) => view! { <a href=format!("/playbook/{id}")>{format!("entry #{id}")}</a> }.into_any(),
                                                    ShareScope::View(filter) => {
                                                        let query = filter.query_string();
                                                        let text = if query.is_empty() { "the whole playbook".to_string() } else { query.clone() };
                                                        view! { <a href=format!("/playbook?{query}")>{text}</a> }.into_any()
                                                    }
                                                };
                                                let state = match (link.revoked_at, link.active(now)) {
                                                    (Some(at), _) => format!("revoked {}", format_time(&at)),
                                                    (None, true) => "open".to_string(),
                                                    (None, false) => "expired".to_string(),
                                                };
                                                let id = link.id;
                                                view! {
                                                    <tr>
                                                        <td>{link.label.clone()}</td>
                                                        <td>{opens}</td>
                                                        <td>{format!("{} · {}", link.created_by, format_time(&link.created_at))}</td>
                                                        <td>{format_time(&link.expires_at)}</td>
                                                        <td>{state}</td>
                                                        <td>{link.active(now).then(|| view! {
                                                            <button class="danger" data-testid=format!("revoke-{id}")
                                                                on:click=move |_| { revoke.dispatch(RevokeShareLink { id }); }>"Revoke"</button>
                                                        })}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </section>
                        }.into_any()
                    }
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
