//! Background jobs. Periodic jobs share one shape: a name, a period, and an async step over the application
//! state. All jobs start with the server and stop when it shuts down, after in-flight requests have finished.

use app::error::AppError;
use app::state::AppState;
use app::storage::{login_failures, sessions::SessionStore};
use chrono::Utc;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_sessions::session_store::ExpiredDeletion;

type Step = fn(AppState) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>>;

struct Job {
    name: &'static str,
    period: Duration,
    step: Step,
}

const JOBS: &[Job] = &[
    Job { name: "prune-auth-records", period: Duration::from_secs(600), step: prune_auth_records },
    Job { name: "reload-configuration", period: Duration::from_secs(30), step: reload_configuration },
    Job { name: "refresh-results", period: Duration::from_secs(30), step: refresh_results },
    Job { name: "checkpoint-wal", period: Duration::from_secs(1), step: checkpoint_wal },
];

/// Copies SQLite's write-ahead log into the database file beside the ingest writer, so that the checkpoints inside
/// its commits have little left to copy (see `Db::dedicated_writer`).
fn checkpoint_wal(state: AppState) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move { Ok(state.db.checkpoint().await?) })
}

/// Keeps the results data of running experiments that someone reads current, so that results stay fresh and
/// fast between visits.
fn refresh_results(state: AppState) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move { app::services::results::keep_fresh(&state.db, &state.results).await })
}

/// A safety net under change notifications: whatever happens to them, instances converge within this period.
fn reload_configuration(state: AppState) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move { app::services::reload_configuration(&state).await })
}

/// Deletes expired sessions and sign-in failures that have left the throttling window.
fn prune_auth_records(state: AppState) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move {
        SessionStore::new(state.db.clone()).delete_expired().await.map_err(AppError::internal)?;
        let pruned = login_failures::prune_before(&state.db, Utc::now() - state.login_throttle.window()).await?;
        state.sign_in_limits.forget_idle();
        tracing::debug!(pruned, "pruned sign-in failures");
        Ok(())
    })
}

pub struct Jobs(Vec<JoinHandle<()>>);

impl Jobs {
    /// Waits for every job to finish its current step and exit.
    pub async fn join(self) {
        for handle in self.0 {
            let _ = handle.await;
        }
    }
}

pub fn start(state: &AppState, stop: CancellationToken) -> Jobs {
    let mut handles: Vec<JoinHandle<()>> =
        JOBS.iter().map(|job| tokio::spawn(run(job, state.clone(), stop.clone()))).collect();
    // The exposure writer is driven by its queue rather than a clock; it drains the queue when stopped.
    let (exposures, db) = (state.exposures.clone(), state.db.clone());
    let stop_writer = stop.clone().cancelled_owned();
    handles.push(tokio::spawn(async move { exposures.run_writer(db, stop_writer).await }));
    // The ingest writer commits acknowledged events; it stops after requests have drained, committing the rest.
    let (ingest, db) = (state.ingest.clone(), state.db.clone());
    let stop_writer = stop.clone().cancelled_owned();
    handles.push(tokio::spawn(async move { ingest.run_writer(db, stop_writer).await }));
    // Other instances on the same PostgreSQL announce their configuration changes.
    handles.push(tokio::spawn(app::services::assignments::follow_changes(state.clone(), stop.cancelled_owned())));
    Jobs(handles)
}

async fn run(job: &'static Job, state: AppState, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(job.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {
                // A long step (reading a large experiment's data in full) must not hold up a shutdown.
                tokio::select! {
                    _ = stop.cancelled() => break,
                    outcome = (job.step)(state.clone()) => {
                        if let Err(err) = outcome {
                            tracing::warn!(job = job.name, error = %err, cause = ?err, "job step failed");
                        }
                    }
                }
            }
        }
    }
    tracing::debug!(job = job.name, "job stopped");
}
