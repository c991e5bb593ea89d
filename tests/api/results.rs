//! Experiment results end to end: exposures, real ingestion of orders, and the results endpoint recovering the
//! planted effects, flagging a sample-ratio mismatch, and breaking results down by segment.

use crate::helpers::{error_code, spawn_app, TestApp};
use app::storage::exposures::{insert_batch, Exposure};
use chrono::{Duration, Utc};
use reqwest::Client;
use serde_json::{json, Map, Value};

/// Creates and starts an experiment measured by purchase (primary), revenue and AOV (secondary) and repeat
/// purchase (guardrail); returns its id.
pub(crate) async fn running_experiment(app: &TestApp, editor: &Client, key: &str) -> i64 {
    let body = json!({
        "key": key, "name": "Free shipping banner",
        "variations": [{"key": "control"}, {"key": "banner"}],
        "metrics": {"primary": "purchase", "secondary": ["revenue", "aov"], "guardrails": ["repeat-purchase"]}
    });
    let created = editor.post(app.url("/api/v1/experiments")).json(&body).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let started = editor.post(app.url(&format!("/api/v1/experiments/{key}/start"))).send().await.unwrap();
    assert_eq!(started.status(), 200);
    created["id"].as_i64().unwrap()
}

/// Exposes `units` per variation three days ago; `order(variation, i)` says whether (and for how much) unit i
/// orders two days ago. Every tenth unit also ordered five days before exposure (the CUPED covariate).
pub(crate) async fn plant(
    app: &TestApp,
    experiment_id: i64,
    prefix: &str,
    units: [usize; 2],
    order: impl Fn(usize, usize) -> Option<f64>,
) {
    let exposed_at = Utc::now() - Duration::days(3);
    let mut exposures = Vec::new();
    let mut events = Vec::new();
    for (variation, &count) in units.iter().enumerate() {
        for i in 0..count {
            let unit = format!("{prefix}-{variation}-{i}");
            let mut attributes = Map::new();
            attributes.insert("device".into(), json!(if i % 2 == 0 { "mobile" } else { "desktop" }));
            exposures.push(Exposure {
                experiment_id,
                unit_id: unit.clone(),
                variation_index: variation,
                at: exposed_at,
                attributes,
            });
            let mut orders = Vec::new();
            if i % 10 == 0 {
                orders.push((exposed_at - Duration::days(5), 30.0));
            }
            if let Some(revenue) = order(variation, i) {
                orders.push((exposed_at + Duration::days(1), revenue));
            }
            for (n, (at, revenue)) in orders.into_iter().enumerate() {
                events.push(json!({
                    "message_id": format!("{unit}-order-{n}"), "type": "track", "event": "Order Completed",
                    "user_id": unit, "timestamp": at.to_rfc3339(),
                    "properties": {"order_id": format!("{unit}-{n}"), "revenue": revenue}
                }));
            }
            if events.is_empty() || i % 7 == 0 {
                events.push(json!({"message_id": format!("{unit}-visit"), "type": "page", "user_id": unit,
                                   "timestamp": exposed_at.to_rfc3339()}));
            }
        }
    }
    insert_batch(&app.db, &exposures).await.unwrap();
    let key = app.api_key("ingest").await;
    let client = Client::new();
    for chunk in events.chunks(500) {
        let response = client
            .post(app.url("/api/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"events": chunk}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["rejected"], json!([]), "{answer}");
    }
}

fn metric<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("{key} in {results}"))
}

#[tokio::test]
async fn results_recover_planted_effects_with_every_method() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let id = running_experiment(&app, &editor, "free-shipping").await;
    // Control: 10 % order 50.0; banner: 20 % order 60.0 — on mobile (even i) and desktop (odd i) alike.
    plant(&app, id, "fs", [1000, 1000], |variation, i| match variation {
        0 if matches!(i % 20, 1 | 4) => Some(50.0),
        1 if matches!(i % 10, 1 | 4) => Some(60.0),
        _ => None,
    })
    .await;

    let viewer = app.signed_in("viewer").await;
    let response = viewer.get(app.url("/api/v1/experiments/free-shipping/results")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let results: Value = response.json().await.unwrap();
    assert_eq!(results["variations"], json!(["control", "banner"]));
    assert_eq!(results["exposures"], json!([1000, 1000]));
    assert_eq!(results["srm_ok"], true);
    assert_eq!(results["cuped"], true);

    let purchase = metric(&results, "purchase");
    assert_eq!(purchase["role"], "primary");
    let (control, banner) = (&purchase["variations"][0], &purchase["variations"][1]);
    assert_eq!((control["units"].as_f64(), control["value"].as_f64()), (Some(1000.0), Some(0.1)));
    assert_eq!(banner["value"].as_f64(), Some(0.2));
    let lift = &banner["relative_lift"];
    assert!(lift["ci_low"].as_f64().unwrap() < 1.0 && 1.0 < lift["ci_high"].as_f64().unwrap(), "{lift}");
    assert_eq!(banner["significant"], true);
    assert!(banner["variance_reduction"].as_f64().is_some(), "the pre-period orders are a covariate");

    let aov = metric(&results, "aov");
    assert_eq!(aov["variations"][0]["value"].as_f64(), Some(50.0));
    assert_eq!(aov["variations"][1]["value"].as_f64(), Some(60.0));
    let revenue = metric(&results, "revenue");
    assert!((revenue["variations"][1]["absolute_lift"]["estimate"].as_f64().unwrap() - 7.0).abs() < 0.5);
    assert_eq!(metric(&results, "repeat-purchase")["role"], "guardrail");

    // The cumulative effect over time ends with the result itself.
    let with_timeline: Value = viewer
        .get(app.url("/api/v1/experiments/free-shipping/results?timeline=true&method=sequential"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let timeline = &with_timeline["timeline"];
    assert_eq!(timeline["metric"], "purchase");
    assert_eq!(timeline["variations"], json!(["banner"]));
    let points = timeline["points"].as_array().unwrap();
    assert!((3..=5).contains(&points.len()), "the days since exposure three days ago, and now: {timeline}");
    let last = points.last().unwrap();
    assert_eq!(last["units"], 2000);
    assert_eq!(last["at"], with_timeline["data_through"]);
    assert_eq!(last["lifts"][0], metric(&with_timeline, "purchase")["variations"][1]["relative_lift"]);
    assert!(points.iter().all(|p| p["units"] == 0 || p["units"] == 2000), "everyone was exposed at one moment");
    assert!(results.get("timeline").is_none(), "only when asked for");

    for method in ["sequential", "bayesian"] {
        let url =
            app.url(&format!("/api/v1/experiments/free-shipping/results?method={method}&cuped=false&correction=holm"));
        let results: Value = viewer.get(url).send().await.unwrap().json().await.unwrap();
        let banner = &metric(&results, "purchase")["variations"][1];
        assert_eq!(banner["significant"], true, "{method}: {banner}");
        assert!(banner.get("variance_reduction").is_none());
    }
    // An informative prior pulls the Bayesian lift towards what earlier tests found (here: nothing, firmly).
    let bayesian = |prior: &str| {
        let url = app.url(&format!("/api/v1/experiments/free-shipping/results?method=bayesian&cuped=false{prior}"));
        let viewer = viewer.clone();
        async move {
            let results: Value = viewer.get(url).send().await.unwrap().json().await.unwrap();
            metric(&results, "purchase")["variations"][1]["relative_lift"]["estimate"].as_f64().unwrap()
        }
    };
    let (flat, sceptical) = (bayesian("").await, bayesian("&prior_mean=0&prior_variance=0.01").await);
    assert!(sceptical < flat && sceptical > 0.0, "shrunk towards 0: {sceptical} < {flat}");
    for bad in ["&prior_mean=0.1", "&prior_variance=-1&prior_mean=0"] {
        let url = app.url(&format!("/api/v1/experiments/free-shipping/results?method=bayesian{bad}"));
        assert_eq!(error_code(viewer.get(url).send().await.unwrap(), 400).await, "invalid_input", "{bad}");
    }
    let url = app.url("/api/v1/experiments/free-shipping/results?prior_mean=0&prior_variance=0.01");
    assert_eq!(error_code(viewer.get(url).send().await.unwrap(), 400).await, "invalid_input", "frequentist");

    let url = app.url("/api/v1/experiments/free-shipping/results?segment=device");
    let results: Value = viewer.get(url).send().await.unwrap().json().await.unwrap();
    let segments = &results["segments"];
    assert_eq!(segments["attribute"], "device");
    let values: Vec<&str> =
        segments["values"].as_array().unwrap().iter().map(|s| s["value"].as_str().unwrap()).collect();
    assert_eq!(values.len(), 2, "{values:?}");
    assert_eq!(segments["values"][0]["exposures"], json!([500, 500]));
    let purchase_heterogeneity =
        segments["heterogeneity"].as_array().unwrap().iter().find(|h| h["metric"] == "purchase").unwrap();
    let p = purchase_heterogeneity["p_value"].as_f64().unwrap();
    assert!(p > 0.05, "the same effect on mobile and desktop: {p}");
}

#[tokio::test]
async fn a_sample_ratio_mismatch_makes_nothing_significant() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let id = running_experiment(&app, &editor, "broken-split").await;
    plant(&app, id, "bs", [1000, 1200], |variation, i| (variation == 1 && i % 5 == 1 || i % 10 == 1).then_some(40.0))
        .await;
    let results: Value =
        editor.get(app.url("/api/v1/experiments/broken-split/results")).send().await.unwrap().json().await.unwrap();
    assert_eq!(results["srm_ok"], false);
    assert!(results["srm_p_value"].as_f64().unwrap() < 0.001);
    for metric in results["metrics"].as_array().unwrap() {
        assert_eq!(metric["variations"][1]["significant"], false, "{metric}");
    }
}

#[tokio::test]
async fn results_and_metric_attachments_refuse_bad_requests() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    running_experiment(&app, &editor, "guarded").await;

    let bad = editor.get(app.url("/api/v1/experiments/guarded/results?method=magic")).send().await.unwrap();
    assert_eq!(error_code(bad, 400).await, "invalid_input");
    let bad = editor.get(app.url("/api/v1/experiments/guarded/results?alpha=0.9")).send().await.unwrap();
    assert_eq!(error_code(bad, 400).await, "invalid_input");
    let missing = editor.get(app.url("/api/v1/experiments/nope/results")).send().await.unwrap();
    assert_eq!(error_code(missing, 404).await, "not_found");
    let anonymous = app.client.get(app.url("/api/v1/experiments/guarded/results")).send().await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "unauthenticated");
    let empty: Value =
        editor.get(app.url("/api/v1/experiments/guarded/results")).send().await.unwrap().json().await.unwrap();
    assert_eq!(empty["exposures"], json!([0, 0]), "no exposures yet is an answer, not an error");

    let unknown = json!({"key": "x1", "name": "X", "variations": [{"key": "a"}, {"key": "b"}], "metrics": {"primary": "no-such-metric"}});
    let response = editor.post(app.url("/api/v1/experiments")).json(&unknown).send().await.unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");
    // The primary metric is pre-registered; guardrails may still be added.
    let switch = editor
        .patch(app.url("/api/v1/experiments/guarded"))
        .json(&json!({"metrics": {"primary": "orders"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(switch, 409).await, "conflict");
    let add = json!({"metrics": {"guardrails": ["repeat-purchase", "ltv-30"]}});
    let response = editor.patch(app.url("/api/v1/experiments/guarded")).json(&add).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn micro_conversion_metrics_count_signal_matches_and_events_after_exposure() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    for metric in [
        json!({"key": "cart-add", "name": "Added to cart", "measure": {"type": "signal", "key": "product-added"}, "window_days": 7}),
        json!({"key": "cart-returned", "name": "Came back to the cart", "measure": {"type": "signal", "key": "cart-return"}, "window_days": 7}),
        json!({"key": "cart-viewed", "name": "Viewed the cart", "measure": {"type": "event", "name": "Cart Viewed"}, "window_days": 7}),
    ] {
        let response = editor.post(app.url("/api/v1/metrics")).json(&metric).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }
    let body = json!({"key": "sticky-cart", "name": "Sticky cart button", "variations": [{"key": "control"}, {"key": "sticky"}],
                      "metrics": {"primary": "cart-add", "secondary": ["cart-returned", "cart-viewed"]}});
    let created: Value =
        editor.post(app.url("/api/v1/experiments")).json(&body).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    let exposed_at = Utc::now() - Duration::days(2);
    let mut exposures = Vec::new();
    let mut events = Vec::new();
    for variation in 0..2 {
        for i in 0..200 {
            let unit = format!("sc-{variation}-{i}");
            exposures.push(Exposure {
                experiment_id: id,
                unit_id: unit.clone(),
                variation_index: variation,
                at: exposed_at,
                attributes: Map::new(),
            });
            let track = |n: usize, event: &str, at: chrono::DateTime<Utc>| {
                json!({
                    "message_id": format!("{unit}-{n}"), "type": "track", "event": event, "user_id": unit, "timestamp": at.to_rfc3339()
                })
            };
            // Before exposure everyone adds to cart: it must not count.
            events.push(track(0, "Product Added", exposed_at - Duration::hours(5)));
            // After: a quarter of control, half of the sticky variation.
            if i % (4 - 2 * variation) == 0 {
                events.push(track(1, "Product Added", exposed_at + Duration::hours(1)));
                // One cart view, and a return three hours later (the signal's repeat rule: ≥ 60 minutes apart).
                events.push(track(2, "Cart Viewed", exposed_at + Duration::hours(2)));
                events.push(track(3, "Cart Viewed", exposed_at + Duration::hours(5)));
            }
        }
    }
    insert_batch(&app.db, &exposures).await.unwrap();
    let key = app.api_key("ingest").await;
    let response = Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let results: Value =
        editor.get(app.url("/api/v1/experiments/sticky-cart/results")).send().await.unwrap().json().await.unwrap();
    for key in ["cart-add", "cart-returned", "cart-viewed"] {
        let m = metric(&results, key);
        assert_eq!(m["variations"][0]["value"].as_f64(), Some(0.25), "{key}: {m}");
        assert_eq!(m["variations"][1]["value"].as_f64(), Some(0.5), "{key}: {m}");
    }
}

/// The results service keeps each experiment's data between requests and re-reads only what changed. After new
/// exposures, new orders, a signed-in purchase stitched to an exposed anonymous visitor and a person found to
/// have seen both variations, the kept data must give exactly what a fresh read gives (a second instance on the
/// same database, which has read nothing yet).
#[tokio::test]
async fn results_kept_between_requests_follow_new_data_exactly_as_a_fresh_read() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let id = running_experiment(&app, &editor, "fresh-results").await;
    plant(&app, id, "fr", [300, 300], |variation, i| (i % (10 - 5 * variation) == 1).then_some(40.0)).await;
    let read = |app: &TestApp| {
        let (client, url) = (editor.clone(), app.url("/api/v1/experiments/fresh-results/results?segment=device"));
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let mut results: Value = response.json().await.unwrap();
            let results = results.as_object_mut().unwrap();
            results.remove("computed_at");
            results.remove("data_through");
            Value::Object(results.clone())
        }
    };
    let before = read(&app).await;
    assert_eq!(before["exposures"], json!([300, 300]));

    // New units exposed yesterday, some of whom buy; earlier units buying again; anonymous visitors exposed,
    // then signing in as customers who bought on another device; one person exposed under two ids in different
    // variations.
    let exposed_at = Utc::now() - Duration::days(1);
    let exposure = |unit: String, variation: usize| Exposure {
        experiment_id: id,
        unit_id: unit,
        variation_index: variation,
        at: exposed_at,
        attributes: [("device".to_string(), json!("tablet"))].into_iter().collect(),
    };
    let mut exposures = Vec::new();
    let mut events = Vec::new();
    let order = |unit: &str, user: &str, n: usize, revenue: f64| {
        json!({"message_id": format!("{unit}-late-order-{n}"), "type": "track", "event": "Order Completed",
               "user_id": user, "timestamp": (exposed_at + Duration::hours(2)).to_rfc3339(),
               "properties": {"order_id": format!("{unit}-late-{n}"), "revenue": revenue}})
    };
    for variation in 0..2 {
        for i in 0..50 {
            let unit = format!("late-{variation}-{i}");
            if i % 3 == variation {
                events.push(order(&unit, &unit, 0, 25.0));
            }
            exposures.push(exposure(unit, variation));
            let earlier = format!("fr-{variation}-{}", i * 2);
            events.push(order(&earlier, &earlier, 1, 70.0));

            let anonymous = format!("anon-{variation}-{i}");
            let customer = format!("customer-{variation}-{i}");
            exposures.push(exposure(anonymous.clone(), variation));
            events.push(order(&customer, &customer, 0, 90.0));
            events.push(json!({"message_id": format!("{anonymous}-signin"), "type": "identify",
                               "user_id": customer, "anonymous_id": anonymous,
                               "timestamp": (exposed_at + Duration::hours(3)).to_rfc3339()}));
        }
    }
    exposures.push(exposure("both-web".into(), 0));
    exposures.push(exposure("both-app".into(), 1));
    events.push(json!({"message_id": "both-web-visit", "type": "page", "user_id": "both-user",
                       "anonymous_id": "both-web", "timestamp": exposed_at.to_rfc3339()}));
    events.push(json!({"message_id": "both-app-visit", "type": "page", "user_id": "both-user",
                       "anonymous_id": "both-app", "timestamp": exposed_at.to_rfc3339()}));
    // The exposures are read before the events arrive: the anonymous units are nobody yet.
    insert_batch(&app.db, &exposures).await.unwrap();
    assert_eq!(read(&app).await["exposures"], json!([401, 401]));
    let key = app.api_key("ingest").await;
    let response =
        Client::new().post(app.url("/api/v1/events")).bearer_auth(&key).json(&json!({"events": events})).send().await;
    assert_eq!(response.unwrap().status(), 200);

    let kept = read(&app).await;
    assert_eq!(kept["people_in_several_variations"], 1, "{kept}");
    assert_eq!(kept["exposures"], json!([400, 400]), "the person who saw both is left out");
    let purchase = metric(&kept, "purchase");
    // Control: 30 of the first 300 (i % 10 == 1), 50 of them buying late (even i), 17 new buyers, 50 stitched
    // customers; the banner: 60 (i % 5 == 1), 40 (even i, 10 of whom had bought already), 17 and 50.
    assert_eq!(purchase["variations"][0]["value"].as_f64(), Some(147.0 / 400.0), "{purchase}");
    assert_eq!(purchase["variations"][1]["value"].as_f64(), Some(167.0 / 400.0), "{purchase}");

    let second = crate::helpers::spawn_app_on(&app.database_url, tempfile::tempdir().unwrap()).await;
    let fresh = read(&second).await;
    assert_eq!(kept, fresh, "kept data and a fresh read disagree");
}
