//! Assignment API throughput and latency, side by side with a bare axum handler in the same server process.
//!
//! `make bench` (release build). The bench runs itself twice: as the server process (`INTENTLAB_BENCH_ROLE=server`:
//! the real intentlab server with 20 running experiments — targeting, namespaces, payloads — on a temporary SQLite
//! database, exposure logging on, plus the baseline, an axum handler that parses the same JSON body and returns a
//! fixed JSON answer of similar size), and as the load generator (keep-alive HTTP/1.1 connections driven by hyper's
//! connection-level client, requests cycling through 50 000 returning units, each visited and exposed once before
//! anything is measured, as in a shop). With two or more cores the server is pinned to the first and the generator
//! to the second, so neither measures the other's scheduling. Both targets are measured alternately:
//! 1. maximum throughput: closed loop, `CONCURRENCY` clients, `SECONDS` per round, best of `ROUNDS`;
//! 2. latency at half of intentlab's maximum: open loop at a fixed rate (a pacing thread releases requests to
//!    whichever connection is free), latency measured from each request's scheduled time (so a stalled server is
//!    not hidden by the generator slowing down), after the exposure writer has drained what the saturation rounds
//!    queued.

use app::auth::Caller;
use app::model::{NewApiKey, NewUser};
use app::services;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper_util::rt::TokioIo;
use intentlab::config::Settings;
use intentlab::startup::Application;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXPERIMENTS: usize = 20;
const CONCURRENCY: usize = 32;
const SECONDS: u64 = 5;
const ROUNDS: usize = 3;
const ROLE: &str = "INTENTLAB_BENCH_ROLE";

struct Target {
    name: &'static str,
    address: std::net::SocketAddr,
    path: String,
    bearer: Option<String>,
}

/// The cores: the server gets the first, the generator the second (threads inherit the main thread's).
fn pin(index: usize) -> Option<usize> {
    let cores = core_affinity::get_core_ids().filter(|cores| cores.len() >= 2)?;
    core_affinity::set_for_current(cores[index]).then_some(cores[index].id)
}

fn main() -> anyhow::Result<()> {
    let server = std::env::var(ROLE).is_ok_and(|role| role == "server");
    let core = pin(if server { 0 } else { 1 });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if server {
        runtime.block_on(serve())
    } else {
        runtime.block_on(generate_load(core))
    }
}

/// The server process: prints `{"port", "bare_port", "secret"}` on one line, then serves until its stdin closes.
async fn serve() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let settings = Settings::in_process(&database_url, &dir.path().join("site").display().to_string());
    intentlab::config::init_tracing("warn");
    let app = Application::build(settings).await?;
    let secret = setup(app.state()).await?;
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let bare_port = spawn_bare_handler().await?;
    println!("{}", json!({"port": port, "bare_port": bare_port, "secret": secret}));
    std::io::stdout().flush()?;
    tokio::task::spawn_blocking(|| std::io::stdin().lock().lines().count()).await?;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

async fn generate_load(core: Option<usize>) -> anyhow::Result<()> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .env(ROLE, "server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut first_line = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?)
        .read_line(&mut first_line)?;
    let ports: Value = serde_json::from_str(&first_line)?;
    let port = |name: &str| ports[name].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or_default();
    let intentlab = Target {
        name: "intentlab /api/v1/assign",
        address: ([127, 0, 0, 1], port("port")).into(),
        path: "/api/v1/assign".into(),
        bearer: ports["secret"].as_str().map(str::to_string),
    };
    let bare = Target {
        name: "bare axum handler",
        address: ([127, 0, 0, 1], port("bare_port")).into(),
        path: "/assign".into(),
        bearer: None,
    };
    let readyz = format!("http://127.0.0.1:{}/readyz", port("port"));

    // Sanity: the real endpoint answers every experiment.
    let check: Value = serde_json::from_slice(&Connection::open(&intentlab).await?.send(1).await?)?;
    anyhow::ensure!(check["assignments"].as_array().map(Vec::len) == Some(EXPERIMENTS), "unexpected answer: {check}");
    match core {
        Some(core) => println!("server pinned to the first core, load generator to core {core}"),
        None => println!("one core: server and load generator share it"),
    }

    // Every unit's first visit queues its exposures (about 10 of the 20 experiments take it); the workload is
    // returning visitors, so visit each unit until a whole pass goes by without an exposure shed, and let the
    // exposure writer catch up.
    println!("warming up: every unit visits until its exposures are written…");
    throughput(&bare, 1).await?;
    for pass in 1..=5 {
        let shed_before = exposure_log(&readyz).await?["shed"].as_u64();
        visit_every_unit(&intentlab).await?;
        let exposures = exposure_log(&readyz).await?;
        println!("pass {pass}: exposures written {}, shed {}", exposures["written"], exposures["shed"]);
        if exposures["shed"].as_u64() == shed_before {
            break;
        }
    }

    let (mut bare_best, mut intentlab_best) = (0.0f64, 0.0f64);
    for round in 1..=ROUNDS {
        let b = throughput(&bare, SECONDS).await?;
        let i = throughput(&intentlab, SECONDS).await?;
        println!("round {round}: bare {b:.0} req/s, intentlab {i:.0} req/s");
        bare_best = bare_best.max(b);
        intentlab_best = intentlab_best.max(i);
    }
    // Latency is measured in steady state: let the exposure writer finish the backlog the saturation rounds left.
    let exposures = exposure_log(&readyz).await?;
    let rate = intentlab_best / 2.0;
    let bare_latency = latency_at(&bare, rate, SECONDS).await?;
    let intentlab_latency = latency_at(&intentlab, rate, SECONDS).await?;

    println!();
    println!("| target | max req/s | ratio | p50 at {rate:.0} req/s | p99 | slowest |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (target, best, (p50, p99, slowest)) in
        [(&bare, bare_best, bare_latency), (&intentlab, intentlab_best, intentlab_latency)]
    {
        let ms = |micros: u64| micros as f64 / 1000.0;
        println!(
            "| {} | {best:.0} | {:.2} | {:.3} ms | {:.3} ms | {:.3} ms |",
            target.name,
            best / bare_best,
            ms(p50),
            ms(p99),
            ms(slowest)
        );
    }
    println!();
    println!(
        "{EXPERIMENTS} running experiments; exposures written {}, shed {} (before the latency run)",
        exposures["written"], exposures["shed"]
    );
    drop(child.stdin.take());
    child.wait()?;
    Ok(())
}

/// 20 running experiments with a realistic mix of options, and an API key with the `assign` scope.
async fn setup(state: &app::state::AppState) -> anyhow::Result<String> {
    let admin =
        NewUser { email: "bench@shop.example".into(), password: "bench password 1".into(), role: "admin".into() };
    let admin =
        services::users::create_unchecked(&state.db, admin).await.map_err(|e| anyhow::anyhow!(e.public_message()))?;
    let caller = Caller::User(admin);
    for i in 0..EXPERIMENTS {
        let mut spec = json!({
            "key": format!("experiment-{i}"),
            "name": format!("Experiment {i}"),
            "variations": [
                {"key": "control", "weight": 0.5, "payload": {"variant": 0}},
                {"key": "treatment", "weight": 0.5, "payload": {"variant": 1}}
            ],
            "coverage": 0.8,
        });
        if i % 3 == 0 {
            spec["targeting"] = json!({"device": {"$in": ["mobile", "tablet"]}, "country": {"$ne": "US"}});
        }
        if i % 4 == 0 {
            spec["namespace"] =
                json!({"name": "checkout", "range": [(i % 8) as f64 / 8.0, ((i % 8) as f64 + 1.0) / 8.0]});
        }
        services::experiments::create(state, &caller, spec).await.map_err(|e| anyhow::anyhow!(e.public_message()))?;
        services::experiments::transition(
            state,
            &caller,
            &format!("experiment-{i}"),
            app::domain::experiment::Status::Running,
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))?;
    }
    let key = NewApiKey { name: "bench".into(), scopes: vec!["assign".into()] };
    let created = services::api_keys::create_unchecked(&state.db, key, None)
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))?;
    Ok(created.secret)
}

/// The baseline: parse the same body, answer a fixed JSON document of about the same size.
async fn spawn_bare_handler() -> anyhow::Result<u16> {
    use axum::routing::post;
    let answer: Value = json!({
        "unit_id": "user",
        "assignments": (0..EXPERIMENTS).map(|i| json!({
            "experiment": format!("experiment-{i}"), "variation": "control", "variation_index": 0,
            "in_experiment": true, "hash": 0.1234, "reason": "assigned", "payload": {"variant": 0}
        })).collect::<Vec<_>>()
    });
    let router = axum::Router::new().route(
        "/assign",
        post(move |axum::Json(body): axum::Json<Value>| {
            let mut answer = answer.clone();
            answer["unit_id"] = body["unit_id"].clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

/// Shoppers come back: requests cycle through this many units, as page views of returning visitors do.
const UNITS: u64 = 50_000;

fn body(n: u64) -> Vec<u8> {
    let devices = ["mobile", "desktop", "tablet"];
    let countries = ["DE", "FR", "US", "AT"];
    // A shopper's device and country stay the same from visit to visit.
    let unit = n % UNITS;
    let body = json!({
        "unit_id": format!("user-{unit}"),
        "attributes": {"device": devices[(unit % 3) as usize], "country": countries[(unit % 4) as usize]},
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

/// One keep-alive HTTP/1.1 connection, driven with hyper's connection-level client: a fraction of a full client's
/// CPU per request, so the generator's own core stays mostly idle and does not add its queueing to the latencies.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authorization: Option<HeaderValue>,
    path: String,
}

impl Connection {
    async fn open(target: &Target) -> anyhow::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(target.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let authorization =
            target.bearer.as_ref().map(|b| HeaderValue::from_str(&format!("Bearer {b}"))).transpose()?;
        Ok(Connection { sender, authorization, path: target.path.clone() })
    }

    /// Sends request `n` and reads the whole answer.
    async fn send(&mut self, n: u64) -> anyhow::Result<Bytes> {
        self.sender.ready().await?;
        let mut request = hyper::Request::post(&self.path)
            .header(header::HOST, "127.0.0.1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body(n))))?;
        if let Some(authorization) = &self.authorization {
            request.headers_mut().insert(header::AUTHORIZATION, authorization.clone());
        }
        let response = self.sender.send_request(request).await?;
        anyhow::ensure!(response.status().is_success(), "status {}", response.status());
        Ok(response.into_body().collect().await?.to_bytes())
    }
}

/// The exposure log's counters from `/readyz`, once its queue is empty.
async fn exposure_log(readyz: &str) -> anyhow::Result<Value> {
    loop {
        let ready: Value = reqwest::get(readyz).await?.json().await?;
        if ready["exposures"]["queued"].as_u64() == Some(0) {
            return Ok(ready["exposures"].clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One request for each of the `UNITS` units, `CONCURRENCY` at a time.
async fn visit_every_unit(target: &Target) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CONCURRENCY {
        let mut connection = Connection::open(target).await?;
        let next = next.clone();
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= UNITS {
                    return anyhow::Ok(());
                }
                connection.send(n).await?;
            }
        }));
    }
    for client in clients {
        client.await??;
    }
    Ok(())
}

/// Closed loop: every client sends its next request as soon as the previous answer is read; the clients start
/// at different units, so together they cycle through all of them.
async fn throughput(target: &Target, seconds: u64) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CONCURRENCY {
        let mut connection = Connection::open(target).await?;
        let (done, stop) = (done.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut n = c as u64 * (UNITS / CONCURRENCY as u64);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                connection.send(n).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for client in clients {
        client.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Open loop at `rate` requests per second; returns (p50, p99, max) in microseconds.
///
/// A pacing thread releases request `i` at `start + i / rate` (an OS sleep, not tokio's millisecond timer, and no
/// spinning that would take the core from the clients); whichever of the `CONCURRENCY` connections is free sends
/// it. Latency runs from the scheduled moment to the end of the answer, so time a request waits for a free
/// connection or a late release counts against the server instead of being hidden (no coordinated omission).
async fn latency_at(target: &Target, rate: f64, seconds: u64) -> anyhow::Result<(u64, u64, u64)> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * seconds as f64) as u64;
    let (release, released) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let released = Arc::new(tokio::sync::Mutex::new(released));
    let mut clients = Vec::new();
    for _ in 0..CONCURRENCY {
        let mut connection = Connection::open(target).await?;
        let released = released.clone();
        clients.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            loop {
                let next = released.lock().await.recv().await;
                let Some((n, scheduled)) = next else { break };
                connection.send(n).await?;
                histogram.record(scheduled.elapsed().as_micros().max(1) as u64)?;
            }
            anyhow::Ok(histogram)
        }));
    }
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        for n in 0..total {
            let scheduled = start + interval.mul_f64(n as f64);
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if release.send((n, scheduled)).is_err() {
                break;
            }
        }
    });
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for client in clients {
        all.add(client.await??)?;
    }
    pacer.join().map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;
    Ok((all.value_at_quantile(0.5), all.value_at_quantile(0.99), all.max()))
}
