//! Analysis at scale: an experiment's results over 1 000 000 exposed units and 10 000 000 events, computed by
//! intentlab's results service (the `GET /results` code path minus HTTP: read exposures, orders and events
//! from SQLite, unify, build per-unit values, run the statistics) against pandas + scipy computing the same table
//! from the same database in the same run (`benches/analysis.py`), and the agreement of the two tables.
//!
//! The data set is generated inside SQLite by SQL (deterministic arithmetic, no randomness) the first time and
//! kept in `target/bench/analysis-<units>.db`; later runs reuse it. `INTENTLAB_BENCH_UNITS` scales it down for a
//! quick try (10 events per unit either way).
//!
//! Metrics: purchase conversion, revenue per unit (capped at the 99th percentile), orders per unit, average order
//! value (ratio, delta method), repeat purchase, 30-day lifetime value, and a micro-conversion: the rate of the
//! library signal "video watched to 75 %", matched on every event. Frequentist, two-sided, α = 0.05, no CUPED,
//! no correction — the settings pandas reproduces.

use anyhow::{ensure, Context};
use app::auth::Caller;
use app::domain::access::Scope;
use app::domain::experiment::Status;
use app::domain::stats::results::ResultsQuery;
use app::services::{experiments, metrics, results};
use intentlab::config::Settings;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const EVENTS_PER_UNIT: i64 = 10;
const EXPERIMENT: &str = "bench-analysis";
const RUNS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let units: i64 = std::env::var("INTENTLAB_BENCH_UNITS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("analysis-{units}.db"));
    let ready = path.with_extension("ready");
    let settings = Settings::in_process(&format!("sqlite://{}", path.display()), "target/site");
    if !ready.exists() {
        for stale in [path.clone(), path.with_extension("db-wal"), path.with_extension("db-shm")] {
            let _ = std::fs::remove_file(stale);
        }
        let started = Instant::now();
        generate(&settings, &path, units).await.context("generating the data set")?;
        std::fs::write(&ready, "")?;
        println!("generated {} units and {} events in {:.0?}", units, units * EVENTS_PER_UNIT, started.elapsed());
    }

    let state = intentlab::startup::build_state(&settings).await?;
    let reader = Caller::in_process("benchmark", vec![Scope::Read]);
    let query = ResultsQuery { cuped: Some(false), ..Default::default() };
    // The first request reads everything; later ones find the data kept and re-read only what changed.
    let started = Instant::now();
    results::results(&state.db, &state.results, &reader, EXPERIMENT, &query).await?;
    let first = started.elapsed().as_secs_f64();
    let mut timings = Vec::new();
    let mut table = Value::Null;
    for _ in 0..RUNS {
        let started = Instant::now();
        let answer = results::results(&state.db, &state.results, &reader, EXPERIMENT, &query).await?;
        timings.push(started.elapsed().as_secs_f64());
        table = serde_json::to_value(&answer)?;
    }
    let with_cuped = {
        let started = Instant::now();
        results::results(&state.db, &state.results, &reader, EXPERIMENT, &ResultsQuery::default()).await?;
        started.elapsed().as_secs_f64()
    };
    let incremental = new_activity(&state, &path, units, &query).await.context("new activity")?;
    state.db.close().await;
    timings.sort_by(f64::total_cmp);

    let python = ["target/bench-venv/bin/python", "python3"]
        .into_iter()
        .find(|p| Path::new(p).exists() || *p == "python3")
        .unwrap_or("python3");
    let output = Command::new(python)
        .args(["benches/analysis.py", &path.display().to_string(), EXPERIMENT])
        .output()
        .context("running benches/analysis.py")?;
    ensure!(output.status.success(), "pandas failed: {}", String::from_utf8_lossy(&output.stderr));
    let pandas: Value = serde_json::from_slice(&output.stdout)?;

    let (load, compute) =
        (pandas["load_seconds"].as_f64().unwrap_or(0.0), pandas["compute_seconds"].as_f64().unwrap_or(0.0));
    let best = timings[0];
    println!(
        "\n{} units, {} events ({} runs of the kept-data request; best shown)",
        units,
        units * EVENTS_PER_UNIT,
        RUNS
    );
    println!("| what | seconds | ratio to intentlab |");
    println!("|---|---:|---:|");
    println!("| intentlab results request, data kept (re-reads what changed, computes), no CUPED | {best:.3} | 1.00 |");
    println!("| intentlab, data kept, default settings (CUPED on) | {with_cuped:.3} | {:.2} |", with_cuped / best);
    println!(
        "| intentlab, data kept, after {} new events of {} people (re-read + compute) | {:.3} | {:.2} |",
        incremental.events,
        incremental.people,
        incremental.seconds,
        incremental.seconds / best
    );
    println!("| intentlab, first request (reads every row from SQLite) | {first:.2} | {:.2} |", first / best);
    println!("| pandas + scipy, load from the same SQLite file | {load:.2} | {:.2} |", load / best);
    println!("| pandas + scipy, compute on loaded frames | {compute:.2} | {:.2} |", compute / best);
    println!("| pandas + scipy, load + compute | {:.2} | {:.2} |", load + compute, (load + compute) / best);
    println!("intentlab kept-data runs: {:?}", timings.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>());
    println!(
        "after the new events, kept data vs a fresh read of everything: largest relative difference {:.2e}",
        incremental.difference_from_fresh_read
    );

    ensure!(incremental.difference_from_fresh_read < 1e-9, "kept data and a fresh read disagree");
    let worst = agreement(&table, &pandas["metrics"])?;
    println!("\nlargest relative difference between the two tables: {worst:.2e}");
    ensure!(worst < 1e-6, "the tables disagree");
    Ok(())
}

struct Incremental {
    events: usize,
    people: usize,
    seconds: f64,
    difference_from_fresh_read: f64,
}

/// Sends new events through the real ingest pipeline (an order three days after exposure and nine video views a
/// day after, for every thousandth unit), times the next results request, checks it against a fresh read of
/// everything, and removes the events again so the data set stays what pandas reads.
async fn new_activity(
    state: &app::state::AppState,
    path: &Path,
    units: i64,
    query: &ResultsQuery,
) -> anyhow::Result<Incremental> {
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    let remove = async |db: &mut sqlx::SqliteConnection| -> anyhow::Result<()> {
        db.execute("DELETE FROM events WHERE message_id LIKE 'incremental-%'").await?;
        db.execute("DELETE FROM orders WHERE order_id LIKE 'incremental-%'").await?;
        Ok(())
    };
    // Left over by an interrupted run, if any.
    remove(&mut db).await?;
    let step = (units / 1000).max(1) as usize;
    let mut select = sqlx::QueryBuilder::new("SELECT unit_id, first_exposed_at FROM exposures WHERE unit_id IN (");
    let mut ids = select.separated(", ");
    for i in (0..units).step_by(step) {
        ids.push_bind(format!("u{i}"));
    }
    select.push(")");
    let chosen: Vec<(String, chrono::DateTime<chrono::Utc>)> = select.build_query_as().fetch_all(&mut db).await?;
    let mut events = Vec::new();
    for (unit, exposed_at) in &chosen {
        let at = |days: i64, minutes: i64| {
            (*exposed_at + chrono::Duration::days(days) + chrono::Duration::minutes(minutes)).to_rfc3339()
        };
        events.push(
            json!({"message_id": format!("incremental-{unit}-order"), "type": "track", "event": "Order Completed",
                           "anonymous_id": unit, "timestamp": at(3, 0),
                           "properties": {"order_id": format!("incremental-{unit}"), "revenue": 55.0}}),
        );
        for k in 0..9 {
            events.push(
                json!({"message_id": format!("incremental-{unit}-{k}"), "type": "track", "event": "Video Watched",
                               "anonymous_id": unit, "timestamp": at(1, k), "properties": {"percent": 80}}),
            );
        }
    }
    let ingester = Caller::in_process("benchmark", vec![Scope::Ingest]);
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (ingest, db, stop) = (state.ingest.clone(), state.db.clone(), stop.clone());
        tokio::spawn(async move { ingest.run_writer(db, stop.cancelled_owned()).await })
    };
    let defaults = app::domain::events::BatchDefaults::default();
    for batch in events.chunks(5000) {
        let answer =
            app::services::ingest::ingest(state, &ingester, batch, app::domain::events::Dialect::Native, &defaults)
                .await
                .map_err(|e| anyhow::anyhow!(e.public_message()))?;
        ensure!(answer.rejected.is_empty(), "events rejected: {:?}", answer.rejected);
    }
    stop.cancel();
    writer.await?;

    let reader = Caller::in_process("benchmark", vec![Scope::Read]);
    let started = Instant::now();
    let kept = results::results(&state.db, &state.results, &reader, EXPERIMENT, query).await?;
    let seconds = started.elapsed().as_secs_f64();
    let fresh = results::results(&state.db, &results::ResultsCache::default(), &reader, EXPERIMENT, query).await?;
    let (kept, fresh) = (serde_json::to_value(&kept)?, serde_json::to_value(&fresh)?);
    let mut difference: f64 = 0.0;
    compare_numbers(&kept["metrics"], &fresh["metrics"], &mut difference);
    remove(&mut db).await?;
    db.close().await?;
    Ok(Incremental { events: events.len(), people: chosen.len(), seconds, difference_from_fresh_read: difference })
}

/// The largest relative difference between corresponding numbers of two JSON documents of the same shape.
fn compare_numbers(a: &Value, b: &Value, worst: &mut f64) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            if x != y {
                *worst = worst.max((x - y).abs() / x.abs().max(y.abs()));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).for_each(|(x, y)| compare_numbers(x, y, worst))
        }
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().for_each(|(k, v)| compare_numbers(v, y.get(k).unwrap_or(&Value::Null), worst))
        }
        _ if a == b => {}
        _ => *worst = f64::INFINITY,
    }
}

/// The largest relative difference between intentlab's and pandas' units, values, lifts, intervals and
/// p-values, after printing both side by side.
fn agreement(ours: &Value, theirs: &Value) -> anyhow::Result<f64> {
    let mut worst: f64 = 0.0;
    println!("\n| metric | variation | units | value | relative lift [95 % CI] | p-value | pandas value | pandas lift [CI] | pandas p |");
    println!("|---|---|---:|---:|---|---:|---:|---|---:|");
    let metrics = ours["metrics"].as_array().context("metrics")?;
    for metric in metrics {
        let key = metric["key"].as_str().unwrap_or_default();
        let other = theirs.get(key).with_context(|| format!("pandas has no {key}"))?;
        for (i, variation) in metric["variations"].as_array().context("variations")?.iter().enumerate() {
            let reference = &other[i];
            let mut fields = vec![
                ("units", &variation["units"], &reference["units"]),
                ("value", &variation["value"], &reference["value"]),
            ];
            let lift = &variation["relative_lift"];
            if i > 0 {
                for field in ["estimate", "ci_low", "ci_high", "p_value"] {
                    fields.push((field, &lift[field], &reference[field]));
                }
            }
            for (field, a, b) in fields {
                let (a, b) = (
                    a.as_f64().with_context(|| format!("{key} {field}"))?,
                    b.as_f64().with_context(|| format!("pandas {key} {field}"))?,
                );
                let difference = (a - b).abs() / a.abs().max(b.abs()).max(1e-300);
                worst = worst.max(if a == b { 0.0 } else { difference });
            }
            let number = |v: &Value| v.as_f64().map_or("—".into(), |x| format!("{x:.6}"));
            let interval =
                |v: &Value| format!("{} [{}, {}]", number(&v["estimate"]), number(&v["ci_low"]), number(&v["ci_high"]));
            let (lift_text, pandas_lift) =
                if i > 0 { (interval(lift), interval(reference)) } else { ("—".into(), "—".into()) };
            println!(
                "| {key} | {i} | {} | {} | {lift_text} | {} | {} | {pandas_lift} | {} |",
                variation["units"],
                number(&variation["value"]),
                number(&lift["p_value"]),
                number(&reference["value"]),
                number(&reference["p_value"])
            );
        }
    }
    Ok(worst)
}

/// Hashes `x` with salt `k` into [0, 2^31): deterministic "randomness" SQLite can compute.
fn h(x: &str, k: u32) -> String {
    format!("((((({x}) * 2654435761 + {k} * 40503) % 4294967291) * 1103515245 + 12345) % 2147483648)")
}

/// An epoch-seconds expression as the text sqlx writes for a `DateTime<Utc>` in SQLite.
fn ts(x: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {x}, 'unixepoch')")
}

async fn generate(settings: &Settings, path: &Path, units: i64) -> anyhow::Result<()> {
    // The schema, the starter metrics and signals; then the experiment and its signal metric through the services.
    let state = intentlab::startup::build_state(settings).await?;
    let admin = Caller::in_process("benchmark", vec![Scope::Admin]);
    let fail = |e: app::error::AppError| anyhow::anyhow!(e.public_message());
    metrics::create(
        &state.db,
        &admin,
        json!({"key": "video-75", "name": "Video watched to 75 %", "description": "Rate of the signal.",
               "measure": {"type": "signal", "key": "video-watched-75"}, "window_days": 14}),
    )
    .await
    .map_err(fail)?;
    let spec = json!({
        "key": EXPERIMENT, "name": "Analysis benchmark",
        "hypothesis": {"change": "A change", "segment": "Everyone", "primary_metric": "purchase", "direction": "increase",
                       "mde": 0.05, "rationale": "Benchmark"},
        "variations": [{"key": "control", "name": "Control"}, {"key": "treatment", "name": "Treatment"}],
        "metrics": {"primary": "purchase", "secondary": ["revenue", "orders", "aov", "video-75"],
                    "guardrails": ["repeat-purchase", "ltv-30"]},
    });
    let created = experiments::create(&state, &admin, spec).await.map_err(fail)?;
    experiments::transition(&state, &admin, EXPERIMENT, Status::Running).await.map_err(fail)?;
    state.db.close().await;

    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    db.execute("PRAGMA synchronous = OFF").await?;
    // Exposures between 60 and 35 days ago: every unit's 30-day horizon has passed.
    let base = chrono::Utc::now().timestamp() - 60 * 86_400;
    let (exposed, variation) = ("u.exposed", "u.variation");
    let statements = [
        "CREATE TABLE bench_units (i INTEGER PRIMARY KEY, variation INTEGER NOT NULL, exposed INTEGER NOT NULL)".to_string(),
        format!(
            "INSERT INTO bench_units WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             SELECT i, {h1} % 2, {base} + {h2} % (25 * 86400) FROM n",
            last = units - 1, h1 = h("i", 1), h2 = h("i", 2)
        ),
        format!("INSERT INTO profiles (id, first_seen, last_seen) SELECT u.i + 1, {t}, {t} FROM bench_units u", t = ts(exposed)),
        format!("INSERT INTO identities (id, profile_id, kind, first_seen) SELECT 'u' || u.i, u.i + 1, 'anonymous', {} FROM bench_units u", ts(exposed)),
        format!(
            "INSERT INTO exposures (experiment_id, unit_id, variation_index, first_exposed_at, attributes) \
             SELECT {id}, 'u' || u.i, {variation}, {t}, json_object('device', CASE u.i % 3 WHEN 0 THEN 'mobile' WHEN 1 THEN 'desktop' ELSE 'tablet' END, \
                    'channel', CASE u.i % 4 WHEN 0 THEN 'app' WHEN 1 THEN 'email' ELSE 'web' END) FROM bench_units u",
            id = created.id, t = ts(exposed)
        ),
        // 8 % of control and 8.8 % of treatment buy (a tenth of them in the 14 days before exposure, a fifth after
        // the 14-day window); a third of buyers order again; order values with a long tail, 3 % higher in treatment.
        format!(
            "INSERT INTO orders (order_id, profile_id, source, message_id, revenue, currency, at) \
             SELECT 'o' || u.i || '-' || k, u.i + 1, 'bench', 'o' || u.i || '-' || k, \
                    round((12 + ({rev} % 6000) / 100.0 + CASE WHEN {rev} % 500 = 0 THEN 900 ELSE 0 END) * (1 + 0.03 * {variation}), 2), 'EUR', \
                    {t} \
             FROM bench_units u JOIN (SELECT 1 AS k UNION ALL SELECT 2) \
             WHERE {buy} % 1000 < 80 + 8 * {variation} AND (k = 1 OR {again} % 3 = 0)",
            rev = h("u.i * 2 + k", 3), buy = h("u.i", 4), again = h("u.i", 5),
            t = ts(&format!("{exposed} - 2 * 86400 + {} % (20 * 86400) + (k - 1) * ({} % (12 * 86400))", h("u.i", 6), h("u.i", 7)))
        ),
        // Ten events per unit, from a week before exposure to four weeks after: product views, cart adds, video
        // progress (treatment watches a little further), size-guide views and page views.
        format!(
            "INSERT INTO events (source, message_id, profile_id, type, event, anonymous_id, timestamp, received_at, channel, properties, traits, context, consent) \
             SELECT 'bench', 'e' || n.j, u.i + 1, CASE WHEN n.k = 9 THEN 'page' ELSE 'track' END, \
                    CASE n.k WHEN 5 THEN 'Product Added' WHEN 6 THEN 'Video Watched' WHEN 7 THEN 'Video Watched' \
                             WHEN 8 THEN 'Size Guide Viewed' WHEN 9 THEN NULL ELSE 'Product Viewed' END, \
                    'u' || u.i, {t}, {t}, 'web', \
                    CASE WHEN n.k IN (6, 7) THEN json_object('percent', min(100, {percent} % 96 + 5 * {variation})) ELSE '{{}}' END, \
                    '{{}}', '{{}}', '{{\"analytics\":true}}' \
             FROM (WITH RECURSIVE m(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM m WHERE j < {last}) SELECT j, {kind} % 10 AS k FROM m) n \
             JOIN bench_units u ON u.i = n.j / {EVENTS_PER_UNIT}",
            last = units * EVENTS_PER_UNIT - 1, kind = h("j", 8), percent = h("n.j", 9),
            t = ts(&format!("{exposed} - 7 * 86400 + {} % (34 * 86400)", h("n.j", 10)))
        ),
        "DROP TABLE bench_units".to_string(),
    ];
    for statement in statements {
        db.execute(statement.as_str()).await.with_context(|| statement.chars().take(120).collect::<String>())?;
    }
    db.close().await?;
    Ok(())
}
