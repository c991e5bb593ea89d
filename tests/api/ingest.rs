//! Ingestion (native and Segment-compatible), identities, consent, profiles and intent.

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp};
use reqwest::Client;
use serde_json::{json, Value};
use std::io::Write;

async fn post_events(app: &TestApp, key: &str, events: Value) -> reqwest::Response {
    Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap()
}

async fn ingest_ok(app: &TestApp, key: &str, events: Value) -> Value {
    let response = post_events(app, key, events).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> Value {
    let response = Client::new().get(app.url(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

fn track(message_id: &str, anonymous_id: &str, event: &str, properties: Value) -> Value {
    json!({"message_id": message_id, "type": "track", "event": event, "anonymous_id": anonymous_id, "properties": properties})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn valid_events_are_stored_even_when_others_in_the_batch_are_rejected_and_retries_are_not_counted_twice() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let batch = json!([
        track("m1", "anon-1", "Product Viewed", json!({"sku": "S1"})),
        {"type": "track", "event": "Product Viewed", "anonymous_id": "anon-1"},
        {"message_id": "m3", "type": "track", "event": "X", "anonymous_id": "anon-1", "timestamp": "last tuesday"},
        track("m4", "anon-1", "Product Added", json!({"sku": "S1"})),
        track("m4", "anon-1", "Product Added", json!({"sku": "S1"})),
    ]);
    let body = ingest_ok(&app, &key, batch.clone()).await;
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(body["duplicates"], 1, "the repeat inside the batch: {body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!((rejected[0]["index"].as_u64(), rejected[0]["code"].as_str()), (Some(1), Some("missing_message_id")));
    assert_eq!((rejected[1]["index"].as_u64(), rejected[1]["code"].as_str()), (Some(2), Some("invalid_timestamp")));

    // The client retries the whole batch: nothing is stored twice.
    let again = ingest_ok(&app, &key, batch).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "{again}");

    let timeline = get_json(&app, &key, "/api/v1/profiles/anon-1/events").await;
    let events = timeline["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for field in ["message_id", "type", "event", "timestamp", "received_at", "channel", "properties", "context"] {
        assert!(events[0].get(field).is_some(), "timeline items have {field}: {}", events[0]);
    }

    let stats = get_json(&app, &key, "/api/v1/ingest/stats").await;
    assert_eq!(stats["totals"]["accepted"], 2, "{stats}");
    assert_eq!(stats["totals"]["duplicates"], 4);
    assert_eq!(stats["rejected"]["missing_message_id"], 2);
    assert_eq!(stats["rejected"]["invalid_timestamp"], 2);
    assert_eq!(stats["sources"].as_object().unwrap().len(), 1);
    // Two requests, each committed in a transaction of its own (the second was sent after the first's answer),
    // with their three valid events each.
    let writer = &stats["writer"];
    assert_eq!(
        (writer["groups"].as_u64(), writer["requests"].as_u64(), writer["events"].as_u64()),
        (Some(2), Some(2), Some(6)),
        "{stats}"
    );
    assert!(writer["busy_seconds"].as_f64().unwrap() > 0.0, "{stats}");

    // A retry that also carries new events: only the new ones are stored and counted, however the stored ones are
    // interleaved with them.
    let mixed = json!([
        track("m5", "anon-1", "Product Viewed", json!({"sku": "S2"})),
        track("m1", "anon-1", "Product Viewed", json!({"sku": "S1"})),
        track("m6", "anon-2", "Product Added", json!({"sku": "S2"})),
        track("m4", "anon-1", "Product Added", json!({"sku": "S1"})),
    ]);
    let body = ingest_ok(&app, &key, mixed.clone()).await;
    assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(2), Some(2)), "{body}");
    let ids = |timeline: Value| -> Vec<String> {
        let mut ids: Vec<String> =
            timeline["events"].as_array().unwrap().iter().map(|e| e["message_id"].as_str().unwrap().into()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(get_json(&app, &key, "/api/v1/profiles/anon-1/events").await), ["m1", "m4", "m5"]);
    assert_eq!(ids(get_json(&app, &key, "/api/v1/profiles/anon-2/events").await), ["m6"]);
    // Message ids are unique per source: another key's events with the same ids are new.
    let other = app.api_key("ingest").await;
    let body = ingest_ok(&app, &other, mixed).await;
    assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(4), Some(0)), "{body}");
}

#[tokio::test]
async fn event_times_are_corrected_for_the_senders_clock_and_absurd_times_refused() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    // The device clock runs three hours fast: the event happened 10 seconds before it was sent.
    let fast = chrono::Utc::now() + chrono::Duration::hours(3);
    let event = json!({"message_id": "skewed", "type": "track", "event": "Product Viewed", "user_id": "u-skew",
                       "timestamp": (fast - chrono::Duration::seconds(10)).to_rfc3339(), "sent_at": fast.to_rfc3339()});
    let far_future = json!({"message_id": "future", "type": "track", "event": "Product Viewed", "user_id": "u-skew",
                            "timestamp": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339()});
    let body = ingest_ok(&app, &key, json!([event, far_future])).await;
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["code"], "timestamp_out_of_range");
    let timeline = get_json(&app, &key, "/api/v1/profiles/u-skew/events").await;
    let at: chrono::DateTime<chrono::Utc> = timeline["events"][0]["timestamp"].as_str().unwrap().parse().unwrap();
    let off = (chrono::Utc::now() - chrono::Duration::seconds(10) - at).num_seconds().abs();
    assert!(off < 30, "corrected time {at} should be about 10 s ago");
}

#[tokio::test]
async fn ingestion_needs_the_ingest_scope_and_a_well_formed_body() {
    let app = spawn_app().await;
    let assign_only = app.api_key("assign").await;
    let key = app.api_key("ingest").await;
    let one = json!([track("m", "a", "Product Viewed", json!({}))]);
    assert_eq!(error_code(post_events(&app, &assign_only, one.clone()).await, 403).await, "forbidden");
    assert_eq!(error_code(post_events(&app, "il_nonsense", one.clone()).await, 401).await, "invalid_credentials");
    let anonymous = Client::new().post(app.url("/api/v1/events")).json(&json!({"events": one})).send().await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "unauthenticated");

    let send = |body: Vec<u8>, content_type: &'static str, encoding: Option<&'static str>| {
        let mut request = Client::new()
            .post(app.url("/api/v1/events"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send()
    };
    assert_eq!(
        error_code(send(b"{\"events\": [".to_vec(), "application/json", None).await.unwrap(), 400).await,
        "malformed_json"
    );
    assert_eq!(
        error_code(send(b"{}".to_vec(), "text/plain", None).await.unwrap(), 415).await,
        "unsupported_media_type"
    );
    assert_eq!(
        error_code(send(b"{\"events\": []}".to_vec(), "application/json", None).await.unwrap(), 400).await,
        "invalid_input"
    );
    assert_eq!(
        error_code(send(b"not gzip".to_vec(), "application/json", Some("gzip")).await.unwrap(), 400).await,
        "invalid_input"
    );
    assert_eq!(
        error_code(send(b"{}".to_vec(), "application/json", Some("br")).await.unwrap(), 415).await,
        "unsupported_media_type"
    );
    // A small gzip body that inflates beyond the limit is refused, not buffered.
    let bomb = gzip(&vec![b' '; 9 * 1024 * 1024]);
    assert_eq!(error_code(send(bomb, "application/json", Some("gzip")).await.unwrap(), 413).await, "payload_too_large");

    let compressed = gzip(json!({"events": one}).to_string().as_bytes());
    let response = send(compressed, "application/json", Some("gzip")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
}

#[tokio::test]
async fn events_without_analytics_consent_are_counted_not_stored() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let mut declined = track("c1", "anon-c", "Product Viewed", json!({}));
    declined["context"] = json!({"consent": {"categoryPreferences": {"Analytics": false}}});
    let mut allowed = track("c2", "anon-c2", "Product Viewed", json!({}));
    allowed["context"] = json!({"consent": {"analytics": true, "personalization": false}, "ip": "198.51.100.7"});
    let body = ingest_ok(&app, &key, json!([declined, allowed])).await;
    assert_eq!((body["accepted"].as_u64(), body["consent_dropped"].as_u64()), (Some(1), Some(1)), "{body}");
    let unknown = Client::new().get(app.url("/api/v1/profiles/anon-c")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(error_code(unknown, 404).await, "not_found");
    let profile = get_json(&app, &key, "/api/v1/profiles/anon-c2").await;
    assert_eq!(profile["consent"], json!({"analytics": true, "personalization": false}));
    let timeline = get_json(&app, &key, "/api/v1/profiles/anon-c2/events").await;
    assert!(!timeline.to_string().contains("198.51.100.7"), "the IP is never stored");
    let stats = get_json(&app, &key, "/api/v1/ingest/stats").await;
    assert_eq!(stats["totals"]["consent_dropped"], 1);

    // A known person who withdraws consent: the event is not stored, the withdrawal is.
    let mut withdrawn = track("c3", "anon-c2", "Product Viewed", json!({}));
    withdrawn["context"] = json!({"consent": {"analytics": false, "personalization": false}});
    assert_eq!(ingest_ok(&app, &key, json!([withdrawn])).await["consent_dropped"], 1);
    let profile = get_json(&app, &key, "/api/v1/profiles/anon-c2").await;
    assert_eq!(profile["consent"], json!({"analytics": false, "personalization": false}));
    let timeline = get_json(&app, &key, "/api/v1/profiles/anon-c2/events").await;
    assert_eq!(timeline["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_opt_out_stops_storage_from_the_next_request_until_the_person_opts_back_in() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let event = |id: &str| json!({"message_id": id, "type": "track", "event": "Product Viewed", "user_id": "u-opt"});
    assert_eq!(ingest_ok(&app, &key, json!([event("o1")])).await["accepted"], 1);

    let response = Client::new().post(app.url("/api/v1/users/u-opt/opt-out")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = ingest_ok(&app, &key, json!([event("o2")])).await;
    assert_eq!((body["accepted"].as_u64(), body["opted_out"].as_u64()), (Some(0), Some(1)));
    let intent = get_json(&app, &key, "/api/v1/units/u-opt/intent").await;
    assert_eq!(intent["opted_out"], true);

    Client::new().post(app.url("/api/v1/users/u-opt/opt-in")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(ingest_ok(&app, &key, json!([event("o3")])).await["accepted"], 1);

    // An identify with the trait does the same, for every id of the person.
    let identify = json!({"message_id": "o4", "type": "identify", "user_id": "u-opt", "anonymous_id": "anon-opt", "traits": {"opted_out": true}});
    ingest_ok(&app, &key, json!([identify])).await;
    let later = json!({"message_id": "o5", "type": "track", "event": "Product Viewed", "anonymous_id": "anon-opt"});
    assert_eq!(ingest_ok(&app, &key, json!([later])).await["opted_out"], 1);
    let profile = get_json(&app, &key, "/api/v1/profiles/anon-opt").await;
    assert_eq!(profile["opted_out"], true);

    // Opting out a person intentlab has never seen refuses their first event too.
    Client::new().post(app.url("/api/v1/users/u-new/opt-out")).bearer_auth(&key).send().await.unwrap();
    let first = json!({"message_id": "o6", "type": "track", "event": "Product Viewed", "user_id": "u-new"});
    assert_eq!(ingest_ok(&app, &key, json!([first])).await["opted_out"], 1);
}

#[tokio::test]
async fn identities_are_stitched_into_one_profile_with_a_cross_channel_timeline() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    // Browsing on the web, anonymously; then on the app, anonymously; then signing in on both.
    let mut web = track("s1", "web-cookie", "Product Viewed", json!({"sku": "S1"}));
    web["context"] =
        json!({"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"});
    let mut app_event = track("s2", "app-device", "Product Added to Wishlist", json!({"sku": "S1"}));
    app_event["context"] = json!({"app": {"name": "Shop"}, "device": {"type": "ios"}});
    ingest_ok(&app, &key, json!([web, app_event])).await;
    let login_web = json!({"message_id": "s3", "type": "identify", "user_id": "u-1", "anonymous_id": "web-cookie", "traits": {"email": "ada@shop.example"}});
    let login_app = json!({"message_id": "s4", "type": "identify", "user_id": "u-1", "anonymous_id": "app-device"});
    ingest_ok(&app, &key, json!([login_web, login_app])).await;

    let profile = get_json(&app, &key, "/api/v1/profiles/u-1").await;
    let ids: Vec<&str> = profile["ids"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    for id in ["web-cookie", "app-device", "u-1"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(profile["traits"]["email"], "ada@shop.example");
    assert_eq!(profile["channels"], json!(["app", "web"]));
    let same = get_json(&app, &key, "/api/v1/profiles/app-device").await;
    assert_eq!(same["id"], profile["id"], "any linked id resolves to the profile");
    let timeline = get_json(&app, &key, "/api/v1/profiles/u-1/events").await;
    let events: Vec<&str> =
        timeline["events"].as_array().unwrap().iter().map(|e| e["message_id"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 4, "events from before the sign-in are attributed: {events:?}");

    // Paging backwards through the timeline.
    let page = get_json(&app, &key, "/api/v1/profiles/u-1/events?limit=3").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    let before = page["next_before"].as_str().unwrap();
    let rest = get_json(&app, &key, &format!("/api/v1/profiles/u-1/events?limit=3&before={}", urlencode(before))).await;
    assert!(!rest["events"].as_array().unwrap().is_empty());
    let bad = Client::new()
        .get(app.url("/api/v1/profiles/u-1/events?before=yesterday"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad, 400).await, "invalid_input");

    let found = get_json(&app, &key, "/api/v1/profiles?q=ada@").await;
    assert_eq!(found[0]["id"], profile["id"]);
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn stitching_within_one_batch_keeps_every_event_with_the_person() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    ingest_ok(
        &app,
        &key,
        json!([{"message_id": "b0", "type": "track", "event": "Product Viewed", "user_id": "u-batch"}]),
    )
    .await;
    // One batch: an anonymous event (a new profile), then the sign-in that stitches it to the known user.
    let batch = json!([
        track("b1", "anon-batch", "Product Added", json!({})),
        {"message_id": "b2", "type": "identify", "user_id": "u-batch", "anonymous_id": "anon-batch"},
        track("b3", "anon-batch", "Checkout Started", json!({}))
    ]);
    assert_eq!(ingest_ok(&app, &key, batch).await["accepted"], 3);
    let timeline = get_json(&app, &key, "/api/v1/profiles/u-batch/events").await;
    assert_eq!(timeline["events"].as_array().unwrap().len(), 4, "{timeline}");
    let intent = get_json(&app, &key, "/api/v1/units/u-batch/intent").await;
    assert!((intent["score"].as_f64().unwrap() - 14.0).abs() < 0.01, "1 + 5 + 8: {intent}");
}

#[tokio::test]
async fn a_person_arriving_after_a_stitch_in_the_same_batch_stays_their_own_person() {
    // Found by the demo: SQLite hands a deleted row's id to the next new row, so the profile created right after
    // a stitch got the id of the profile stitched away — and was folded into the stitched person.
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let batch = json!([
        track("s1", "web-cookie", "Product Viewed", json!({})),
        track("s2", "app-device", "Product Viewed", json!({})),
        {"message_id": "s3", "type": "identify", "user_id": "stitched", "anonymous_id": "app-device"},
        {"message_id": "s4", "type": "identify", "user_id": "stitched", "anonymous_id": "web-cookie"},
        track("s5", "newcomer", "Product Added", json!({})),
    ]);
    assert_eq!(ingest_ok(&app, &key, batch).await["accepted"], 5);
    let stitched = get_json(&app, &key, "/api/v1/profiles/stitched").await;
    let newcomer = get_json(&app, &key, "/api/v1/profiles/newcomer").await;
    assert_ne!(stitched["id"], newcomer["id"], "two people: {stitched} {newcomer}");
    let ids = |profile: &Value| {
        let mut ids: Vec<String> =
            profile["ids"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&stitched), ["app-device", "stitched", "web-cookie"]);
    assert_eq!(ids(&newcomer), ["newcomer"]);
    let timeline = get_json(&app, &key, "/api/v1/profiles/newcomer/events").await;
    assert_eq!(timeline["events"].as_array().unwrap().len(), 1, "{timeline}");
}

#[tokio::test]
async fn two_signed_in_people_sharing_a_device_stay_two_people() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let identify = |id: &str, user: &str| json!({"message_id": id, "type": "identify", "user_id": user, "anonymous_id": "family-tablet"});
    ingest_ok(&app, &key, json!([identify("f1", "parent")])).await;
    ingest_ok(&app, &key, json!([identify("f2", "teen")])).await;
    let parent = get_json(&app, &key, "/api/v1/profiles/parent").await;
    let teen = get_json(&app, &key, "/api/v1/profiles/teen").await;
    assert_ne!(parent["id"], teen["id"]);
    // An explicit alias does merge.
    let alias = json!({"message_id": "f3", "type": "alias", "user_id": "parent", "previous_id": "teen"});
    ingest_ok(&app, &key, json!([alias])).await;
    let merged = get_json(&app, &key, "/api/v1/profiles/teen").await;
    assert_eq!(merged["id"], parent["id"]);
}

#[tokio::test]
async fn signals_build_an_explainable_intent_score_and_purchases_make_customers() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read,assign").await;
    let events = json!([
        track("i1", "shopper", "Product Added", json!({"sku": "S1"})),
        track("i2", "shopper", "Video Watched", json!({"percent": 80})),
        track("i3", "shopper", "Video Watched", json!({"percent": 10})),
        track("i4", "shopper", "Video Watched", json!({"percent": "most"})),
    ]);
    ingest_ok(&app, &key, events).await;
    let intent = get_json(&app, &key, "/api/v1/units/shopper/intent").await;
    let score = intent["score"].as_f64().unwrap();
    assert!((score - 7.0).abs() < 0.01, "5 (cart) + 2 (video ≥ 75 %), the malformed video not scored: {intent}");
    assert_eq!(intent["stage"], "consideration");
    assert_eq!(intent["top_signals"][0]["signal"], "product-added");
    assert_eq!(intent["top_signals"][1]["signal"], "video-watched-75");
    let stats = get_json(&app, &key, "/api/v1/ingest/stats").await;
    assert_eq!(stats["totals"]["schema_violations"], 1, "{stats}");
    let timeline = get_json(&app, &key, "/api/v1/profiles/shopper/events").await;
    let flagged: Vec<&Value> =
        timeline["events"].as_array().unwrap().iter().filter(|e| e.get("schema_violations").is_some()).collect();
    assert_eq!(flagged.len(), 1);

    // Two messages about the same order count once.
    let order = |id: &str| {
        track(id, "shopper", "Order Completed", json!({"order_id": "A-1", "revenue": 59.9, "currency": "eur"}))
    };
    ingest_ok(&app, &key, json!([order("i5"), order("i6")])).await;
    let profile = get_json(&app, &key, "/api/v1/profiles/shopper").await;
    assert_eq!(profile["orders"], 1);
    assert!((profile["revenue"].as_f64().unwrap() - 59.9).abs() < 1e-9);
    assert_eq!(profile["intent"]["stage"], "customer");

    let stranger = get_json(&app, &key, "/api/v1/units/never-seen/intent").await;
    assert_eq!((stranger["known"].as_bool(), stranger["stage"].as_str()), (Some(false), Some("curiosity")));
}

#[tokio::test]
async fn the_segment_tracking_api_accepts_what_analytics_sdks_send() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let client = Client::new();
    // Basic auth with the write key as user name; JSON labelled as form data.
    let response = client
        .post(app.url("/v1/track"))
        .basic_auth(&key, Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(json!({"messageId": "seg-1", "userId": "seg-user", "event": "Product Viewed", "context": {"campaign": {"medium": "email"}}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["success"], true);
    // writeKey in the body; gzip.
    let batch = json!({
        "writeKey": key,
        "sentAt": chrono::Utc::now().to_rfc3339(),
        "context": {"library": {"name": "analytics-python"}},
        "batch": [
            {"type": "identify", "messageId": "seg-2", "userId": "seg-user", "anonymousId": "seg-anon", "traits": {"plan": "gold"}},
            {"type": "page", "messageId": "seg-3", "anonymousId": "seg-anon", "name": "Home", "properties": {"path": "/"}},
            {"type": "track", "messageId": "seg-4", "anonymousId": "seg-anon"}
        ]
    });
    let response = client
        .post(app.url("/v1/batch"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(batch.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(body["rejected"][0]["code"], "missing_event_name");
    let profile = get_json(&app, &key, "/api/v1/profiles/seg-anon").await;
    assert_eq!(profile["traits"]["plan"], "gold");
    let timeline = get_json(&app, &key, "/api/v1/profiles/seg-user/events").await;
    let first = timeline["events"].as_array().unwrap().iter().find(|e| e["message_id"] == "seg-1").unwrap().clone();
    assert_eq!(first["channel"], "email");

    // Limits and errors.
    let big = json!({"messageId": "big", "userId": "u", "event": "X", "properties": {"blob": "x".repeat(40_000)}});
    let response =
        client.post(app.url("/v1/track")).basic_auth(&key, Some("")).body(big.to_string()).send().await.unwrap();
    assert_eq!(error_code(response, 413).await, "payload_too_large");
    let events: Vec<Value> = (0..40).map(|i| json!({"type": "track", "messageId": format!("b{i}"), "userId": "u", "event": "X", "properties": {"blob": "x".repeat(15_000)}})).collect();
    let response = client
        .post(app.url("/v1/batch"))
        .basic_auth(&key, Some(""))
        .json(&json!({"batch": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 413).await, "payload_too_large");
    let response = client
        .post(app.url("/v1/track"))
        .basic_auth(&key, Some(""))
        .json(&json!({"messageId": "x", "userId": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");
    let response = client
        .post(app.url("/v1/track"))
        .json(&json!({"messageId": "x", "userId": "u", "event": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
    let response = client.post(app.url("/v1/group")).basic_auth(&key, Some("")).json(&json!({})).send().await.unwrap();
    assert_eq!(error_code(response, 404).await, "not_found");
}

#[tokio::test]
async fn the_signal_library_is_seeded_edited_with_versions_and_deprecated() {
    let app = spawn_app().await;
    let read = app.api_key("read").await;
    let ingest_key = app.api_key("ingest,read").await;
    let editor = app.signed_in("editor").await;
    let viewer = app.signed_in("viewer").await;

    let all = get_json(&app, &read, "/api/v1/signals").await;
    let keys: Vec<&str> = all.as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    for key in [
        "product-viewed",
        "product-added",
        "wishlist-add",
        "cart-return",
        "video-watched-75",
        "price-alert",
        "size-guide-viewed",
        "repeat-visit",
        "order-completed",
    ] {
        assert!(keys.contains(&key), "{key} seeded");
    }
    let intent_stage = get_json(&app, &read, "/api/v1/signals?stage=intent").await;
    assert!(intent_stage.as_array().unwrap().iter().all(|s| s["stage"] == "intent"));

    let new_signal = json!({"key": "gift-wrap", "name": "Gift wrap chosen", "stage": "readiness", "weight": 3,
                            "rule": {"event": "Gift Wrap Selected"}, "channels": ["web"]});
    let forbidden = viewer.post(app.url("/api/v1/signals")).json(&new_signal).send().await.unwrap();
    assert_eq!(error_code(forbidden, 403).await, "forbidden");
    let created = editor.post(app.url("/api/v1/signals")).json(&new_signal).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let duplicate = editor.post(app.url("/api/v1/signals")).json(&new_signal).send().await.unwrap();
    assert_eq!(error_code(duplicate, 409).await, "conflict");
    let invalid = editor
        .post(app.url("/api/v1/signals"))
        .json(&json!({"key": "x", "name": "X", "stage": "dreaming", "weight": -1, "rule": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(invalid, 400).await, "invalid_input");

    // A name change corrects the current version; a rule change makes a new one.
    let renamed: Value = editor
        .patch(app.url("/api/v1/signals/gift-wrap"))
        .json(&json!({"name": "Gift wrap"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["version"], 1);
    let changed: Value = editor
        .patch(app.url("/api/v1/signals/gift-wrap"))
        .json(&json!({"rule": {"conditions": {"premium": true}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["version"], 2, "{changed}");
    assert_eq!(changed["versions"].as_array().unwrap().len(), 2);
    assert_eq!(changed["history"][0]["action"], "new version");

    let mut event = track("g1", "wrapper", "Gift Wrap Selected", json!({"premium": true}));
    event["context"] = json!({"channel": "web"});
    ingest_ok(&app, &ingest_key, json!([event])).await;
    let intent = get_json(&app, &ingest_key, "/api/v1/units/wrapper/intent").await;
    assert!((intent["score"].as_f64().unwrap() - 3.0).abs() < 0.01, "{intent}");
    let volume = get_json(&app, &read, "/api/v1/signals/gift-wrap/volume").await;
    assert_eq!(volume[0]["matches"], 1);
    assert_eq!(volume[0]["channel"], "web");

    let preview: Value = editor
        .post(app.url("/api/v1/signals/preview"))
        .json(&json!({"rule": {"event": "Gift Wrap Selected"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((preview["units"].as_u64(), preview["matches"].as_u64()), (Some(1), Some(1)), "{preview}");

    let deprecated: Value =
        editor.post(app.url("/api/v1/signals/gift-wrap/deprecate")).send().await.unwrap().json().await.unwrap();
    assert_eq!(deprecated["status"], "deprecated");
    let mut later = track("g2", "wrapper-2", "Gift Wrap Selected", json!({"premium": true}));
    later["context"] = json!({"channel": "web"});
    ingest_ok(&app, &ingest_key, json!([later])).await;
    let intent = get_json(&app, &ingest_key, "/api/v1/units/wrapper-2/intent").await;
    assert_eq!(intent["score"], 0.0, "deprecated signals no longer match");
    let active = get_json(&app, &read, "/api/v1/signals?status=deprecated").await;
    assert_eq!(active.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn intent_stages_and_the_purchase_event_are_settings() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let settings: Value = admin.get(app.url("/api/v1/settings")).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings["intent"]["purchaser_stage"], "customer");
    assert_eq!(settings["purchase"]["event"], "Order Completed");
    let mut intent = settings["intent"].clone();
    intent["stages"] = json!([{"stage": "curiosity", "min_score": 0}, {"stage": "intent", "min_score": 4}]);
    let refused = admin.put(app.url("/api/v1/settings")).json(&json!({"intent": intent})).send().await.unwrap();
    assert_eq!(error_code(refused, 409).await, "conflict", "signals still use consideration and readiness");
    intent["stages"] = json!([{"stage": "curiosity", "min_score": 5}]);
    let invalid = admin.put(app.url("/api/v1/settings")).json(&json!({"intent": intent})).send().await.unwrap();
    assert_eq!(error_code(invalid, 400).await, "invalid_input");
    let changed = admin.put(app.url("/api/v1/settings")).json(&json!({"purchase": {"event": "Purchase", "order_id_property": "id", "revenue_properties": ["value"], "currency_property": "currency"}})).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["purchase"]["event"], "Purchase");
    assert_eq!(body["global_holdout"], 0.0);
}

#[tokio::test]
async fn experiments_target_the_intent_stage_and_keep_opted_out_people_out() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let key = app.api_key("ingest,read,assign").await;
    let experiment = json!({
        "key": "checkout-nudge", "name": "Nudge ready shoppers",
        "variations": [{"key": "control"}, {"key": "nudge"}],
        "targeting": {"intent_stage": {"$in": ["consideration", "intent", "readiness"]}}
    });
    assert_eq!(editor.post(app.url("/api/v1/experiments")).json(&experiment).send().await.unwrap().status(), 201);
    editor.post(app.url("/api/v1/experiments/checkout-nudge/start")).send().await.unwrap();
    let assign = |unit: &str| {
        Client::new().post(app.url("/api/v1/assign")).bearer_auth(&key).json(&json!({"unit_id": unit})).send()
    };
    // A stranger is at the first stage: not targeted.
    let answer: Value = assign("warm-shopper").await.unwrap().json().await.unwrap();
    assert_eq!(answer["assignments"][0]["reason"], "not_targeted", "{answer}");
    // A cart add (weight 5) moves the shopper to consideration: now they are in.
    ingest_ok(&app, &key, json!([track("w1", "warm-shopper", "Product Added", json!({}))])).await;
    let answer: Value = assign("warm-shopper").await.unwrap().json().await.unwrap();
    assert_eq!(answer["assignments"][0]["in_experiment"], true, "{answer}");
    // A service that sends the stage itself is believed.
    let explicit: Value = Client::new()
        .post(app.url("/api/v1/assign"))
        .bearer_auth(&key)
        .json(&json!({"unit_id": "warm-shopper", "attributes": {"intent_stage": "curiosity"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(explicit["assignments"][0]["reason"], "not_targeted");

    // Opting out (by the endpoint, or by an identify trait) keeps the person out of experiments at once.
    let opted =
        Client::new().post(app.url("/api/v1/users/warm-shopper/opt-out")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(opted.status(), 200);
    let answer: Value = assign("warm-shopper").await.unwrap().json().await.unwrap();
    assert_eq!(answer["assignments"][0]["reason"], "opted_out", "{answer}");
    let identify = json!({"message_id": "w2", "type": "identify", "user_id": "u-warm", "anonymous_id": "warm-2", "traits": {"opted_out": true}});
    ingest_ok(&app, &key, json!([identify])).await;
    let answer: Value = assign("warm-2").await.unwrap().json().await.unwrap();
    assert_eq!(answer["assignments"][0]["reason"], "opted_out", "{answer}");
}

#[tokio::test]
async fn what_a_devices_events_repeat_is_stored_once_and_every_event_reads_back_its_whole_context() {
    let app = spawn_app().await;
    let key = app.api_key("ingest,read").await;
    let agent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";
    let page = |id: &str, path: &str| {
        json!({"message_id": id, "type": "page", "anonymous_id": "ctx-shopper", "properties": {"path": path},
               "context": {"userAgent": agent, "locale": "fr-FR", "campaign": {"source": "news", "medium": "email"}}})
    };
    // Two requests, two transactions: the second finds the context the first stored. An event without analytics
    // consent, from another device, leaves no trace of its context either.
    let unconsented = json!({"message_id": "c0", "type": "page", "anonymous_id": "private-shopper",
        "context": {"locale": "nl-NL", "consent": {"analytics": false}}});
    let answer = ingest_ok(&app, &key, json!([page("c1", "/a"), unconsented, page("c2", "/b")])).await;
    assert_eq!((answer["accepted"].as_u64(), answer["consent_dropped"].as_u64()), (Some(2), Some(1)), "{answer}");
    ingest_ok(&app, &key, json!([page("c3", "/c")])).await;
    let stored: Vec<String> = app::storage::on_pool!(&app.db, pool => {
        sqlx::query_scalar("SELECT CAST(context AS TEXT) FROM event_contexts").fetch_all(pool).await.unwrap()
    });
    assert_eq!(stored.len(), 1, "one device, one stored context: {stored:?}");
    assert!(stored[0].contains("fr-FR"), "{stored:?}");

    let timeline = get_json(&app, &key, "/api/v1/profiles/ctx-shopper/events").await;
    let events = timeline["events"].as_array().unwrap();
    let paths: Vec<&str> = events.iter().map(|e| e["context"]["page"]["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/c", "/b", "/a"]);
    for event in events {
        let context = &event["context"];
        assert_eq!((context["user_agent"].as_str(), context["locale"].as_str()), (Some(agent), Some("fr-FR")));
        assert_eq!(context["device"]["browser"], "Safari");
        assert_eq!(context["campaign"], json!({"source": "news", "medium": "email"}));
        assert_eq!((context["channel"].as_str(), event["channel"].as_str()), (Some("email"), Some("email")));
    }
}

#[tokio::test]
async fn with_a_geoip_database_locations_are_derived_from_the_ip_which_is_then_dropped() {
    let database = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/geoip-test.mmdb");
    let app = spawn_app_with(|settings| settings.geoip_db = Some(database.into())).await;
    let key = app.api_key("ingest,read").await;
    let mut event = track("geo-1", "geo-shopper", "Product Viewed", json!({}));
    event["context"] = json!({"ip": "203.0.113.42"});
    ingest_ok(&app, &key, json!([event])).await;
    let timeline = get_json(&app, &key, "/api/v1/profiles/geo-shopper/events").await;
    assert_eq!(
        timeline["events"][0]["context"]["location"],
        json!({"country": "DE", "region": "BE", "city": "Berlin"})
    );
    assert!(!timeline.to_string().contains("203.0.113.42"));
}

#[tokio::test]
#[ignore = "SQLite only: PostgreSQL has no write-ahead log of ours to copy (make test-unit runs it)"]
async fn sqlite_only_write_ahead_log_reaches_the_database_file_within_seconds() {
    crate::helpers::require_backend("sqlite");
    let app = spawn_app().await;
    let path = std::path::PathBuf::from(app.database_url.trim_start_matches("sqlite://"));
    let key = app.api_key("ingest").await;
    let before = std::fs::metadata(&path).unwrap().len();
    let padding = "x".repeat(1000);
    for batch in 0..3 {
        let events: Vec<Value> = (0..1000)
            .map(|i| track(&format!("w{batch}-{i}"), &format!("anon-{i}"), "Product Viewed", json!({"note": padding})))
            .collect();
        ingest_ok(&app, &key, Value::Array(events)).await;
    }
    // Committed events first land in the log (several MB here, far below SQLite's own checkpoint threshold); the
    // checkpoint job copies them into the database file within seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now = std::fs::metadata(&path).unwrap().len();
        if now > before + 2_000_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the database file stayed at {now} bytes (from {before})");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "SQLite only: PostgreSQL has no write-ahead log of ours (make test-unit runs it)"]
async fn sqlite_only_write_ahead_log_stays_bounded_under_sustained_ingestion() {
    crate::helpers::require_backend("sqlite");
    // SQLite writes its log from the start again only after a checkpoint that reached the log's end, which one
    // running beside a busy writer never does: without checkpoints of its own between its transactions, the
    // writer's log grew as long as events kept coming.
    let app = spawn_app_with(|settings| settings.sqlite_checkpoint_pages = 1000).await;
    let path = app.database_url.trim_start_matches("sqlite://");
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    let key = app.api_key("ingest").await;
    let padding = "x".repeat(8000);
    let mut largest = 0;
    // ~16 MB of events, four times the log's threshold here (1000 pages, ~4 MB).
    for batch in 0..16 {
        let events: Vec<Value> = (0..125)
            .map(|i| track(&format!("b{batch}-{i}"), &format!("anon-{i}"), "Product Viewed", json!({"note": padding})))
            .collect();
        ingest_ok(&app, &key, Value::Array(events)).await;
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    assert!(largest > 3_000_000, "too little was written to cross the threshold: the log reached {largest} bytes");
    assert!(largest < 8_000_000, "the log grew to {largest} bytes");
}
