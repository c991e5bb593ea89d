//! Unified profiles: search people by any id or email, and one person's ids, traits, consent, intent (explained
//! by its top signals) and cross-channel timeline.

use crate::components::feedback::LoadError;
use crate::components::{format_time, stage_badge};
use crate::error::AppError;
use crate::model::{Profile, ProfileSummary, Timeline, TimelineEvent};
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSearch {
    pub profiles: Vec<ProfileSummary>,
    pub stages: Vec<String>,
}

#[server(endpoint = "search_profiles")]
pub async fn search_profiles(query: String, stage: String) -> Result<ProfileSearch, AppError> {
    crate::error::server_result(
        async {
            use crate::services::{profiles, signals};
            let (state, caller) = crate::pages::context::caller().await?;
            Ok(ProfileSearch {
                profiles: profiles::search(&state.db, &caller, &query, Some(&stage)).await?,
                stages: signals::intent_config(&state.db).await?.stage_names(),
            })
        }
        .await,
    )
}

#[server(endpoint = "get_profile")]
pub async fn get_profile(id: String) -> Result<Profile, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::profiles::get(&state.db, &caller, &id).await
        }
        .await,
    )
}

#[server(endpoint = "profile_timeline")]
pub async fn profile_timeline(id: String, before: Option<String>) -> Result<Timeline, AppError> {
    crate::error::server_result(
        async {
            const PAGE: i64 = 30;
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::profiles::timeline(&state.db, &caller, &id, Some(PAGE), before.as_deref()).await
        }
        .await,
    )
}

#[component]
pub fn ProfilesPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        (q.get("q").unwrap_or_default(), q.get("stage").unwrap_or_default())
    };
    let results = page_data(filter, |(q, stage)| search_profiles(q, stage));
    view! {
        <Title text="Profiles" />
        <header class="page-header">
            <h1>"Profiles"</h1>
            <p class="lead">"Every person once, whichever device, channel or id they used."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (q, stage) = filter();
                match results.await {
                    Ok(search) => view! { <SearchView search q stage /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SearchView(search: ProfileSearch, q: String, stage: String) -> impl IntoView {
    let rows = if search.profiles.is_empty() {
        view! { <p class="empty">"No profile matches."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="data" data-testid="profiles-table">
                    <thead><tr><th>"Ids"</th><th>"Email"</th><th>"Stage"</th><th>"Score"</th><th>"Channels"</th><th>"Orders"</th><th>"Last seen"</th></tr></thead>
                    <tbody>
                        {search.profiles.into_iter().map(|p| {
                            let first = p.ids.first().cloned().unwrap_or_default();
                            let href = format!("/profiles/{}", urlencode(&first));
                            view! {
                                <tr>
                                    <td><a href=href>{p.ids.join(", ")}</a>{p.opted_out.then(|| view! { " " <span class="badge warn">"opted out"</span> })}</td>
                                    <td>{p.email.clone().unwrap_or_default()}</td>
                                    <td>{stage_badge(&p.stage)}</td>
                                    <td>{format!("{:.1}", p.intent_score)}</td>
                                    <td>{p.channels.join(", ")}</td>
                                    <td>{p.orders}</td>
                                    <td>{format_time(&p.last_seen)}</td>
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
            <form method="get" class="form-row" data-testid="profile-search">
                <label>"Id or email" <input type="search" name="q" value=q placeholder="user id, anonymous id, email…" /></label>
                <label>"Stage"
                    <select name="stage">
                        <option value="">"all stages"</option>
                        {search.stages.into_iter().map(|s| view! { <option value=s.clone() selected=s == stage>{s.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="secondary">"Search"</button>
            </form>
            {rows}
        </section>
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn ProfilePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let profile = page_data(id, get_profile);
    let first_page = page_data(id, |id| profile_timeline(id, None));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (profile.await, first_page.await) {
                    (Ok(profile), Ok(timeline)) => view! { <ProfileView profile timeline id=id() /> }.into_any(),
                    (Err(AppError::NotFound(_)), _) | (_, Err(AppError::NotFound(_))) => view! {
                        <Title text="No profile" />
                        <div class="alert alert-warning" role="alert" data-testid="no-profile">
                            "No profile has the id “"{id()}"”. It may never have sent an event, or only without analytics consent."
                        </div>
                    }.into_any(),
                    (Err(error), _) | (_, Err(error)) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ProfileView(profile: Profile, timeline: Timeline, id: String) -> impl IntoView {
    let title = profile.traits.get("email").and_then(Value::as_str).map(String::from).unwrap_or_else(|| id.clone());
    let total = profile.intent.score.max(f64::EPSILON);
    let contributions = profile
        .intent
        .contributions
        .iter()
        .take(8)
        .map(|c| {
            let share = (c.score / total * 100.0).clamp(0.0, 100.0);
            view! {
                <li data-testid="contribution">
                    <span class="contribution-name">{c.signal.clone()}</span>
                    // An SVG bar: its width is an attribute, which the page's Content-Security-Policy allows, where
                    // an inline style would not be.
                    <svg class="bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                        <rect width=format!("{share:.1}") height="1" />
                    </svg>
                    <span class="muted small">{format!("{:.1} ({share:.0} %) · {}×", c.score, c.matches)}</span>
                </li>
            }
        })
        .collect_view();
    let traits = if profile.traits.is_empty() {
        view! { <p class="muted">"No traits yet."</p> }.into_any()
    } else {
        view! { <dl class="pairs">{profile.traits.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{display(v)}</dd> }).collect_view()}</dl> }.into_any()
    };
    let consent = if profile.consent.is_empty() {
        "none recorded (every category counts as granted)".to_string()
    } else {
        profile
            .consent
            .iter()
            .map(|(k, v)| format!("{k}: {}", if *v { "yes" } else { "no" }))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    view! {
        <Title text=title.clone() />
        <header class="page-header">
            <h1>{title}</h1>
            <p class="lead">
                {stage_badge(&profile.intent.stage)}" intent score "<strong data-testid="intent-score">{format!("{:.1}", profile.intent.score)}</strong>
                {profile.opted_out.then(|| view! { " " <span class="badge warn" data-testid="opted-out">"opted out"</span> })}
            </p>
        </header>
        <div class="grid">
            <section class="card">
                <h2>"Why this stage"</h2>
                <ol class="contributions">{contributions}</ol>
                <p class="muted small">"Each signal's weight, halving with time since it happened."</p>
            </section>
            <section class="card">
                <h2>"Person"</h2>
                <dl class="pairs">
                    <dt>"Ids"</dt><dd data-testid="profile-ids">{profile.ids.iter().map(|i| format!("{} ({})", i.id, i.kind)).collect::<Vec<_>>().join(", ")}</dd>
                    <dt>"Channels"</dt><dd data-testid="profile-channels">{profile.channels.join(", ")}</dd>
                    <dt>"First seen"</dt><dd>{format_time(&profile.first_seen)}</dd>
                    <dt>"Last seen"</dt><dd>{format_time(&profile.last_seen)}</dd>
                    <dt>"Orders"</dt><dd>{format!("{} · revenue {:.2}", profile.orders, profile.revenue)}</dd>
                    <dt>"Consent"</dt><dd>{consent}</dd>
                </dl>
                <h3>"Traits"</h3>
                {traits}
            </section>
        </div>
        <TimelineView id first=timeline />
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[component]
fn TimelineView(id: String, first: Timeline) -> impl IntoView {
    let events = RwSignal::new(first.events);
    let next = RwSignal::new(first.next_before);
    let load_older = Action::new(move |before: &String| {
        let (id, before) = (id.clone(), before.clone());
        async move { profile_timeline(id, Some(before)).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(page)) = load_older.value().get() {
            events.update(|e| e.extend(page.events.clone()));
            next.set(page.next_before.clone());
        }
    });
    view! {
        <section class="card">
            <h2>"Timeline"</h2>
            <ol class="timeline" data-testid="timeline">
                {move || events.get().into_iter().map(|e| view! { <TimelineItem event=e /> }).collect_view()}
            </ol>
            {move || match load_older.value().get() {
                Some(Err(error)) => Some(view! { <p class="error">{error.public_message()}</p> }),
                _ => None,
            }}
            <Show when=move || next.with(Option::is_some)>
                <button class="secondary" data-testid="load-older" disabled=move || load_older.pending().get()
                    on:click=move |_| { if let Some(before) = next.get_untracked() { load_older.dispatch(before); } }>
                    "Load older"
                </button>
            </Show>
        </section>
    }
}

#[component]
fn TimelineItem(event: TimelineEvent) -> impl IntoView {
    let context = &event.context;
    let device = [&context["device"]["type"], &context["device"]["os"], &context["device"]["browser"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" · ");
    let location = ["city", "region", "country"]
        .iter()
        .filter_map(|k| context["location"][*k].as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let campaign = ["source", "medium", "name"]
        .iter()
        .filter_map(|k| context["campaign"][*k].as_str())
        .collect::<Vec<_>>()
        .join(" / ");
    let properties: String =
        event.properties.iter().take(6).map(|(k, v)| format!("{k}={}", display(v))).collect::<Vec<_>>().join(" ");
    let name = event.event.clone().unwrap_or_else(|| event.kind.clone());
    let details = [device, location, campaign].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" — ");
    view! {
        <li data-testid="timeline-item">
            <span class="muted small">{format_time(&event.timestamp)}</span>
            " "<span class="badge neutral" data-testid="channel">{event.channel.clone()}</span>
            " "<span class="muted small">{event.kind.clone()}</span>
            " "<strong>{name}</strong>
            " "<code class="small">{properties}</code>
            {event.schema_violations.clone().map(|v| view! { " " <span class="badge danger" title=v.join("; ")>"schema violation"</span> })}
            {(!details.is_empty()).then(|| view! { <div class="muted small">{details}</div> })}
        </li>
    }
}
