//! The exposure log: assignments that put a unit in an experiment are queued here and written in batches by a
//! background writer, so the assignment hot path never waits on the database.
//!
//! Nothing is dropped silently: the queue is bounded, and when it is full (the database cannot keep up) the
//! exposure is shed and counted (`shed()`, reported by `/readyz`). On shutdown the writer drains the queue before
//! the database closes.

use crate::storage::exposures::{self, Exposure};
use crate::storage::Db;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Exposures waiting to be written: about 100 MB at worst, and seconds of traffic at high rates.
pub const QUEUE_CAPACITY: usize = 100_000;
const MAX_BATCH: usize = 5_000;

#[derive(Clone)]
pub struct ExposureLog {
    sender: mpsc::Sender<Exposure>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<Exposure>>>>,
    /// (experiment, unit) pairs already queued: a unit asks for its bucket on every page view, but only its
    /// first exposure matters, so repeats never reach the queue or the database.
    seen: Arc<Mutex<HashSet<u64>>>,
    shed: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

/// Pairs remembered before the set starts over (a few MB); a forgotten pair only costs one redundant insert.
const SEEN_CAPACITY: usize = 1_000_000;

impl Default for ExposureLog {
    fn default() -> Self {
        Self::with_capacity(QUEUE_CAPACITY)
    }
}

impl ExposureLog {
    pub fn with_capacity(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity);
        ExposureLog {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            seen: Arc::default(),
            shed: Arc::default(),
            written: Arc::default(),
        }
    }

    /// Queues an exposure without waiting, unless the unit's exposure to this experiment is already queued or
    /// written; when the queue is full it is shed and counted.
    pub fn record(&self, exposure: Exposure) {
        let pair = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (exposure.experiment_id, &exposure.unit_id).hash(&mut hasher);
            hasher.finish()
        };
        {
            let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if seen.len() >= SEEN_CAPACITY {
                seen.clear();
            }
            if !seen.insert(pair) {
                return;
            }
        }
        if self.sender.try_send(exposure).is_err() {
            self.forget_seen();
            let shed = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
            if shed.is_power_of_two() {
                tracing::warn!(shed, "exposure queue full: exposures are being shed");
            }
        }
    }

    /// After shedding, a remembered pair may never have been written: forget them all so the next exposure of
    /// every unit is queued again.
    fn forget_seen(&self) {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// The writer's end of the queue; there is one writer per process.
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Exposure>> {
        self.receiver.lock().ok().and_then(|mut r| r.take())
    }

    /// Writes queued exposures in batches until `stop` resolves, then drains what is left.
    pub async fn run_writer(&self, db: Db, stop: impl std::future::Future<Output = ()>) {
        let Some(mut receiver) = self.take_receiver() else {
            tracing::error!("the exposure writer is already running");
            return;
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                received = receiver.recv() => match received {
                    Some(first) => self.write(&db, collect_batch(first, &mut receiver)).await,
                    None => break,
                },
                _ = &mut stop => {
                    // Requests have finished (the server stops jobs after draining them): close and drain.
                    receiver.close();
                    while let Some(first) = receiver.recv().await {
                        self.write(&db, collect_batch(first, &mut receiver)).await;
                    }
                    break;
                }
            }
        }
    }

    /// Writes a batch, retrying with back-off while the database is unavailable; gives up (loudly, with the
    /// count) only after about a minute, so a dead database cannot stall shutdown forever.
    async fn write(&self, db: &Db, batch: Vec<Exposure>) {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=10 {
            match exposures::insert_batch(db, &batch).await {
                Ok(()) => {
                    self.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(err) => {
                    tracing::warn!(attempt, size = batch.len(), error = ?err, "writing exposures failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        self.shed.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.forget_seen();
        tracing::error!(lost = batch.len(), "exposures could not be written and were shed");
    }
}

fn collect_batch(first: Exposure, receiver: &mut mpsc::Receiver<Exposure>) -> Vec<Exposure> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(exposure) => batch.push(exposure),
            Err(_) => break,
        }
    }
    batch
}
