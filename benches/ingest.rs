//! Sustained ingest throughput: acknowledged-and-committed events per second through the real server
//! (`POST /api/v1/events`), batches of 100 and of 1000 events, on SQLite and — when `TEST_DATABASE_URL` points at a
//! PostgreSQL server (`make bench` starts one) — on PostgreSQL.
//!
//! Baseline, in the same run and on the same database: the bare storage cost — the same events written by one
//! connection straight into a copy of the `events` table (same columns and indexes) with multi-row INSERTs of
//! 1000 rows, one transaction per 10 000. The ratio says what the whole pipeline (HTTP, JSON, validation, context
//! normalization, identity stitching, signal scoring, counters, group commit) costs on top of writing the rows.
//!
//! Events are realistic: a web user agent (parsed), campaign parameters, one of 20 000 shoppers, a mix of product
//! views, cart adds, video progress and page views, about 450 bytes each. Batches either carry sessions (10 events
//! in a row per shopper, as a site's tracking proxy forwards them) or spread every event over another shopper (the
//! worst case for the per-profile work). The load generator shares the two cores with the server.

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

/// One event as a client would send it; `n` makes the message id unique. Runs of `per_shopper` consecutive events
/// come from one shopper (a browsing session); 1 spreads every event over a different shopper (the worst case:
/// every event updates another profile).
fn event_json(run: &str, n: u64, per_shopper: u64, now: &str) -> String {
    let shopper = (n / per_shopper).wrapping_mul(2_654_435_761) % SHOPPERS;
    let (kind, name, properties) = match n % 10 {
        0..=4 => ("track", "Product Viewed", format!(r#"{{"sku":"SKU-{}","price":49.9}}"#, n % 500)),
        5 => ("track", "Product Added", format!(r#"{{"sku":"SKU-{}","quantity":1}}"#, n % 500)),
        6 | 7 => ("track", "Video Watched", format!(r#"{{"percent":{}}}"#, (n * 7) % 100)),
        _ => ("page", "Product", r#"{"path":"/p/1"}"#.to_string()),
    };
    format!(
        r#"{{"message_id":"{run}-{n}","type":"{kind}","event":"{name}","anonymous_id":"shopper-{shopper}","timestamp":"{now}","properties":{properties},"context":{{"userAgent":"{USER_AGENT}","campaign":{{"source":"newsletter","medium":"email","name":"winter"}},"locale":"de-DE"}}}}"#
    )
}

fn batch_body(run: &str, first: u64, size: u64, per_shopper: u64, now: &str) -> String {
    let events: Vec<String> = (first..first + size).map(|n| event_json(run, n, per_shopper, now)).collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

/// Closed loop for `SECONDS`: every client sends a batch, waits for the answer, repeats. Returns committed events/s.
async fn pipeline_throughput(url: &str, key: &str, run: &str, batch: u64, per_shopper: u64) -> anyhow::Result<f64> {
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
                let body = batch_body(&run, first, batch, per_shopper, &now);
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
    pipeline_throughput(&url, &key, "warmup", 100, 1).await?;
    for (batch, per_shopper) in [(100u64, 10u64), (1000, 10), (1000, 1)] {
        let (before, started) = (state.ingest.writer_stats(), Instant::now());
        let rate = pipeline_throughput(&url, &key, &format!("b{batch}-s{per_shopper}"), batch, per_shopper).await?;
        let label = format!("{label}, batches of {batch}, {per_shopper} event(s) per shopper in a row");
        println!("{label}: {rate:.0} events/s acknowledged and committed");
        println!("  {}", writer_report(before, state.ingest.writer_stats(), started.elapsed()));
        results.push((label, rate));
    }
    let bare = bare_insert_throughput(&state.db, 300_000).await?;
    println!("{label}: bare multi-row INSERT baseline: {bare:.0} rows/s");
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
