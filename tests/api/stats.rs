//! The statistics calculators over HTTP: gbstats' published numbers come back, bad input gets a 400 naming
//! the field, and only authenticated callers may use them.

use crate::helpers::{error_code, spawn_app};
use serde_json::{json, Value};

/// Sends the request and reads the JSON answer.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn round5(v: &Value) -> f64 {
    (v.as_f64().expect("a number") * 1e5).round() / 1e5
}

#[tokio::test]
async fn compare_reproduces_gbstats_for_every_method() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let body = json!({
        "metric_type": "mean",
        "control": {"n": 3407, "sum": 1396.87, "sum_squares": 52377.9767},
        "treatment": {"n": 3461, "sum": 2422.7, "sum_squares": 134698.29}
    });
    let response = viewer.post(app.url("/api/v1/stats/compare")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    let treatment = &result["treatment"];
    assert_eq!(treatment["units"], 3461.0);
    let relative = &treatment["relative_lift"];
    assert_eq!(
        [round5(&relative["estimate"]), round5(&relative["ci_low"]), round5(&relative["ci_high"])],
        [0.70732, -0.03526, 1.44989]
    );
    assert_eq!(round5(&relative["p_value"]), 0.06191);
    assert_eq!(round5(&treatment["absolute_lift"]["p_value"]), 0.02016);
    assert_eq!(treatment["significant"], false, "p = 0.062 on the relative lift");
    assert!(result["control"].get("relative_lift").is_none(), "control is the baseline");

    let bayesian = json!({
        "metric_type": "binomial", "method": "bayesian",
        "control": {"n": 100, "sum": 49}, "treatment": {"n": 100, "sum": 51}
    });
    let result: Value = answer(viewer.post(app.url("/api/v1/stats/compare")).json(&bayesian)).await;
    let treatment = &result["treatment"];
    assert_eq!([round5(&treatment["risk"][0]), round5(&treatment["risk"][1])], [0.0814, 0.04058]);
    assert!(treatment["chance_to_win"].as_f64().unwrap() > 0.5);
    assert!(treatment["relative_lift"]["p_value"].is_null());

    let sequential = json!({
        "metric_type": "binomial", "method": "sequential", "sequential_tuning_parameter": 5000,
        "control": {"n": 3000, "sum": 1396}, "treatment": {"n": 3461, "sum": 2422}
    });
    let result: Value = answer(viewer.post(app.url("/api/v1/stats/compare")).json(&sequential)).await;
    let relative = &result["treatment"]["relative_lift"];
    assert_eq!(
        [round5(&relative["estimate"]), round5(&relative["ci_low"]), round5(&relative["ci_high"])],
        [0.50386, 0.40098, 0.60675]
    );

    let ratio = json!({
        "metric_type": "ratio",
        "control": {"n": 1000, "sum": 24000, "sum_squares": 1500000, "denominator_sum": 400, "denominator_sum_squares": 520, "cross_sum": 30000},
        "treatment": {"n": 1000, "sum": 26000, "sum_squares": 1700000, "denominator_sum": 410, "denominator_sum_squares": 540, "cross_sum": 32000}
    });
    let result: Value = answer(viewer.post(app.url("/api/v1/stats/compare")).json(&ratio)).await;
    assert_eq!(result["control"]["value"], 60.0, "AOV is revenue / orders");
}

#[tokio::test]
async fn power_mde_and_corrections_answer_what_they_are_asked() {
    let app = spawn_app().await;
    let key = app.api_key("read").await;
    let client = reqwest::Client::new();
    // GrowthBook's power.test.ts: mean 10, variance 3909.99977…, +5 %, 400 000 units over 3 variations.
    let body = json!({"metric_type": "mean", "mean": 10, "variance": 3909.9997749994377, "relative_effect": 0.05,
                      "target_power": 0.8, "total_units": 400000, "variations": 3, "units_per_day": 10000});
    let response = client.post(app.url("/api/v1/stats/power")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(round5(&plan["power"]), 0.52144);
    assert_eq!(round5(&plan["mde"]), 0.07027);
    let needed = plan["units_needed"].as_f64().unwrap();
    assert!(needed > 400000.0);
    assert_eq!(plan["days_needed"].as_f64().unwrap(), (needed / 10000.0).ceil());

    let sequential = json!({"metric_type": "mean", "mean": 10, "variance": 3909.9997749994377, "relative_effect": 0.05,
                            "total_units": 400000, "variations": 3, "sequential_tuning_parameter": 5000});
    let plan: Value = answer(client.post(app.url("/api/v1/stats/power")).bearer_auth(&key).json(&sequential)).await;
    assert_eq!(round5(&plan["power"]), 0.20596);

    let body = json!({"p_values": [0.01, 0.04, 0.03, 0.005], "method": "holm"});
    let adjusted: Value = answer(client.post(app.url("/api/v1/stats/adjust")).bearer_auth(&key).json(&body)).await;
    let adjusted: Vec<f64> = adjusted["adjusted"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected = [0.03, 0.06, 0.06, 0.02];
    for (a, e) in adjusted.iter().zip(expected) {
        assert!((a - e).abs() < 1e-12, "{adjusted:?}");
    }
}

#[tokio::test]
async fn calculators_refuse_bad_input_and_anonymous_callers() {
    let app = spawn_app().await;
    let anonymous = app.client.post(app.url("/api/v1/stats/adjust")).json(&json!({"p_values": [0.1], "method": "bh"}));
    assert_eq!(error_code(anonymous.send().await.unwrap(), 401).await, "unauthenticated");

    let viewer = app.signed_in("viewer").await;
    let cases = [
        (
            "/api/v1/stats/compare",
            json!({"metric_type": "binomial", "control": {"n": 10, "sum": 12}, "treatment": {"n": 10, "sum": 3}}),
            "control.sum",
        ),
        (
            "/api/v1/stats/compare",
            json!({"metric_type": "mean", "control": {"n": 10, "sum": 12}, "treatment": {"n": 10, "sum": 3}}),
            "sum_squares",
        ),
        (
            "/api/v1/stats/compare",
            json!({"metric_type": "binomial", "alpha": 2, "control": {"n": 10, "sum": 1}, "treatment": {"n": 10, "sum": 3}}),
            "alpha",
        ),
        ("/api/v1/stats/power", json!({"metric_type": "binomial", "mean": 0.1}), "relative_effect"),
        (
            "/api/v1/stats/power",
            json!({"metric_type": "mean", "mean": 3, "relative_effect": 0.1, "total_units": 1000}),
            "variance",
        ),
        ("/api/v1/stats/adjust", json!({"p_values": [0.1, 1.5], "method": "bh"}), "p_values[1]"),
    ];
    for (path, body, field) in cases {
        let response = viewer.post(app.url(path)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].as_str().unwrap().contains(field), "{error}");
    }
    let unknown_method = json!({"p_values": [0.1], "method": "bonferroni-ish"});
    let response = viewer.post(app.url("/api/v1/stats/adjust")).json(&unknown_method).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_metric_library_starts_with_e_commerce_metrics_and_is_edited_by_editors() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let metrics: Value = answer(viewer.get(app.url("/api/v1/metrics"))).await;
    let keys: Vec<&str> = metrics.as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    for key in
        ["purchase", "revenue", "aov", "repeat-purchase", "repeat-among-purchasers", "ltv-30", "ltv-60", "ltv-90"]
    {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let aov: Value = answer(viewer.get(app.url("/api/v1/metrics/aov"))).await;
    assert_eq!(aov["measure"]["type"], "average_order_value");
    assert_eq!(aov["capping"]["percentile"], 0.99);

    let video = json!({"key": "video-75", "name": "Watched 75 % of a product video",
                       "measure": {"type": "signal", "key": "video-75"}, "window_days": 7});
    let denied = viewer.post(app.url("/api/v1/metrics")).json(&video).send().await.unwrap();
    assert_eq!(error_code(denied, 403).await, "forbidden");

    let editor = app.signed_in("editor").await;
    let unknown_signal = json!({"key": "x", "name": "X", "measure": {"type": "signal", "key": "no-such-signal"}});
    let response = editor.post(app.url("/api/v1/metrics")).json(&unknown_signal).send().await.unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");
    let capped_conversion =
        json!({"key": "x", "name": "X", "measure": {"type": "purchase"}, "capping": {"type": "absolute", "cap": 3}});
    let response = editor.post(app.url("/api/v1/metrics")).json(&capped_conversion).send().await.unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");

    let signals: Value = answer(editor.get(app.url("/api/v1/signals"))).await;
    let signal_key = signals
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .find(|k| k.contains("video"))
        .unwrap()
        .to_string();
    let video = json!({"key": "video-75", "name": "Watched a product video", "measure": {"type": "signal", "key": signal_key}, "window_days": 7});
    let created = editor.post(app.url("/api/v1/metrics")).json(&video).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let again = editor.post(app.url("/api/v1/metrics")).json(&video).send().await.unwrap();
    assert_eq!(error_code(again, 409).await, "conflict");

    let changed =
        editor.patch(app.url("/api/v1/metrics/video-75")).json(&json!({"window_days": 3})).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["window_days"], 3);
    assert_eq!(changed["name"], "Watched a product video", "a merge patch keeps what it does not mention");
    let rename = editor.patch(app.url("/api/v1/metrics/video-75")).json(&json!({"key": "other"})).send().await.unwrap();
    assert_eq!(error_code(rename, 400).await, "invalid_input");
    let missing = editor.get(app.url("/api/v1/metrics/nope")).send().await.unwrap();
    assert_eq!(error_code(missing, 404).await, "not_found");
}
