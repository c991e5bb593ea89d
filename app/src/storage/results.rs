//! What an experiment's results are computed from: its exposures (with the profile each unit belongs to) and
//! the orders and events of the exposed profiles.

use super::{on_pool, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExposureRow {
    pub unit_id: String,
    pub variation_index: i32,
    pub first_exposed_at: DateTime<Utc>,
    pub attributes: Json<Map<String, Value>>,
    /// The unified profile the unit id belongs to, when the unit has sent events.
    pub profile_id: Option<i64>,
}

pub async fn exposures(db: &Db, experiment_id: i64) -> Result<Vec<ExposureRow>, AppError> {
    let sql = "SELECT e.unit_id, e.variation_index, e.first_exposed_at, e.attributes, i.profile_id \
               FROM exposures e LEFT JOIN identities i ON i.id = e.unit_id WHERE e.experiment_id = $1";
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(experiment_id).fetch_all(pool).await)?)
}

/// The profiles exposed to the experiment (a sub-select, so no list of ids travels to the database).
const EXPOSED_PROFILES: &str =
    "SELECT i.profile_id FROM exposures e JOIN identities i ON i.id = e.unit_id WHERE e.experiment_id = $1";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub profile_id: i64,
    pub at: DateTime<Utc>,
    pub revenue: Option<f64>,
}

pub async fn orders(db: &Db, experiment_id: i64) -> Result<Vec<OrderRow>, AppError> {
    let sql = format!("SELECT profile_id, at, revenue FROM orders WHERE profile_id IN ({EXPOSED_PROFILES})");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(experiment_id).fetch_all(pool).await)?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub profile_id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub event: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub channel: String,
    pub properties: Json<Map<String, Value>>,
}

/// Which events the metrics can use: events with these names (track events, or views named so), and every page
/// and screen view when `views` (a signal counts views). Everything else stays in the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub names: Vec<String>,
    pub views: bool,
}

/// The events `filter` lets through, of the exposed profiles, from `since` on: each profile's oldest first (the
/// order the `(profile_id, timestamp)` index gives without sorting).
pub async fn events(
    db: &Db,
    experiment_id: i64,
    since: DateTime<Utc>,
    filter: &EventFilter,
) -> Result<Vec<EventRow>, AppError> {
    // $1 and $2 are the experiment and `since`; the names follow.
    let placeholders: Vec<String> = (0..filter.names.len()).map(|i| format!("${}", i + 3)).collect();
    let mut wanted = Vec::new();
    if !placeholders.is_empty() {
        wanted.push(format!("event IN ({})", placeholders.join(", ")));
    }
    if filter.views {
        wanted.push("type IN ('page', 'screen')".to_string());
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT profile_id, type, event, timestamp, channel, properties FROM events \
         WHERE profile_id IN ({EXPOSED_PROFILES}) AND type IN ('track', 'page', 'screen') AND ({}) \
         AND timestamp >= $2 ORDER BY profile_id, timestamp",
        wanted.join(" OR ")
    );
    on_pool!(db, pool => {
        let mut query = sqlx::query_as(&sql).bind(experiment_id).bind(since);
        for name in &filter.names {
            query = query.bind(name);
        }
        Ok(query.fetch_all(pool).await?)
    })
}
