//! The playbook end to end: concluding (required fields, frozen snapshot), re-analysis revisions, search and
//! filters, exports that parse back, follow-ups, the signal leaderboard, and share links' scope and expiry.

use crate::helpers::{error_code, spawn_app, TestApp};
use crate::results::{plant, running_experiment};
use chrono::{Duration, Utc};
use reqwest::Client;
use serde_json::{json, Value};

async fn stop(app: &TestApp, editor: &Client, key: &str) {
    let stopped = editor.post(app.url(&format!("/api/v1/experiments/{key}/stop"))).send().await.unwrap();
    assert_eq!(stopped.status(), 200);
}

fn conclusion(summary: &str) -> Value {
    json!({
        "decision": "ship", "winning_variation": "banner", "summary": summary,
        "signals": ["video-watched-75"],
        "segments": [{"attribute": "device", "value": "mobile", "effect": "held"},
                     {"attribute": "channel", "value": "app", "effect": "failed", "note": "app users ignore banners"}],
        "tags": ["Shipping", "banner"], "notes": "Customer care heard fewer shipping-cost questions."
    })
}

async fn conclude(app: &TestApp, editor: &Client, key: &str, body: &Value) -> Value {
    let response =
        editor.post(app.url(&format!("/api/v1/experiments/{key}/conclude"))).json(body).send().await.unwrap();
    assert_eq!(response.status(), 201, "conclude {key}");
    response.json().await.unwrap()
}

async fn get(client: &Client, url: String) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A stopped experiment with a planted effect: banner doubles the purchase rate (10 % → 20 %) and raises the
/// average order from 50 to 60.
async fn stopped_winner(app: &TestApp, editor: &Client, key: &str) {
    let id = running_experiment(app, editor, key).await;
    plant(app, id, key, [400, 400], |variation, i| match variation {
        0 if i % 20 == 1 => Some(45.0),
        0 if i % 20 == 4 => Some(55.0),
        1 if i % 10 == 1 => Some(54.0),
        1 if i % 10 == 4 => Some(66.0),
        _ => None,
    })
    .await;
    stop(app, editor, key).await;
}

/// A stopped experiment without effect (both variations convert alike).
async fn stopped_null(app: &TestApp, editor: &Client, key: &str) {
    let id = running_experiment(app, editor, key).await;
    plant(app, id, key, [300, 300], |_, i| (i % 10 == 3).then_some(40.0)).await;
    stop(app, editor, key).await;
}

#[tokio::test]
async fn concluding_needs_a_stopped_experiment_and_a_complete_conclusion() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    running_experiment(&app, &editor, "banner").await;
    let url = app.url("/api/v1/experiments/banner/conclude");

    let running = editor.post(&url).json(&conclusion("Banner sells.")).send().await.unwrap();
    assert_eq!(error_code(running, 409).await, "conflict");
    stop(&app, &editor, "banner").await;

    let viewer = app.signed_in("viewer").await;
    let forbidden = viewer.post(&url).json(&conclusion("Banner sells.")).send().await.unwrap();
    assert_eq!(error_code(forbidden, 403).await, "forbidden");
    let read_key = app.api_key("read").await;
    let forbidden = Client::new().post(&url).bearer_auth(read_key).json(&conclusion("x")).send().await.unwrap();
    assert_eq!(error_code(forbidden, 403).await, "forbidden");

    let refused = |body: Value, expected: &'static str| {
        let (editor, url) = (editor.clone(), url.clone());
        async move {
            let response = editor.post(&url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 400, "{body}");
            let error: Value = response.json().await.unwrap();
            let message = error["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(expected), "{message} should mention {expected}");
        }
    };
    refused(json!({"summary": "x"}), "decision").await;
    refused(json!({"decision": "ship", "winning_variation": "banner", "summary": " "}), "summary").await;
    let mut body = conclusion("Banner sells.");
    body["decision"] = json!("celebrate");
    refused(body, "celebrate").await;
    let mut body = conclusion("Banner sells.");
    body["winning_variation"] = json!("control");
    refused(body, "abandon").await;
    let mut body = conclusion("Banner sells.");
    body["decision"] = json!("iterate");
    refused(body, "only a 'ship' decision").await;
    let mut body = conclusion("Banner sells.");
    body["signals"] = json!(["no-such-signal"]);
    refused(body, "no-such-signal").await;
    let mut body = conclusion("Banner sells.");
    body["signals"] = json!([]);
    body["segments"] = json!([]);
    body["tags"] = json!([]);
    let response = editor.post(&url).json(&body).send().await.unwrap();
    let message = response.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
    for field in ["signals", "segments", "tags"] {
        assert!(message.contains(field), "every problem at once: {message}");
    }
    let mut body = conclusion("Banner sells.");
    body["surprise"] = json!(true);
    refused(body, "surprise").await;

    let entry = conclude(&app, &editor, "banner", &conclusion("  The free-shipping banner sells.  ")).await;
    assert_eq!(entry["experiment"], "banner");
    assert_eq!(entry["decision"], "ship");
    assert_eq!(entry["summary"], "The free-shipping banner sells.");
    assert_eq!(entry["tags"], json!(["banner", "shipping"]), "tags are lower-cased and sorted");
    assert_eq!(entry["signals"][0]["key"], "video-watched-75");
    assert!(entry["signals"][0]["stage"].is_string(), "the signal's stage is kept with the entry");
    assert_eq!(entry["revision"], 1);
    assert_eq!(entry["revisions"][0]["reason"], "Concluded");
    assert_eq!(entry["outcome"], "inconclusive", "no data: nothing can be claimed");

    let experiment = get(&editor, app.url("/api/v1/experiments/banner")).await;
    assert_eq!(experiment["status"], "concluded");
    assert!(experiment["concluded_at"].is_string());
    assert_eq!(experiment["history"].as_array().unwrap().last().unwrap()["action"], "concluded");
    let again = editor.post(&url).json(&conclusion("Twice.")).send().await.unwrap();
    assert_eq!(error_code(again, 409).await, "conflict");
    let missing = editor.post(app.url("/api/v1/experiments/nope/conclude")).json(&conclusion("x")).send().await;
    assert_eq!(error_code(missing.unwrap(), 404).await, "not_found");
}

#[tokio::test]
async fn conclusion_freezes_results_and_reanalysis_adds_a_revision() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    stopped_winner(&app, &editor, "winner").await;
    let entry = conclude(&app, &editor, "winner", &conclusion("Free shipping doubles purchases.")).await;
    let id = entry["id"].as_i64().unwrap();
    assert_eq!(entry["outcome"], "win");
    assert_eq!(entry["primary"]["metric"], "purchase");
    assert_eq!(entry["primary"]["variation"], "banner");
    assert!((entry["primary"]["lift"]["estimate"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let snapshot = &entry["snapshot"];
    assert_eq!(snapshot["results"]["exposures"], json!([400, 400]));
    assert_eq!(snapshot["experiment"]["key"], "winner");
    assert_eq!(snapshot["registered_primary_metric"], "purchase");
    let devices: Vec<&Value> =
        snapshot["breakdowns"].as_array().unwrap().iter().filter(|b| b["attribute"] == "device").collect();
    assert_eq!(devices.len(), 1, "a breakdown per segment attribute: {}", snapshot["breakdowns"]);
    assert!(snapshot["results"]["data_through"].is_string() && snapshot["results"]["settings"]["alpha"] == 0.05);

    // New orders for control arrive after the conclusion: the live results move, the entry does not.
    let ingest = app.api_key("ingest").await;
    let late: Vec<Value> = (0..200)
        .map(|i| {
            json!({"message_id": format!("late-{i}"), "type": "track", "event": "Order Completed",
                   "user_id": format!("winner-0-{i}"), "timestamp": (Utc::now() - Duration::hours(1)).to_rfc3339(),
                   "properties": {"order_id": format!("late-{i}"), "revenue": 80.0}})
        })
        .collect();
    let sent = Client::new().post(app.url("/api/v1/events")).bearer_auth(&ingest).json(&json!({"events": late}));
    assert_eq!(sent.send().await.unwrap().status(), 200);
    let live = get(&editor, app.url("/api/v1/experiments/winner/results")).await;
    assert!(live["metrics"][0]["variations"][0]["value"].as_f64().unwrap() > 0.5, "control now converts more");
    let viewer = app.signed_in("viewer").await;
    let frozen = get(&viewer, app.url(&format!("/api/v1/playbook/{id}"))).await;
    assert_eq!(frozen["snapshot"], entry["snapshot"], "the frozen snapshot is unchanged");
    assert_eq!(frozen["outcome"], "win");

    let no_reason = editor.post(app.url(&format!("/api/v1/playbook/{id}/revisions"))).json(&json!({"reason": ""}));
    assert_eq!(error_code(no_reason.send().await.unwrap(), 400).await, "invalid_input");
    let revised = editor
        .post(app.url(&format!("/api/v1/playbook/{id}/revisions")))
        .json(&json!({"reason": "late orders arrived", "analysis": {"method": "bayesian"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(revised.status(), 201);
    let revised: Value = revised.json().await.unwrap();
    assert_eq!(revised["revision"], 2);
    assert_eq!(revised["revisions"][1]["reason"], "late orders arrived");
    assert_eq!(revised["snapshot"]["results"]["settings"]["method"], "bayesian");
    assert_ne!(revised["outcome"], "win", "control caught up in the re-analysis");
    let first = get(&viewer, app.url(&format!("/api/v1/playbook/{id}?revision=1"))).await;
    assert_eq!(first["snapshot"], entry["snapshot"], "revision 1 is kept as it was");
    assert_eq!(first["shown_revision"], 1);
    let missing = viewer.get(app.url(&format!("/api/v1/playbook/{id}?revision=9"))).send().await.unwrap();
    assert_eq!(error_code(missing, 404).await, "not_found");
    let bad = viewer.get(app.url(&format!("/api/v1/playbook/{id}?revision=latest"))).send().await.unwrap();
    assert_eq!(error_code(bad, 400).await, "invalid_input");

    // The database itself refuses to change a frozen revision.
    let sql = "UPDATE playbook_revisions SET reason = 'tampered'";
    let tampered = app::on_pool!(&app.db, pool => sqlx::query(sql).execute(pool).await.map(|_| ()));
    assert!(tampered.unwrap_err().to_string().contains("immutable"));
}

#[tokio::test]
async fn the_playbook_is_searched_filtered_sorted_and_exported() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    stopped_winner(&app, &editor, "shipping-banner").await;
    stopped_null(&app, &editor, "size-guide").await;
    conclude(&app, &editor, "shipping-banner", &conclusion("Free shipping messaging doubles purchases on mobile."))
        .await;
    let null = json!({
        "decision": "abandon", "summary": "A bigger size guide link changed nothing.",
        "signals": ["size-guide-viewed"], "segments": [{"attribute": "all", "value": "everyone", "effect": "failed"}],
        "tags": ["fit"], "notes": "Returns team: fit questions are about fabric, not size."
    });
    conclude(&app, &editor, "size-guide", &null).await;

    let read = app.api_key("read").await;
    let client = Client::new();
    let list = |query: &str| {
        let (client, read, url) = (client.clone(), read.clone(), app.url(&format!("/api/v1/playbook{query}")));
        let query = query.to_string();
        async move {
            let response = client.get(url).bearer_auth(read).send().await.unwrap();
            assert_eq!(response.status(), 200, "{query}");
            let entries: Value = response.json().await.unwrap();
            entries
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["experiment"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("").await, ["size-guide", "shipping-banner"], "newest first");
    assert_eq!(list("?q=messag").await, ["shipping-banner"], "a word's beginning finds it");
    assert_eq!(list("?q=FABRIC").await, ["size-guide"], "notes are searched, case-insensitively");
    assert_eq!(list("?q=mobile+purchases").await, ["shipping-banner"]);
    assert!(list("?q=mobile+fabric").await.is_empty(), "every word must match");
    assert_eq!(list("?signal=size-guide-viewed").await, ["size-guide"]);
    assert_eq!(list("?tag=fit").await, ["size-guide"]);
    assert_eq!(list("?decision=ship").await, ["shipping-banner"]);
    assert_eq!(list("?outcome=win").await, ["shipping-banner"]);
    assert_eq!(list("?channel=app").await, ["shipping-banner"], "a channel segment finding");
    assert_eq!(list("?segment=device%3Dmobile").await, ["shipping-banner"]);
    assert_eq!(list("?metric=aov&decision=abandon").await, ["size-guide"]);
    assert_eq!(list("?sort=effect").await, ["shipping-banner", "size-guide"], "largest lift first");
    let today = Utc::now().date_naive();
    assert_eq!(list(&format!("?from={today}&to={today}")).await.len(), 2);
    assert!(list(&format!("?from={}", today + Duration::days(1))).await.is_empty());
    assert_eq!(list("?q=&tag=").await.len(), 2, "empty fields filter nothing");
    for bad in ["?decision=maybe", "?from=yesterday", "?colour=red", "?format=pdf"] {
        let response = client.get(app.url(&format!("/api/v1/playbook{bad}"))).bearer_auth(&read).send();
        assert_eq!(error_code(response.await.unwrap(), 400).await, "invalid_input", "{bad}");
    }

    // CSV parses back to the same entries.
    let csv = client.get(app.url("/api/v1/playbook?format=csv&sort=effect")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let field = |row: &csv::StringRecord, name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(field(&rows[0], "experiment"), "shipping-banner");
    assert_eq!(field(&rows[0], "outcome"), "win");
    assert!((field(&rows[0], "relative_lift").parse::<f64>().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(field(&rows[0], "tags"), "banner; shipping");
    assert_eq!(field(&rows[1], "notes"), "Returns team: fit questions are about fabric, not size.");
    assert_eq!(field(&rows[1], "segments"), "all=everyone (failed)");

    let md = client.get(app.url("/api/v1/playbook?format=md&tag=fit")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(md.headers()["content-type"], "text/markdown; charset=utf-8");
    let md = md.text().await.unwrap();
    assert!(md.starts_with("# Playbook") && md.contains("tag: fit") && md.contains("1 entries"), "{md}");
    assert!(md.contains("A bigger size guide link changed nothing.") && !md.contains("shipping-banner"), "{md}");

    let id = get(&editor, app.url("/api/v1/playbook?tag=fit")).await[0]["id"].as_i64().unwrap();
    let one = client.get(app.url(&format!("/api/v1/playbook/{id}?format=md"))).bearer_auth(&read).send().await;
    let one = one.unwrap().text().await.unwrap();
    assert!(
        one.contains("## Frozen results (revision 1") && one.contains("| Purchase conversion | primary |"),
        "{one}"
    );
    let json = get(&editor, app.url(&format!("/api/v1/playbook/{id}?format=json"))).await;
    assert_eq!(json["experiment"], "size-guide");
    let other = get(&editor, app.url("/api/v1/playbook?decision=ship")).await[0]["id"].as_i64().unwrap();
    let shipping = get(&editor, app.url(&format!("/api/v1/playbook/{other}"))).await;
    assert!(shipping["related"].as_array().unwrap().is_empty(), "no signal or tag in common");
}

#[tokio::test]
async fn follow_ups_and_the_signal_leaderboard_build_on_entries() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    stopped_winner(&app, &editor, "video-first").await;
    let entry = conclude(&app, &editor, "video-first", &conclusion("Product videos first lift purchases.")).await;
    let id = entry["id"].as_i64().unwrap();

    let follow_up = editor
        .post(app.url(&format!("/api/v1/playbook/{id}/follow-up")))
        .json(&json!({"key": "video-first-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(follow_up.status(), 201);
    let draft: Value = follow_up.json().await.unwrap();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["name"], "Free shipping banner (follow-up)");
    assert_eq!(draft["metrics"], entry["snapshot"]["experiment"]["metrics"]);
    assert_eq!(draft["hypothesis"], entry["snapshot"]["experiment"]["hypothesis"]);
    assert!(draft.get("seed").is_none(), "a fresh split");
    let again =
        editor.post(app.url(&format!("/api/v1/playbook/{id}/follow-up"))).json(&json!({"key": "video-first-2"}));
    assert_eq!(error_code(again.send().await.unwrap(), 409).await, "conflict");
    let viewer = app.signed_in("viewer").await;
    let forbidden = viewer.post(app.url(&format!("/api/v1/playbook/{id}/follow-up"))).json(&json!({"key": "v3"}));
    assert_eq!(error_code(forbidden.send().await.unwrap(), 403).await, "forbidden");

    let board = get(&viewer, app.url("/api/v1/playbook/signals")).await;
    let video = board.as_array().unwrap().iter().find(|s| s["signal"] == "video-watched-75").unwrap();
    assert_eq!((video["tests"].as_u64(), video["wins"].as_u64()), (Some(1), Some(1)));
    assert!((video["conversion"]["estimate"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{video}");
    assert!((video["aov"]["estimate"].as_f64().unwrap() - 0.2).abs() < 1e-9, "60 vs 50: {video}");
    let devices = video["segments"].as_array().unwrap().iter().find(|s| s["attribute"] == "device").unwrap();
    assert!(devices["effects"]["mobile"].is_object() && devices["effects"]["desktop"].is_object(), "{devices}");
}

#[tokio::test]
async fn share_links_open_only_their_scope_until_they_expire_or_are_revoked() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    stopped_winner(&app, &editor, "shipping").await;
    stopped_null(&app, &editor, "size").await;
    let shipping = conclude(&app, &editor, "shipping", &conclusion("Free shipping sells.")).await;
    let mut null = conclusion("Size guide changed nothing.");
    null["decision"] = json!("abandon");
    null["winning_variation"] = Value::Null;
    conclude(&app, &editor, "size", &null).await;
    let shares = app.url("/api/v1/playbook/shares");

    let viewer = app.signed_in("viewer").await;
    let forbidden = viewer.post(&shares).json(&json!({"entry_id": shipping["id"]})).send().await.unwrap();
    assert_eq!(error_code(forbidden, 403).await, "forbidden");
    for bad in
        [json!({}), json!({"entry_id": 1, "filter": {}}), json!({"entry_id": shipping["id"], "expires_in_days": 0})]
    {
        let response = editor.post(&shares).json(&bad).send().await.unwrap();
        assert_eq!(error_code(response, 400).await, "invalid_input", "{bad}");
    }
    let unknown = editor.post(&shares).json(&json!({"entry_id": 999})).send().await.unwrap();
    assert_eq!(error_code(unknown, 404).await, "not_found");

    let created = editor.post(&shares).json(&json!({"entry_id": shipping["id"], "expires_in_days": 7})).send();
    let created: Value = created.await.unwrap().json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ils_") && created["path"] == format!("/share/{token}"));
    assert_eq!(created["link"]["label"], "Free shipping banner (#1)");

    let anonymous = Client::new();
    let shared = get(&anonymous, app.url(&format!("/api/v1/shared/{token}"))).await;
    assert_eq!(shared["kind"], "entry");
    assert_eq!(shared["entry"]["experiment"], "shipping");
    assert_eq!(shared["entry"]["related"], json!([]), "nothing beyond the link's scope");
    // Staff appear by role: a share link's readers are outside the team.
    assert!(!shared.to_string().contains("@shop.example"), "no staff email in {shared}");
    assert!(
        ["an editor", "an admin"].contains(&shared["entry"]["concluded_by"].as_str().unwrap()),
        "{}",
        shared["entry"]["concluded_by"]
    );
    assert_eq!(shared["entry"]["revisions"][0]["created_by"], shared["entry"]["concluded_by"]);
    let other = anonymous.get(app.url("/api/v1/playbook")).send().await.unwrap();
    assert_eq!(error_code(other, 401).await, "unauthenticated", "the token opens only its own scope");

    let view = editor.post(&shares).json(&json!({"filter": {"decision": "abandon"}, "label": "Dead ends"})).send();
    let view: Value = view.await.unwrap().json().await.unwrap();
    let view_token = view["token"].as_str().unwrap().to_string();
    let shared = get(&anonymous, app.url(&format!("/api/v1/shared/{view_token}"))).await;
    assert_eq!(shared["kind"], "view");
    assert_eq!(shared["label"], "Dead ends");
    let keys: Vec<&str> =
        shared["entries"].as_array().unwrap().iter().map(|e| e["experiment"].as_str().unwrap()).collect();
    assert_eq!(keys, ["size"]);
    assert!(!shared.to_string().contains("@shop.example"), "no staff email in {shared}");

    let links = get(&editor, app.url("/api/v1/playbook/shares")).await;
    assert_eq!(links.as_array().unwrap().len(), 2);
    assert!(!links.to_string().contains(&token), "tokens are never listed");
    let link_id = created["link"]["id"].as_i64().unwrap();
    let revoked = editor.post(app.url(&format!("/api/v1/playbook/shares/{link_id}/revoke"))).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    let gone = anonymous.get(app.url(&format!("/api/v1/shared/{token}"))).send().await.unwrap();
    assert_eq!(error_code(gone, 404).await, "not_found");
    let missing = editor.post(app.url("/api/v1/playbook/shares/999/revoke")).send().await.unwrap();
    assert_eq!(error_code(missing, 404).await, "not_found");

    // An expired link answers like an unknown one.
    let past = Utc::now() - Duration::minutes(1);
    let sql = "UPDATE share_links SET expires_at = $1 WHERE label = 'Dead ends'";
    app::on_pool!(&app.db, pool => sqlx::query(sql).bind(past).execute(pool).await.map(|_| ())).unwrap();
    let expired = anonymous.get(app.url(&format!("/api/v1/shared/{view_token}"))).send().await.unwrap();
    assert_eq!(error_code(expired, 404).await, "not_found");
    let guessed = anonymous.get(app.url("/api/v1/shared/ils_0000")).send().await.unwrap();
    assert_eq!(error_code(guessed, 404).await, "not_found");
}
