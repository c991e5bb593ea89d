//! `intentlab demo`: the simulated shop is the same for a seed, and the results pages recover its planted
//! effects.

use crate::cli::intentlab;
use crate::helpers::{fresh_postgres_database, postgres_server, spawn_app_on};
use serde_json::Value;

/// Runs `intentlab demo` on a fresh database and returns the database URL, its directory and the report printed.
async fn demo(users: usize, seed: u64) -> (String, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match postgres_server() {
        Some(server) => fresh_postgres_database(&server).await,
        None => format!("sqlite://{}", dir.path().join("demo.db").display()),
    };
    let (users, seed) = (users.to_string(), seed.to_string());
    let output = intentlab(&database_url, &["demo", "--users", &users, "--days", "40", "--seed", &seed], None);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    (database_url, dir, stdout)
}

fn primary<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["metrics"].as_array().unwrap().iter().find(|m| m["key"] == key).expect("metric in the results")
}

/// The treatment's relative lift on `metric`: estimate and interval.
fn relative_lift(results: &Value, metric: &str) -> (f64, f64, f64) {
    let lift = &primary(results, metric)["variations"][1]["relative_lift"];
    (lift["estimate"].as_f64().unwrap(), lift["ci_low"].as_f64().unwrap(), lift["ci_high"].as_f64().unwrap())
}

#[tokio::test]
async fn the_demo_is_the_same_for_a_seed_and_its_results_recover_the_planted_effects() {
    let (_, _first_dir, first) = demo(600, 7).await;
    let (database_url, dir, report) = demo(600, 7).await;
    assert_eq!(first, report, "the same seed makes the same shop");
    for line in ["600 people", "demo-video-gallery", "purchase conversion +20 %", "sample-ratio check must fail"] {
        assert!(report.contains(line), "the report says {line:?}: {report}");
    }
    let (_, _, other) = demo(600, 8).await;
    assert_ne!(other, report, "another seed, another shop");

    // Loading twice is refused: the demo would double every count.
    let again = intentlab(&database_url, &["demo", "--users", "10"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("loaded already"));
    let skipped = intentlab(&database_url, &["demo", "--skip-if-loaded"], None);
    assert!(skipped.status.success());

    // A bigger shop, read through the results API.
    drop((database_url, dir));
    let (database_url, dir, _) = demo(6000, 42).await;
    let app = spawn_app_on(&database_url, dir).await;
    let viewer = app.signed_in("viewer").await;
    let results = |key: &str, query: &str| {
        let url = app.url(&format!("/api/v1/experiments/{key}/results?alpha=0.01{query}"));
        let viewer = viewer.clone();
        async move {
            let response = viewer.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };

    let video = results("demo-video-gallery", "&cuped=false").await;
    assert_eq!(video["srm_ok"], true, "{}", video["srm_p_value"]);
    // Each simulated person is exposed under one id, so stitching must never put two of them in one profile.
    assert_eq!(video["people_in_several_variations"], 0);
    let (estimate, low, high) = relative_lift(&video, "purchase");
    assert!(low < 0.2 && 0.2 < high, "+20 % conversion within [{low}, {high}] (estimate {estimate})");
    assert!(estimate > 0.0, "the planted lift shows as a lift: {estimate}");
    let (_, low, high) = relative_lift(&video, "aov");
    assert!(low < 0.0 && 0.0 < high, "AOV unchanged: [{low}, {high}]");

    // AOV +10 % on app orders: people who arrive in the app order there.
    let bundles = results("demo-app-bundles", "&segment=channel").await;
    let app_segment =
        bundles["segments"]["values"].as_array().unwrap().iter().find(|s| s["value"] == "app").expect("an app segment");
    let (estimate, low, high) = relative_lift(app_segment, "aov");
    assert!(low < 0.1 && 0.1 < high, "+10 % AOV in the app within [{low}, {high}] (estimate {estimate})");
    let (_, low, high) = relative_lift(&bundles, "purchase");
    assert!(low < 0.0 && 0.0 < high, "conversion unchanged: [{low}, {high}]");

    let null = results("demo-size-guide", "").await;
    assert_eq!(null["srm_ok"], true);
    let (_, low, high) = relative_lift(&null, "purchase");
    assert!(low < 0.0 && 0.0 < high, "the null test shows no effect: [{low}, {high}]");

    let broken = results("demo-wishlist-reminder", "").await;
    assert_eq!(broken["srm_ok"], false, "the lost exposures are a sample-ratio mismatch: {}", broken["exposures"]);
    assert!(broken["srm_p_value"].as_f64().unwrap() < 0.001, "{}", broken["srm_p_value"]);

    // Two experiments are concluded into the playbook, the others still run.
    let playbook: Value = viewer.get(app.url("/api/v1/playbook")).send().await.unwrap().json().await.unwrap();
    let concluded: Vec<&str> = playbook.as_array().unwrap().iter().map(|e| e["experiment"].as_str().unwrap()).collect();
    assert_eq!(concluded.len(), 2, "{playbook}");
    assert!(concluded.contains(&"demo-video-gallery") && concluded.contains(&"demo-size-guide"));
}
