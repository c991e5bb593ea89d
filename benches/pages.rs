//! The browser side: the bundle's size on the wire (what a first visit to a page of each section fetches, with
//! brotli as browsers ask for it over HTTPS and with gzip), and the time the server takes
//! to render the results page — the page stakeholders open most — for a demo experiment, against the JSON
//! results API for the same experiment (the same statistics without HTML) and the sign-in page (HTML without
//! data, signed out) in the same run.
//!
//! Needs the release site in `target/site` (`make bench` builds it first). The data: `intentlab demo` with
//! 5 000 people on a fresh SQLite database.

use anyhow::{ensure, Context};
use intentlab::config::Settings;
use intentlab::startup::Application;
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

/// What a first visit fetches from `/pkg`, per section, as `tools/bundle` measured it into `bundle.json`.
fn bundle() -> anyhow::Result<()> {
    let path = "target/site/bundle.json";
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).with_context(|| format!("{path}: run `make release` first"))?)?;
    ensure!(manifest["optimized"] == true, "{path} describes a debug bundle: run `make release` first");
    let kb = |v: &serde_json::Value| v.as_f64().unwrap_or_default() / 1000.0;
    println!("browser bundle ({}): first load of a page, per section", manifest["pkg_dir"].as_str().unwrap_or("?"));
    println!("| section | files | raw | gzip | brotli |");
    println!("|---|---:|---:|---:|---:|");
    for load in manifest["first_loads"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {:.0} KB | {:.0} KB | {:.0} KB |",
            load["section"].as_str().unwrap_or("?"),
            load["files"],
            kb(&load["bytes"]),
            kb(&load["gzip"]),
            kb(&load["brotli"])
        );
    }
    let files = manifest["files"].as_array().map(Vec::len).unwrap_or_default();
    let total = |key: &str| manifest["files"].as_array().into_iter().flatten().map(|f| kb(&f[key])).sum::<f64>();
    println!(
        "| every section ({files} files) | | {:.0} KB | {:.0} KB | {:.0} KB |",
        total("bytes"),
        total("gzip"),
        total("brotli")
    );
    Ok(())
}
