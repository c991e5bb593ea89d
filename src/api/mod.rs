//! The REST API under /api/v1. Handlers are thin: extract, call a service, return JSON. Errors are `AppError`,
//! rendered once as `{"error":{"code","message"}}`.

pub mod api_keys;
pub mod assign;
pub mod auth;
pub mod body;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod ofrep;
pub mod playbook;
pub mod profiles;
pub mod segment;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod users;

use app::error::AppError;
use app::state::AppState;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{id}", patch(users::update_user))
        .route("/api-keys", get(api_keys::list_api_keys).post(api_keys::create_api_key))
        .route("/api-keys/{id}/revoke", post(api_keys::revoke_api_key))
        .route("/experiments", get(experiments::list_experiments).post(experiments::create_experiment))
        .route("/experiments/{key}", get(experiments::get_experiment).patch(experiments::update_experiment))
        .route("/experiments/{key}/start", post(experiments::start_experiment))
        .route("/experiments/{key}/stop", post(experiments::stop_experiment))
        .route("/experiments/{key}/results", get(experiments::experiment_results))
        .route("/experiments/{key}/conclude", post(playbook::conclude))
        .route("/playbook", get(playbook::list_entries))
        .route("/playbook/signals", get(playbook::signal_leaderboard))
        .route("/playbook/shares", get(playbook::list_shares).post(playbook::create_share))
        .route("/playbook/shares/{id}/revoke", post(playbook::revoke_share))
        .route("/playbook/{id}", get(playbook::get_entry))
        .route("/playbook/{id}/revisions", post(playbook::reanalyze))
        .route("/playbook/{id}/follow-up", post(playbook::follow_up))
        .route("/shared/{token}", get(playbook::open_share))
        .route("/experiments/{key}/assignment", get(assign::assignment))
        .route("/assign", post(assign::assign))
        .route("/config", get(assign::config))
        .route("/settings", get(settings::get_settings).put(settings::update_settings))
        .route("/events", post(events::ingest_events))
        .route("/ingest/stats", get(events::ingest_stats))
        .route("/users/{id}/opt-out", post(events::opt_out))
        .route("/users/{id}/opt-in", post(events::opt_in))
        .route("/profiles", get(profiles::search_profiles))
        .route("/profiles/{id}", get(profiles::get_profile))
        .route("/profiles/{id}/events", get(profiles::profile_events))
        .route("/units/{id}/intent", get(profiles::unit_intent))
        .route("/signals", get(signals::list_signals).post(signals::create_signal))
        .route("/signals/preview", post(signals::preview_signal))
        .route("/signals/{key}", get(signals::get_signal).patch(signals::update_signal))
        .route("/signals/{key}/deprecate", post(signals::deprecate_signal))
        .route("/signals/{key}/activate", post(signals::activate_signal))
        .route("/signals/{key}/volume", get(signals::signal_volume))
        .route("/metrics", get(metrics::list_metrics).post(metrics::create_metric))
        .route("/metrics/{key}", get(metrics::get_metric).patch(metrics::update_metric))
        .route("/stats/compare", post(stats::compare))
        .route("/stats/power", post(stats::power))
        .route("/stats/adjust", post(stats::adjust))
        .route("/openapi.json", get(openapi))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The OpenAPI document of the results API (`docs/openapi.json`, compiled in), readable without credentials.
async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], include_str!("../../docs/openapi.json"))
}

pub async fn unknown_endpoint(uri: Uri) -> AppError {
    AppError::not_found(format!("no API endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{} is not allowed on {}", method, uri.path()))
}
