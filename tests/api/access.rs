//! Who may call what, for every route the server has: each endpoint, server function and page is called as
//! nobody, as each role and with a key of each scope, and the outcome must be the one this file's table says.
//! The router's own lists (`startup::endpoints`, the registered server functions, the page routes) are compared
//! with the table, so a route added without an entry here fails the test.

use crate::helpers::{spawn_app, TestApp};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Viewer,
    Editor,
    Admin,
    AssignKey,
    IngestKey,
    ReadKey,
    AdminKey,
}

const EVERYONE: [Who; 8] =
    [Who::Nobody, Who::Viewer, Who::Editor, Who::Admin, Who::AssignKey, Who::IngestKey, Who::ReadKey, Who::AdminKey];

/// What a caller gets: let through (whatever the handler then answers, never a 5xx), 401 or 403.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Through,
    Unauthenticated,
    Forbidden,
}
use Outcome::{Forbidden as F, Through as T, Unauthenticated as U};

/// An access level, as the outcome for each caller in `EVERYONE`'s order:
/// nobody, viewer, editor, admin, assign key, ingest key, read key, admin key.
#[derive(Clone, Copy, Debug)]
enum Level {
    /// Probes, the API description, sign-in and sign-out, share links (the token is the permission).
    Public,
    /// Any credentials at all (`GET /me`).
    Signed,
    /// What stakeholders read: experiments, results, the playbook, metric definitions, the calculators.
    Results,
    /// Reading everything else: signals, profiles, ingestion statistics, settings.
    Read,
    /// Designing experiments, signals and metrics.
    Write,
    /// Users, keys, settings.
    Admin,
    /// Assignments.
    Assign,
    /// The recording GET assignment: a key only.
    AssignKey,
    /// Sending events and opting people out.
    Ingest,
    /// The tracking API: write keys only, never a session.
    IngestKey,
    /// A person's intent: for reading keys and services that assign.
    Intent,
}

impl Level {
    fn outcomes(self) -> [Outcome; 8] {
        match self {
            Level::Public => [T, T, T, T, T, T, T, T],
            Level::Signed => [U, T, T, T, T, T, T, T],
            Level::Results => [U, T, T, T, F, F, T, T],
            Level::Read => [U, F, T, T, F, F, T, T],
            Level::Write => [U, F, T, T, F, F, F, T],
            Level::Admin => [U, F, F, T, F, F, F, T],
            Level::Assign => [U, F, T, T, T, F, F, F],
            Level::AssignKey => [U, F, F, F, T, F, F, F],
            Level::Ingest => [U, F, T, T, F, T, F, F],
            Level::IngestKey => [U, U, U, U, F, T, F, F],
            Level::Intent => [U, F, T, T, T, F, T, T],
        }
    }
}

/// Every REST, OFREP and tracking endpoint with its level. Paths are the router's, with `{…}` parameters.
const ENDPOINTS: &[(&str, &str, Level)] = &[
    ("GET", "/healthz", Level::Public),
    ("GET", "/readyz", Level::Public),
    ("POST", "/api/v1/auth/login", Level::Public),
    ("GET", "/api/v1/me", Level::Signed),
    ("GET", "/api/v1/users", Level::Admin),
    ("POST", "/api/v1/users", Level::Admin),
    ("PATCH", "/api/v1/users/{id}", Level::Admin),
    ("GET", "/api/v1/api-keys", Level::Admin),
    ("POST", "/api/v1/api-keys", Level::Admin),
    ("POST", "/api/v1/api-keys/{id}/revoke", Level::Admin),
    ("GET", "/api/v1/experiments", Level::Results),
    ("POST", "/api/v1/experiments", Level::Write),
    ("GET", "/api/v1/experiments/{key}", Level::Results),
    ("PATCH", "/api/v1/experiments/{key}", Level::Write),
    ("POST", "/api/v1/experiments/{key}/start", Level::Write),
    ("POST", "/api/v1/experiments/{key}/stop", Level::Write),
    ("GET", "/api/v1/experiments/{key}/results", Level::Results),
    ("POST", "/api/v1/experiments/{key}/conclude", Level::Write),
    ("GET", "/api/v1/playbook", Level::Results),
    ("GET", "/api/v1/playbook/signals", Level::Results),
    ("GET", "/api/v1/playbook/shares", Level::Write),
    ("POST", "/api/v1/playbook/shares", Level::Write),
    ("POST", "/api/v1/playbook/shares/{id}/revoke", Level::Write),
    ("GET", "/api/v1/playbook/{id}", Level::Results),
    ("POST", "/api/v1/playbook/{id}/revisions", Level::Write),
    ("POST", "/api/v1/playbook/{id}/follow-up", Level::Write),
    ("GET", "/api/v1/shared/{token}", Level::Public),
    ("GET", "/api/v1/experiments/{key}/assignment", Level::AssignKey),
    ("POST", "/api/v1/assign", Level::Assign),
    ("GET", "/api/v1/config", Level::Assign),
    ("GET", "/api/v1/settings", Level::Read),
    ("PUT", "/api/v1/settings", Level::Admin),
    ("POST", "/api/v1/events", Level::Ingest),
    ("GET", "/api/v1/ingest/stats", Level::Read),
    ("POST", "/api/v1/users/{id}/opt-out", Level::Ingest),
    ("POST", "/api/v1/users/{id}/opt-in", Level::Ingest),
    ("GET", "/api/v1/profiles", Level::Read),
    ("GET", "/api/v1/profiles/{id}", Level::Read),
    ("GET", "/api/v1/profiles/{id}/events", Level::Read),
    ("GET", "/api/v1/units/{id}/intent", Level::Intent),
    ("GET", "/api/v1/signals", Level::Read),
    ("POST", "/api/v1/signals", Level::Write),
    ("POST", "/api/v1/signals/preview", Level::Read),
    ("GET", "/api/v1/signals/{key}", Level::Read),
    ("PATCH", "/api/v1/signals/{key}", Level::Write),
    ("POST", "/api/v1/signals/{key}/deprecate", Level::Write),
    ("POST", "/api/v1/signals/{key}/activate", Level::Write),
    ("GET", "/api/v1/signals/{key}/volume", Level::Read),
    ("GET", "/api/v1/metrics", Level::Results),
    ("POST", "/api/v1/metrics", Level::Write),
    ("GET", "/api/v1/metrics/{key}", Level::Results),
    ("PATCH", "/api/v1/metrics/{key}", Level::Write),
    ("POST", "/api/v1/stats/compare", Level::Results),
    ("POST", "/api/v1/stats/power", Level::Results),
    ("POST", "/api/v1/stats/adjust", Level::Results),
    ("GET", "/api/v1/openapi.json", Level::Public),
    ("POST", "/ofrep/v1/evaluate/flags/{key}", Level::Assign),
    ("POST", "/ofrep/v1/evaluate/flags", Level::Assign),
    ("GET", "/ofrep/v1/configuration", Level::Public),
    ("POST", "/v1/track", Level::IngestKey),
    ("POST", "/v1/page", Level::IngestKey),
    ("POST", "/v1/screen", Level::IngestKey),
    ("POST", "/v1/identify", Level::IngestKey),
    ("POST", "/v1/alias", Level::IngestKey),
    ("POST", "/v1/batch", Level::IngestKey),
    ("POST", "/v1/import", Level::IngestKey),
    // Last: it ends the caller's session.
    ("POST", "/api/v1/auth/logout", Level::Public),
];

/// Every server function (`POST /api/<name>`) with its level and arguments the handler accepts, so that the
/// access check — not the argument parser — decides.
const SERVER_FUNCTIONS: &[(&str, Level, &str)] = &[
    ("current_user", Level::Public, ""),
    ("overview", Level::Signed, ""),
    ("list_experiments", Level::Results, ""),
    ("get_experiment", Level::Results, "key=access-exp"),
    ("save_experiment", Level::Write, "spec=%7B%7D"),
    ("change_experiment_status", Level::Write, "key=access-exp&status=stopped"),
    ("experiment_results", Level::Results, "key=access-exp&method=&cuped=false&correction=&segment="),
    ("signal_library", Level::Read, "stage=&channel=&status="),
    ("signal_detail", Level::Read, "key=product-viewed"),
    ("save_signal", Level::Write, "spec=%7B%7D"),
    ("change_signal_status", Level::Write, "key=no-such-signal&status=deprecated"),
    ("preview_signal", Level::Read, "spec=%7B%7D"),
    ("metric_library", Level::Results, ""),
    (
        "save_metric",
        Level::Write,
        "metric%5Bkey%5D=&metric%5Bname%5D=&metric%5Bmeasure%5D=&metric%5Bwindow_days%5D=&metric%5Bcapping%5D=",
    ),
    ("list_users", Level::Admin, ""),
    ("create_user", Level::Admin, "email=&password=&role="),
    ("update_user", Level::Admin, "id=999999"),
    ("list_api_keys", Level::Admin, ""),
    ("create_api_key", Level::Admin, "name="),
    ("revoke_api_key", Level::Admin, "id=999999"),
    ("installation_settings", Level::Read, ""),
    ("save_holdout", Level::Admin, "percent=bad"),
    ("search_profiles", Level::Read, "query=&stage="),
    ("get_profile", Level::Read, "id=nobody-at-all"),
    ("profile_timeline", Level::Read, "id=nobody-at-all"),
    ("playbook_entries", Level::Results, "query="),
    ("playbook_entry", Level::Results, "id=999999"),
    ("signal_leaderboard", Level::Results, ""),
    ("conclusion_signals", Level::Read, ""),
    ("conclude_experiment", Level::Write, "key=access-exp&conclusion=%7B%7D"),
    ("reanalyze_entry", Level::Write, "id=999999&reason=&method="),
    ("follow_up_entry", Level::Write, "id=999999&key=&name="),
    ("share_playbook", Level::Write, "scope=entry%3A999999&days=1"),
    ("share_links", Level::Write, ""),
    ("revoke_share_link", Level::Write, "id=999999"),
    ("open_shared", Level::Public, "token=ils_none"),
    ("sign_in", Level::Public, "email=&password="),
    // Last: it ends the caller's session.
    ("logout", Level::Public, ""),
];

/// The pages: who gets the page and who is sent to sign in.
#[derive(Clone, Copy, Debug)]
enum Page {
    /// Anyone, signed in or not.
    Open,
    /// Signed-in people; nobody else is sent to /login.
    SignedIn,
    /// The login page: signed-in people are sent home.
    Login,
}

const PAGES: &[(&str, Page)] = &[
    ("/login", Page::Login),
    ("/share/{token}", Page::Open),
    ("/", Page::SignedIn),
    ("/experiments", Page::SignedIn),
    ("/experiments/new", Page::SignedIn),
    ("/experiments/{key}", Page::SignedIn),
    ("/experiments/{key}/edit", Page::SignedIn),
    ("/experiments/{key}/results", Page::SignedIn),
    ("/playbook", Page::SignedIn),
    ("/playbook/signals", Page::SignedIn),
    ("/playbook/shares", Page::SignedIn),
    ("/playbook/{id}", Page::SignedIn),
    ("/signals", Page::SignedIn),
    ("/signals/new", Page::SignedIn),
    ("/signals/{key}", Page::SignedIn),
    ("/metrics", Page::SignedIn),
    ("/profiles", Page::SignedIn),
    ("/profiles/{id}", Page::SignedIn),
    ("/calculator", Page::SignedIn),
    ("/planner", Page::SignedIn),
    ("/settings", Page::SignedIn),
    ("/settings/users", Page::SignedIn),
    ("/settings/api-keys", Page::SignedIn),
];

/// A path with its parameters filled in with things the suite creates (or ids that exist nowhere).
fn concrete(path: &str) -> String {
    path.replace("/experiments/{key}", "/experiments/access-exp")
        .replace("/signals/{key}", "/signals/product-viewed")
        .replace("/metrics/{key}", "/metrics/purchase")
        .replace("/flags/{key}", "/flags/access-exp")
        .replace("{token}", "ils_none")
        .replace("{id}", "999999")
        .replace(":token", "ils_none")
}

struct Callers {
    clients: Vec<(Who, Client)>,
}

impl Callers {
    async fn new(app: &TestApp) -> Callers {
        let mut clients = vec![(Who::Nobody, crate::helpers::new_client())];
        for (who, role) in [(Who::Viewer, "viewer"), (Who::Editor, "editor"), (Who::Admin, "admin")] {
            clients.push((who, app.signed_in(role).await));
        }
        for (who, scopes) in
            [(Who::AssignKey, "assign"), (Who::IngestKey, "ingest"), (Who::ReadKey, "read"), (Who::AdminKey, "admin")]
        {
            let key = app.api_key(scopes).await;
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
            let client =
                Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap();
            clients.push((who, client));
        }
        Callers { clients }
    }

    fn client(&self, who: Who) -> &Client {
        &self.clients.iter().find(|(w, _)| *w == who).expect("every caller has a client").1
    }
}

fn outcome(status: StatusCode) -> Outcome {
    match status.as_u16() {
        401 => Outcome::Unauthenticated,
        403 => Outcome::Forbidden,
        _ => Outcome::Through,
    }
}

async fn fixtures(app: &TestApp, callers: &Callers) {
    let experiment = json!({"key": "access-exp", "name": "Access", "variations": [{"key": "a"}, {"key": "b"}]});
    let created = callers.client(Who::Admin).post(app.url("/api/v1/experiments")).json(&experiment).send().await;
    assert_eq!(created.unwrap().status(), 201);
    let started = callers.client(Who::Admin).post(app.url("/api/v1/experiments/access-exp/start")).send().await;
    assert_eq!(started.unwrap().status(), 200);
}

#[tokio::test]
async fn every_route_answers_each_caller_as_the_table_says() {
    let app = spawn_app().await;
    let callers = Callers::new(&app).await;
    fixtures(&app, &callers).await;
    let mut wrong = Vec::new();

    // The table covers the router exactly.
    let routes: Vec<(String, String)> =
        intentlab::startup::endpoints().into_iter().map(|(m, p)| (m.to_string(), p)).collect();
    let listed: Vec<(String, String)> = ENDPOINTS.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    for route in &routes {
        if !listed.contains(route) {
            wrong.push(format!("{} {}: a route with no entry in the access table", route.0, route.1));
        }
    }
    for entry in &listed {
        if !routes.contains(entry) {
            wrong.push(format!("{} {}: in the access table but not a route", entry.0, entry.1));
        }
    }
    let functions: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    for name in &functions {
        if !SERVER_FUNCTIONS.iter().any(|(listed, _, _)| listed == name) {
            wrong.push(format!("server function {name}: no entry in the access table"));
        }
    }
    for (name, _, _) in SERVER_FUNCTIONS {
        if !functions.iter().any(|f| f == name) {
            wrong.push(format!("server function {name}: in the access table but not registered"));
        }
    }
    let pages: Vec<String> = intentlab::startup::page_paths();
    for page in &pages {
        if !PAGES.iter().any(|(listed, _)| concrete(listed) == concrete(page)) {
            wrong.push(format!("page {page}: no entry in the access table"));
        }
    }

    for (method, path, level) in ENDPOINTS {
        for (who, expected) in EVERYONE.iter().zip(level.outcomes()) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = callers.client(*who).request(method.clone(), app.url(&concrete(path)));
            if method != Method::GET {
                request = request.json(&json!({}));
            }
            let status = request.send().await.unwrap().status();
            if status.is_server_error() || outcome(status) != expected {
                wrong.push(format!("{method} {path} as {who:?}: {status}, expected {expected:?}"));
            }
        }
    }
    // Fresh sessions: the last endpoint signed the callers out.
    let callers = Callers::new(&app).await;
    for (name, level, arguments) in SERVER_FUNCTIONS {
        for (who, expected) in EVERYONE.iter().zip(level.outcomes()) {
            let response = callers
                .client(*who)
                .post(app.url(&format!("/api/{name}")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(arguments.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            if status.is_server_error() || outcome(status) != expected {
                let body = response.text().await.unwrap_or_default();
                wrong.push(format!("server function {name} as {who:?}: {status}, expected {expected:?}: {body}"));
            }
        }
    }
    // Pages, with fresh sessions (the calls above signed the callers out).
    let callers = Callers::new(&app).await;
    for (path, page) in PAGES {
        for who in [Who::Nobody, Who::Viewer, Who::Editor, Who::Admin] {
            let response = callers.client(who).get(app.url(&concrete(path))).send().await.unwrap();
            let status = response.status();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_string());
            let fine = match (page, who) {
                (Page::Open, _) => status.is_success() || status == StatusCode::NOT_FOUND,
                (Page::SignedIn, Who::Nobody) => location.as_deref().is_some_and(|l| l.starts_with("/login?next=")),
                (Page::SignedIn, _) => !status.is_server_error() && !status.is_redirection(),
                (Page::Login, Who::Nobody) => status.is_success(),
                (Page::Login, _) => location.as_deref() == Some("/"),
            };
            if !fine {
                wrong.push(format!("page {path} as {who:?}: {status} {location:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} answers differ from the access table:\n{}", wrong.len(), wrong.join("\n"));
}
