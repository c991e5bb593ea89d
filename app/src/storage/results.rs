//! What an experiment's results are computed from: its exposures (with the profile each unit belongs to) and
//! the orders and events of the exposed profiles — all of them, or only what changed since a moment.

use super::{on_pool, push_list, Backend, Db};
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

/// The experiment's exposures; with `recorded_since`, only those recorded from then on.
pub async fn exposures(
    db: &Db,
    experiment_id: i64,
    recorded_since: Option<DateTime<Utc>>,
) -> Result<Vec<ExposureRow>, AppError> {
    on_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT e.unit_id, e.variation_index, e.first_exposed_at, e.attributes, i.profile_id \
             FROM exposures e LEFT JOIN identities i ON i.id = e.unit_id WHERE e.experiment_id = ",
        );
        query.push_bind(experiment_id);
        if let Some(since) = recorded_since {
            query.push(" AND e.recorded_at >= ").push_bind(since);
        }
        Ok(query.build_query_as().fetch_all(pool).await?)
    })
}

/// The exposed units (unit id, profile) of every profile changed from `changed_since` on: new events or orders,
/// a new id, or another person's ids stitched to it.
pub async fn units_of_changed_people(
    db: &Db,
    experiment_id: i64,
    changed_since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, AppError> {
    // CROSS JOIN fixes SQLite's join order (PostgreSQL plans it freely): from the few changed profiles to their
    // ids to their exposures. Left to itself, SQLite without statistics walks every exposure of the experiment.
    let sql = "SELECT e.unit_id, i.profile_id FROM profiles p CROSS JOIN identities i CROSS JOIN exposures e \
               WHERE p.changed_at >= $2 AND i.profile_id = p.id AND e.experiment_id = $1 AND e.unit_id = i.id";
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(experiment_id).bind(changed_since).fetch_all(pool).await)?)
}

/// Whose orders and events to read.
#[derive(Debug, Clone, Copy)]
pub enum People<'a> {
    /// Everyone exposed to the experiment (a sub-select, so no list of ids travels to the database).
    ExposedTo(i64),
    /// These profiles; callers pass at most `MAX_LISTED` at a time.
    Listed(&'a [i64]),
}

/// Profiles per `People::Listed` read: well under both databases' bind-parameter limits.
pub const MAX_LISTED: usize = 1000;

impl People<'_> {
    /// Appends `profile_id IN (…)` to a query.
    fn push_condition<'q, DB>(&self, query: &mut sqlx::QueryBuilder<'q, DB>)
    where
        DB: sqlx::Database,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        match *self {
            People::ExposedTo(experiment_id) => {
                query.push(
                    "profile_id IN (SELECT i.profile_id FROM exposures e JOIN identities i ON i.id = e.unit_id \
                     WHERE e.experiment_id = ",
                );
                query.push_bind(experiment_id).push(")");
            }
            People::Listed(profiles) => {
                query.push("profile_id IN ");
                if profiles.is_empty() {
                    // `IN ()` is not SQL; no profile has id 0 or less.
                    query.push("(0)");
                } else {
                    push_list(query, profiles.iter().copied());
                }
            }
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub profile_id: i64,
    pub at: DateTime<Utc>,
    pub revenue: Option<f64>,
}

pub async fn orders(db: &Db, people: People<'_>) -> Result<Vec<OrderRow>, AppError> {
    on_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new("SELECT profile_id, at, revenue FROM orders WHERE ");
        people.push_condition(&mut query);
        Ok(query.build_query_as().fetch_all(pool).await?)
    })
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

/// The events `filter` lets through, of `people`, from `since` on: each profile's oldest first (the order the
/// `(profile_id, timestamp)` index gives without sorting).
pub async fn events(
    db: &Db,
    people: People<'_>,
    since: DateTime<Utc>,
    filter: &EventFilter,
) -> Result<Vec<EventRow>, AppError> {
    if filter.names.is_empty() && !filter.views {
        return Ok(Vec::new());
    }
    // Each person's events are wanted, in order. SQLite without statistics would rather take the name index for
    // a single event name — every such event of everyone, sorted afterwards: seconds instead of milliseconds for
    // a few people.
    let events = match db.backend() {
        Backend::Sqlite => "events INDEXED BY events_profile_time",
        Backend::Postgres => "events",
    };
    on_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new(format!(
            "SELECT profile_id, type, event, timestamp, channel, properties FROM {events} WHERE "
        ));
        people.push_condition(&mut query);
        query.push(" AND type IN ('track', 'page', 'screen') AND (");
        if !filter.names.is_empty() {
            query.push("event IN ");
            push_list(&mut query, &filter.names);
        }
        if filter.views {
            query.push(if filter.names.is_empty() { "" } else { " OR " }).push("type IN ('page', 'screen')");
        }
        query.push(") AND timestamp >= ").push_bind(since).push(" ORDER BY profile_id, timestamp");
        Ok(query.build_query_as().fetch_all(pool).await?)
    })
}
