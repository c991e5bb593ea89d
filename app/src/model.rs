//! Shared types that cross the wire: returned by the REST API and by server functions, rendered by pages.
//! Rows from storage convert into these; nothing here knows about SQL.

use crate::domain::access::{Role, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type UserId = i64;
pub type ApiKeyId = i64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
    /// Sessions signed in before this are over (a password reset, a lowered role). The server's business only.
    #[serde(skip)]
    pub sessions_valid_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// The first characters of the secret, enough to recognise a key in logs and configuration.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key as returned once, at creation: the only time the secret is visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Who is calling, as `GET /api/v1/me` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Me {
    User { id: UserId, email: String, role: Role },
    ApiKey { id: ApiKeyId, name: String, scopes: Vec<Scope> },
}

/// `POST /api/v1/users` and the Users page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: String,
}

/// `PATCH /api/v1/users/{id}`: any subset of the fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

/// `POST /api/v1/api-keys` and the API keys page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
}

/// An experiment as the API returns it: the spec's fields, plus status, lifecycle times and the change history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Experiment {
    pub id: i64,
    #[serde(flatten)]
    pub spec: crate::domain::experiment::ExperimentSpec,
    pub status: crate::domain::experiment::Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub concluded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub history: Vec<ExperimentChange>,
    /// Units exposed so far, per variation (in variation order).
    #[serde(default)]
    pub exposures: Vec<VariationExposures>,
    /// The playbook entry, once concluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook_entry: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct VariationExposures {
    pub variation: String,
    pub units: i64,
}

/// One entry of an experiment's history. `detail` holds what changed: `{"field": {"from": …, "to": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ExperimentChange {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// A signal of the library as the API and pages show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Signal {
    #[serde(flatten)]
    pub spec: crate::domain::signals::SignalSpec,
    /// Raised whenever what the signal matches or scores changes; events keep the version they matched.
    pub version: i64,
    pub status: crate::domain::signals::SignalStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first; filled in for a single signal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<SignalVersion>,
    /// Newest first; filled in for a single signal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<SignalChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalVersion {
    pub version: i64,
    pub spec: crate::domain::signals::SignalSpec,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalChange {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// Matches of a signal on one day in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct VolumePoint {
    pub day: chrono::NaiveDate,
    pub channel: String,
    pub matches: i64,
}

/// One person across every id they used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Profile {
    pub id: i64,
    pub ids: Vec<Identity>,
    pub traits: serde_json::Map<String, serde_json::Value>,
    pub consent: std::collections::BTreeMap<String, bool>,
    pub opted_out: bool,
    pub channels: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub orders: i64,
    pub revenue: f64,
    pub intent: crate::domain::signals::Intent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Identity {
    pub id: String,
    /// How the id was first seen: `user_id`, `anonymous_id` or `alias`.
    pub kind: String,
    pub first_seen: DateTime<Utc>,
}

/// A row of the profile search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct ProfileSummary {
    pub id: i64,
    /// The ids the search matched or, failing that, the first ones.
    pub ids: Vec<String>,
    pub email: Option<String>,
    pub stage: String,
    /// As of the last event.
    pub intent_score: f64,
    pub channels: Vec<String>,
    pub orders: i64,
    pub opted_out: bool,
    pub last_seen: DateTime<Utc>,
}

/// An event of a profile's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct TimelineEvent {
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// When it happened (corrected for clock skew).
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub context: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_violations: Option<Vec<String>>,
}

/// A page of a profile's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema), schemars(rename = "ProfileTimeline"))]
pub struct Timeline {
    pub events: Vec<TimelineEvent>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<String>,
}

/// Ingestion counters over the last `hours` hours: totals, per source and per hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct IngestStats {
    pub since: DateTime<Utc>,
    /// accepted, duplicates, consent_dropped, opted_out, schema_violations, rejected (all codes).
    pub totals: std::collections::BTreeMap<String, i64>,
    /// Rejections by code.
    pub rejected: std::collections::BTreeMap<String, i64>,
    pub sources: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
    pub hours: Vec<HourStats>,
    /// Events waiting to be committed right now.
    pub in_flight: usize,
    /// The ingest writer's work since this instance started.
    pub writer: WriterStats,
}

/// What an instance's ingest writer has done since it started. `busy_seconds` against the uptime says how close
/// ingestion is to its limit; `queued_seconds / requests` is the mean time a request waited for its transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct WriterStats {
    /// Transactions committed, each one group of requests.
    pub groups: u64,
    pub requests: u64,
    /// Valid events in those requests (stored, duplicate or deliberately dropped).
    pub events: u64,
    /// Time spent committing.
    pub busy_seconds: f64,
    /// Time requests spent queued before their transaction began, summed over requests.
    pub queued_seconds: f64,
}

impl WriterStats {
    /// The work done between `earlier` and these totals (both read from the same instance).
    pub fn since(self, earlier: WriterStats) -> WriterStats {
        WriterStats {
            groups: self.groups - earlier.groups,
            requests: self.requests - earlier.requests,
            events: self.events - earlier.events,
            busy_seconds: self.busy_seconds - earlier.busy_seconds,
            queued_seconds: self.queued_seconds - earlier.queued_seconds,
        }
    }

    /// Mean time one transaction took, in milliseconds (0 before the first).
    pub fn ms_per_transaction(&self) -> f64 {
        1000.0 * self.busy_seconds / self.groups.max(1) as f64
    }

    /// Mean time a request waited for its transaction to begin, in milliseconds (0 before the first).
    pub fn mean_queued_ms(&self) -> f64 {
        1000.0 * self.queued_seconds / self.requests.max(1) as f64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct HourStats {
    pub hour: DateTime<Utc>,
    pub source: String,
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// What a rule would have matched over the last days: the editor's live preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Preview {
    pub since: DateTime<Utc>,
    pub units: usize,
    pub matches: usize,
    pub by_channel: std::collections::BTreeMap<String, usize>,
    /// More candidate events existed than were examined; the numbers are lower bounds.
    pub truncated: bool,
}

/// A metric in the library, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Metric {
    #[serde(flatten)]
    pub spec: crate::domain::stats::metrics::MetricSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Installation-wide settings (`GET /api/v1/settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct InstallationSettings {
    /// Share of units (0 to 0.5) excluded from all experiments.
    pub global_holdout: f64,
    pub intent: crate::domain::signals::IntentConfig,
    pub purchase: crate::domain::signals::PurchaseConfig,
}

/// A change to the installation settings: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    pub global_holdout: Option<f64>,
    pub intent: Option<crate::domain::signals::IntentConfig>,
    pub purchase: Option<crate::domain::signals::PurchaseConfig>,
}
