//! Application state shared by the REST API, server functions and background jobs.

use crate::domain::assignment::Snapshot;
use crate::domain::throttle::ThrottlePolicy;
use crate::model::ApiKeyId;
use crate::services::exposures::ExposureLog;
use crate::storage::Db;
use arc_swap::ArcSwap;
use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use leptos::prelude::LeptosOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub login_throttle: ThrottlePolicy,
    pub key_usage: KeyUsage,
    pub assignments: AssignmentCache,
    pub exposures: ExposureLog,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, db: Db) -> Self {
        Self {
            leptos_options,
            db,
            login_throttle: ThrottlePolicy::default(),
            key_usage: KeyUsage::default(),
            assignments: AssignmentCache::default(),
            exposures: ExposureLog::default(),
        }
    }
}

/// Remembers when each API key's `last_used_at` was last written, so that a key serving thousands of requests a
/// second costs one write a minute, not one per request.
#[derive(Clone, Default)]
pub struct KeyUsage(Arc<Mutex<HashMap<ApiKeyId, DateTime<Utc>>>>);

impl KeyUsage {
    const RESOLUTION_SECS: i64 = 60;

    /// True when the stored timestamp is stale enough to be written again (and marks it as written).
    pub fn should_record(&self, id: ApiKeyId, now: DateTime<Utc>) -> bool {
        let mut seen = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match seen.get(&id) {
            Some(at) if (now - *at).num_seconds() < Self::RESOLUTION_SECS => false,
            _ => {
                seen.insert(id, now);
                true
            }
        }
    }
}

/// The experiments the assignment API evaluates, as an immutable snapshot swapped atomically on change: requests
/// read it without locks or database queries.
#[derive(Clone, Default)]
pub struct AssignmentCache(Arc<ArcSwap<Snapshot>>);

impl AssignmentCache {
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub fn replace(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }
}
