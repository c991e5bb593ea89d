//! `/api/v1/playbook`: concluded experiments as a searchable library of learnings, with exports (JSON, CSV,
//! Markdown), re-analysis revisions, follow-ups, the signal leaderboard and share links; `/api/v1/shared/{token}`
//! opens a share link without an account.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use app::auth::{level, Needs};
use app::domain::playbook::{CreatedShareLink, EntryDetail, PlaybookQuery, ShareLink, SharedView, SignalRecord};
use app::domain::playbook_export;
use app::error::AppError;
use app::model::Experiment;
use app::services::playbook;
use app::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// The representations an entry or a view can be exported as.
enum Format {
    Json,
    Csv,
    Markdown,
}

/// Takes `format` out of the query pairs; JSON when absent.
fn take_format(pairs: &mut Vec<(String, String)>) -> Result<Format, AppError> {
    let Some(at) = pairs.iter().position(|(name, _)| name == "format") else { return Ok(Format::Json) };
    match pairs.remove(at).1.as_str() {
        "" | "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        "md" | "markdown" => Ok(Format::Markdown),
        other => Err(AppError::invalid(format!("format: '{other}' is not one of json, csv, md"))),
    }
}

fn file(content_type: &'static str, name: &str, body: String) -> Response {
    let disposition = format!("inline; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

const CSV: &str = "text/csv; charset=utf-8";
const MARKDOWN: &str = "text/markdown; charset=utf-8";

/// `POST /api/v1/experiments/{key}/conclude`
pub async fn conclude(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<EntryDetail>), AppError> {
    Ok((StatusCode::CREATED, Json(playbook::conclude(&state, &caller, &key, body).await?)))
}

/// `GET /api/v1/playbook?q=&signal=&stage=&channel=&segment=&metric=&decision=&outcome=&tag=&from=&to=&sort=&format=`
pub async fn list_entries(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
    ApiQuery(mut pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let format = take_format(&mut pairs)?;
    let query =
        PlaybookQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(AppError::invalid)?;
    let entries = playbook::list(&state.db, &caller, &query).await?;
    Ok(match format {
        Format::Json => Json(entries).into_response(),
        Format::Csv => file(CSV, "playbook.csv", playbook_export::csv(&entries).map_err(AppError::internal)?),
        Format::Markdown => file(MARKDOWN, "playbook.md", playbook_export::markdown_list(&entries, &query)),
    })
}

/// `GET /api/v1/playbook/{id}?revision=&format=`
pub async fn get_entry(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(mut pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let format = take_format(&mut pairs)?;
    let mut revision = None;
    for (name, value) in pairs {
        match name.as_str() {
            "revision" => {
                revision = Some(value.parse::<u32>().map_err(|_| {
                    AppError::invalid(format!("revision: '{value}' is not a revision number (1, 2, …)"))
                })?)
            }
            other => return Err(AppError::invalid(format!("unknown parameter '{other}': expected revision, format"))),
        }
    }
    let detail = playbook::get(&state.db, &caller, id, revision).await?;
    let name = format!("playbook-{}", detail.entry.reading.experiment);
    Ok(match format {
        Format::Json => Json(detail).into_response(),
        Format::Csv => file(
            CSV,
            &format!("{name}.csv"),
            playbook_export::csv(std::slice::from_ref(&detail.entry)).map_err(AppError::internal)?,
        ),
        Format::Markdown => file(MARKDOWN, &format!("{name}.md"), playbook_export::markdown_entry(&detail)),
    })
}

/// `POST /api/v1/playbook/{id}/revisions`: `{"reason", "analysis"}`
pub async fn reanalyze(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<EntryDetail>), AppError> {
    Ok((StatusCode::CREATED, Json(playbook::reanalyze(&state, &caller, id, body).await?)))
}

/// `POST /api/v1/playbook/{id}/follow-up`: `{"key", "name"}` → a new draft experiment
pub async fn follow_up(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Experiment>), AppError> {
    Ok((StatusCode::CREATED, Json(playbook::follow_up(&state, &caller, id, body).await?)))
}

/// `GET /api/v1/playbook/signals`
pub async fn signal_leaderboard(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
) -> Result<Json<Vec<SignalRecord>>, AppError> {
    Ok(Json(playbook::leaderboard(&state.db, &caller).await?))
}

/// `POST /api/v1/playbook/shares`: `{"entry_id"}` or `{"filter": {...}}`, with `label`, `expires_in_days`
pub async fn create_share(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<CreatedShareLink>), AppError> {
    Ok((StatusCode::CREATED, Json(playbook::share(&state.db, &caller, body).await?)))
}

pub async fn list_shares(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
) -> Result<Json<Vec<ShareLink>>, AppError> {
    Ok(Json(playbook::share_links(&state.db, &caller).await?))
}

pub async fn revoke_share(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, AppError> {
    playbook::revoke_share(&state.db, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/shared/{token}`: no account needed; the token is the permission.
pub async fn open_share(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<SharedView>, AppError> {
    Ok(Json(playbook::open_share(&state.db, &token).await?))
}
