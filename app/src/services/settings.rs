//! Installation-wide settings that admins change: today the global holdout, the share of units kept out of every
//! experiment (to measure the combined effect of all tests against untouched traffic).

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::error::AppError;
use crate::services::assignments;
use crate::state::AppState;
use crate::storage::settings;
use chrono::Utc;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Share of units (0 to 0.5) excluded from all experiments.
    pub global_holdout: f64,
}

/// A holdout above half the traffic would leave experiments starved; it is a control group, not the product.
const MAX_HOLDOUT: f64 = 0.5;

pub async fn get(state: &AppState, caller: &Caller) -> Result<Settings, AppError> {
    caller.require(Access::Read)?;
    Ok(Settings { global_holdout: state.assignments.current().holdout })
}

pub async fn update(state: &AppState, caller: &Caller, next: Settings) -> Result<Settings, AppError> {
    caller.require(Access::Admin)?;
    let holdout = next.global_holdout;
    if !(0.0..=MAX_HOLDOUT).contains(&holdout) {
        return Err(AppError::invalid(format!("global_holdout must be between 0 and {MAX_HOLDOUT}, not {holdout}")));
    }
    settings::set(&state.db, settings::GLOBAL_HOLDOUT, &holdout.to_string(), Utc::now()).await?;
    assignments::changed(state).await?;
    tracing::info!(holdout, by = %caller.label(), "global holdout changed");
    Ok(Settings { global_holdout: holdout })
}
