//! Sustained ingest throughput: acknowledged-and-committed events per second through the real server
//! (`POST /api/v1/events`), batches of 100 and of 1000 events, on SQLite and — when `TEST_DATABASE_URL` points at a
//! PostgreSQL server (`make bench` starts one) — on PostgreSQL.
//!
//! Baseline, in the same run and on the same database: the bare storage cost — the same events written by one
//! connection straight into a copy of the `events` table (same columns and indexes) with multi-row INSERTs of
//! 1000 rows, one transaction per 10 000. The ratio says what the whole pipeline (HTTP, JSON, validation, context
//! normalization, identity stitching, signal scoring, counters, group commit) costs on top of writing the rows.
//! On SQLite also the writer's ceiling: the rows alone, stored the way the writer stores them ([`sqlite_rows_alone`]).
//!
//! Events are realistic: a web user agent (parsed), campaign parameters, one of 20 000 shoppers, a mix of product
//! views, cart adds, video progress and page views, about 450 bytes each. Batches either carry sessions (10 events
//! in a row per shopper, as a site's tracking proxy forwards them) or spread every event over another shopper (the
//! worst case for the per-profile work). Message ids are sequential, except in one configuration that sends random
//! UUIDs as the analytics SDKs do. The load generator shares the two cores with the server.

use app::model::WriterStats;
use intentlab::config::Settings;
use intentlab::startup::Application;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients sending at once (each waits for its answer before sending again); `INGEST_BENCH_CLIENTS` overrides.
const CLIENTS: usize = 8;
const SECONDS: u64 = 10;
const SHOPPERS: u64 = 20_000;

const USER_AGENT: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

/// Which message ids the clients send.
#[derive(Clone, Copy, PartialEq)]
enum MessageIds {
    /// `<run>-<n>`: each new id sorts after the last, so the `(source, message_id)` index grows at its end.
    Sequential,
    /// Random UUIDs, as the analytics SDKs send them (uuid4): every new id lands anywhere in that index.
    Random,
}

impl MessageIds {
    fn id(self, run: &str, n: u64) -> String {
        match self {
            MessageIds::Sequential => format!("{run}-{n}"),
            MessageIds::Random => uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// One event as a client would send it; `n` numbers it. Runs of `per_shopper` consecutive events come from one
/// shopper (a browsing session); 1 spreads every event over a different shopper (the worst case: every event
/// updates another profile).
fn event_json(message_id: &str, n: u64, per_shopper: u64, now: &str) -> String {
    let shopper = (n / per_shopper).wrapping_mul(2_654_435_761) % SHOPPERS;
    let (kind, name, properties) = match n % 10 {
        0..=4 => ("track", "Product Viewed", format!(r#"{{"sku":"SKU-{}","price":49.9}}"#, n % 500)),
        5 => ("track", "Product Added", format!(r#"{{"sku":"SKU-{}","quantity":1}}"#, n % 500)),
        6 | 7 => ("track", "Video Watched", format!(r#"{{"percent":{}}}"#, (n * 7) % 100)),
        _ => ("page", "Product", r#"{"path":"/p/1"}"#.to_string()),
    };
    format!(
        r#"{{"message_id":"{message_id}","type":"{kind}","event":"{name}","anonymous_id":"shopper-{shopper}","timestamp":"{now}","properties":{properties},"context":{{"userAgent":"{USER_AGENT}","campaign":{{"source":"newsletter","medium":"email","name":"winter"}},"locale":"de-DE"}}}}"#
    )
}

fn batch_body(run: &str, ids: MessageIds, first: u64, size: u64, per_shopper: u64, now: &str) -> String {
    let events: Vec<String> = (first..first + size).map(|n| event_json(&ids.id(run, n), n, per_shopper, now)).collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

/// Closed loop for `SECONDS`: every client sends a batch, waits for the answer, repeats. Returns committed events/s.
async fn pipeline_throughput(
    url: &str,
    key: &str,
    run: &str,
    ids: MessageIds,
    batch: u64,
    per_shopper: u64,
) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let now = chrono::Utc::now().to_rfc3339();
    let mut clients = Vec::new();
    let concurrency = std::env::var("INGEST_BENCH_CLIENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(CLIENTS);
    for _ in 0..concurrency {
        let (stop, next, accepted) = (stop.clone(), next.clone(), accepted.clone());
        let (url, key, run, now) = (url.to_string(), key.to_string(), run.to_string(), now.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                let body = batch_body(&run, ids, first, batch, per_shopper, &now);
                let response = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(response.status() == 200, "status {}", response.status());
                let answer: serde_json::Value = response.json().await?;
                accepted.fetch_add(answer["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await??;
    }
    Ok(accepted.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The baseline: the same rows straight into a copy of the events table, one connection, big transactions.
async fn bare_insert_throughput(db: &app::storage::Db, events: u64) -> anyhow::Result<f64> {
    let now = chrono::Utc::now();
    let create = match db.backend() {
        app::storage::Backend::Sqlite => "CREATE TABLE bench_events AS SELECT * FROM events WHERE 0",
        app::storage::Backend::Postgres => "CREATE TABLE bench_events (LIKE events INCLUDING INDEXES)",
    };
    let elapsed = app::storage::on_pool!(db, pool => async {
        sqlx::query("DROP TABLE IF EXISTS bench_events").execute(pool).await?;
        sqlx::query(create).execute(pool).await?;
        if db.backend() == app::storage::Backend::Sqlite {
            sqlx::query("CREATE UNIQUE INDEX bench_events_message ON bench_events (source, message_id)").execute(pool).await?;
            sqlx::query("CREATE INDEX bench_events_profile ON bench_events (profile_id, timestamp)").execute(pool).await?;
            sqlx::query("CREATE INDEX bench_events_name ON bench_events (event, timestamp)").execute(pool).await?;
        }
        let started = Instant::now();
        let mut written = 0u64;
        while written < events {
            let mut tx = pool.begin().await?;
            for _ in 0..10 {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO bench_events (id, source, message_id, profile_id, type, event, user_id, anonymous_id, previous_id, \
                     timestamp, received_at, channel, properties, traits, context, consent, schema_violations, context_id) ",
                );
                query.push_values(written..written + 1000, |mut row, n| {
                    row.push_bind(n as i64 + 1)
                        .push_bind("key:1")
                        .push_bind(format!("bare-{n}"))
                        .push_bind((n % SHOPPERS) as i64)
                        .push_bind("track")
                        .push_bind("Product Viewed")
                        .push_bind(None::<String>)
                        .push_bind(format!("shopper-{}", n % SHOPPERS))
                        .push_bind(None::<String>)
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind("email")
                        .push_bind(sqlx::types::Json(serde_json::json!({"sku": format!("SKU-{}", n % 500), "price": 49.9})))
                        .push_bind(sqlx::types::Json(serde_json::json!({})))
                        // What a device repeats of its context is stored once, in `event_contexts`.
                        .push_bind(sqlx::types::Json(serde_json::json!({})))
                        .push_bind(sqlx::types::Json(serde_json::json!({})))
                        .push_bind(None::<sqlx::types::Json<Vec<String>>>)
                        .push_bind(1i64);
                });
                query.build().execute(&mut *tx).await?;
                written += 1000;
            }
            tx.commit().await?;
        }
        anyhow::Ok(started.elapsed())
    }.await)?;
    Ok(events as f64 / elapsed.as_secs_f64())
}

/// The SQLite writer's ceiling: only the events' rows, stored the way its transaction stores them — one prepared
/// statement per row (rusqlite), groups of 3 500 rows (a transaction's size in the pipeline) — into a copy of the
/// `events` table, with its keys or without the per-profile index `(profile_id, timestamp)`. Same shoppers (runs
/// of 10 events each), event mix and row contents as the pipeline's events stored; `ids` as the clients'.
fn sqlite_rows_alone(path: &std::path::Path, events: u64, profile_index: bool, ids: MessageIds) -> anyhow::Result<f64> {
    use rusqlite::params;
    let db = rusqlite::Connection::open(path)?;
    db.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -32768; DROP TABLE IF EXISTS bench_rows")?;
    let events_table: String =
        db.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'", [], |r| r.get(0))?;
    db.execute_batch(&events_table.replacen("CREATE TABLE events", "CREATE TABLE bench_rows", 1))?;
    db.execute_batch("CREATE INDEX bench_rows_name ON bench_rows (event, timestamp)")?;
    if profile_index {
        db.execute_batch("CREATE INDEX bench_rows_profile ON bench_rows (profile_id, timestamp)")?;
    }
    let start = chrono::Utc::now();
    let started = Instant::now();
    for group in 0..events.div_ceil(3500) {
        let tx = db.unchecked_transaction()?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO bench_rows (source, message_id, profile_id, type, event, user_id, anonymous_id, previous_id, \
             timestamp, received_at, channel, properties, traits, context, consent, schema_violations, context_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (source, message_id) DO NOTHING",
        )?;
        for n in group * 3500..(group + 1) * 3500 {
            let shopper = (n / 10).wrapping_mul(2_654_435_761) % SHOPPERS;
            let name = ["Product Viewed", "Product Added", "Video Watched", "Product"]
                [[0, 0, 0, 0, 0, 1, 2, 2, 3, 3][(n % 10) as usize]];
            let at = (start + chrono::TimeDelta::microseconds(n as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
            insert.execute(params![
                "key:1",
                ids.id("rows", n),
                shopper as i64,
                "track",
                name,
                None::<String>,
                format!("shopper-{shopper}"),
                None::<String>,
                at,
                at,
                "email",
                format!(r#"{{"price":49.9,"sku":"SKU-{}"}}"#, n % 500),
                "{}",
                "{}",
                "{}",
                None::<String>,
                1i64,
            ])?;
        }
        drop(insert);
        tx.commit()?;
    }
    let rate = events.div_ceil(3500) as f64 * 3500.0 / started.elapsed().as_secs_f64();
    db.execute_batch("DROP TABLE bench_rows")?;
    Ok(rate)
}

/// How the ingest writer spent a phase: the share of it committing, and how long requests queued for it.
fn writer_report(before: WriterStats, after: WriterStats, elapsed: Duration) -> String {
    let phase = after.since(before);
    let groups = phase.groups.max(1) as f64;
    format!(
        "writer busy {:.0} % of the time; {:.0} events and {:.1} requests per transaction, {:.1} ms per \
         transaction; requests queued {:.1} ms on average",
        100.0 * phase.busy_seconds / elapsed.as_secs_f64(),
        phase.events as f64 / groups,
        phase.requests as f64 / groups,
        phase.ms_per_transaction(),
        phase.mean_queued_ms(),
    )
}

async fn run_backend(label: &str, database_url: String, site: &std::path::Path) -> anyhow::Result<Vec<(String, f64)>> {
    let settings = Settings::in_process(&database_url, &site.display().to_string());
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let port = app.port();
    let key = app::services::api_keys::create_unchecked(
        &state.db,
        app::model::NewApiKey { name: "bench".into(), scopes: vec!["ingest".into()] },
        None,
    )
    .await?
    .secret;
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let url = format!("http://127.0.0.1:{port}/api/v1/events");

    let mut results = Vec::new();
    pipeline_throughput(&url, &key, "warmup", MessageIds::Sequential, 100, 1).await?;
    let configurations = [
        (100u64, 10u64, MessageIds::Sequential),
        (1000, 10, MessageIds::Sequential),
        (1000, 1, MessageIds::Sequential),
        (1000, 10, MessageIds::Random),
    ];
    for (batch, per_shopper, ids) in configurations {
        let (before, started) = (state.ingest.writer_stats(), Instant::now());
        let run = format!("b{batch}-s{per_shopper}");
        let rate = pipeline_throughput(&url, &key, &run, ids, batch, per_shopper).await?;
        let random = if ids == MessageIds::Random { ", random message ids" } else { "" };
        let label = format!("{label}, batches of {batch}, {per_shopper} event(s) per shopper in a row{random}");
        println!("{label}: {rate:.0} events/s acknowledged and committed");
        println!("  {}", writer_report(before, state.ingest.writer_stats(), started.elapsed()));
        results.push((label, rate));
    }
    let bare = bare_insert_throughput(&state.db, 300_000).await?;
    println!("{label}: bare multi-row INSERT baseline: {bare:.0} rows/s");
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        for (profile_index, ids) in
            [(true, MessageIds::Sequential), (false, MessageIds::Sequential), (true, MessageIds::Random)]
        {
            let path = std::path::PathBuf::from(path);
            let rate =
                tokio::task::spawn_blocking(move || sqlite_rows_alone(&path, 300_000, profile_index, ids)).await??;
            let keys = match (profile_index, ids) {
                (true, MessageIds::Sequential) => "the events table's keys",
                (false, _) => "without the per-profile index",
                (true, MessageIds::Random) => "the events table's keys, random message ids",
            };
            let label = format!("{label}, the rows alone the writer's way, {keys}");
            println!("{label}: {rate:.0} rows/s");
            results.push((label, rate));
        }
    }
    results.push((format!("{label}, bare INSERT baseline"), bare));
    Ok(results)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    intentlab::config::init_tracing("warn");
    let dir = tempfile::tempdir()?;
    let mut results =
        run_backend("SQLite", format!("sqlite://{}", dir.path().join("bench.db").display()), dir.path()).await?;
    match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(server) => {
            use sqlx::Connection;
            let name = format!("intentlab_bench_{}", std::process::id());
            let mut conn = sqlx::PgConnection::connect(&server).await?;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
            let (base, _) = server.rsplit_once('/').expect("URL ends with /<database>");
            results.extend(run_backend("PostgreSQL", format!("{base}/{name}"), dir.path()).await?);
        }
        None => println!("PostgreSQL skipped: set TEST_DATABASE_URL (make bench starts a throwaway server)"),
    }
    println!("\n| configuration | events/s | ratio to the bare INSERT baseline |\n|---|---:|---:|");
    for backend in ["SQLite", "PostgreSQL"] {
        let Some((_, bare)) = results.iter().find(|(l, _)| l.starts_with(backend) && l.ends_with("baseline")) else {
            continue;
        };
        for (label, rate) in results.iter().filter(|(l, _)| l.starts_with(backend)) {
            println!("| {label} | {rate:.0} | {:.2} |", rate / bare);
        }
    }
    Ok(())
}
