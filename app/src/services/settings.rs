//! Installation-wide settings that admins change: the global holdout (the share of units kept out of every
//! experiment, to measure the combined effect of all tests against untouched traffic), how intent scores become
//! stages, and which event is a purchase.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::error::AppError;
pub use crate::model::{InstallationSettings as Settings, SettingsChange};
use crate::services::signals::{self, INTENT_SETTING, PURCHASE_SETTING};
use crate::state::AppState;
use crate::storage::{settings, signals as signal_store};
use chrono::Utc;

/// A holdout above half the traffic would leave experiments starved; it is a control group, not the product.
const MAX_HOLDOUT: f64 = 0.5;

pub async fn get(state: &AppState, caller: &Caller) -> Result<Settings, AppError> {
    caller.require(Access::Read)?;
    Ok(Settings {
        global_holdout: state.assignments.current().holdout,
        intent: signals::intent_config(&state.db).await?,
        purchase: signals::purchase_config(&state.db).await?,
    })
}

pub async fn update(state: &AppState, caller: &Caller, change: SettingsChange) -> Result<Settings, AppError> {
    caller.require(Access::Admin)?;
    let now = Utc::now();
    if let Some(holdout) = change.global_holdout {
        if !(0.0..=MAX_HOLDOUT).contains(&holdout) {
            return Err(AppError::invalid(format!(
                "global_holdout must be between 0 and {MAX_HOLDOUT}, not {holdout}"
            )));
        }
    }
    if let Some(intent) = &change.intent {
        intent.validate().map_err(|p| AppError::invalid(format!("intent: {p}")))?;
        let stages = intent.stage_names();
        let orphans: Vec<String> = signal_store::list(&state.db)
            .await?
            .into_iter()
            .filter(|s| !stages.contains(&s.spec.stage))
            .map(|s| format!("{} ({})", s.spec.key, s.spec.stage))
            .collect();
        if !orphans.is_empty() {
            return Err(AppError::conflict(format!(
                "these signals use stages the new configuration removes: {}; move them first",
                orphans.join(", ")
            )));
        }
    }
    if let Some(purchase) = &change.purchase {
        purchase.validate().map_err(|p| AppError::invalid(format!("purchase: {p}")))?;
    }
    if let Some(holdout) = change.global_holdout {
        settings::set(&state.db, settings::GLOBAL_HOLDOUT, &holdout.to_string(), now).await?;
    }
    for (name, value) in [
        (INTENT_SETTING, change.intent.as_ref().map(serde_json::to_string)),
        (PURCHASE_SETTING, change.purchase.as_ref().map(serde_json::to_string)),
    ] {
        if let Some(json) = value {
            settings::set(&state.db, name, &json.map_err(AppError::internal)?, now).await?;
        }
    }
    crate::services::configuration_changed(state).await?;
    tracing::info!(?change, by = %caller.label(), "settings changed");
    get(state, caller).await
}
