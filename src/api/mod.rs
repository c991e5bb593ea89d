//! The REST API under /api/v1. Handlers are thin: extract, call a service, return JSON. Errors are `AppError`,
//! rendered once as `{"error":{"code","message"}}`.

pub mod api_keys;
pub mod assign;
pub mod auth;
pub mod body;
pub mod endpoints;
pub mod events;
pub mod experiments;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod ofrep;
pub mod openapi;
pub mod playbook;
pub mod profiles;
pub mod segment;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod users;

use app::error::AppError;
use app::state::AppState;
use axum::http::{Method, Uri};
use axum::Router;
use endpoints::Endpoints;

/// The REST API's endpoints, under `/api/v1`.
pub fn endpoints() -> Endpoints {
    Endpoints::new("/api/v1")
        .post("/auth/login", auth::login)
        .post("/auth/logout", auth::logout)
        .get("/me", auth::me)
        .get("/users", users::list_users)
        .post("/users", users::create_user)
        .patch("/users/{id}", users::update_user)
        .get("/api-keys", api_keys::list_api_keys)
        .post("/api-keys", api_keys::create_api_key)
        .post("/api-keys/{id}/revoke", api_keys::revoke_api_key)
        .get("/experiments", experiments::list_experiments)
        .post("/experiments", experiments::create_experiment)
        .get("/experiments/{key}", experiments::get_experiment)
        .patch("/experiments/{key}", experiments::update_experiment)
        .post("/experiments/{key}/start", experiments::start_experiment)
        .post("/experiments/{key}/stop", experiments::stop_experiment)
        .get("/experiments/{key}/results", experiments::experiment_results)
        .post("/experiments/{key}/conclude", playbook::conclude)
        .get("/playbook", playbook::list_entries)
        .get("/playbook/signals", playbook::signal_leaderboard)
        .get("/playbook/shares", playbook::list_shares)
        .post("/playbook/shares", playbook::create_share)
        .post("/playbook/shares/{id}/revoke", playbook::revoke_share)
        .get("/playbook/{id}", playbook::get_entry)
        .post("/playbook/{id}/revisions", playbook::reanalyze)
        .post("/playbook/{id}/follow-up", playbook::follow_up)
        .get("/shared/{token}", playbook::open_share)
        .get("/experiments/{key}/assignment", assign::assignment)
        .post("/assign", assign::assign)
        .get("/config", assign::config)
        .get("/settings", settings::get_settings)
        .put("/settings", settings::update_settings)
        .post("/events", events::ingest_events)
        .get("/ingest/stats", events::ingest_stats)
        .post("/users/{id}/opt-out", events::opt_out)
        .post("/users/{id}/opt-in", events::opt_in)
        .get("/profiles", profiles::search_profiles)
        .get("/profiles/{id}", profiles::get_profile)
        .get("/profiles/{id}/events", profiles::profile_events)
        .get("/units/{id}/intent", profiles::unit_intent)
        .get("/signals", signals::list_signals)
        .post("/signals", signals::create_signal)
        .post("/signals/preview", signals::preview_signal)
        .get("/signals/{key}", signals::get_signal)
        .patch("/signals/{key}", signals::update_signal)
        .post("/signals/{key}/deprecate", signals::deprecate_signal)
        .post("/signals/{key}/activate", signals::activate_signal)
        .get("/signals/{key}/volume", signals::signal_volume)
        .get("/metrics", metrics::list_metrics)
        .post("/metrics", metrics::create_metric)
        .get("/metrics/{key}", metrics::get_metric)
        .patch("/metrics/{key}", metrics::update_metric)
        .post("/stats/compare", stats::compare)
        .post("/stats/power", stats::power)
        .post("/stats/adjust", stats::adjust)
        .get("/openapi.json", openapi)
}

pub fn router() -> Router<AppState> {
    endpoints().router().fallback(unknown_endpoint).method_not_allowed_fallback(method_not_allowed)
}

/// The OpenAPI document of every endpoint, readable without credentials.
async fn openapi() -> axum::Json<&'static serde_json::Value> {
    axum::Json(openapi::document())
}

pub async fn unknown_endpoint(uri: Uri) -> AppError {
    AppError::not_found(format!("no API endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{} is not allowed on {}", method, uri.path()))
}
