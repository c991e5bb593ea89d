//! The browser side: the hydrate bundle's size as a browser downloads it (gzip), and the time the server takes
//! to render the results page — the page stakeholders open most — for a demo experiment, against the JSON
//! results API for the same experiment (the same statistics without HTML) and the sign-in page (HTML without
//! data, signed out) in the same run.
//!
//! Needs the release site in `target/site` (`make bench` builds it first). The data: `intentlab demo` with
//! 5 000 people on a fresh SQLite database.

use anyhow::{ensure, Context};
use intentlab::config::Settings;
use intentlab::startup::Application;
use std::io::Write;
use std::time::{Duration, Instant};

const REQUESTS: usize = 30;
const DEMO_PEOPLE: &str = "5000";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bundle()?;

    let dir = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", dir.path().join("pages.db").display());
    let demo = std::process::Command::new(env!("CARGO_BIN_EXE_intentlab"))
        .args(["demo", "--users", DEMO_PEOPLE])
        .env("DATABASE_URL", &database_url)
        .env("INTENTLAB_LOG", "warn")
        .output()?;
    ensure!(demo.status.success(), "demo: {}", String::from_utf8_lossy(&demo.stderr));

    let settings = Settings::in_process(&database_url, "target/site");
    let app = Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let password = "a benchmark password";
    let user =
        app::model::NewUser { email: "bench@shop.example".into(), password: password.into(), role: "viewer".into() };
    app::services::users::create_unchecked(&db, user).await.map_err(|e| anyhow::anyhow!(e.public_message()))?;
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let login = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "bench@shop.example", "password": password}))
        .send()
        .await?;
    ensure!(login.status() == 200, "login: {}", login.status());

    let key = "demo-video-gallery";
    // The sign-in page is read signed out: signed in, it redirects to the home page.
    let signed_out = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let targets = [
        ("results page (SSR, HTML with every metric)", format!("/experiments/{key}/results"), &client),
        ("results API (JSON, same statistics)", format!("/api/v1/experiments/{key}/results"), &client),
        ("sign-in page (SSR, no data, signed out)", "/login".to_string(), &signed_out),
    ];
    let mut medians = Vec::new();
    for (_, path, client) in &targets {
        medians.push(median_latency(client, &format!("{address}{path}")).await?);
    }
    println!("\nserver-side render time, {REQUESTS} sequential requests each, median (demo with {DEMO_PEOPLE} people)");
    println!("| what | median | ratio to the results API |");
    println!("|---|---:|---:|");
    for ((what, path, _), median) in targets.iter().zip(&medians) {
        println!(
            "| {what} `{path}` | {:.1} ms | {:.2} |",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() / medians[1].as_secs_f64()
        );
    }
    Ok(())
}

/// Median time to the last byte of a GET that must answer 200.
async fn median_latency(client: &reqwest::Client, url: &str) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = client.get(url).send().await?;
        ensure!(response.status() == 200, "{url}: {}", response.status());
        let body = response.bytes().await?;
        ensure!(!body.is_empty(), "{url}: empty");
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[REQUESTS / 2])
}

/// Raw and gzip sizes of what the browser downloads to hydrate.
fn bundle() -> anyhow::Result<()> {
    println!("hydrate bundle (target/site/pkg, release build)");
    println!("| file | bytes | gzip (level 9) |");
    println!("|---|---:|---:|");
    let (mut raw_total, mut gzip_total) = (0, 0);
    for file in ["intentlab_bg.wasm", "intentlab.js", "intentlab.css"] {
        let path = format!("target/site/pkg/{file}");
        let bytes = std::fs::read(&path).with_context(|| format!("{path}: run `make release` first"))?;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&bytes)?;
        let gzipped = encoder.finish()?.len();
        println!("| {file} | {} | {gzipped} |", bytes.len());
        raw_total += bytes.len();
        gzip_total += gzipped;
    }
    println!("| total | {raw_total} | {gzip_total} |");
    Ok(())
}
