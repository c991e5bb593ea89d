//! Use cases shared by the REST API, server functions and the CLI: each checks access, parses input, and calls
//! storage. Handlers and server functions stay a few lines long and cannot disagree with each other.

pub mod api_keys;
pub mod assignments;
pub mod auth;
pub mod experiments;
pub mod exposures;
pub mod geoip;
pub mod ingest;
pub mod metrics;
pub mod playbook;
pub mod profiles;
pub mod results;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod users;

use crate::error::AppError;
use crate::state::AppState;

/// Rebuilds every in-memory copy of the configuration: the experiments the assignment API serves and the signal
/// library the ingest writer scores with.
///
/// Reloads take turns: otherwise a slow periodic reload that read the database before a change could replace the
/// snapshot built after it, and serve stale experiments or opt-outs until the next reload.
pub async fn reload_configuration(state: &AppState) -> Result<(), AppError> {
    let _turn = state.reload_lock.lock().await;
    assignments::reload(state).await?;
    signals::reload(state).await
}

/// After a configuration change: reload here and tell the other instances sharing the database.
pub async fn configuration_changed(state: &AppState) -> Result<(), AppError> {
    assignments::changed(state).await
}
