//! Application state shared by the REST API, server functions and background jobs.

use crate::domain::assignment::Snapshot;
use crate::domain::throttle::ThrottlePolicy;
use crate::model::{ApiKey, ApiKeyId};
use crate::services::exposures::ExposureLog;
use crate::services::ingest::Ingestor;
use crate::services::results::ResultsCache;
use crate::storage::Db;
use arc_swap::ArcSwap;
use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use leptos::prelude::LeptosOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub login_throttle: ThrottlePolicy,
    pub sign_in_limits: crate::auth::limits::SignInLimits,
    pub key_usage: KeyUsage,
    pub key_cache: KeyCache,
    pub assignments: AssignmentCache,
    pub exposures: ExposureLog,
    pub ingest: Ingestor,
    /// Each experiment's data for results, kept between requests (see `services::results`).
    pub results: ResultsCache,
    /// Locates `context.ip` during ingestion when the operator provides a GeoIP database.
    pub geoip: Option<crate::services::geoip::GeoIp>,
    /// Held while the in-memory configuration is rebuilt: see `services::reload_configuration`.
    pub reload_lock: Arc<tokio::sync::Mutex<()>>,
    /// Sessions end this long after sign-in, however active (`INTENTLAB_SESSION_MAX_DAYS`).
    pub session_max_age: chrono::Duration,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, db: Db) -> Self {
        Self {
            leptos_options,
            db,
            login_throttle: ThrottlePolicy::default(),
            sign_in_limits: Default::default(),
            key_usage: KeyUsage::default(),
            key_cache: KeyCache::default(),
            assignments: AssignmentCache::default(),
            exposures: ExposureLog::default(),
            ingest: Ingestor::default(),
            results: ResultsCache::default(),
            geoip: None,
            reload_lock: Arc::default(),
            session_max_age: chrono::Duration::days(30),
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

/// Recently verified API keys by secret hash, so the assignment hot path does not query the database for every
/// request. Entries expire after a few seconds; revoking a key evicts it here at once, and other instances
/// within `TTL`.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<RwLock<HashMap<String, (ApiKey, Instant)>>>);

impl KeyCache {
    pub const TTL: Duration = Duration::from_secs(5);
    /// Bounds memory if many distinct keys are used; the cache is simply cleared when it fills.
    const MAX_ENTRIES: usize = 10_000;

    pub fn get(&self, key_hash: &str) -> Option<ApiKey> {
        let entries = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(key_hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(key, _)| key.clone())
    }

    pub fn insert(&self, key_hash: String, key: ApiKey) {
        let mut entries = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key_hash, (key, Instant::now()));
    }

    pub fn evict(&self, id: ApiKeyId) {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|_, (key, _)| key.id != id);
    }
}
