//! What hostile or merely odd requests get: never a panic, a dropped connection or a database's error text.

use crate::helpers::{error_code, spawn_app, spawn_app_with};
use serde_json::{json, Value};

/// Well-formed but degenerate statistics, which used to panic the engine (and with it the browser's calculator):
/// each answers 200 with the reason no lift can be estimated, or 400 naming what is wrong.
#[tokio::test]
async fn degenerate_statistics_are_answered_with_a_reason_not_a_panic() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let one_unit = json!({"n": 1, "sum": 1});
    let huge = json!({"n": 10, "sum": 5, "sum_squares": 1e308});
    let cases = [
        (json!({"metric_type": "binomial", "control": one_unit, "treatment": one_unit}), 200, "too_few_units"),
        (
            json!({"metric_type": "binomial", "control": {"n": 5, "sum": 5}, "treatment": {"n": 5, "sum": 2}}),
            200,
            "zero_variance",
        ),
        (
            json!({"metric_type": "binomial", "control": {"n": 1, "sum": 0}, "treatment": {"n": 2, "sum": 1}}),
            200,
            "baseline_zero",
        ),
        (
            json!({"metric_type": "mean", "control": {"n": 1, "sum": 2, "sum_squares": 9}, "treatment": {"n": 3, "sum": 3, "sum_squares": 9}}),
            200,
            "too_few_units",
        ),
        (
            json!({"metric_type": "mean", "method": "sequential", "control": huge, "treatment": {"n": 10, "sum": 6, "sum_squares": 40}}),
            200,
            "",
        ),
        (json!({"metric_type": "mean", "control": huge, "treatment": huge}), 200, ""),
        // The example: half a conversion is not a count.
        (
            json!({"metric_type": "binomial", "control": {"n": 1, "sum": 0.5}, "treatment": {"n": 1, "sum": 0.5}}),
            400,
            "",
        ),
    ];
    for (body, status, reason) in cases {
        let response = viewer.post(app.url("/api/v1/stats/compare")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        if status == 400 {
            assert_eq!(error_code(response, 400).await, "invalid_input");
            continue;
        }
        let answer: Value = response.json().await.unwrap();
        let treatment = &answer["treatment"];
        if !reason.is_empty() {
            assert_eq!(treatment["not_estimable"], reason, "{body}: {answer}");
        }
        // Either a reason or numbers, and numbers are never NaN (which JSON cannot carry).
        assert!(
            treatment["not_estimable"].is_string() || treatment["relative_lift"]["estimate"].is_number(),
            "{answer}"
        );
    }
    for method in ["frequentist", "sequential", "bayesian"] {
        let body =
            json!({"metric_type": "binomial", "method": method, "control": one_unit, "treatment": {"n": 1, "sum": 0}});
        let response = viewer.post(app.url("/api/v1/stats/compare")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{method}");
    }
}

#[tokio::test]
async fn every_response_names_its_request_and_a_plain_client_id_is_kept() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    let response = app.client.get(app.url("/healthz")).header("x-request-id", "lb-1234").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-1234");
    let response = app.client.get(app.url("/healthz")).header("x-request-id", "two words").send().await.unwrap();
    assert_ne!(response.headers()["x-request-id"], "two words");
}

/// A database failure reaches neither a REST client nor the browser as the database's text: both get the
/// generic message with the request's id, and the log has the cause.
#[tokio::test]
async fn internal_errors_are_masked_alike_for_the_api_and_for_server_functions() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    // A table gone (the operator's mistake, a failed migration): the next queries fail in the database.
    app::on_pool!(&app.db, pool => sqlx::query("ALTER TABLE experiments RENAME TO experiments_gone").execute(pool).await.map(|_| ()))
        .unwrap();

    let response = admin.get(app.url("/api/v1/experiments")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    assert!(message.contains(&format!("request {id}")), "{message}");
    assert!(!message.to_lowercase().contains("experiments"), "{message}");

    let response = admin
        .post(app.url("/api/list_experiments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(text.contains(&format!("request {id}")), "{text}");
    assert!(!text.to_lowercase().contains("no such table") && !text.contains("does not exist"), "{text}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_pages_their_own_script_policy() {
    let app = spawn_app().await;
    for path in ["/login", "/api/v1/me", "/healthz", "/api/v1/nothing-here"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers.get("strict-transport-security").is_none(), "{path}: plain http");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
        if path == "/login" {
            let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).unwrap().to_string();
            assert!(policy.contains("script-src 'self'") && policy.contains("'wasm-unsafe-eval'"), "{policy}");
            let html = response.text().await.unwrap();
            assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the inline scripts carry this response's nonce");
        } else {
            assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        }
    }
}

#[tokio::test]
async fn over_https_responses_add_hsts_and_cookies_are_secure() {
    let app = spawn_app_with(|s| s.public_url = Some("https://intentlab.shop.example".into())).await;
    app.create_user("https@shop.example", "admin").await;
    let response = app.login(&app.client, "https@shop.example", crate::helpers::PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn a_trusted_proxy_may_say_the_request_arrived_over_https_and_nobody_else() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.create_user("proxied@shop.example", "admin").await;
    let login = |forwarded: bool| {
        let mut request = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "proxied@shop.example", "password": crate::helpers::PASSWORD}));
        if forwarded {
            request = request.header("x-forwarded-proto", "https");
        }
        request.send()
    };
    let response = login(true).await.unwrap();
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
    assert!(response.headers().contains_key("strict-transport-security"));
    let response = login(false).await.unwrap();
    assert!(!response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));

    // Without the proxy in the list, the same header is just a header.
    let untrusting = spawn_app().await;
    untrusting.create_user("direct@shop.example", "admin").await;
    let response = untrusting
        .client
        .post(untrusting.url("/api/v1/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "direct@shop.example", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(!response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

/// Cookie-authenticated state changes from anywhere but intentlab's own pages are refused, whatever the route
/// (REST with and without a body, server functions, sign-in and sign-out); API keys are not affected.
#[tokio::test]
async fn cross_site_requests_with_the_session_cookie_are_refused() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let created = editor
        .post(app.url("/api/v1/experiments"))
        .json(&json!({"key": "csrf-target", "name": "x", "variations": [{"key": "a"}, {"key": "b"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let start = app.url("/api/v1/experiments/csrf-target/start");
    let host = app.address.trim_start_matches("http://").to_string();

    for (name, value) in
        [("origin", "https://promo.shop.example"), ("sec-fetch-site", "same-site"), ("sec-fetch-site", "cross-site")]
    {
        let response = editor.post(&start).header(name, value).send().await.unwrap();
        assert_eq!(error_code(response, 403).await, "forbidden", "{name}: {value}");
        let response = editor
            .post(app.url("/api/list_experiments"))
            .header(name, value)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "server function, {name}: {value}");
        let response = editor.post(app.url("/api/v1/auth/logout")).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), 403, "logout, {name}: {value}");
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header(name, value)
            .json(&json!({"email": "x@y.z", "password": "whatever it is"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "login, {name}: {value}");
    }
    // Nothing happened.
    let experiment: Value =
        editor.get(app.url("/api/v1/experiments/csrf-target")).send().await.unwrap().json().await.unwrap();
    assert_eq!(experiment["status"], "draft");

    // From intentlab's own pages it works.
    let response = editor.post(&start).header("origin", format!("http://{host}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = editor
        .post(app.url("/api/v1/experiments/csrf-target/stop"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // An API key is its own credential: no page can attach it, so its requests are not checked.
    let key = app.api_key("admin").await;
    let response = reqwest::Client::new()
        .post(&start)
        .bearer_auth(&key)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn me_status(app: &crate::helpers::TestApp, client: &reqwest::Client) -> u16 {
    client.get(app.url("/api/v1/me")).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_lowered_role_or_a_new_password_ends_the_persons_sessions() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    app.create_user("moved@shop.example", "editor").await;
    let (laptop, phone) = (crate::helpers::new_client(), crate::helpers::new_client());
    for client in [&laptop, &phone] {
        assert_eq!(app.login(client, "moved@shop.example", crate::helpers::PASSWORD).await.status(), 200);
    }
    let users: Value = admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    let id = users.as_array().unwrap().iter().find(|u| u["email"] == "moved@shop.example").unwrap()["id"].clone();

    // More rights: the sessions go on.
    let promoted =
        admin.patch(app.url(&format!("/api/v1/users/{id}"))).json(&json!({"role": "admin"})).send().await.unwrap();
    assert_eq!(promoted.status(), 200);
    assert_eq!(me_status(&app, &laptop).await, 200);
    // Fewer: every session ends at once; signing in again works.
    let demoted =
        admin.patch(app.url(&format!("/api/v1/users/{id}"))).json(&json!({"role": "viewer"})).send().await.unwrap();
    assert_eq!(demoted.status(), 200);
    assert_eq!((me_status(&app, &laptop).await, me_status(&app, &phone).await), (401, 401));
    assert_eq!(app.login(&laptop, "moved@shop.example", crate::helpers::PASSWORD).await.status(), 200);
    assert_eq!(me_status(&app, &laptop).await, 200);

    // A password reset (the CLI's) ends them too.
    app::services::users::reset_password_unchecked(&app.db, "moved@shop.example", "a brand new passphrase")
        .await
        .unwrap();
    assert_eq!(me_status(&app, &laptop).await, 401);
    assert_eq!(me_status(&app, &admin).await, 200, "other people's sessions are untouched");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime_however_active() {
    // Two seconds, for the test.
    let app = spawn_app_with(|s| s.session_max_days = 2.0 / 86_400.0).await;
    let editor = app.signed_in("editor").await;
    for _ in 0..3 {
        assert_eq!(me_status(&app, &editor).await, 200, "active within the lifetime");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(me_status(&app, &editor).await, 401);
}

#[tokio::test]
async fn what_one_assignment_request_may_carry_is_bounded() {
    let app = spawn_app().await;
    let key = app.api_key("assign").await;
    let client = reqwest::Client::new();
    let assign = |body: Value| client.post(app.url("/api/v1/assign")).bearer_auth(&key).json(&body).send();

    let fine: serde_json::Map<String, Value> = (0..50).map(|i| (format!("a{i}"), json!(i))).collect();
    assert_eq!(assign(json!({"unit_id": "u1", "attributes": fine})).await.unwrap().status(), 200);
    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("a{i}"), json!(i))).collect();
    let refusals = [
        json!({"unit_id": "u1", "attributes": many}),
        json!({"unit_id": "u1", "attributes": {"notes": "x".repeat(2000)}}),
        json!({"unit_id": "u1", "attributes": {"x".repeat(200): 1}}),
        json!({"unit_id": "u1", "experiments": (0..101).map(|i| format!("e{i}")).collect::<Vec<_>>()}),
        json!({"unit_id": "u".repeat(300)}),
    ];
    for body in refusals {
        let response = assign(body.clone()).await.unwrap();
        assert_eq!(
            error_code(response, 400).await,
            "invalid_input",
            "{}",
            &body.to_string()[..80.min(body.to_string().len())]
        );
    }
    // OFREP's evaluation context is held to the same bounds.
    let ofrep = client
        .post(app.url("/ofrep/v1/evaluate/flags"))
        .bearer_auth(&key)
        .json(&json!({"context": {"targetingKey": "u1", "notes": "x".repeat(2000)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ofrep.status(), 400);
}

#[tokio::test]
async fn the_assignment_get_records_exposures_only_for_api_keys() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let created = admin
        .post(app.url("/api/v1/experiments"))
        .json(&json!({"key": "get-exp", "name": "x", "variations": [{"key": "a"}, {"key": "b"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(admin.post(app.url("/api/v1/experiments/get-exp/start")).send().await.unwrap().status(), 200);
    let url = app.url("/api/v1/experiments/get-exp/assignment?unit_id=visitor-1");
    let response = admin.get(&url).send().await.unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden", "a cookie alone never records an exposure");
    let key = app.api_key("assign").await;
    let response = reqwest::Client::new().get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn after_sign_in_only_intentlabs_own_paths_are_followed() {
    let app = spawn_app().await;
    app.create_user("next@shop.example", "viewer").await;
    let cases = [
        ("/experiments?status=running", "/experiments?status=running"),
        ("/\t/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        // Characters a header cannot carry (the redirect's Location would have panicked on them).
        ("/a\u{7f}\r\nSet-Cookie: x=1", "/a%7FSet-Cookie:%20x=1"),
    ];
    for (next, expected) in cases {
        let client = crate::helpers::new_client();
        let body = format!(
            "email=next%40shop.example&password={}&next={}",
            form_urlencoded::byte_serialize(crate::helpers::PASSWORD.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let response = client
            .post(app.url("/api/sign_in"))
            .header("content-type", "application/x-www-form-urlencoded")
            // A plain form post, as before the page is interactive: the answer is a real redirect.
            .header("accept", "text/html")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{next:?}: {}", response.status());
        assert_eq!(response.headers()["location"], expected, "{next:?}");
    }
}
