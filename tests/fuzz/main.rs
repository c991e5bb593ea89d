//! Property-based fuzzing of what parses untrusted input: the event normalizer (native and Segment dialects),
//! request bodies as the tracking API reads them (gzip included), targeting conditions, merge patches of
//! experiments, signals and metrics, and the statistics calculators. Each target feeds generated input —
//! random JSON built from the field names and operators the code looks for, so it gets past the first checks —
//! and asserts that the code answers (a value or an error), never panics, and never produces numbers JSON
//! cannot carry.
//!
//! A fixed-toolchain stand-in for coverage-guided fuzzing (cargo fuzz needs a nightly compiler, which this
//! project's machines cannot fetch): proptest, whose shrunk failing cases are kept in
//! `tests/proptest-regressions/main.txt` and replayed first on every run, so a crash found once stays a
//! regression test (and the ones found so far are also unit tests beside the code they broke). `make test` runs
//! 3 000 cases per target (`FUZZ_CASES`), `make fuzz` 200 000 in a release build.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Map, Value};

fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel("proptest-regressions"))),
        ..Config::default()
    }
}

/// Field names and operators the parsers look for, beside arbitrary ones.
const WORDS: &[&str] = &[
    "type", "event", "userId", "user_id", "anonymousId", "anonymous_id", "previousId", "messageId", "message_id",
    "timestamp", "sentAt", "sent_at", "properties", "traits", "context", "consent", "categoryPreferences",
    "analytics", "personalization", "ip", "userAgent", "page", "url", "path", "referrer", "campaign", "utm_medium",
    "channel", "device", "os", "locale", "library", "name", "opted_out", "order_id", "revenue", "total",
    "currency", "percent", "$in", "$nin", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists", "$not", "$and",
    "$or", "$nor", "country", "key", "variations", "weight", "coverage", "targeting", "namespace", "range",
    "metrics", "primary", "secondary", "guardrails", "hypothesis", "rule", "conditions", "repeat", "after_minutes",
    "within_days", "stage", "channels", "measure", "window_days", "capping", "cap", "percentile", "n", "sum",
    "sum_squares", "denominator_sum", "cross_sum", "covariate", "alpha", "method", "tails", "prior", "mean",
    "variance", "p_values", "track", "page", "identify", "alias", "screen", "2026-12-04T10:00:00Z",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![4 => proptest::sample::select(WORDS).prop_map(str::to_string), 1 => "\\PC{0,12}"]
}

/// Numbers where arithmetic goes wrong: zero, one, negative, tiny, huge, fractional.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(-1.0),
        Just(0.5),
        Just(1e-308),
        Just(1e308),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(2f64.powi(53)),
        -1e6..1e6f64,
        any::<f64>().prop_filter("JSON numbers are finite", |x| x.is_finite()),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        number().prop_map(|x| json!(x)),
        word().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(word(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(word(), json(), 0..10).prop_map(|m| m.into_iter().collect())
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default()
}

/// Every number in `value` is finite (serde_json would have written NaN as null: a silent wrong answer).
fn finite(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Array(items) => items.iter().all(finite),
        Value::Object(fields) => fields.values().all(finite),
        _ => true,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn events_are_normalized_or_refused(event in object(), context in proptest::option::of(object()), sent_at in proptest::option::of(json()), segment in any::<bool>()) {
        use app::domain::events::{normalize, BatchDefaults, Dialect};
        let dialect = if segment { Dialect::Segment } else { Dialect::Native };
        let defaults = BatchDefaults { sent_at, context };
        if let Ok(normalized) = normalize(0, &Value::Object(event.clone()), dialect, &defaults, now()) {
            // What is kept can be stored: its JSON columns serialize.
            prop_assert!(serde_json::to_string(&normalized.properties).is_ok());
        }
        let _ = normalize(1, &json!([event]), dialect, &defaults, now());
    }

    #[test]
    fn tracking_bodies_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048), gzip_header in any::<bool>(), gzipped_json in proptest::option::of(object())) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        let body = match gzipped_json {
            Some(object) => {
                use std::io::Write;
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(serde_json::to_string(&object).unwrap().as_bytes()).unwrap();
                headers.insert("content-encoding", "gzip".parse().unwrap());
                encoder.finish().unwrap()
            }
            None => {
                if gzip_header {
                    headers.insert("content-encoding", "gzip".parse().unwrap());
                }
                bytes
            }
        };
        let read = runtime.block_on(intentlab::api::body::read_body(&headers, axum::body::Body::from(body), 500 * 1024));
        if let Ok(bytes) = read {
            let _ = intentlab::api::body::parse_json::<Value>(&bytes);
        }
    }

    #[test]
    fn targeting_conditions_parse_and_match_or_are_refused(condition in json(), attributes in object()) {
        if let Ok(condition) = app::domain::targeting::Condition::parse(&condition) {
            let _ = condition.matches(&attributes);
        }
    }

    #[test]
    fn merge_patches_give_a_valid_experiment_or_a_reason(patch in object()) {
        use app::domain::experiment::{ExperimentSpec, Status};
        let mut document = json!({
            "key": "fuzz", "name": "Fuzz", "variations": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "targeting": {"country": {"$in": ["DE"]}}, "namespace": {"name": "ns", "range": [0.0, 0.5]},
        });
        json_patch::merge(&mut document, &Value::Object(patch));
        if let Ok(spec) = serde_json::from_value::<ExperimentSpec>(document) {
            let spec = spec.normalized();
            if spec.validate().is_ok() {
                let compiled = app::domain::assignment::CompiledExperiment::compile(1, &spec, Status::Running);
                prop_assert!(compiled.is_ok(), "a valid experiment compiles: {:?}", compiled.err());
                if let Ok(compiled) = compiled {
                    for unit in ["u1", "", "ü-🛒", "9999999999999999999999"] {
                        let _ = compiled.assign(unit, &Map::new(), 0.1);
                    }
                }
            }
        }
    }

    #[test]
    fn merge_patches_give_a_valid_signal_or_metric_or_a_reason(patch in object(), metric_patch in object()) {
        let mut signal = json!({"key": "s", "name": "S", "stage": "intent", "weight": 2.0,
            "rule": {"type": "track", "event": "Product Added", "conditions": {"price": {"$gt": 10}}, "repeat": {"after_minutes": 60, "within_days": 7}}});
        json_patch::merge(&mut signal, &Value::Object(patch));
        if let Ok(spec) = serde_json::from_value::<app::domain::signals::SignalSpec>(signal) {
            let stages = ["curiosity", "consideration", "intent", "readiness", "customer"].map(String::from);
            let _ = spec.normalized().validate(&stages);
        }
        let mut metric = json!({"key": "m", "name": "M", "measure": {"type": "purchase"}, "window_days": 14});
        json_patch::merge(&mut metric, &Value::Object(metric_patch));
        if let Ok(spec) = serde_json::from_value::<app::domain::stats::metrics::MetricSpec>(metric) {
            let _ = spec.validate();
        }
    }

    #[test]
    fn the_calculators_answer_in_finite_numbers_or_refuse(control in object(), treatment in object(), settings in object(), kind in 0..3u8) {
        use app::domain::stats::calculator::{adjust_request, compare_request, power_request};
        let metric_type = ["binomial", "mean", "ratio"][kind as usize];
        let mut request = json!({"metric_type": metric_type, "control": control, "treatment": treatment});
        json_patch::merge(&mut request, &Value::Object(settings.clone()));
        if let Ok(request) = serde_json::from_value(request) {
            if let Ok(answer) = compare_request(&request) {
                let answer = serde_json::to_value(&answer).unwrap();
                prop_assert!(finite(&answer), "non-finite numbers in {answer}");
            }
        }
        if let Ok(request) = serde_json::from_value(Value::Object(settings.clone())) {
            if let Ok(answer) = power_request(&request) {
                let _ = serde_json::to_value(&answer).unwrap();
            }
        }
        if let Ok(request) = serde_json::from_value(Value::Object(settings)) {
            let _ = adjust_request(&request);
        }
    }

    #[test]
    fn the_calculators_survive_extreme_sufficient_statistics(
        n in prop_oneof![Just(0.0), Just(1.0), Just(2.0), Just(1e15), 0.0..1e7f64],
        sums in proptest::collection::vec(number(), 6),
        method in proptest::sample::select(&["frequentist", "sequential", "bayesian"][..]),
        kind in 0..3u8,
    ) {
        use app::domain::stats::calculator::compare_request;
        let n = n.floor();
        let variation = |offset: usize| json!({
            "n": n, "sum": sums[offset], "sum_squares": sums[offset + 1].abs(),
            "denominator_sum": sums[offset + 2].abs(), "denominator_sum_squares": sums[offset + 1].abs() * 2.0, "cross_sum": sums[offset],
        });
        let metric_type = ["binomial", "mean", "ratio"][kind as usize];
        let request = json!({"metric_type": metric_type, "method": method, "control": variation(0), "treatment": variation(3)});
        if let Ok(request) = serde_json::from_value(request) {
            if let Ok(answer) = compare_request(&request) {
                let answer = serde_json::to_value(&answer).unwrap();
                prop_assert!(finite(&answer), "non-finite numbers in {answer}");
            }
        }
    }
}
