//! The ingest pipeline: requests hand their validated events to one writer, which commits the events of many
//! requests in one transaction (group commit: one fsync for thousands of events) and only then answers each
//! request. An acknowledged event is therefore always durable; an event that could not be committed is never
//! acknowledged (the client gets 503 and retries, and `message_id` makes the retry harmless).
//!
//! The pipeline is bounded by the number of events in flight. When it is full the request is refused at once
//! with 503 and `Retry-After` instead of queueing without limit.
//!
//! The writer runs on a thread of its own: SQLite's statements block, and a writer that shared the runtime's two
//! workers with the requests had to hand its worker over for every group (`block_in_place`) and wait for one
//! back afterwards. [`WriterStats`] tells how busy it is and how long requests queue for it.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::events::{self, BatchDefaults, Dialect, Rejection};
use crate::domain::signals::Library;
use crate::error::AppError;
use crate::model::WriterStats;
use crate::state::AppState;
use crate::storage::ingest::{Outcome, Submission, Writer};
use crate::storage::Db;
use arc_swap::ArcSwap;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Events accepted into the pipeline but not yet committed: a few seconds of peak traffic.
pub const PIPELINE_CAPACITY: usize = 200_000;
/// Events committed per transaction at most.
const MAX_GROUP_EVENTS: usize = 20_000;
/// Events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

struct Job {
    submission: Submission,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Outcome, AppError>>,
    /// Held until the job is committed: the pipeline's capacity counts events in flight.
    _permit: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct Ingestor {
    sender: mpsc::UnboundedSender<Job>,
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<Job>>>>,
    capacity: Arc<Semaphore>,
    size: usize,
    library: Arc<ArcSwap<Library>>,
    work: Arc<WriterWork>,
}

/// Running totals behind [`WriterStats`].
#[derive(Default)]
struct WriterWork {
    groups: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
    busy_micros: AtomicU64,
    queued_micros: AtomicU64,
}

impl Default for Ingestor {
    fn default() -> Self {
        Self::with_capacity(PIPELINE_CAPACITY)
    }
}

/// The answer to an ingest request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct IngestResponse {
    /// Newly stored events.
    pub accepted: usize,
    /// Events stored before (retries) or repeated in this request: not stored again.
    pub duplicates: usize,
    /// Valid events deliberately not stored: no analytics consent.
    pub consent_dropped: usize,
    /// Valid events deliberately not stored: the person opted out.
    pub opted_out: usize,
    pub rejected: Vec<Rejection>,
}

impl Ingestor {
    pub fn with_capacity(events: usize) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Ingestor {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            capacity: Arc::new(Semaphore::new(events)),
            size: events,
            library: Arc::default(),
            work: Arc::default(),
        }
    }

    /// What the writer has done since the process started.
    pub fn writer_stats(&self) -> WriterStats {
        let micros = |counter: &AtomicU64| Duration::from_micros(counter.load(Ordering::Relaxed)).as_secs_f64();
        WriterStats {
            groups: self.work.groups.load(Ordering::Relaxed),
            requests: self.work.requests.load(Ordering::Relaxed),
            events: self.work.events.load(Ordering::Relaxed),
            busy_seconds: micros(&self.work.busy_micros),
            queued_seconds: micros(&self.work.queued_micros),
        }
    }

    pub fn library(&self) -> Arc<Library> {
        self.library.load_full()
    }

    pub fn replace_library(&self, library: Library) {
        self.library.store(Arc::new(library));
    }

    /// Events waiting to be committed.
    pub fn in_flight(&self) -> usize {
        self.size.saturating_sub(self.capacity.available_permits())
    }

    /// Hands a submission to the writer and waits until it is committed.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, AppError> {
        let count = submission.events().len().max(1);
        if count > self.size {
            return Err(AppError::PayloadTooLarge(format!(
                "{count} events cannot fit the ingest pipeline ({} events); send smaller batches",
                self.size
            )));
        }
        let events = u32::try_from(count).unwrap_or(u32::MAX);
        let permit = self.capacity.clone().try_acquire_many_owned(events).map_err(|_| AppError::Overloaded {
            message: "the ingest pipeline is full; retry after the indicated number of seconds".into(),
            retry_after_secs: 1,
        })?;
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { submission, queued_at: Instant::now(), reply, _permit: permit })
            .map_err(|_| AppError::Unavailable("the ingest writer has stopped".into()))?;
        answer.await.map_err(|_| AppError::Unavailable("the ingest writer stopped before committing".into()))?
    }

    /// Commits submissions until `stop` resolves, then commits what is still queued; returns when done. The
    /// work happens on a thread of its own (`ingest-writer`).
    pub async fn run_writer(&self, db: Db, stop: impl Future<Output = ()>) {
        let Some(receiver) = self.receiver.lock().ok().and_then(|mut r| r.take()) else {
            tracing::error!("the ingest writer is already running");
            return;
        };
        let (stopping, stopped) = oneshot::channel::<()>();
        let (finished, mut done) = oneshot::channel::<()>();
        let (writer, runtime) = (self.clone(), tokio::runtime::Handle::current());
        let spawned = std::thread::Builder::new().name("ingest-writer".into()).spawn(move || {
            // Stops when told to, or when `run_writer` is dropped without being told.
            runtime.block_on(writer.write_until(db, receiver, async move {
                let _ = stopped.await;
            }));
            let _ = finished.send(());
        });
        if let Err(err) = spawned {
            // Requests then fail with 503 (the queue's receiver is gone): nothing is acknowledged unwritten.
            tracing::error!(%err, "the ingest writer's thread could not start");
            return;
        }
        tokio::select! {
            _ = stop => { let _ = stopping.send(()); }
            _ = &mut done => return,
        }
        let _ = done.await;
    }

    async fn write_until(&self, db: Db, mut receiver: mpsc::UnboundedReceiver<Job>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut writer = loop {
            match Writer::open(&db).await {
                Ok(writer) => break writer,
                // Requests queue meanwhile, until the pipeline is full and refuses more with 503.
                Err(err) => tracing::error!(%err, "the ingest writer cannot open its connection; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                // Nothing queued was acknowledged: dropping it answers its requests with 503.
                _ = &mut stop => return,
            }
        };
        loop {
            tokio::select! {
                biased;
                job = receiver.recv() => match job {
                    Some(first) => self.commit_group(&mut writer, collect_group(first, &mut receiver)).await,
                    None => break,
                },
                _ = &mut stop => {
                    // Requests have finished (the server stops jobs after draining them): commit the rest.
                    receiver.close();
                    while let Some(first) = receiver.recv().await {
                        self.commit_group(&mut writer, collect_group(first, &mut receiver)).await;
                    }
                    break;
                }
            }
        }
        writer.close().await;
    }

    async fn commit_group(&self, writer: &mut Writer, jobs: Vec<Job>) {
        let started = Instant::now();
        let queued: Duration = jobs.iter().map(|job| started - job.queued_at).sum();
        let events: usize = jobs.iter().map(|job| job.submission.events().len()).sum();
        self.work.groups.fetch_add(1, Ordering::Relaxed);
        self.work.requests.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        self.work.events.fetch_add(events as u64, Ordering::Relaxed);
        self.work.queued_micros.fetch_add(queued.as_micros() as u64, Ordering::Relaxed);
        self.commit_jobs(writer, jobs).await;
        self.work.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    async fn commit_jobs(&self, writer: &mut Writer, jobs: Vec<Job>) {
        let library = self.library();
        let (submissions, replies): (Vec<Submission>, Vec<_>) =
            jobs.into_iter().map(|job| (job.submission, (job.reply, job._permit))).unzip();
        match commit_with_retries(writer, &submissions, &library).await {
            Ok(outcomes) => {
                for ((reply, _permit), outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                // Freeing thousands of events (their maps and strings) is work the next group need not wait for.
                tokio::task::spawn_blocking(move || drop(submissions));
            }
            // One request's data may be what the database refuses: commit the others on their own, so a bad
            // request cannot take its neighbours down with it.
            Err(_) if submissions.len() > 1 => {
                for (submission, (reply, _permit)) in submissions.into_iter().zip(replies) {
                    let result = commit_with_retries(writer, std::slice::from_ref(&submission), &library).await;
                    let _ = reply.send(result.map(|mut outcomes| outcomes.remove(0)));
                }
            }
            Err(err) => {
                for (reply, _permit) in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

/// Retries briefly while the database is unavailable (busy, restarting); other errors are final.
async fn commit_with_retries(
    writer: &mut Writer,
    submissions: &[Submission],
    library: &Library,
) -> Result<Vec<Outcome>, AppError> {
    let mut delay = Duration::from_millis(50);
    for attempt in 1.. {
        match writer.commit(submissions, library).await {
            Err(AppError::Unavailable(cause)) if attempt < 4 => {
                tracing::warn!(attempt, %cause, "committing events failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(AppError::Internal(cause)) => {
                tracing::error!(%cause, "committing events failed");
                return Err(AppError::Unavailable("the events could not be stored; retry later".into()));
            }
            result => return result,
        }
    }
    unreachable!("the loop returns")
}

fn collect_group(first: Job, receiver: &mut mpsc::UnboundedReceiver<Job>) -> Vec<Job> {
    let mut events = first.submission.events().len();
    let mut group = vec![first];
    while events < MAX_GROUP_EVENTS {
        match receiver.try_recv() {
            Ok(job) => {
                events += job.submission.events().len();
                group.push(job);
            }
            Err(_) => break,
        }
    }
    group
}

/// Where events came from: message ids are unique per source.
pub fn source_of(caller: &Caller) -> String {
    match caller {
        Caller::ApiKey(key) => format!("key:{}", key.id),
        Caller::User(user) => format!("user:{}", user.id),
    }
}

/// Validates a batch of raw events, commits the valid ones, and reports on each.
pub async fn ingest(
    state: &AppState,
    caller: &Caller,
    raw: &[Value],
    dialect: Dialect,
    defaults: &BatchDefaults,
) -> Result<IngestResponse, AppError> {
    caller.require(Access::Ingest)?;
    if raw.len() > MAX_EVENTS_PER_REQUEST {
        return Err(AppError::PayloadTooLarge(format!(
            "{} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
            raw.len()
        )));
    }
    let received_at = Utc::now();
    let (mut valid, mut rejected) = (Vec::with_capacity(raw.len()), Vec::new());
    let mut normalizer = events::Normalizer::new(dialect, defaults, received_at);
    for (index, value) in raw.iter().enumerate() {
        let enriched = state.geoip.as_ref().and_then(|geo| geo.enrich(value));
        match normalizer.normalize(index, enriched.as_ref().unwrap_or(value)) {
            Ok(event) => valid.push(event),
            Err(rejection) => rejected.push(rejection),
        }
    }
    let codes = rejected.iter().map(|r| r.code).collect();
    let submission = Submission::new(source_of(caller), valid, codes, received_at)?;
    let outcome = state.ingest.submit(submission).await?;
    if outcome.opt_out_changes > 0 {
        // The assignment API keeps opted-out people out of experiments: it must know at once, here and elsewhere.
        crate::services::configuration_changed(state).await?;
    }
    Ok(IngestResponse {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        consent_dropped: outcome.consent_dropped,
        opted_out: outcome.opted_out,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{normalize, BatchDefaults, Dialect};
    use serde_json::json;

    fn submission(events: usize) -> Submission {
        let now = Utc::now();
        let events = (0..events)
            .map(|i| {
                let raw = json!({"message_id": format!("m{i}"), "type": "track", "event": "X", "user_id": "u"});
                normalize(i, &raw, Dialect::Native, &BatchDefaults::default(), now).unwrap()
            })
            .collect();
        Submission::new("key:1".into(), events, Vec::new(), now).unwrap()
    }

    #[tokio::test]
    async fn a_full_pipeline_refuses_at_once_with_retry_after_instead_of_queueing() {
        // No writer runs: whatever enters the pipeline stays in flight.
        let ingestor = Ingestor::with_capacity(10);
        let waiting = tokio::spawn({
            let ingestor = ingestor.clone();
            async move { ingestor.submit(submission(8)).await }
        });
        while ingestor.in_flight() < 8 {
            tokio::task::yield_now().await;
        }
        match ingestor.submit(submission(5)).await {
            Err(AppError::Overloaded { retry_after_secs, .. }) => assert!(retry_after_secs >= 1),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        // A request that could never fit is a client error, not a reason to retry.
        assert!(matches!(ingestor.submit(submission(11)).await, Err(AppError::PayloadTooLarge(_))));
        // Events that do fit are still accepted into the pipeline.
        let fits = tokio::spawn({
            let ingestor = ingestor.clone();
            async move { ingestor.submit(submission(2)).await }
        });
        while ingestor.in_flight() < 10 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        fits.abort();
    }
}
