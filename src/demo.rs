//! `intentlab demo`: fills the configured database with the simulated shop of `app::domain::demo`, through the
//! same code the API runs — experiments created and started by the experiments service, units bucketed by the
//! assignment snapshot, events validated, stitched and scored by the ingest pipeline — then concludes two of
//! the experiments into the playbook and reports the planted truths.

use anyhow::{anyhow, bail};
use app::auth::Caller;
use app::domain::access::Scope;
use app::domain::demo::{experiments, person, DemoPlan};
use app::domain::events::{BatchDefaults, Dialect};
use app::domain::experiment::Status;
use app::services::{experiments as experiment_service, ingest, playbook};
use app::state::AppState;
use app::storage::exposures::{insert_batch, Exposure};
use chrono::Utc;
use serde_json::{json, Value};

/// Events per ingest call (the API takes at most 10 000).
const EVENTS_PER_BATCH: usize = 5_000;

#[derive(Clone, Copy, Debug)]
pub struct DemoOptions {
    pub users: usize,
    pub days: u32,
    pub seed: u64,
}

/// What the demo wrote, and the truths to check the results against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub users: usize,
    pub events_sent: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub consent_dropped: usize,
    pub opted_out: usize,
    pub exposures: usize,
    pub orders: usize,
    /// (experiment key, planted truth)
    pub truths: Vec<(String, String)>,
    pub concluded: Vec<String>,
}

impl std::fmt::Display for DemoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "demo shop: {} people, {} orders", self.users, self.orders)?;
        writeln!(
            f,
            "events: {} sent, {} stored, {} duplicates, {} rejected (malformed), {} without analytics consent, {} after an opt-out",
            self.events_sent, self.accepted, self.duplicates, self.rejected, self.consent_dropped, self.opted_out
        )?;
        writeln!(f, "exposures: {}", self.exposures)?;
        writeln!(f, "planted effects (what the results pages should recover):")?;
        for (key, truth) in &self.truths {
            writeln!(f, "  {key:<26} {truth}")?;
        }
        write!(f, "concluded into the playbook: {}", self.concluded.join(", "))
    }
}

/// Whether the demo was loaded already (its first experiment exists).
pub async fn loaded(state: &AppState) -> anyhow::Result<bool> {
    let first = experiments(0).remove(0);
    Ok(app::storage::experiments::find(&state.db, first.key())
        .await
        .map_err(|e| anyhow!(e.public_message()))?
        .is_some())
}

/// Loads the demo; `progress(people_done)` is called after each batch. The ingest writer must be running.
pub async fn load(state: &AppState, options: DemoOptions, progress: impl Fn(usize)) -> anyhow::Result<DemoReport> {
    if options.users == 0 || options.days == 0 {
        bail!("the demo needs at least one user and one day");
    }
    if loaded(state).await? {
        bail!("the demo data is loaded already; point DATABASE_URL at a fresh database to load it again");
    }
    let caller = Caller::in_process("demo simulator", vec![Scope::Ingest, Scope::Admin]);
    let fail = |e: app::error::AppError| anyhow!(e.public_message());
    let planted = experiments(options.seed);
    let mut ids = Vec::new();
    for experiment in &planted {
        let created = experiment_service::create(state, &caller, experiment.spec.clone()).await.map_err(fail)?;
        experiment_service::transition(state, &caller, &created.spec.key, Status::Running).await.map_err(fail)?;
        ids.push((created.id, created.spec.key));
    }
    let snapshot = state.assignments.current();
    let keys: Vec<Vec<String>> = ids.iter().map(|(_, key)| vec![key.clone()]).collect();
    let assign = |experiment: usize, unit: &str, attributes: &serde_json::Map<String, Value>| {
        snapshot.assign(unit, attributes, Some(&keys[experiment])).first().and_then(|a| a.variation_index)
    };

    let plan = DemoPlan { users: options.users, days: options.days, seed: options.seed, now: Utc::now() };
    let mut report = DemoReport { users: options.users, ..Default::default() };
    let mut events: Vec<Value> = Vec::new();
    let mut exposures: Vec<Exposure> = Vec::new();
    for index in 0..options.users {
        let someone = person(&plan, &planted, index, &assign);
        report.orders += someone.orders;
        exposures.extend(someone.exposures.into_iter().map(|e| Exposure {
            experiment_id: ids[e.experiment].0,
            unit_id: e.unit_id,
            variation_index: e.variation,
            at: e.at,
            attributes: e.attributes,
        }));
        events.extend(someone.events);
        if events.len() >= EVENTS_PER_BATCH || index + 1 == options.users {
            insert_batch(&state.db, &exposures).await.map_err(fail)?;
            report.exposures += exposures.len();
            exposures.clear();
            let answer = ingest::ingest(state, &caller, &events, Dialect::Native, &BatchDefaults::default())
                .await
                .map_err(fail)?;
            report.events_sent += events.len();
            report.accepted += answer.accepted;
            report.duplicates += answer.duplicates;
            report.rejected += answer.rejected.len();
            report.consent_dropped += answer.consent_dropped;
            report.opted_out += answer.opted_out;
            events.clear();
            progress(index + 1);
        }
    }
    report.truths = planted.iter().map(|p| (p.key().to_string(), p.truth.to_string())).collect();
    for (experiment, conclusion) in planted.iter().zip(conclusions()) {
        let Some(body) = conclusion else { continue };
        let key = experiment.key();
        experiment_service::transition(state, &caller, key, Status::Stopped).await.map_err(fail)?;
        playbook::conclude(state, &caller, key, body).await.map_err(fail)?;
        report.concluded.push(key.to_string());
    }
    Ok(report)
}

/// How the demo concludes its experiments (in `experiments()` order); `None` keeps one running.
fn conclusions() -> [Option<Value>; 4] {
    [
        Some(json!({
            "decision": "ship", "winning_variation": "treatment",
            "summary": "Putting the product video first raised purchase conversion: shoppers who watch most of a video are close to buying, and more of them watched.",
            "signals": ["video-watched-75"],
            "segments": [{"attribute": "all", "value": "everyone", "effect": "held"}],
            "tags": ["video", "product-page", "demo"],
            "notes": "Merchandising: keep videos under a minute; customer care saw fewer sizing questions."
        })),
        None,
        Some(json!({
            "decision": "abandon",
            "summary": "A bigger size-guide link changed nothing: people who need the size guide find it anyway.",
            "signals": ["size-guide-viewed"],
            "segments": [{"attribute": "device", "value": "mobile", "effect": "failed"}],
            "tags": ["size-guide", "product-page", "demo"],
            "notes": ""
        })),
        None,
    ]
}
